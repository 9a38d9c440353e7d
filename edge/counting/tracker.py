"""Follow faces across frames so each person is counted once, when their track ends.

Track state is geometry and running sums only: a box, a velocity, hit counts and
the quality-weighted sums of age and p(male). No pixels, no embeddings, no path
history. A track unseen for ``max_missed_s`` (media clock) ends; if it was seen in at
least ``min_hits`` frames it becomes one FinishedTrack, and its state is dropped.

Per-track fusion: each observation's age and p(male) count with its quality, the
detector score times a size factor (faces below ``FULL_QUALITY_PX`` wide count
proportionally less: small faces give the attribute networks little to go on). A
track whose summed quality stays below ``min_evidence`` (``[attributes]``) finishes
without age or gender, so it is counted but published as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import TrackerConfig
from edge.types import AnalysedFrame, FinishedTrack, FloatArray


@dataclass(slots=True)
class _Track:
    box: FloatArray
    velocity: FloatArray  # box change per second
    first_seen: float
    last_seen: float
    hits: int = 1
    evidence: float = 0.0  # summed observation quality
    age_sum: float = 0.0
    p_male_sum: float = 0.0

    def predicted(self, ts: float) -> FloatArray:
        dt = min(ts - self.last_seen, 1.0)
        moved: FloatArray = self.box + self.velocity * dt
        return moved

    def finish(self, min_evidence: float) -> FinishedTrack:
        w = self.evidence
        known = w > 0 and w >= min_evidence
        return FinishedTrack(
            first_seen=self.first_seen,
            ended_at=self.last_seen,
            hits=self.hits,
            mean_age=self.age_sum / w if known else None,
            mean_p_male=self.p_male_sum / w if known else None,
            evidence=w,
        )


FULL_QUALITY_PX = 64.0


def quality(score: float, box: FloatArray) -> float:
    """How much one observation counts: detector score x min(1, face width / 64 px)."""
    width = float(box[2] - box[0])
    return max(0.0, score) * min(1.0, max(0.0, width) / FULL_QUALITY_PX)


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of xyxy boxes, (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = (inter / np.maximum(union, 1e-6)).astype(np.float32)
    return out


def _centre_distance(a: FloatArray, b: FloatArray) -> FloatArray:
    """Centre distance in units of the track's face width, (len(a), len(b))."""
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    width = np.maximum(a[:, 2] - a[:, 0], 1.0)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) / width[:, None]
    out: FloatArray = dist.astype(np.float32)
    return out


class Tracker:
    """Greedy IoU / centre-distance association with constant-velocity prediction."""

    def __init__(self, cfg: TrackerConfig, min_evidence: float = 0.0) -> None:
        self.cfg = cfg
        self.min_evidence = min_evidence
        self._tracks: list[_Track] = []

    @property
    def active(self) -> int:
        return len(self._tracks)

    def _match(self, predicted: FloatArray, boxes: FloatArray) -> list[tuple[int, int]]:
        iou = iou_matrix(predicted, boxes)
        dist = _centre_distance(predicted, boxes)
        # Score: overlap first, then closeness; pairs beyond both limits never match.
        allowed = (iou >= self.cfg.iou_threshold) | (dist <= self.cfg.max_center_dist)
        score = np.where(allowed, iou + 1.0 / (1.0 + dist), -np.inf)
        pairs: list[tuple[int, int]] = []
        if score.size == 0:
            return pairs
        order = np.argsort(-score, axis=None)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in order:
            t, d = divmod(int(flat), score.shape[1])
            if not np.isfinite(score[t, d]):
                break
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            pairs.append((t, d))
        return pairs

    def update(self, frame: AnalysedFrame) -> list[FinishedTrack]:
        """Associate one frame's faces; returns the tracks that ended by this frame's time."""
        ts = frame.ts
        boxes = frame.detections.boxes
        predicted = (
            np.stack([t.predicted(ts) for t in self._tracks])
            if self._tracks
            else np.zeros((0, 4), dtype=np.float32)
        )
        matched_d: set[int] = set()
        for t_idx, d_idx in self._match(predicted, boxes):
            track = self._tracks[t_idx]
            dt = ts - track.last_seen
            if dt > 0:
                new_velocity = (boxes[d_idx] - track.box) / dt
                track.velocity = (0.5 * track.velocity + 0.5 * new_velocity).astype(np.float32)
            track.box = boxes[d_idx].copy()
            track.last_seen = ts
            track.hits += 1
            self._observe(track, frame, d_idx)
            matched_d.add(d_idx)
        for d_idx in range(len(boxes)):
            if d_idx not in matched_d:
                track = _Track(
                    box=boxes[d_idx].copy(),
                    velocity=np.zeros(4, dtype=np.float32),
                    first_seen=ts,
                    last_seen=ts,
                )
                self._observe(track, frame, d_idx)
                self._tracks.append(track)
        return self._expire(ts)

    @staticmethod
    def _observe(track: _Track, frame: AnalysedFrame, i: int) -> None:
        ages, p_male = frame.attributes.age, frame.attributes.p_male
        if ages is not None and p_male is not None:
            det = frame.detections
            w = quality(float(det.scores[i]), det.boxes[i])
            track.evidence += w
            track.age_sum += w * float(ages[i])
            track.p_male_sum += w * float(p_male[i])

    def _expire(self, now: float) -> list[FinishedTrack]:
        ended = [t for t in self._tracks if now - t.last_seen > self.cfg.max_missed_s]
        self._tracks = [t for t in self._tracks if now - t.last_seen <= self.cfg.max_missed_s]
        return [t.finish(self.min_evidence) for t in ended if t.hits >= self.cfg.min_hits]

    def advance(self, now: float) -> list[FinishedTrack]:
        """End tracks unseen since ``now - max_missed_s`` (used when no frame arrives)."""
        return self._expire(now)

    def flush(self) -> list[FinishedTrack]:
        """End every track (end of a file source or shutdown)."""
        ended = [t.finish(self.min_evidence) for t in self._tracks if t.hits >= self.cfg.min_hits]
        self._tracks = []
        return ended
