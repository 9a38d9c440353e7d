"""Test doubles shipped with the package: a recording publisher and a fake clock.

Unit tests of the outbox, the node loop and the CLI use these instead of a
broker and the wall clock; integration tests use ``edge.delivery.mqtt`` and a real
Mosquitto (``simulator.brokers.dev.DevBroker``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

from edge.errors import SourceError
from edge.payload import CountsPayload, ModelIds, StatusPayload

SAMPLE_BOOT_ID = "0123456789abcdef0123456789abcdef"
SAMPLE_POLICY_HASH = "sha256:" + "ab" * 32
SAMPLE_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def sample_counts(node_id: str = "node-a", seq: int = 1, **changes: Any) -> CountsPayload:
    """A valid one-minute window (window ``seq`` after 09:00 UTC); ``changes`` override fields."""
    start = SAMPLE_START + timedelta(minutes=seq - 1)
    fields: dict[str, Any] = {
        "node_id": node_id,
        "boot_id": SAMPLE_BOOT_ID,
        "seq": seq,
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "people": 12,
        "gender": {"female": 5, "male": 7, "unknown": 0},
        "age_bands": {"20-29": 6, "30-39": None, "40-49": 0, "70+": 5},
        "suppressed": ["age_bands.30-39"],
        "k": 5,
        "policy_hash": SAMPLE_POLICY_HASH,
        "model": ModelIds(detector="face_detection_full_range@99bf9494", age="age-v1@4f9f0075"),
    }
    fields.update(changes)
    return CountsPayload.model_validate(fields)


def sample_status(
    node_id: str = "node-a",
    state: Literal["online", "offline", "degraded"] = "online",
    **changes: Any,
) -> StatusPayload:
    """A valid status message; ``changes`` override fields."""
    fields: dict[str, Any] = {
        "node_id": node_id,
        "state": state,
        "version": "0.1.0",
        "boot_id": SAMPLE_BOOT_ID,
        "at": datetime.now(tz=UTC),
    }
    fields.update(changes)
    return StatusPayload.model_validate(fields)


@dataclass
class RecordingPublisher:
    """An in-memory ``Publisher``: records what was sent, acks on demand.

    With ``auto_ack`` every accepted window is acknowledged at once; otherwise
    call ``ack(seq)``. ``drop_connection()`` forgets unacknowledged windows like
    a real disconnect; ``restore_connection()`` makes ``take_reconnected()``
    report it once.
    """

    auto_ack: bool = True
    connected: bool = True
    started: bool = False
    stopped: bool = False
    counts: list[tuple[int, bytes]] = field(default_factory=list)
    statuses: list[StatusPayload] = field(default_factory=list)
    notices: list[bytes] = field(default_factory=list)
    inflight: set[int] = field(default_factory=set)
    _acked: list[int] = field(default_factory=list)
    _reconnected: bool = False

    def start(self) -> None:
        self.started = True

    def publish_counts(self, seq: int, payload: bytes) -> bool:
        if not self.connected:
            return False
        self.counts.append((seq, payload))
        if self.auto_ack:
            self._acked.append(seq)
        else:
            self.inflight.add(seq)
        return True

    def publish_status(self, status: StatusPayload) -> None:
        if self.connected:
            self.statuses.append(status)

    def publish_notice(self, payload: bytes) -> None:
        if self.connected:
            self.notices.append(payload)

    def take_acked(self) -> list[int]:
        acked, self._acked = self._acked, []
        return acked

    def take_reconnected(self) -> bool:
        flag, self._reconnected = self._reconnected, False
        return flag

    def stop(self, final_status: StatusPayload, timeout_s: float) -> None:
        if self.connected:
            self.statuses.append(final_status)
        self.connected = False
        self.stopped = True

    # -- test controls --------------------------------------------------------------------

    def ack(self, *seqs: int) -> None:
        """Deliver PUBACKs for windows currently in flight."""
        for seq in seqs:
            if seq not in self.inflight:
                raise AssertionError(
                    f"seq {seq} is not in flight (in flight: {sorted(self.inflight)})"
                )
            self.inflight.discard(seq)
            self._acked.append(seq)

    def drop_connection(self) -> None:
        """The broker went away: nothing in flight will ever be acknowledged."""
        self.connected = False
        self.inflight.clear()

    def restore_connection(self) -> None:
        self.connected = True
        self._reconnected = True

    @property
    def sent_seqs(self) -> list[int]:
        return [seq for seq, _ in self.counts]


@dataclass
class FakeClock:
    """A settable clock: ``monotonic()`` and ``time()`` move only with ``advance``."""

    mono: float = 1000.0
    wall: float = datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall, tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes back; set .wall to model a wall-clock jump")
        self.mono += seconds
        self.wall += seconds


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)


class ScriptedCapture:
    """A fake camera: ``frames`` frames at ``fps``, then it stalls (blocks) or fails."""

    def __init__(
        self, frames: int, *, then: str = "fail", fps: float = 50.0, stall_s: float = 30.0
    ):
        self.remaining = frames
        self.then = then
        self.period = 1.0 / fps
        self.stall_s = stall_s
        self.released = threading.Event()

    def read(self) -> tuple[bool, Any]:
        if self.remaining > 0 and not self.released.is_set():
            self.remaining -= 1
            time.sleep(self.period)
            return True, np.full((48, 64, 3), 200, dtype=np.uint8)
        if self.then == "stall":
            # Like an RTSP read that never returns; only release() (or a long time) ends it.
            self.released.wait(self.stall_s)
        return False, None

    def release(self) -> None:
        self.released.set()


@dataclass
class ScriptedOpener:
    """Each call returns the next scripted capture, or raises SourceError for ``"error"``."""

    script: list[ScriptedCapture | str]
    opened: int = 0

    def __call__(self) -> ScriptedCapture:
        if not self.script:
            raise SourceError("scripted camera: no more captures")
        step = self.script.pop(0)
        self.opened += 1
        if isinstance(step, str):
            raise SourceError(f"scripted camera: {step}")
        return step
