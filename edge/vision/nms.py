"""Non-maximum suppression shared by the detectors."""

from __future__ import annotations

import cv2
import numpy as np

from edge.types import FloatArray


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (OpenCV's implementation)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou)
    return np.asarray(kept, dtype=np.intp).reshape(-1)
