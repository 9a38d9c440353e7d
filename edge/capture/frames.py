"""Frame helpers shared by file and live sources: coerce what a camera hands over to BGR8."""

from __future__ import annotations

import cv2
import numpy as np

from edge.types import ImageArray

MAX_SIDE = 4096


def to_bgr8(image: np.ndarray) -> ImageArray | None:
    """Coerce odd frames (grey, 16-bit, BGRA) to BGR uint8; None when unusable."""
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] != 3 or min(image.shape[:2]) < 16 or max(image.shape[:2]) > MAX_SIDE:
        return None
    out: ImageArray = image
    return out
