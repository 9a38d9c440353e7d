"""Face quality from what the detector already gives: score, size and landmark geometry.

A *good* face may feed age/gender: it scores at least ``min_score``, is at least
``min_face_px`` wide and is frontal (eye distance a plausible share of the box width, the
nose between the eyes). A *poor* face is still a person, but its track publishes ``unknown``
unless some other observation of it was good. A detection that scores below
``drop_below`` and whose landmarks are not even face-like (the eyes almost on top of each
other *and* the nose far outside them) is no face at all: on recorded footage the backs of
heads look exactly like that (YuNet scores them 0.6-0.84), so it is dropped before it can
become a person. A real profile seen that badly usually scores higher.
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


def face_like(detections: Detections, cfg: QualityConfig) -> BoolArray:
    """Landmarks a face could have, even turned: eyes apart, or the nose near them."""
    g = geometry(detections)
    low, high = cfg.face_nose_span
    near = (g.nose_position >= low) & (g.nose_position <= high)
    out: BoolArray = (g.eye_ratio >= cfg.face_eye_ratio) | near
    return out


def assess(detections: Detections, cfg: QualityConfig) -> Detections:
    """Drop non-faces, then mark which of the rest may feed age/gender."""
    if len(detections) == 0:
        return detections
    plausible = face_like(detections, cfg) | (detections.scores >= cfg.drop_below)
    kept = detections.select(np.flatnonzero(plausible))
    is_frontal = frontal(kept, cfg)
    width = kept.boxes[:, 2] - kept.boxes[:, 0]
    good = is_frontal & (kept.scores >= cfg.min_score) & (width >= cfg.min_face_px)
    return Detections(kept.boxes, kept.scores, kept.keypoints, good.astype(bool))
