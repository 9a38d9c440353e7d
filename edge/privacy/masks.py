"""Privacy masks: regions of the frame that no model ever sees.

``[[privacy.masks]]`` polygons (relative coordinates) are filled with zeros in the frame
buffer itself, before the detector or any attribute network reads it (see
``edge.vision.analyser``). The pixels under a mask are gone, not merely ignored.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import PrivacyMask
from edge.types import ImageArray


class MaskSet:
    """The configured masks, as pixel polygons cached per frame size."""

    def __init__(self, masks: tuple[PrivacyMask, ...]) -> None:
        self.masks = masks
        self._size: tuple[int, int] | None = None
        self._polygons: list[np.ndarray] = []

    def __bool__(self) -> bool:
        return bool(self.masks)

    def _pixels(self, width: int, height: int) -> list[np.ndarray]:
        if self._size != (width, height):
            scale = np.array([width, height], dtype=np.float64)
            self._polygons = [
                np.rint(np.array(m.polygon, dtype=np.float64) * scale).astype(np.int32)
                for m in self.masks
            ]
            self._size = (width, height)
        return self._polygons

    def apply(self, image: ImageArray) -> None:
        """Zero every masked pixel of ``image`` in place."""
        if not self.masks:
            return
        height, width = image.shape[:2]
        cv2.fillPoly(image, self._pixels(width, height), (0, 0, 0))
