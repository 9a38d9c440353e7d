"""Tracking accuracy against per-frame truth boxes: CLEAR-MOT and identity metrics.

The metrics come from py-motmetrics (MOTA, IDF1, ID switches, fragmentations). Which truth
boxes are scored: a face at least ``min_visible`` visible (not behind the pillar or a nearer
person, not out of the frame). Hidden faces are "don't care": a track box on one is neither
a hit nor a false positive. A track box matches a truth box when their IoU is at least
``min_iou`` (boxes clipped to the frame first). The default is 0.3, not MOTChallenge's 0.5:
a truth box is the pasted head (hair and chin included, about 1.4 times as tall as wide),
while face detectors box the face itself (square, about 0.85 of the head's width), so a
perfect detection has an IoU of only about 0.5 with its truth box.

Detections come from the node's own analyser on the rendered video, or (``synthetic``) from
the truth boxes with seeded misses, jitter, weak scores and doubled boxes, which scores
the tracker alone, fast and the same on every machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from edge.boxes import iou_matrix
from edge.counting.tracker import TrackBoxes
from edge.types import Detections, FloatArray
from simulator.scenes.boxes import FrameBox

METRICS = ("mota", "idf1", "num_switches", "num_fragmentations", "precision", "recall")


@dataclass(frozen=True)
class TrackScore:
    frames: int
    people: int  # truth people with at least one scored box
    counted: int  # tracks the node would count (at least min_hits frames)
    scored_boxes: int
    mota: float
    idf1: float
    id_switches: int
    fragmentations: int
    precision: float
    recall: float

    @property
    def switches_per_100(self) -> float:
        return 100 * self.id_switches / max(self.people, 1)

    @property
    def count_error_pct(self) -> float:
        return 100 * (self.counted - self.people) / max(self.people, 1)


def _clip(boxes: FloatArray, width: int, height: int) -> FloatArray:
    out: FloatArray = boxes.copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def _xyxy(rows: list[FrameBox]) -> FloatArray:
    return np.array([[r.x, r.y, r.x + r.w, r.y + r.h] for r in rows], dtype=np.float32).reshape(
        -1, 4
    )


def by_frame(rows: Iterable[FrameBox]) -> dict[int, list[FrameBox]]:
    out: dict[int, list[FrameBox]] = defaultdict(list)
    for r in rows:
        out[r.frame].append(r)
    return out


class MotScorer:
    """Feed it each frame's track boxes; ``result`` computes the metrics."""

    def __init__(
        self,
        truth: list[FrameBox],
        width: int,
        height: int,
        min_visible: float = 0.5,
        min_iou: float = 0.3,
    ) -> None:
        import motmetrics  # a simulator-side dependency only: never imported by the node

        self._mm = motmetrics
        self._acc = motmetrics.MOTAccumulator(auto_id=False)
        self._truth = by_frame(truth)
        self.width, self.height = width, height
        self.min_visible, self.min_iou = min_visible, min_iou
        self._people: set[int] = set()
        self._frames = 0
        self._scored = 0

    def add(self, frame: int, tracks: TrackBoxes) -> None:
        rows = self._truth.get(frame, [])
        scored = [r for r in rows if r.visible >= self.min_visible]
        hidden = [r for r in rows if r.visible < self.min_visible]
        hyp = _clip(tracks.boxes, self.width, self.height)
        gt = _clip(_xyxy(scored), self.width, self.height)
        iou = iou_matrix(gt, hyp)
        keep = np.ones(len(hyp), dtype=bool)
        if hidden and len(hyp):
            on_hidden = iou_matrix(_clip(_xyxy(hidden), self.width, self.height), hyp).max(axis=0)
            on_scored = iou.max(axis=0) if len(gt) else np.zeros(len(hyp), dtype=np.float32)
            keep = ~((on_hidden >= self.min_iou) & (on_scored < self.min_iou))
        dist = np.where(iou[:, keep] >= self.min_iou, 1.0 - iou[:, keep], np.nan)
        ids = [t for t, k in zip(tracks.ids, keep, strict=True) if k]
        self._acc.update([r.id for r in scored], ids, dist, frameid=frame)
        self._people.update(r.id for r in scored)
        self._frames += 1
        self._scored += len(scored)

    def result(self, counted: int) -> TrackScore:
        handler = self._mm.metrics.create()
        summary = handler.compute(self._acc, metrics=list(METRICS), name="scene")
        row = {m: summary[m].iloc[0] for m in METRICS}
        return TrackScore(
            frames=self._frames,
            people=len(self._people),
            counted=counted,
            scored_boxes=self._scored,
            mota=float(row["mota"]),
            idf1=float(row["idf1"]),
            id_switches=int(row["num_switches"]),
            fragmentations=int(row["num_fragmentations"]),
            precision=float(row["precision"]),
            recall=float(row["recall"]),
        )


@dataclass(frozen=True)
class NoiseModel:
    """How the synthetic detector errs (fractions of the face width, probabilities)."""

    miss: float = 0.05  # a visible face is missed in a frame
    partly_visible: float = 0.3  # faces less visible than this are never found
    jitter: float = 0.03
    size_jitter: float = 0.04
    weak_below: float = 0.7  # faces less visible than this get weak scores
    double: float = 0.03  # a second, larger box on the same face


def synthetic_detections(
    truth: list[FrameBox], frames: int, width: int, height: int, *, seed: int, noise: NoiseModel
) -> Iterator[Detections]:
    """Per frame, detections a decent face detector would give on the truth boxes."""
    rng = np.random.default_rng([seed, 7])
    rows = by_frame(truth)
    for k in range(frames):
        boxes: list[list[float]] = []
        scores: list[float] = []
        for r in rows.get(k, []):
            # Draw every random number whatever happens, so one face does not shift the rest.
            u_miss, u_score, u_double = rng.uniform(size=3)
            dx, dy, ds = rng.normal(size=3)
            if r.visible < noise.partly_visible or u_miss < noise.miss:
                continue
            w = r.w * (1 + noise.size_jitter * ds)
            h = w * r.h / r.w
            cx = r.x + r.w / 2 + noise.jitter * r.w * dx
            cy = r.y + r.h / 2 + noise.jitter * r.w * dy
            box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
            if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
                continue
            weak = r.visible < noise.weak_below
            boxes.append(box)
            scores.append(0.35 + 0.2 * u_score if weak else 0.65 + 0.3 * u_score)
            if u_double < noise.double and not weak:
                big = 1.7
                boxes.append(
                    [cx - big * w / 2, cy - big * h / 2, cx + big * w / 2, cy + big * h / 2]
                )
                scores.append(0.62)
        n = len(boxes)
        yield Detections(
            np.array(boxes, dtype=np.float32).reshape(n, 4),
            np.array(scores, dtype=np.float32).reshape(n),
            np.zeros((n, 6, 2), dtype=np.float32),
        )
