"""Which faces get age/gender on a sampled frame: only those that add information.

A face whose box overlaps a face estimated within ``[attributes] refresh_frames`` frames is
skipped unless its quality (score x width, capped) is clearly better than that estimate's:
the same person seen again from the same distance tells the networks nothing new. The
state is geometry and numbers only (boxes, qualities, frame numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.boxes import iou_matrix
from edge.types import BoolArray, Detections, FloatArray

MATCH_IOU = 0.3
BETTER = 1.15  # a re-estimate needs this much better quality
FULL_QUALITY_PX = 96.0  # wider faces are no better for 64 px chips


@dataclass(slots=True)
class _Estimated:
    box: FloatArray
    quality: float
    frame: int


def quality(detections: Detections) -> FloatArray:
    """Score times width (up to 96 px, relative): bigger and surer faces make better chips."""
    width = detections.boxes[:, 2] - detections.boxes[:, 0]
    out: FloatArray = (detections.scores * np.minimum(width / FULL_QUALITY_PX, 1.0)).astype(
        np.float32
    )
    return out


class Freshness:
    """Remembers recently estimated faces; picks the good faces worth estimating now."""

    def __init__(self, refresh_frames: int) -> None:
        self.refresh_frames = refresh_frames
        self._recent: list[_Estimated] = []

    def reset(self) -> None:
        self._recent = []

    def select(self, frame: int, detections: Detections) -> BoolArray:
        """Mask of the good faces of frame number ``frame`` that should be estimated."""
        good = detections.good_mask.copy()
        if self.refresh_frames <= 1:
            return good
        self._recent = [e for e in self._recent if frame - e.frame < self.refresh_frames]
        q = quality(detections)
        taken: set[int] = set()
        for i in np.flatnonzero(good):
            box = detections.boxes[i]
            best, best_iou = -1, MATCH_IOU
            for j, known in enumerate(self._recent):
                overlap = float(iou_matrix(box[None], known.box[None])[0, 0])
                if j not in taken and overlap >= best_iou:
                    best, best_iou = j, overlap
            if best < 0:
                self._recent.append(_Estimated(box.copy(), float(q[i]), frame))
                taken.add(len(self._recent) - 1)
                continue
            known = self._recent[best]
            taken.add(best)
            known.box = box.copy()  # follow the face as it moves
            if q[i] > known.quality * BETTER:
                known.quality, known.frame = float(q[i]), frame
            else:
                good[i] = False
        return good
