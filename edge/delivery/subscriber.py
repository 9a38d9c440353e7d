"""A read-only MQTT v5 client for tools (``kazoe watch``, ``kazoe-sim record``)."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.config import TlsConfig
from edge.delivery.client import Backoff, ClientOptions, describe_refusal, make_client

log = logging.getLogger("kazoe.mqtt")


MessageHandler = Callable[[str, bytes], None]


class Subscriber:
    """A read-only MQTT v5 client for tools (``kazoe watch``, ``kazoe-sim record``).

    Subscribes at QoS 1 on every connect and hands each message to
    ``on_message(topic, payload)`` in paho's network thread. A refused CONNECT
    sets ``refused`` to a one-line explanation and stops retrying: a tool run by
    a person should say what is wrong and exit, not loop.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        topics: list[str],
        on_message: MessageHandler,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
        tls: TlsConfig | None = None,
        keepalive_s: int = 30,
        credentials_hint: str = "--password-file",
        session_expiry_s: int = 0,
    ) -> None:
        self.host = host
        # > 0 with a fixed client_id: the broker keeps the subscription and queues QoS 1
        # messages while we are away (and, with persistence, across its own restarts).
        self._session_expiry_s = session_expiry_s
        self.port = port
        self.topics = topics
        self.subscribed = threading.Event()
        self.refused: str | None = None
        self.done = threading.Event()  # set when refused: the caller should give up
        self.connections = 0
        self._on_message_cb = on_message
        self._username = username or ""
        self._has_password = password is not None
        self._credentials_hint = credentials_hint
        self._keepalive_s = keepalive_s
        self._unreachable_logged = False
        self.client_id = client_id or f"kazoe-tool-{secrets.token_hex(4)}"
        client = make_client(
            ClientOptions(
                client_id=self.client_id,
                username=username,
                password=password,
                tls=tls,
                tls_key="tls",
                backoff=Backoff(1, 10),
            )
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        if self._session_expiry_s > 0:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry_s
            self._client.connect_async(
                self.host,
                self.port,
                keepalive=self._keepalive_s,
                clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect_async(self.host, self.port, keepalive=self._keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.refused = describe_refusal(
                reason,
                user=self._username,
                client_id=self.client_id,
                has_password=self._has_password,
                where=f"{self.host}:{self.port}",
                hint=self._credentials_hint,
            )
            log.error("%s", self.refused)
            self.done.set()
            client.disconnect()
            return
        self.connections += 1
        self._unreachable_logged = False
        log.info("connected to %s:%d; subscribing to %s", self.host, self.port, self.topics)
        client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.topics])

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._unreachable_logged:
            self._unreachable_logged = True
            log.error("cannot reach the broker at %s:%d; retrying", self.host, self.port)

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
                    "broker refused the subscription to %s: %s; check the broker ACL for user %r",
                    topic_filter,
                    reason,
                    self._username,
                )
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic_name = message.topic
        except UnicodeDecodeError:
            log.warning("ignored a message whose topic is not UTF-8")
            return
        try:
            self._on_message_cb(topic_name, bytes(message.payload))
        except Exception:
            log.exception("error handling a message on %s", topic_name)
