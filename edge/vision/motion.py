"""Motion by frame differencing on a small grey thumbnail of each frame.

The thumbnail is pixel data. It is the only pixel data kept from one frame to the next: one
tiny grey image (160 px wide, 90 high for 16:9), held in process memory only, overwritten
in place by the next frame's thumbnail and zeroed by ``reset`` (end of a source, a change of
frame size, an error). It is never written to disk, a log, a metric or the network, and
nothing outside this class sees it. The difference image and the motion mask derived from
it are zeroed before ``update`` returns; what leaves is geometry: boxes in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.types import FloatArray, ImageArray

THUMB_WIDTH = 160
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class Motion:
    """Where the frame changed since the previous one, outside the explained boxes.

    ``boxes`` (K, 4) xyxy in frame pixels; ``share`` the fraction of the thumbnail that
    changed outside the explained boxes; ``fresh`` True when there was no previous
    thumbnail to compare with (first frame, new frame size): then everything is new.
    """

    boxes: FloatArray
    share: float
    fresh: bool


def _empty() -> FloatArray:
    return np.zeros((0, 4), np.float32)


class MotionDetector:
    """Frame differencing: grey thumbnail of this frame against the previous one."""

    def __init__(self, threshold: int = 15, min_cells: int = 2) -> None:
        self.threshold = threshold
        self.min_cells = min_cells
        self._prev: ImageArray | None = None
        self._cur: ImageArray | None = None
        self._colour: ImageArray | None = None
        self._frame_shape: tuple[int, int] = (0, 0)

    @property
    def holds_pixels(self) -> bool:
        """Whether any thumbnail pixel is non-zero (tests use it to check the zeroing)."""
        return any(b is not None and bool(b.any()) for b in (self._prev, self._cur, self._colour))

    def reset(self) -> None:
        """Zero the kept thumbnail: the next frame is compared with nothing."""
        for buf in (self._prev, self._cur, self._colour):
            if buf is not None:
                buf.fill(0)
        self._frame_shape = (0, 0)

    def _buffers(self, height: int, width: int) -> tuple[ImageArray, ImageArray, ImageArray]:
        th = max(1, round(THUMB_WIDTH * height / width))
        if self._prev is None or self._cur is None or self._colour is None:
            self._prev = np.zeros((th, THUMB_WIDTH), np.uint8)
            self._cur = np.zeros((th, THUMB_WIDTH), np.uint8)
            self._colour = np.zeros((th, THUMB_WIDTH, 3), np.uint8)
        elif self._prev.shape != (th, THUMB_WIDTH):
            self.reset()
            self._prev = np.zeros((th, THUMB_WIDTH), np.uint8)
            self._cur = np.zeros((th, THUMB_WIDTH), np.uint8)
            self._colour = np.zeros((th, THUMB_WIDTH, 3), np.uint8)
        return self._prev, self._cur, self._colour

    def update(self, image: ImageArray, explained: FloatArray | None = None) -> Motion:
        """Compare ``image`` with the previous frame; ``explained`` boxes (xyxy) are ignored."""
        height, width = image.shape[:2]
        prev, cur, colour = self._buffers(height, width)
        cv2.resize(image, (colour.shape[1], colour.shape[0]), dst=colour,
                   interpolation=cv2.INTER_AREA)  # fmt: skip
        cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY, dst=cur)
        colour.fill(0)
        fresh = self._frame_shape != (height, width)
        self._frame_shape = (height, width)
        if fresh:
            self._swap()
            return Motion(_empty(), 1.0, True)
        diff = cv2.absdiff(cur, prev)
        self._swap()
        mask: npt.NDArray[np.uint8] = (diff > self.threshold).astype(np.uint8)
        diff.fill(0)
        try:
            fx, fy = width / mask.shape[1], height / mask.shape[0]
            if explained is not None and len(explained):
                for x0, y0, x1, y1 in explained:
                    c0, r0 = max(int(x0 / fx), 0), max(int(y0 / fy), 0)
                    c1, r1 = int(np.ceil(x1 / fx)), int(np.ceil(y1 / fy))
                    mask[r0:r1, c0:c1] = 0
            share = float(mask.mean())
            if share == 0.0:
                return Motion(_empty(), 0.0, False)
            grown = cv2.dilate(mask, _KERNEL)
            count, _labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
            _labels.fill(0)
            grown.fill(0)
            boxes = [
                (x * fx, y * fy, (x + w) * fx, (y + h) * fy)
                for x, y, w, h, area in stats[1:count].tolist()
                if area >= self.min_cells
            ]
            out = np.asarray(boxes, np.float32).reshape(-1, 4)
            return Motion(out, share, False)
        finally:
            mask.fill(0)

    def _swap(self) -> None:
        # The current thumbnail becomes the reference and the older one is zeroed at once:
        # at most one frame's thumbnail is ever kept.
        self._prev, self._cur = self._cur, self._prev
        if self._cur is not None:
            self._cur.fill(0)
