"""The node: source -> analyser -> tracker -> aggregator -> policy -> outbox -> publisher.

``Node.run`` drives the stages in one thread; the only other threads are the
camera reader (live sources) and paho's network loop behind the Publisher.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from edge import __version__
from edge.capture.sources import FrameSource
from edge.config import NodeSettings
from edge.counting.aggregator import Aggregator
from edge.counting.tracker import Tracker
from edge.delivery.outbox import Outbox
from edge.delivery.publisher import Publisher
from edge.errors import StoreError
from edge.ops.metrics import NodeMetrics
from edge.ops.service import ServiceNotifier
from edge.payload import ModelIds, StatusPayload
from edge.privacy.audit import AuditLog
from edge.privacy.policy import seal
from edge.privacy.shares import IntervalMaker
from edge.types import WindowCounts
from edge.vision.analyser import Analyser

log = logging.getLogger("kazoe.node")
STATUS_EVERY_S = 30.0
PURGE_EVERY_S = 3600.0
DAY_S = 86400.0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


@dataclass(slots=True)
class RunStats:
    frames: int = 0
    windows_closed: int = 0
    windows_acked: int = 0
    people: int = 0
    started_monotonic: float = 0.0


class Node:
    """One running node. Construct with ready stages; ``run`` returns an exit code."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        source: FrameSource,
        analyser: Analyser,
        outbox: Outbox,
        publisher: Publisher,
        models: ModelIds,
        boot_id: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
        metrics: NodeMetrics | None = None,
        notifier: ServiceNotifier | None = None,
        intervals: IntervalMaker | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.analyser = analyser
        self.outbox = outbox
        self.publisher = publisher
        self.models = models
        self.boot_id = boot_id or uuid.uuid4().hex
        self.wall_clock = wall_clock
        self.audit = audit
        self.intervals = intervals  # None: no calibration in use, windows carry no intervals
        self.metrics = metrics or NodeMetrics()
        # systemd (Type=notify): READY after the first analysed frame, WATCHDOG after each.
        self.notifier = notifier or ServiceNotifier()
        self._ready = False
        self.tracker = Tracker.from_settings(settings)
        # Age/gender only for faces whose track still needs evidence (the tracker associates
        # each frame before the attribute networks run, while the analyser holds it).
        self.select = self.tracker if self.tracker.evidence.selective else None
        self.aggregator = Aggregator(
            settings.aggregate,
            demographics=settings.policy.demographics,
            gender_margin=settings.attributes.gender_margin,
            lines=tuple(line.name for line in settings.counting.lines),
        )
        self.stats = RunStats(started_monotonic=time.monotonic())
        self.stop_event = threading.Event()
        # Set by a second SIGINT/SIGTERM: stop waiting for PUBACKs (the outbox keeps the rest).
        self.abort_event = threading.Event()
        self._inflight: set[int] = set()
        self._last_status = 0.0
        self._last_purge = 0.0
        self._last_source_state = source.state

    # -- status ---------------------------------------------------------------
    def status(self, state: str, reason: str | None = None) -> StatusPayload:
        uptime = time.monotonic() - self.stats.started_monotonic
        return StatusPayload.model_validate(
            {
                "schema": "kazoe.status/1",
                "node_id": self.settings.node.id,
                "state": state,
                "reason": reason,
                "version": __version__,
                "boot_id": self.boot_id,
                "model": self.models,
                "uptime_s": round(uptime, 1),
                "fps": round(self.stats.frames / uptime, 2) if uptime > 0 else 0.0,
                "outbox_depth": self.outbox.depth(),
                "audit_hash": self.audit.last_hash if self.audit else None,
                "source": self.source.state
                if self.source.state in ("running", "stalled", "reconnecting", "ended")
                else None,
                "at": datetime.now(tz=UTC),
            }
        )

    def current_status(self) -> StatusPayload:
        if self.source.state in ("stalled", "reconnecting"):
            return self.status("degraded", f"camera {self.source.state}")
        return self.status("online")

    # -- windows --------------------------------------------------------------
    def _store(self, counts: WindowCounts) -> None:
        sealed_cells = 0

        def make(seq: int) -> bytes:
            nonlocal sealed_cells
            sealed = seal(
                counts,
                settings=self.settings,
                boot_id=self.boot_id,
                seq=seq,
                models=self.models,
                intervals=self.intervals,
            )
            sealed_cells = sealed.suppressed_cells
            return sealed.payload.to_json()

        seq = self.outbox.append(counts.window_start, counts.window_end, make)
        if self.audit is not None:
            self.audit.append(
                "window",
                seq=seq,
                window_start=datetime.fromtimestamp(counts.window_start, tz=UTC).isoformat(),
                suppressed_cells=sealed_cells,
            )
        self.metrics.windows.inc()
        self.stats.windows_closed += 1
        self.stats.people += counts.people
        log.info(
            "window %s closed: seq %d, %d people, %d cells suppressed",
            datetime.fromtimestamp(counts.window_start, tz=UTC).isoformat(),
            seq,
            counts.people,
            sealed_cells,
        )

    def pump(self) -> None:
        """Move acks into the outbox and send what is pending, at most max_inflight at once."""
        if self.publisher.take_reconnected():
            self._inflight.clear()
        acked = self.publisher.take_acked()
        if acked:
            self.outbox.mark_delivered(acked, self.wall_clock())
            self._inflight.difference_update(acked)
            self.stats.windows_acked += len(acked)
        if not self.publisher.connected:
            return
        room = self.settings.mqtt.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for seq, payload in self.outbox.pending(room, self._inflight):
            if not self.publisher.publish_counts(seq, payload):
                break
            self._inflight.add(seq)

    def purge(self) -> None:
        cutoff = self.wall_clock() - self.settings.policy.retention_days * DAY_S
        result = self.outbox.purge(cutoff)
        self.metrics.purged.inc(result.rows)
        if self.audit is not None:
            self.audit.append(
                "purge",
                retention_days=self.settings.policy.retention_days,
                rows=result.rows,
                undelivered=result.undelivered,
                oldest_end=_iso(result.oldest_end),
                newest_end=_iso(result.newest_end),
            )
        if result.rows:
            log.info(
                "retention purge: %d windows older than %d days deleted (%d never delivered)",
                result.rows,
                self.settings.policy.retention_days,
                result.undelivered,
            )
        if self.audit is not None:
            self._rotate_audit(self.audit, cutoff)

    def _rotate_audit(self, audit: AuditLog, cutoff: float) -> None:
        """The audit log is kept for the same retention period as the counts it describes."""
        try:
            rotation = audit.rotate(
                datetime.fromtimestamp(cutoff, tz=UTC),
                retention_days=self.settings.policy.retention_days,
            )
        except StoreError as exc:
            # Keep counting: a damaged log stays whole as evidence, and says so every hour.
            log.error("%s", exc)  # noqa: TRY400 - one line; the message names the bad line
            return
        if rotation is not None:
            log.info(
                "audit log: %d entries older than %d days removed; it now starts at entry %d, "
                "anchored by the rotate checkpoint (entry %d)",
                rotation.removed,
                self.settings.policy.retention_days,
                rotation.first_kept,
                rotation.checkpoint,
            )

    def _upkeep(self) -> None:
        self.pump()
        self.metrics.outbox.set(self.outbox.depth())
        self.metrics.connected.set(1.0 if self.publisher.connected else 0.0)
        self.metrics.set_source(self.source.state)
        now = time.monotonic()
        changed = self.source.state != self._last_source_state
        if changed:
            log.info("source %s", self.source.state)
            self._last_source_state = self.source.state
        if changed or now - self._last_status >= STATUS_EVERY_S:
            self._last_status = now
            self.notifier.status(
                f"{self.source.state}: {self.stats.frames} frames, outbox {self.outbox.depth()}, "
                f"broker {'connected' if self.publisher.connected else 'disconnected'}"
            )
            self.publisher.publish_status(self.current_status())
        if now - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = now
            self.purge()

    # -- main loop ------------------------------------------------------------
    def _advance(self, ts: float) -> None:
        for track in self.tracker.advance(ts):
            self.aggregator.add(track)
        for counts in self.aggregator.advance(ts):
            self._store(counts)

    def run_frames(self) -> None:
        """Analyse frames until the source ends or stop is requested."""
        for frame in self.source.frames():
            if self.stop_event.is_set():
                if frame is not None:
                    frame.image.fill(0)
                break
            if frame is None:
                self._advance(self.wall_clock())
                self._upkeep()
                continue
            analysed = self.analyser.analyse(frame, self.select)
            self.stats.frames += 1
            self._observe_frame()
            for track in self.tracker.update(analysed):
                self.aggregator.add(track)
            self.aggregator.observe_time(analysed.ts)
            for counts in self.aggregator.advance(analysed.ts):
                self._store(counts)
            self._upkeep()

    def _observe_frame(self) -> None:
        if not self._ready:
            self._ready = True
            self.notifier.ready(f"analysing {self.settings.source.uri}")
        self.notifier.watchdog()
        times = self.analyser.times
        self.metrics.frames.inc()
        if times.detect:
            self.metrics.stage_ms.labels(stage="detect").observe(times.detect[-1])
        if times.attributes:
            self.metrics.stage_ms.labels(stage="attributes").observe(times.attributes[-1])
        if times.lifetime:
            self.metrics.lifetime.observe(times.lifetime[-1] / 1000)
        uptime = time.monotonic() - self.stats.started_monotonic
        if uptime > 0:
            self.metrics.fps.set(self.stats.frames / uptime)

    def finish_source(self) -> None:
        """End of a file or a clean stop: every open track ends, and every window, the
        partial last one too, closes into the outbox (its people were really seen)."""
        self.analyser.reset()  # zeroes the motion thumbnail, forgets faces
        for track in self.tracker.flush():
            self.aggregator.add(track)
        for counts in self.aggregator.flush():
            self._store(counts)

    def drain(self, timeout_s: float) -> bool:
        """Pump until the outbox is empty (every window acknowledged) or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.abort_event.is_set():
            self.pump()
            if self.outbox.depth() == 0:
                return True
            time.sleep(0.05)
        self.pump()
        return self.outbox.depth() == 0
