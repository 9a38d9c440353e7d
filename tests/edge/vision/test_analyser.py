"""The analyser overwrites every frame's pixels once analysis ends, whatever happens."""

from __future__ import annotations

import time
from typing import cast

import numpy as np
import pytest

from edge.types import Detections, FaceAttributes, Frame, ImageArray
from edge.vision.analyser import Analyser, percentile
from edge.vision.attributes import AttributeEstimator
from edge.vision.detector import Detector


class FakeDetector:
    """Finds one face in every frame, or raises when told to."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen_nonzero: list[bool] = []

    def detect(self, image: ImageArray) -> Detections:
        self.seen_nonzero.append(bool(image.any()))
        if self.error is not None:
            raise self.error
        return Detections(
            np.array([[10, 10, 50, 50]], dtype=np.float32),
            np.array([0.9], dtype=np.float32),
            np.zeros((1, 6, 2), dtype=np.float32),
        )


class FakeEstimator:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def estimate(self, image: ImageArray, detections: Detections) -> FaceAttributes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        n = len(detections)
        return FaceAttributes(np.full(n, 33.0, np.float32), np.full(n, 0.7, np.float32))


def analyser(
    detector: FakeDetector, estimator: FakeEstimator | None = None, every: int = 1
) -> Analyser:
    return Analyser(
        cast(Detector, detector), cast(AttributeEstimator | None, estimator), every_n_frames=every
    )


def street(index: int = 0, captured: float | None = None) -> Frame:
    image = np.random.default_rng(index).integers(1, 256, (120, 160, 3), dtype=np.uint8)
    return Frame(index, 1000.0 + index, image, time.monotonic() if captured is None else captured)


def test_frame_is_zeroed_after_analysis() -> None:
    detector = FakeDetector()
    frame = street()
    result = analyser(detector, FakeEstimator()).analyse(frame)
    assert detector.seen_nonzero == [True], "the detector saw the real pixels"
    assert not frame.image.any()
    assert (result.index, result.ts, result.width, result.height) == (0, 1000.0, 160, 120)
    assert len(result.detections) == 1
    assert result.attributes.age is not None
    assert result.attributes.age.tolist() == [33.0]


@pytest.mark.parametrize(
    ("detector", "estimator"),
    [
        (FakeDetector(RuntimeError("onnxruntime failed")), None),
        (FakeDetector(), FakeEstimator(RuntimeError("attribute model failed"))),
    ],
    ids=["detector-raises", "estimator-raises"],
)
def test_frame_is_zeroed_even_when_analysis_fails(
    detector: FakeDetector, estimator: FakeEstimator | None
) -> None:
    stage = analyser(detector, estimator)
    frame = street(captured=time.monotonic() - 0.05)
    with pytest.raises(RuntimeError, match="failed"):
        stage.analyse(frame)
    assert not frame.image.any()
    assert len(stage.times.lifetime) == 1
    assert stage.times.lifetime[0] >= 50.0


def test_lifetime_is_recorded_per_frame() -> None:
    stage = analyser(FakeDetector())
    for i in range(3):
        stage.analyse(street(i, captured=time.monotonic()))
    assert len(stage.times.lifetime) == 3
    assert len(stage.times.detect) == 3
    assert all(ms >= 0 for ms in stage.times.lifetime)
    p50 = percentile(stage.times.lifetime, 50)
    assert p50 is not None
    assert p50 >= 0
    assert percentile([], 50) is None


def test_attributes_only_on_every_nth_frame() -> None:
    estimator = FakeEstimator()
    stage = analyser(FakeDetector(), estimator, every=3)
    results = [stage.analyse(street(i)) for i in range(7)]
    assert estimator.calls == 3
    sampled = [r.attributes.age is not None for r in results]
    assert sampled == [True, False, False, True, False, False, True]


def test_footfall_analyser_has_no_attributes() -> None:
    result = analyser(FakeDetector()).analyse(street())
    assert result.attributes.age is None
    assert result.attributes.p_male is None


def test_analysed_frame_keeps_no_pixels() -> None:
    result = analyser(FakeDetector(), FakeEstimator()).analyse(street())
    arrays = [
        result.detections.boxes,
        result.detections.scores,
        result.detections.keypoints,
        result.attributes.age,
        result.attributes.p_male,
    ]
    for array in arrays:
        assert array is not None
        assert array.dtype == np.float32, "geometry and estimates only, never uint8 pixels"
