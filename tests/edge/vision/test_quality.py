"""Face quality: which faces feed age/gender, and which detections are no face at all."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import QualityConfig
from edge.types import Detections
from edge.vision.quality import assess, geometry

# Good: score >= 0.75, >= 32 px, eye ratio 0.3-0.65, nose 0.15-0.85. Dropped: below 0.85 with
# eye ratio < 0.25 and the nose outside -0.2..1.2.
CFG = QualityConfig()


def face(
    size: float = 80.0, score: float = 0.9, eye_gap: float = 0.42, nose_at: float = 0.5
) -> tuple[list[float], float, list[list[float]]]:
    """A face box at (100, 100) with eyes `eye_gap` x width apart, nose at `nose_at`."""
    x0, y0 = 100.0, 100.0
    cx = x0 + size / 2
    re = [cx - eye_gap * size / 2, y0 + 0.4 * size]
    le = [cx + eye_gap * size / 2, y0 + 0.4 * size]
    nose = [re[0] + nose_at * (le[0] - re[0]), y0 + 0.6 * size]
    mouth = [cx, y0 + 0.8 * size]
    return [x0, y0, x0 + size, y0 + size], score, [re, le, nose, mouth, mouth, mouth]


def detections(*faces: tuple[list[float], float, list[list[float]]]) -> Detections:
    return Detections(
        np.array([f[0] for f in faces], np.float32).reshape(-1, 4),
        np.array([f[1] for f in faces], np.float32),
        np.array([f[2] for f in faces], np.float32).reshape(-1, 6, 2),
    )


def test_geometry_measures_eye_ratio_and_nose_position() -> None:
    g = geometry(detections(face(eye_gap=0.4, nose_at=0.25)))
    np.testing.assert_allclose(g.eye_ratio, [0.4], atol=1e-6)
    np.testing.assert_allclose(g.nose_position, [0.25], atol=1e-6)


@pytest.mark.parametrize(
    ("case", "kwargs", "kept", "good"),
    [
        ("frontal, confident, large", {}, True, True),
        ("too small for a chip", {"size": 24.0}, True, False),
        ("confident enough to count, not to estimate", {"score": 0.72}, True, False),
        ("three-quarter: nose beside an eye", {"nose_at": 0.05}, True, False),
        ("profile: eyes close together", {"eye_gap": 0.2}, True, False),
        ("eyes wider than a face", {"eye_gap": 0.8}, True, False),
        ("back of a head", {"score": 0.8, "eye_gap": 0.12, "nose_at": 2.0}, False, False),
        (
            "back of a head, other side",
            {"score": 0.7, "eye_gap": 0.2, "nose_at": -0.5},
            False,
            False,
        ),
        (
            "confident profile: a person",
            {"score": 0.9, "eye_gap": 0.15, "nose_at": -1.0},
            True,
            False,
        ),
        ("turned but eyes apart", {"score": 0.7, "eye_gap": 0.27, "nose_at": 1.5}, True, False),
        (
            "eyes together, nose near them",
            {"score": 0.7, "eye_gap": 0.1, "nose_at": 1.1},
            True,
            False,
        ),
        ("weak score but frontal: a small real face", {"score": 0.62}, True, False),
    ],
)
def test_quality_table(case: str, kwargs: dict[str, float], kept: bool, good: bool) -> None:
    out = assess(detections(face(**kwargs)), CFG)
    assert len(out) == int(kept), case
    if kept:
        assert out.good_mask.tolist() == [good], case


def test_dropping_keeps_the_other_faces_in_order() -> None:
    weak_back = face(score=0.6, eye_gap=0.15, nose_at=2.0)
    out = assess(detections(face(score=0.95), weak_back, face(size=20.0)), CFG)
    assert out.scores.tolist() == pytest.approx([0.95, 0.9], abs=1e-6)
    assert out.good_mask.tolist() == [True, False]


def test_drop_below_zero_keeps_every_detection() -> None:
    cfg = QualityConfig(drop_below=0.0)
    out = assess(detections(face(score=0.61, eye_gap=0.1, nose_at=3.0)), cfg)
    assert len(out) == 1
    assert out.good_mask.tolist() == [False]


def test_empty_detections_pass_through() -> None:
    assert len(assess(Detections(), CFG)) == 0


@pytest.mark.parametrize("key", ["eye_ratio", "nose_span", "face_nose_span"])
@pytest.mark.parametrize("pair", [(0.7, 0.3), (0.5, 0.5), (-2.0, 0.5)])
def test_bounds_must_be_ordered(key: str, pair: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="low < high"):
        QualityConfig.model_validate({key: pair})
