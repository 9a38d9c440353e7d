"""BlazeFace anchors and output decoding (DESIGN §4), kept beside the model adapter.

The converted graphs take any input whose sides are multiples of 32 (see
``models/convert.py``); anchors are laid on each stride's grid over that input:
full range = stride 4, 1 anchor per cell; short range = stride 8 x 2 then
stride 16 x 6. Centres sit at (x + 0.5) * stride.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from edge.types import FloatArray

ALIGN = 32  # the graphs downsample five times


@dataclass(frozen=True, slots=True)
class BlazeFaceSpec:
    name: str
    size: int  # the native (training) input side
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell)
    anchors: FloatArray = field(repr=False)  # (N, 2) centres in [0, 1] at the native size

    def centres(self, height: int, width: int) -> FloatArray:
        """(N, 2) anchor centres in input pixels for an input of height x width."""
        return _centres(self.layers, height, width)


@cache
def _centres(layers: tuple[tuple[int, int], ...], height: int, width: int) -> FloatArray:
    parts = []
    for stride, per_cell in layers:
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        grid = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 2)
        parts.append(np.repeat(grid, per_cell, axis=0))
    centres: FloatArray = np.concatenate(parts).astype(np.float32)
    centres.setflags(write=False)
    return centres


def _spec(name: str, size: int, layers: tuple[tuple[int, int], ...]) -> BlazeFaceSpec:
    native: FloatArray = (_centres(layers, size, size) / size).astype(np.float32)
    return BlazeFaceSpec(name, size, layers, native)


def full_range() -> BlazeFaceSpec:
    return _spec("face_detection_full_range", 192, ((4, 1),))


def short_range() -> BlazeFaceSpec:
    return _spec("face_detection_short_range", 128, ((8, 2), (16, 6)))


def decode(
    spec: BlazeFaceSpec,
    regressors: FloatArray,
    logits: FloatArray,
    threshold: float,
    input_hw: tuple[int, int] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw outputs (N, 16) and (N,) -> boxes (M, 4) xyxy, scores (M,), keypoints (M, 6, 2).

    Coordinates are in model-input pixels; ``input_hw`` defaults to the native size.
    """
    height, width = input_hw or (spec.size, spec.size)
    # float64: exp(100) overflows float32 (the short-range model emits logits near -160).
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    keep = scores >= threshold
    reg = regressors[keep]
    centres = spec.centres(height, width)[keep]
    cx = centres[:, 0] + reg[:, 0]
    cy = centres[:, 1] + reg[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = reg[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes.astype(np.float32), scores[keep].astype(np.float32), keypoints.astype(np.float32)
