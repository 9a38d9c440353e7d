"""Face quality from what the detector already gives: score, size and landmark geometry.

A *good* face may feed age/gender: it scores at least ``min_score``, is at least
``min_face_px`` wide and is frontal (eye distance a plausible share of the box width, the
nose between the eyes). A *poor* face is still a person, but its track publishes ``unknown``
unless some other observation of it was good. A detection that is neither frontal nor
confident (below ``drop_below``) is no face at all: backs of heads, coats of arms and
patterns look like that, so it is dropped before it can become a person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import QualityConfig
from edge.types import BoolArray, Detections, FloatArray


@dataclass(frozen=True, slots=True)
class Geometry:
    """Per-face measures (parallel arrays): eye distance / box width, nose position."""

    eye_ratio: FloatArray
    nose_position: FloatArray  # along the eye axis: 0 at the right eye, 1 at the left eye


def geometry(detections: Detections) -> Geometry:
    """Landmark geometry of each face (keypoints 0, 1, 2: right eye, left eye, nose)."""
    kps = detections.keypoints.astype(np.float64)
    width = np.maximum(detections.boxes[:, 2] - detections.boxes[:, 0], 1e-6)
    axis = kps[:, 1] - kps[:, 0]
    span = np.maximum((axis**2).sum(axis=1), 1e-9)
    along = ((kps[:, 2] - kps[:, 0]) * axis).sum(axis=1) / span
    return Geometry(
        eye_ratio=(np.sqrt(span) / width).astype(np.float32),
        nose_position=along.astype(np.float32),
    )


def frontal(detections: Detections, cfg: QualityConfig) -> BoolArray:
    """Eye distance and nose position those of a face seen from the front."""
    g = geometry(detections)
    ratio_ok = (g.eye_ratio >= cfg.eye_ratio[0]) & (g.eye_ratio <= cfg.eye_ratio[1])
    nose_ok = (g.nose_position >= cfg.nose_span[0]) & (g.nose_position <= cfg.nose_span[1])
    out: BoolArray = ratio_ok & nose_ok
    return out


def assess(detections: Detections, cfg: QualityConfig) -> Detections:
    """Drop non-faces, then mark which of the rest may feed age/gender."""
    if len(detections) == 0:
        return detections
    is_frontal = frontal(detections, cfg)
    kept = detections.select(np.flatnonzero(is_frontal | (detections.scores >= cfg.drop_below)))
    is_frontal = frontal(kept, cfg)
    width = kept.boxes[:, 2] - kept.boxes[:, 0]
    good = is_frontal & (kept.scores >= cfg.min_score) & (width >= cfg.min_face_px)
    return Detections(kept.boxes, kept.scores, kept.keypoints, good.astype(bool))
