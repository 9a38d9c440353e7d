"""BlazeFace anchors and output decoding (DESIGN §4), kept beside the model adapter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.types import FloatArray


@dataclass(frozen=True, slots=True)
class BlazeFaceSpec:
    name: str
    size: int
    anchors: FloatArray  # (N, 2) centres in [0, 1]


def _grid(size: int, stride: int, per_cell: int) -> FloatArray:
    n = size // stride
    ys, xs = np.mgrid[0:n, 0:n]
    centres = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], axis=-1).reshape(-1, 2)
    return np.repeat(centres, per_cell, axis=0).astype(np.float32)


def full_range() -> BlazeFaceSpec:
    return BlazeFaceSpec("face_detection_full_range", 192, _grid(192, 4, 1))


def short_range() -> BlazeFaceSpec:
    anchors = np.concatenate([_grid(128, 8, 2), _grid(128, 16, 6)])
    return BlazeFaceSpec("face_detection_short_range", 128, anchors)


def decode(
    spec: BlazeFaceSpec, regressors: FloatArray, logits: FloatArray, threshold: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw outputs (N, 16) and (N,) -> boxes (M, 4) xyxy, scores (M,), keypoints (M, 6, 2).

    Coordinates are in model-input pixels.
    """
    # float64: exp(100) overflows float32 (the short-range model emits logits near -160).
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    keep = scores >= threshold
    reg = regressors[keep]
    centres = spec.anchors[keep] * spec.size
    cx = centres[:, 0] + reg[:, 0]
    cy = centres[:, 1] + reg[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = reg[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes.astype(np.float32), scores[keep].astype(np.float32), keypoints.astype(np.float32)
