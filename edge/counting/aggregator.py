"""Fixed windows on the media clock: people, gender, age bands, their joint table, and
crossings per counting line and direction.

Windows are aligned to multiples of ``window_seconds`` since the epoch, so two
replays of the same file (real time or full speed) close identical windows. A
person is counted (with their line crossings) in the window in which their track
ended, if it is still open when the tracker reports the track. A window closes as
soon as the media clock passes its end, so it is sealed into the outbox at once and
a crash loses at most the window in progress. The tracker reports a track ``max_missed_s`` after
its last sighting: one that ended that close to the boundary is counted in the
next window rather than holding the previous one open.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from dataclasses import dataclass, field

from edge.config import AggregateConfig
from edge.payload import MAX_COUNT
from edge.types import FinishedTrack, WindowCounts

log = logging.getLogger("kazoe.aggregator")

GENDERS = ("female", "male", "unknown")


def gender_of(p_male: float | None, margin: float) -> str:
    """Female / male from the track's mean p(male); unknown inside the margin or without data."""
    if p_male is None:
        return "unknown"
    if p_male > 0.5 + margin:
        return "male"
    if p_male < 0.5 - margin:
        return "female"
    return "unknown"


@dataclass(slots=True)
class _Open:
    start: float
    people: int = 0
    gender: dict[str, int] = field(default_factory=dict)
    bands: dict[str, int] = field(default_factory=dict)
    joint: dict[str, dict[str, int]] = field(default_factory=dict)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    saturated: bool = False


class Aggregator:
    """Turns finished tracks into closed WindowCounts."""

    def __init__(
        self,
        cfg: AggregateConfig,
        demographics: bool,
        gender_margin: float,
        lines: tuple[str, ...] = (),
    ):
        self.cfg = cfg
        self.line_names = lines
        self.demographics = demographics
        self.gender_margin = gender_margin
        # "unknown": a track with no attribute sample (attributes run every n-th frame), so
        # the bands always add up to the people total (suppression relies on it).
        self.labels = [*cfg.band_labels(), "unknown"]
        self._open: dict[float, _Open] = {}
        self._next_start: float | None = None

    def window_start(self, ts: float) -> float:
        w = self.cfg.window_seconds
        return math.floor(ts / w) * w

    def _blank(self, start: float) -> _Open:
        return _Open(
            start,
            gender=dict.fromkeys(GENDERS, 0),
            bands=dict.fromkeys(self.labels, 0),
            joint={g: dict.fromkeys(self.labels, 0) for g in GENDERS},
            lines={name: {"in": 0, "out": 0} for name in self.line_names},
        )

    def _window(self, start: float) -> _Open:
        win = self._open.get(start)
        if win is None:
            win = self._open[start] = self._blank(start)
        return win

    def band_of(self, age: float) -> str:
        return self.labels[bisect_right(self.cfg.age_bands, int(age))]

    def observe_time(self, ts: float) -> None:
        """Note that the media clock has reached ``ts`` (empty windows still close)."""
        start = self.window_start(ts)
        if self._next_start is None:
            self._next_start = start
        self._window(start)

    def add(self, track: FinishedTrack) -> None:
        if not track.in_zone:
            return  # [[counting.zones]]: this person never entered one, so is not counted
        start = self.window_start(track.ended_at)
        if self._next_start is None:
            self._next_start = start
        elif start < self._next_start:
            # Its window already closed (the track ended within max_missed_s of the boundary).
            start = self._next_start
        win = self._window(start)
        if win.people >= MAX_COUNT:
            # The wire schema bounds every count; a node never seals a window it would refuse.
            if not win.saturated:
                log.warning("window at %.0f: more than %d people; counting stops", start, MAX_COUNT)
                win.saturated = True
            return
        win.people += 1
        for name, (went_in, went_out) in zip(self.line_names, track.crossings, strict=False):
            row = win.lines[name]
            row["in"] = min(row["in"] + went_in, MAX_COUNT)
            row["out"] = min(row["out"] + went_out, MAX_COUNT)
        if not self.demographics:
            return
        g = gender_of(track.mean_p_male, self.gender_margin)
        win.gender[g] += 1
        band = self.band_of(track.mean_age) if track.mean_age is not None else "unknown"
        win.bands[band] += 1
        win.joint[g][band] += 1

    def _close(self, start: float) -> WindowCounts:
        win = self._open.pop(start, None) or self._blank(start)
        demo = self.demographics
        return WindowCounts(
            window_start=start,
            window_end=start + self.cfg.window_seconds,
            people=win.people,
            gender=dict(win.gender) if demo else None,
            age_bands=dict(win.bands) if demo else None,
            joint={g: dict(c) for g, c in win.joint.items()} if demo else None,
            lines={n: dict(c) for n, c in win.lines.items()} if self.line_names else None,
        )

    def advance(self, now: float) -> list[WindowCounts]:
        """Close, in order, every window whose end the clock has reached."""
        closed: list[WindowCounts] = []
        w = self.cfg.window_seconds
        while self._next_start is not None and self._next_start + w <= now:
            closed.append(self._close(self._next_start))
            self._next_start += w
        return closed

    def flush(self) -> list[WindowCounts]:
        """Close every window up to the last one seen, including a partial last window."""
        closed: list[WindowCounts] = []
        if self._next_start is None or not self._open:
            return closed
        last = max(self._open)
        while self._next_start <= last:
            closed.append(self._close(self._next_start))
            self._next_start += self.cfg.window_seconds
        return closed
