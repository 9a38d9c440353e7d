"""Pairwise overlap of xyxy pixel boxes, shared by the detectors' region search and the tracker."""

from __future__ import annotations

import numpy as np

from edge.types import FloatArray


def _intersections(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Intersection areas (len(a), len(b)) and each side's box areas."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter: FloatArray = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a: FloatArray = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b: FloatArray = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a, area_b


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of xyxy boxes, (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    out: FloatArray = (inter / np.maximum(union, 1e-6)).astype(np.float32)
    return out


def overlap_of_smaller(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise intersection over the smaller box's area, (len(a), len(b))."""
    inter, area_a, area_b = _intersections(a, b)
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    out: FloatArray = (inter / np.maximum(smaller, 1e-6)).astype(np.float32)
    return out
