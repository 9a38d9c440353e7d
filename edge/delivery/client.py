"""The one place a paho-mqtt client is made: MQTT v5, callback API 2, credentials, TLS, backoff.

The node's publisher, the tools' subscriber, the collector's subscription and the
simulator's blocking probes all build their client here, so protocol version,
TLS loading, reconnect policy and paho's logging are the same everywhere and a
certificate problem is one ``ConfigError`` naming the config key.
"""

from __future__ import annotations

import logging
import math
import ssl
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import TlsConfig
from edge.errors import ConfigError

# MQTT v5 CONNACK reason codes that mean "your credentials are wrong" (v3 codes
# 4 and 5 are translated by paho to the same values). Mosquitto answers a bad
# password, an unknown user and a missing password alike with 135.
_BAD_CREDENTIALS = 134
_NOT_AUTHORIZED = 135
_BAD_CLIENT_ID = 133

_paho_logger = logging.getLogger("kazoe.mqtt.paho")


@dataclass(frozen=True)
class Backoff:
    """paho's reconnect delay bounds, in seconds (paho takes whole seconds)."""

    min_s: float = 1.0
    max_s: float = 10.0


@dataclass(frozen=True)
class ClientOptions:
    """Everything that differs between Kazoe's MQTT clients."""

    client_id: str
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    tls_context: ssl.SSLContext | None = None
    tls_key: str = "mqtt.tls"  # the config key a certificate error names
    backoff: Backoff | None = Backoff()  # None: a refusal or a lost link is final (probes)
    max_inflight: int | None = None
    manual_ack: bool = False
    # A raising callback must not kill the network thread (no more reconnects).
    suppress_exceptions: bool = True


def make_client(options: ClientOptions) -> mqtt.Client:
    """A configured, unconnected client; callbacks other than ``on_log`` are the caller's."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=options.backoff is not None,
    )
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.tls is not None:
        _load_tls(client, options.tls, options.tls_key)
    elif options.tls_context is not None:
        client.tls_set_context(options.tls_context)
    if options.max_inflight is not None:
        # paho keeps at most this many QoS 1 messages unacknowledged on the wire and
        # queues the rest.
        client.max_inflight_messages_set(options.max_inflight)
    if options.backoff is not None:
        client.reconnect_delay_set(
            min_delay=max(1, math.floor(options.backoff.min_s)),
            max_delay=max(1, math.ceil(options.backoff.max_s)),
        )
    if options.manual_ack:
        client.manual_ack_set(True)
    client.suppress_exceptions = options.suppress_exceptions
    client.on_log = paho_log
    return client


def _load_tls(client: mqtt.Client, tls: TlsConfig, key: str) -> None:
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file),
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{key}: cannot load certificates: {exc}") from None


def paho_log(client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
    """paho's own log, at DEBUG except real errors (callback exceptions).

    paho reports "Client is not connected" at ERROR when its loop is stopped
    between reconnect attempts; our callbacks already log every connection
    problem once, in words a user can act on.
    """
    if level == mqtt.MQTT_LOG_ERR and not message.startswith("Client is not connected"):
        _paho_logger.warning("%s", message)
    else:
        _paho_logger.debug("%s", message)


def describe_refusal(
    reason: ReasonCode, *, user: str, client_id: str, has_password: bool, where: str, hint: str
) -> str:
    """One line telling a user why the broker refused a CONNECT and what to check."""
    code = reason.value
    if code in (_BAD_CREDENTIALS, _NOT_AUTHORIZED):
        if has_password:
            return f"broker refused the password for user {user!r}; check {hint} ({reason})"
        return f"broker refused user {user!r} without a password; set {hint} ({reason})"
    if code == _BAD_CLIENT_ID:
        return f"broker at {where} rejected client id {client_id!r} ({reason})"
    return f"broker at {where} refused the connection: {reason}"
