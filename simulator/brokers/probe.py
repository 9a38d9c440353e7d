"""Blocking MQTT v5 clients for tests and fault simulations: every call waits for its answer.

``ProbeClient`` (plaintext, raises ``BrokerError`` when no answer comes) lives in
``simulator.brokers.dev``; ``TlsProbe`` (answers are ``Outcome`` values, TLS
failures included) in ``simulator.brokers.tls``. Both share this base: paho's
callbacks record CONNACK, PUBACKs, SUBACKs, messages and a lost connection under
one condition variable. The node itself uses ``edge.delivery``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.delivery.client import ClientOptions, make_client


@dataclass(frozen=True)
class ProbeMessage:
    topic: str
    payload: bytes
    retain: bool


class BlockingClient:
    """State and callbacks shared by the probes; subclasses add connect/publish/subscribe."""

    def __init__(self, host: str, port: int, options: ClientOptions, keepalive_s: int) -> None:
        self.host = host
        self.port = port
        self.client_id = options.client_id
        self._keepalive_s = keepalive_s
        self._cond = threading.Condition()
        self.messages: list[ProbeMessage] = []
        self._connack: ReasonCode | None = None
        self._closed_reason: str | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._started = False
        client = make_client(options)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def wait_for(
        self, predicate: Callable[[list[ProbeMessage]], bool], timeout_s: float = 5.0
    ) -> bool:
        """Wait until ``predicate(messages)`` holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout_s)

    def received(self, topic: str) -> list[ProbeMessage]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._connack = reason
            self._cond.notify_all()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._closed_reason = str(reason)
            self._cond.notify_all()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._cond:
            self._acks[mid] = reason
            self._cond.notify_all()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._subacks[mid] = reasons
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                ProbeMessage(message.topic, bytes(message.payload), message.retain)
            )
            self._cond.notify_all()
