"""The detector bench draws exactly the face sizes it reports, and scores hits honestly."""

from __future__ import annotations

import numpy as np

from edge.types import Detections
from simulator.bench_faces import HEIGHT, SIZES, WIDTH, _centres_in, sized_frames
from simulator.scenes.portraits import FaceItem


def _items() -> list[FaceItem]:
    rng = np.random.default_rng(3)
    return [
        FaceItem(rng.integers(0, 255, (130, 100, 3), dtype=np.uint8), f"noise-{i}")
        for i in range(3)
    ]


def test_each_size_gets_its_faces_fully_in_the_frame() -> None:
    frames = list(sized_frames(_items(), per_size=30, seed=1, vary=True))
    for size in SIZES:
        boxes = [b for f in frames if f.size == size for b in f.boxes]
        assert len(boxes) == 30
        for x0, y0, x1, y1 in boxes:
            assert x1 - x0 == size
            assert 0 <= x0 < x1 <= WIDTH
            assert 0 <= y0 < y1 <= HEIGHT
    assert all(f.image.shape == (HEIGHT, WIDTH, 3) for f in frames)


def test_same_seed_same_frames() -> None:
    first = next(sized_frames(_items(), per_size=5, seed=2, vary=True))
    again = next(sized_frames(_items(), per_size=5, seed=2, vary=True))
    np.testing.assert_array_equal(first.image, again.image)
    assert first.boxes == again.boxes


def test_a_detection_counts_once_and_stray_ones_are_false() -> None:
    truth = [(10, 10, 50, 60), (100, 10, 140, 60)]
    boxes = np.array([[12, 12, 48, 58], [15, 15, 45, 55], [300, 300, 340, 340]], np.float32)
    det = Detections(boxes, np.full(3, 0.9, np.float32), np.zeros((3, 6, 2), np.float32))
    assert _centres_in(truth, det) == (1, 1)
