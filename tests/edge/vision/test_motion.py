"""Motion on a grey thumbnail: boxes in frame pixels, explained motion ignored, one thumbnail."""

from __future__ import annotations

import numpy as np

from edge.types import ImageArray
from edge.vision.motion import MotionDetector


def street(square: tuple[int, int, int] | None = None) -> ImageArray:
    """A 1280x720 grey street; ``square`` (x, y, side) draws a bright face-like patch."""
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[400:, :] = 60  # pavement
    if square is not None:
        x, y, side = square
        image[y : y + side, x : x + side] = 220
    return image


def test_first_frame_is_fresh_then_nothing_moves() -> None:
    motion = MotionDetector()
    assert motion.update(street()).fresh
    still = motion.update(street())
    assert not still.fresh
    assert still.share == 0.0
    assert len(still.boxes) == 0


def test_a_new_patch_is_one_box_around_it_in_frame_pixels() -> None:
    motion = MotionDetector()
    motion.update(street())
    moved = motion.update(street((640, 200, 64)))
    assert len(moved.boxes) == 1
    x0, y0, x1, y1 = moved.boxes[0]
    assert x0 <= 640
    assert y0 <= 200
    assert x1 >= 704
    assert y1 >= 264
    assert x1 - x0 < 64 + 4 * 8, "box within a few thumbnail cells of the patch"


def test_motion_inside_explained_boxes_is_ignored() -> None:
    motion = MotionDetector()
    motion.update(street())
    explained = np.array([[600, 150, 760, 320]], np.float32)
    result = motion.update(street((640, 200, 64)), explained)
    assert len(result.boxes) == 0
    assert result.share == 0.0


def test_one_thumbnail_is_kept_and_reset_zeroes_it() -> None:
    motion = MotionDetector()
    motion.update(street((100, 100, 64)))
    motion.update(street((300, 100, 64)))
    kept = [b for b in (motion._prev, motion._cur) if b is not None and b.any()]
    assert len(kept) == 1, "the older thumbnail is zeroed as soon as it has been compared"
    assert motion._colour is not None
    assert not motion._colour.any()
    kept_before_reset = motion.holds_pixels
    motion.reset()
    assert kept_before_reset
    assert not motion.holds_pixels
    assert motion.update(street()).fresh, "after a reset nothing is compared with old pixels"


def test_a_new_frame_size_starts_afresh() -> None:
    motion = MotionDetector()
    motion.update(street())
    small = np.full((270, 480, 3), 90, np.uint8)
    assert motion.update(small).fresh
    assert not motion.update(small).fresh
