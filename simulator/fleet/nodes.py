"""Many virtual nodes in one process: synthetic windows through the node's real publisher.

Each virtual node owns an ``edge.delivery.mqtt.MqttPublisher`` (one paho client, client id =
username = node id, its own network thread) and seals its windows with
``edge.privacy.policy.seal``, so payloads,
topics, retained status and small-count suppression are exactly the node's. Windows close on
the wall clock at multiples of the window length, like a real node's media clock, and each node
publishes up to ``jitter_s`` later. A window the publisher cannot take (not connected) waits in
the node's queue, as it would in the outbox. No video, no models.
"""

from __future__ import annotations

import heapq
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Literal

import numpy as np

from edge.config import MqttConfig, NodeSettings
from edge.delivery.mqtt import MqttPublisher
from edge.delivery.publisher import Publisher
from edge.payload import ModelIds, StatusPayload
from edge.privacy.policy import seal
from edge.types import WindowCounts

GENDERS = ("female", "male", "unknown")
GENDER_P = (0.47, 0.47, 0.06)
BAND_P = (0.08, 0.08, 0.2, 0.18, 0.15, 0.12, 0.1, 0.06, 0.03)  # node bands, then "unknown"
MODELS = ModelIds(
    detector="face_detection_full_range@99bf9494",
    age="age-v1@4f9f0075",
    gender="gender-v1@d4c4116c",
)


@dataclass(frozen=True)
class FleetSpec:
    nodes: int
    window_s: int
    seconds: float
    prefix: str = "fleet"
    jitter_s: float = 1.0
    people_per_min: float = 20.0
    k: int = 5
    seed: int = 0

    def node_ids(self) -> list[str]:
        width = max(4, len(str(self.nodes)))
        return [f"{self.prefix}-{i:0{width}d}" for i in range(1, self.nodes + 1)]


def synthetic_counts(
    rng: np.random.Generator, start: float, end: float, labels: list[str], rate: float
) -> WindowCounts:
    """A plausible window: Poisson people, each with a gender and an age band."""
    people = int(rng.poisson(rate * (end - start) / 60.0))
    cells = rng.multinomial(people, np.outer(GENDER_P, BAND_P).ravel()).reshape(3, len(BAND_P))
    bands = [*labels, "unknown"]
    joint = {g: {b: int(cells[i, j]) for j, b in enumerate(bands)} for i, g in enumerate(GENDERS)}
    return WindowCounts(
        window_start=start,
        window_end=end,
        people=people,
        gender={g: int(cells[i].sum()) for i, g in enumerate(GENDERS)},
        age_bands={b: int(cells[:, j].sum()) for j, b in enumerate(bands)},
        joint=joint,
    )


@dataclass
class VirtualNode:
    settings: NodeSettings
    publisher: Publisher  # edge.delivery.mqtt.MqttPublisher in a fleet; a test double in unit tests
    rng: np.random.Generator
    boot_id: str = field(default_factory=lambda: secrets.token_hex(16))
    seq: int = 0
    queue: list[tuple[int, bytes]] = field(default_factory=list)  # sealed, not yet sent
    unacked: dict[int, tuple[float, bytes]] = field(default_factory=dict)  # seq -> (sent, body)
    resent: int = 0
    ready: dict[float, tuple[int, bytes]] = field(default_factory=dict)  # sealed ahead, by start
    last_closed: float = -math.inf  # start of the newest closed window

    @property
    def node_id(self) -> str:
        return self.settings.node.id

    def prepare(self, start: float, end: float, rate: float) -> None:
        """Seal the node's next window [start, end) now, to be published when it closes.

        Sealing (suppression and schema validation) costs ~2 ms; done for 1,000 nodes at the
        moment their windows close it would hold the interpreter for seconds and show up as
        broker latency, so the fleet seals each window ahead, in idle time.
        """
        if start <= self.last_closed or start in self.ready:
            return  # closed already (sealed on demand) or sealed: seq stays gapless
        labels = self.settings.aggregate.band_labels()
        self.seq += 1
        counts = synthetic_counts(self.rng, start, end, labels, rate)
        sealed = seal(
            counts, settings=self.settings, boot_id=self.boot_id, seq=self.seq, models=MODELS
        )
        self.ready[start] = (self.seq, sealed.payload.to_json())

    def close_window(self, start: float, end: float, rate: float) -> None:
        """The window [start, end) has closed: queue it for the publisher."""
        self.prepare(start, end, rate)
        self.queue.append(self.ready.pop(start))
        self.last_closed = start

    def flush(self, clock: Callable[[], float]) -> int:
        """Hand queued windows to the publisher, oldest first; returns how many it took.

        After a reconnect the publisher has forgotten what was in flight, so every unacked
        window goes back to the front of the queue, as the node's outbox does.
        """
        if self.publisher.take_reconnected() and self.unacked:
            again = sorted((seq, body) for seq, (_, body) in self.unacked.items())
            self.queue[:0] = again
            self.resent += len(again)
            self.unacked.clear()
        taken = 0
        while self.queue:
            seq, payload = self.queue[0]
            t = clock()
            if not self.publisher.publish_counts(seq, payload):
                break
            self.unacked[seq] = (t, payload)
            self.queue.pop(0)
            taken += 1
        return taken

    def take_latencies(self, now: float) -> list[float]:
        """Seconds from publish to PUBACK of every window acknowledged since the last call."""
        out = []
        for seq in self.publisher.take_acked():
            sent = self.unacked.pop(seq, None)
            if sent is not None:
                out.append(now - sent[0])
        return out

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.unacked)

    def status(self, state: Literal["online", "offline"]) -> StatusPayload:
        return status_payload(self.node_id, self.boot_id, state)


def status_payload(
    node_id: str, boot_id: str, state: Literal["online", "offline"]
) -> StatusPayload:
    """The retained status a virtual node publishes (birth, Will, clean stop)."""
    return StatusPayload.model_validate(
        {
            "node_id": node_id,
            "state": state,
            "version": "fleet-sim",
            "boot_id": boot_id,
            "model": MODELS,
            "at": datetime.now(tz=UTC),
        }
    )


def make_node(node_id: str, mqtt: MqttConfig, spec: FleetSpec, index: int) -> VirtualNode:
    settings = NodeSettings.model_validate(
        {
            "node": {"id": node_id, "site": f"{spec.prefix}-site"},
            "source": {"uri": "synthetic"},
            "mqtt": mqtt,
            "aggregate": {"window_seconds": spec.window_s},
            "policy": {"purposes": ["footfall", "demographics"], "k": spec.k},
        }
    )
    boot_id = secrets.token_hex(16)
    status = partial(status_payload, node_id, boot_id)
    publisher = MqttPublisher(mqtt, node_id=node_id, status=status)
    return VirtualNode(settings, publisher, np.random.default_rng([spec.seed, index]), boot_id)


@dataclass
class Schedule:
    """When each node closes its next window: a heap of (due, node index, window start)."""

    window_s: int
    jitter: list[float]
    heap: list[tuple[float, int, float]] = field(default_factory=list)

    def start(self, now_wall: float) -> None:
        first = math.floor(now_wall / self.window_s) * self.window_s
        for i, j in enumerate(self.jitter):
            heapq.heappush(self.heap, (first + self.window_s + j, i, first))

    def due(self, now_wall: float) -> list[tuple[int, float]]:
        out = []
        while self.heap and self.heap[0][0] <= now_wall:
            _, i, start = heapq.heappop(self.heap)
            out.append((i, start))
            heapq.heappush(
                self.heap, (start + 2 * self.window_s + self.jitter[i], i, start + self.window_s)
            )
        return out

    def next_due(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def upcoming(self) -> list[tuple[int, float]]:
        """(node index, window start) of every node's next window."""
        return [(i, start) for _, i, start in self.heap]


def percentiles(
    values: list[float], points: tuple[float, ...] = (50, 90, 99, 100)
) -> dict[str, float]:
    if not values:
        return {}
    got = np.percentile(np.asarray(values), points)
    return {("max" if p == 100 else f"p{p:g}"): float(v) for p, v in zip(points, got, strict=True)}
