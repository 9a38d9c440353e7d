"""The real ``Publisher``: paho-mqtt 2.x, MQTT v5, one background network thread.

Connection life cycle (DESIGN §5): the Will is a retained ``offline`` status; on
every CONNACK the node publishes a retained birth status (from the caller's
``status`` factory), its retained privacy notice and any other retained messages
it was given (Home Assistant discovery, ``edge.delivery.discovery``); a clean
``stop`` publishes an explicit ``offline``. paho reconnects by itself with exponential backoff.

Every paho callback runs in paho's network thread, so all shared state sits
behind one lock. paho calls ``on_publish`` while holding its own message lock,
so we never hold ours while calling into paho: a PUBACK that beats the
registration of its message id is parked in ``_early`` and claimed right after.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig, NodeSettings
from edge.delivery.client import Backoff, ClientOptions, describe_refusal, make_client, paho_log
from edge.delivery.discovery import discovery_messages
from edge.delivery.publisher import topic
from edge.delivery.tls_diagnosis import alert_in, client_cert_refused, diagnose
from edge.payload import StatusPayload

log = logging.getLogger("kazoe.mqtt")

LinkState = Literal["online", "offline"]
StatusFactory = Callable[[LinkState], StatusPayload]
"""Builds the node's current status: ``online`` for the birth message sent on
every connect (it may return ``degraded``), ``offline`` for the Will."""

# MQTT v5 DISCONNECT reason 0x04: "publish my Will anyway" (offline status not confirmed).
_WITH_WILL = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")


@dataclass(frozen=True)
class _Sent:
    """What a message id stands for: a window (``seq``) or a retained message."""

    kind: Literal["counts", "status", "notice", "discovery"]
    seq: int = 0
    where: str = ""  # the topic, for retained messages outside kazoe/v1/<node>/


class MqttPublisher:
    """``edge.delivery.publisher.Publisher`` over a real broker."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        node_id: str,
        status: StatusFactory,
        username: str | None = None,
        notice: bytes | None = None,
        retained: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self._config = config
        self._retained = tuple(retained)
        self._node_id = node_id
        self._username = username or node_id
        self._status = status
        self._notice = notice
        self._status_topic = topic(node_id, "status")
        self._counts_topic = topic(node_id, "counts")
        self._notice_topic = topic(node_id, "notice")
        password = config.read_password()
        self._has_password = password is not None

        self._lock = threading.Lock()
        self._connected = False
        self._session = 0  # bumps on every CONNACK/disconnect; stale registrations are ignored
        self._lost = False  # a session ended; the next CONNACK is a reconnect
        self._reconnected = False
        self._inflight: dict[int, _Sent] = {}
        self._early: dict[int, ReasonCode] = {}
        # paho re-sends its own unacked messages after a reconnect; their PUBACKs
        # belong to a forgotten session and must not ack anything.
        self._stale: set[int] = set()
        self._acked: list[int] = []
        self._complaints: set[str] = set()  # one log line per distinct connection problem
        self._started = False
        self._stopped = False

        client = make_client(
            ClientOptions(
                client_id=node_id,
                username=self._username,
                password=password,
                tls=config.tls,
                max_inflight=config.max_inflight,
                backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
            )
        )
        client.on_log = self._on_log
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._set_will()

    @classmethod
    def from_settings(
        cls, settings: NodeSettings, status: StatusFactory, notice: bytes | None = None
    ) -> MqttPublisher:
        """The node's publisher; with ``[home_assistant] enabled`` it also announces sensors."""
        retained = discovery_messages(settings) if settings.home_assistant.enabled else []
        return cls(
            settings.mqtt,
            node_id=settings.node.id,
            username=settings.mqtt_username(),
            status=status,
            notice=notice,
            retained=retained,
        )

    # -- Publisher protocol ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        cfg = self._config
        log.info("connecting to %s:%d as %r", cfg.host, cfg.port, self._username)
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=True)
        self._client.loop_start()

    def publish_counts(self, seq: int, payload: bytes) -> bool:
        if not self._connected:
            return False
        ok = self._publish(self._counts_topic, payload, retain=False, sent=_Sent("counts", seq))
        if ok:
            log.debug("sent window seq=%d", seq)
        return ok

    def publish_status(self, status: StatusPayload) -> None:
        if self._connected:
            self._publish(self._status_topic, status.to_json(), retain=True, sent=_Sent("status"))

    def publish_notice(self, payload: bytes) -> None:
        self._notice = payload
        if self._connected:
            self._publish(self._notice_topic, payload, retain=True, sent=_Sent("notice"))

    def take_acked(self) -> list[int]:
        with self._lock:
            acked, self._acked = self._acked, []
        return acked

    def take_reconnected(self) -> bool:
        with self._lock:
            flag, self._reconnected = self._reconnected, False
        return flag

    def stop(self, final_status: StatusPayload, timeout_s: float) -> None:
        """Publish ``final_status`` retained and wait for its PUBACK, then disconnect.

        If the PUBACK does not come in time the disconnect asks the broker to
        publish the Will instead, so subscribers still learn the node is offline.
        """
        if self._stopped:
            return
        self._stopped = True
        if not self._started:
            return
        if not self._connected:
            # Stop the retry loop first: a disconnect() racing a reconnect attempt
            # would leave paho polling a closed socket.
            self._client.loop_stop()
            if self._connected_now():  # the last attempt succeeded after all
                self._client.disconnect(reasoncode=_WITH_WILL)
            else:
                self._client.disconnect()
        else:
            delivered = self._send_final(final_status, timeout_s)
            self._client.disconnect(reasoncode=None if delivered else _WITH_WILL)
            self._client.loop_stop()
        with self._lock:
            self._connected = False
        log.info("disconnected from %s:%d", self._config.host, self._config.port)

    def _connected_now(self) -> bool:
        with self._lock:
            return self._connected

    def _send_final(self, final_status: StatusPayload, timeout_s: float) -> bool:
        info = self._client.publish(self._status_topic, final_status.to_json(), qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError) as exc:
            log.warning(
                "could not send the offline status (%s); the broker will publish the Will", exc
            )
            return False
        if not info.is_published():
            log.warning(
                "broker did not acknowledge the offline status within %.1fs; "
                "asking it to publish the Will instead",
                timeout_s,
            )
            return False
        return True

    # -- internals ------------------------------------------------------------------------

    def _set_will(self) -> None:
        # Called before the network thread runs, then only from it (on_pre_connect).
        will = self._status("offline").to_json()
        self._client.will_set(self._status_topic, will, qos=1, retain=True)

    def _publish(self, topic_name: str, payload: bytes, *, retain: bool, sent: _Sent) -> bool:
        with self._lock:
            session = self._session
        info = self._client.publish(topic_name, payload, qos=1, retain=retain)
        with self._lock:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS or session != self._session:
                # paho keeps the message queued and will send it after the next
                # connect; its PUBACK then belongs to a forgotten session.
                self._stale.add(info.mid)
                self._early.pop(info.mid, None)
                return False
            self._stale.discard(info.mid)
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = sent
                return True
        self._settle(sent, early)
        return True

    def _settle(self, sent: _Sent, reason: ReasonCode) -> None:
        """Record one PUBACK (never called with the lock held: it may log)."""
        if reason.is_failure:
            where = sent.where or topic(self._node_id, sent.kind)
            if sent.kind == "counts":
                log.error(
                    "broker rejected window seq=%d on %s: %s; check the broker ACL for user %r "
                    "(the window stays in the outbox)",
                    sent.seq,
                    where,
                    reason,
                    self._username,
                )
            else:
                log.error(
                    "broker rejected the %s on %s: %s; check the broker ACL for user %r%s",
                    sent.kind,
                    where,
                    reason,
                    self._username,
                    " (Home Assistant discovery needs 'pattern write"
                    " homeassistant/sensor/%u/+/config')"
                    if sent.kind == "discovery"
                    else "",
                )
            return
        if sent.kind == "counts":
            with self._lock:
                self._acked.append(sent.seq)

    def _complain_once(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._complaints:
                return
            self._complaints.add(key)
        log.error(message, *args)

    # -- paho callbacks (network thread) --------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            self._set_will()  # a fresh timestamp for this session's Will
        except Exception:
            log.exception("cannot build the Will status; keeping the previous one")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused(reason)
            return
        try:
            birth = self._status("online").to_json()
        except Exception:
            log.exception("cannot build the birth status; connecting without it")
            birth = None
        # Retained messages go out before the node is marked connected, so a
        # subscriber sees the birth status before this session's first window.
        if birth is not None:
            self._publish_untracked(self._status_topic, birth, _Sent("status"))
        notice = self._notice
        if notice is not None:
            self._publish_untracked(self._notice_topic, notice, _Sent("notice"))
        for where, payload in self._retained:
            self._publish_untracked(where, payload, _Sent("discovery", where=where))
        with self._lock:
            self._session += 1
            if self._lost:
                self._reconnected = True
                self._lost = False
            self._complaints.clear()
            self._connected = True
        log.info("connected to %s:%d as %r", self._config.host, self._config.port, self._username)

    def _publish_untracked(self, topic_name: str, payload: bytes, sent: _Sent) -> None:
        # Called before _connected is set, so _publish's session check would
        # misfire; these messages only need their failure reported.
        info = self._client.publish(topic_name, payload, qos=1, retain=True)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = sent
        if early is not None:
            self._settle(sent, early)

    def _refused(self, reason: ReasonCode) -> None:
        message = describe_refusal(
            reason,
            user=self._username,
            client_id=self._node_id,
            has_password=self._has_password,
            where=f"{self._config.host}:{self._config.port}",
            hint="[mqtt].password_file",
        )
        self._complain_once(f"refused-{reason.value}", "%s; retrying", message)

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
        alert = alert_in(message)
        if alert is not None:
            # A TLS alert on read: the broker does not accept our certificate. Say so once.
            self._complain_once(f"tls-alert-{alert}", "%s; retrying", client_cert_refused(alert))
            logging.getLogger("kazoe.mqtt.paho").debug("%s", message)
            return
        paho_log(client, userdata, level, message)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        cfg = self._config
        if cfg.tls is not None and "tls-diagnosed" not in self._complaints:
            with self._lock:
                self._complaints.add("tls-diagnosed")
            problem = diagnose(cfg.host, cfg.port, cfg.tls)
            if problem is not None:
                self._complain_once(f"tls-{problem}", "%s; retrying", problem)
                return
        self._complain_once(
            "unreachable",
            "cannot reach the broker at %s:%d; retrying every %.0f-%.0fs",
            cfg.host,
            cfg.port,
            cfg.reconnect_min_s,
            cfg.reconnect_max_s,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            self._session += 1
            self._stale.update(self._inflight)
            self._inflight.clear()
            self._early.clear()
            if was_connected:
                self._lost = True
            stopping = self._stopped
        if was_connected and not stopping:
            log.warning(
                "lost the connection to %s:%d (%s); reconnecting",
                self._config.host,
                self._config.port,
                reason,
            )

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._lock:
            sent = self._inflight.pop(mid, None)
            if sent is None:
                if mid in self._stale:
                    self._stale.discard(mid)
                else:
                    self._early[mid] = reason
                return
        self._settle(sent, reason)
