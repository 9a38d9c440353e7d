"""The collector's MQTT v5 session: shared counts, retained status and notices, manual acks.

Counts arrive through ``$share/<group>/kazoe/v1/+/counts`` (QoS 1) so the
collectors of one group split the stream; every collector also reads the
retained ``status`` and ``notice`` of every node (QoS 0, see ``QOS``). The
session is persistent (``clean_start`` False plus a session expiry): while a
collector is away the broker keeps its subscriptions and queues its share of
windows. Every message is acknowledged
only after the writer has committed it (``ack``), so a collector that dies
mid-batch gets those windows again and the database deduplicates them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from collector.config import MqttSection
from collector.errors import CollectorConfigError
from edge.delivery.client import Backoff, ClientOptions, describe_refusal, make_client
from edge.errors import ConfigError

log = logging.getLogger("kazoe.collector.mqtt")
_paho_log = logging.getLogger("kazoe.collector.mqtt.paho")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, not yet validated; ``mid``/``qos`` are for the ack."""

    topic: str
    payload: bytes
    received_ms: int
    mid: int
    qos: int


# Counts at QoS 1, acknowledged after commit. Status and notice are retained "current
# value" topics, replayed by the broker on every subscribe: QoS 0 keeps a fleet's
# worth of them out of the broker's per-client QoS 1 queue (max_queued_messages,
# 1000 by default), where they would push out windows at start-up.
QOS = (1, 0, 0)


def topics(share_group: str) -> list[str]:
    """Counts on a plain subscription, or shared by a group of collectors when one is named."""
    counts = "kazoe/v1/+/counts"
    return [
        f"$share/{share_group}/{counts}" if share_group else counts,
        "kazoe/v1/+/status",
        "kazoe/v1/+/notice",
    ]


class Subscription:
    """One paho client in its own network thread, handing messages to ``on_message``."""

    def __init__(
        self,
        config: MqttSection,
        *,
        on_message: Callable[[Inbound], None],
        on_connected: Callable[[bool], None] | None = None,
    ) -> None:
        self._config = config
        self._on_message_cb = on_message
        self._on_connected_cb = on_connected
        self.topics = topics(config.share_group)
        self.subscribed = threading.Event()
        self.connected = False
        self._complained: set[str] = set()
        password = config.read_password()
        self._has_password = password is not None
        try:
            client = make_client(
                ClientOptions(
                    client_id=config.client_id,
                    username=config.username,
                    password=password,
                    tls=config.tls,
                    manual_ack=True,
                    backoff=Backoff(
                        config.reconnect_min_s, max(config.reconnect_min_s, config.reconnect_max_s)
                    ),
                )
            )
        except ConfigError as exc:
            raise CollectorConfigError(str(exc)) from None
        client.on_log = self._on_log
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        cfg = self._config
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
        props.SessionExpiryInterval = cfg.session_expiry_s
        log.info(
            "connecting to %s:%d as %r (client id %r, share group %r)",
            cfg.host,
            cfg.port,
            cfg.username,
            cfg.client_id,
            cfg.share_group,
        )
        self._client.connect_async(
            cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def ack(self, item: Inbound) -> None:
        """Acknowledge a message once it is stored (or deliberately dropped)."""
        if item.qos > 0:
            self._client.ack(item.mid, item.qos)

    def stop(self) -> None:
        """Disconnect; unacknowledged windows stay queued in our broker session."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected = False

    # -- paho callbacks (network thread) --------------------------------------------------

    def _complain_once(self, key: str, message: str) -> None:
        if key not in self._complained:
            self._complained.add(key)
            log.error("%s", message)

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
        # paho says "Client is not connected" at ERROR between reconnect attempts and
        # for acks after a disconnect; our own callbacks report connection trouble.
        if level == mqtt.MQTT_LOG_ERR and not message.startswith("Client is not connected"):
            _paho_log.warning("%s", message)
        else:
            _paho_log.debug("%s", message)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        cfg = self._config
        if reason.is_failure:
            message = describe_refusal(
                reason,
                user=cfg.username,
                client_id=cfg.client_id,
                has_password=self._has_password,
                where=f"{cfg.host}:{cfg.port}",
                hint="[mqtt].password_file",
            )
            self._complain_once(f"refused-{reason.value}", f"{message}; retrying")
            return
        self._complained.clear()
        self.connected = True
        log.info(
            "connected to %s:%d (%s session); subscribing",
            cfg.host,
            cfg.port,
            "resumed" if flags.session_present else "new",
        )
        client.subscribe(
            [(t, SubscribeOptions(qos=q)) for t, q in zip(self.topics, QOS, strict=True)]
        )
        if self._on_connected_cb is not None:
            self._on_connected_cb(True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        cfg = self._config
        self._complain_once(
            "unreachable", f"cannot reach the broker at {cfg.host}:{cfg.port}; retrying"
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was = self.connected
        self.connected = False
        if self._on_connected_cb is not None:
            self._on_connected_cb(False)
        if was and reason.is_failure:
            log.warning("lost the broker connection (%s); reconnecting", reason)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for topic_filter, reason in zip(self.topics, reasons, strict=False):
            if reason.is_failure:
                log.error(
                    "broker refused the subscription to %s: %s; check the ACL for user %r",
                    topic_filter,
                    reason,
                    self._config.username,
                )
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "(not UTF-8)"
        item = Inbound(
            topic=topic,
            payload=bytes(message.payload),
            received_ms=int(time.time() * 1000),
            mid=message.mid,
            qos=message.qos,
        )
        self._on_message_cb(item)
