"""The node's view of MQTT: a small interface the core talks to.

The core never imports paho; ``edge.delivery.mqtt.MqttPublisher`` is the real adapter and
``edge.testing.RecordingPublisher`` the unit-test double. Delivery is
at-least-once: the outbox hands over ``(seq, payload)``; the publisher reports
each ``seq`` whose PUBACK arrived through ``take_acked``. A disconnect forgets
everything in flight, and the outbox sends it again.
"""

from __future__ import annotations

from typing import Protocol

from edge.payload import StatusPayload


def topic(node_id: str, leaf: str) -> str:
    """``kazoe/v1/<node_id>/<leaf>`` — the only namespace a node writes to."""
    return f"kazoe/v1/{node_id}/{leaf}"


class Publisher(Protocol):
    """What the node needs from a message transport."""

    @property
    def connected(self) -> bool:
        """True while a session with the broker is up (CONNACK received)."""
        ...

    def start(self) -> None:
        """Begin connecting in the background; never blocks on the network."""

    def publish_counts(self, seq: int, payload: bytes) -> bool:
        """Send one window at QoS 1; False when not connected (nothing queued)."""
        ...

    def publish_status(self, status: StatusPayload) -> None:
        """Publish retained status (best effort; status is re-sent on every connect)."""

    def publish_notice(self, payload: bytes) -> None:
        """Publish the retained privacy notice (re-sent on every connect)."""

    def take_acked(self) -> list[int]:
        """Seqs whose PUBACK arrived since the last call."""
        ...

    def take_reconnected(self) -> bool:
        """True once after each new connection: in-flight state must be re-sent."""
        ...

    def stop(self, final_status: StatusPayload, timeout_s: float) -> None:
        """Publish ``final_status`` (offline), disconnect cleanly, release resources."""
