"""Focus: whole frames every N, regions around faces and motion in between, pixels zeroed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.types import Detections, Frame, ImageArray
from edge.vision.analyser import Analyser
from edge.vision.focus import Focus
from edge.vision.regions import Region

W, H = 1280, 720
FACE = 64


class DrawnFaces:
    """Finds the bright squares drawn by ``scene`` that lie wholly inside what it searches.

    Records each call: "full", or the list of regions searched.
    """

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[str | list[Region]] = []
        self.error = error

    @property
    def template(self) -> np.ndarray:
        return np.zeros((4, 2))

    def _find(self, image: ImageArray, x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
        if self.error is not None:
            raise self.error
        mask = image[y0:y1, x0:x1, 0] == 220
        corner = mask.copy()
        corner[:, 1:] &= ~mask[:, :-1]
        corner[1:, :] &= ~mask[:-1, :]
        found = []
        for y, x in zip(*np.nonzero(corner), strict=True):
            # Wholly inside: the square's far corner is in the searched area too.
            if (
                y + FACE <= mask.shape[0]
                and x + FACE <= mask.shape[1]
                and mask[y + FACE - 1, x + FACE - 1]
            ):
                found.append(
                    [float(x + x0), float(y + y0), float(x + x0 + FACE), float(y + y0 + FACE)]
                )
        return found

    @staticmethod
    def _detections(boxes: list[list[float]]) -> Detections:
        n = len(boxes)
        xyxy = np.asarray(boxes, np.float32).reshape(n, 4)
        # Frontal landmarks (eyes, nose, mouth, mouth corners) so the quality gate passes.
        unit = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.8], [0.35, 0.8], [0.65, 0.8]])
        points = xyxy[:, None, :2] + unit[None] * (xyxy[:, None, 2:] - xyxy[:, None, :2])
        return Detections(xyxy, np.full(n, 0.9, np.float32), points.astype(np.float32))

    def detect(self, image: ImageArray) -> Detections:
        self.calls.append("full")
        return self._detections(self._find(image, 0, 0, image.shape[1], image.shape[0]))

    def detect_regions(self, image: ImageArray, regions: Sequence[Region]) -> Detections:
        self.calls.append(list(regions))
        boxes = [b for r in regions for b in self._find(image, r.x0, r.y0, r.x1, r.y1)]
        return self._detections(boxes)


def scene(*faces: tuple[int, int]) -> ImageArray:
    """A still street with 64 px bright squares (faces) at the given top-left corners."""
    image = np.full((H, W, 3), 90, np.uint8)
    image[400:] = 60
    for x, y in faces:
        image[y : y + FACE, x : x + FACE] = 220
    return image


def cfg(every: int = 8) -> DetectorConfig:
    return DetectorConfig(full_frame_every=every)


def test_a_still_empty_street_runs_no_detector_until_the_next_whole_frame() -> None:
    detector = DrawnFaces()
    focus = Focus(detector, cfg(5))
    full_after = []
    for _ in range(11):
        focus.detect(scene())
        full_after.append(detector.calls.count("full"))
    # Whole frames on frames 0, 5 and 10; nothing at all is searched in between.
    assert full_after == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]
    assert detector.calls == ["full"] * 3
    assert (focus.stats.full, focus.stats.idle, focus.stats.regions) == (3, 8, 0)


def test_a_face_appearing_with_motion_is_found_on_that_frame_from_a_region() -> None:
    detector = DrawnFaces()
    focus = Focus(detector, cfg(8))
    assert len(focus.detect(scene())) == 0
    found = focus.detect(scene((700, 150)))
    assert detector.calls[-1] != "full", "found before the next whole frame"
    assert found.boxes.tolist() == [[700, 150, 764, 214]]


def test_a_still_face_is_found_in_every_frame_through_its_region() -> None:
    detector = DrawnFaces()
    focus = Focus(detector, cfg(8))
    for i in range(8):
        found = focus.detect(scene((300, 120)))
        assert found.boxes.tolist() == [[300, 120, 364, 184]], f"frame {i}"
    assert detector.calls[0] == "full"
    for call in detector.calls[1:]:
        assert isinstance(call, list), "regions, not the whole frame"
        assert len(call) == 1, "only the face's region"
        region = call[0]
        assert region.x0 <= 300
        assert region.x1 >= 364
        assert region.y0 <= 120
        assert region.y1 >= 184
        assert region.cost < W * H / 10
    assert detector.calls.count("full") == 1


def test_a_walking_face_is_followed_by_its_region() -> None:
    detector = DrawnFaces()
    focus = Focus(detector, cfg(30))
    for i in range(20):
        x = 100 + 24 * i
        assert focus.detect(scene((x, 200))).boxes.tolist() == [[x, 200, x + 64, 264]]
    assert detector.calls.count("full") == 1


def test_region_share_above_the_budget_searches_the_whole_frame() -> None:
    detector = DrawnFaces()
    focus = Focus(detector, DetectorConfig(full_frame_every=8, max_region_share=0.05))
    faces = [(100 + 200 * k, 100) for k in range(6)]
    focus.detect(scene(*faces))
    focus.detect(scene(*faces))
    assert detector.calls == ["full", "full"]


def test_every_frame_is_whole_when_full_frame_every_is_one() -> None:
    detector = DrawnFaces()
    stage = Analyser(detector, None, focus=cfg(1))
    assert stage.focus is None
    for i in range(3):
        stage.analyse(Frame(i, float(i), scene((300, 120))))
    assert detector.calls == ["full"] * 3


def test_frames_and_the_thumbnail_are_zeroed() -> None:
    detector = DrawnFaces()
    stage = Analyser(detector, None, focus=cfg(8))
    frames = [Frame(i, float(i), scene((300 + 10 * i, 120))) for i in range(3)]
    for frame in frames:
        assert len(stage.analyse(frame).detections) == 1
        assert not frame.image.any()
    assert stage.focus is not None
    assert stage.focus.motion.holds_pixels, "one thumbnail is kept for the next frame"
    stage.reset()
    assert not stage.focus.motion.holds_pixels


def test_a_failing_detector_leaves_no_thumbnail_behind() -> None:
    detector = DrawnFaces()
    stage = Analyser(detector, None, focus=cfg(8))
    stage.analyse(Frame(0, 0.0, scene((300, 120))))
    detector.error = RuntimeError("onnxruntime failed")
    frame = Frame(1, 1.0, scene((310, 120)))
    with pytest.raises(RuntimeError, match="failed"):
        stage.analyse(frame)
    assert not frame.image.any()
    assert stage.focus is not None
    assert not stage.focus.motion.holds_pixels
