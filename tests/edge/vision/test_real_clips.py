"""YuNet + quality gate + tracker on the recorded clips in ../shared/data/real (Intel IoT
Devkit sample videos, CC BY 4.0): people counted against people.csv, and precision where
people show the backs of their heads. Accuracy gates on recorded footage, not timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import DetectorConfig, QualityConfig
from edge.vision.yunet import YuNetDetector
from simulator.bench_faces import run_clip

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODELS = Path(__file__).resolve().parents[3] / "models" / "build"
REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    if not (MODELS / "yunet.onnx").is_file():
        pytest.skip("models are not built: run 'make models'")
    return YuNetDetector.from_dir(MODELS, DetectorConfig())


def _clip(name: str) -> Path:
    folder = REAL / name
    if not (folder / "clip.mp4").is_file():
        pytest.skip(f"recorded clip {name} not found at {folder} (read-only shared data)")
    return folder


@pytest.mark.parametrize("name", ["fd-walking", "fd-walking-pause", "headpose-fm"])
def test_people_counted_match_people_csv(yunet: YuNetDetector, name: str) -> None:
    result = run_clip(yunet, _clip(name), QualityConfig())
    assert result.people == result.truth, result


def test_backs_of_heads_are_not_faces(yunet: YuNetDetector) -> None:
    # onebyone: people mostly walk away from the camera; its only faces are rear profiles
    # of at most 25 px, so every detection is counted as a false one.
    result = run_clip(yunet, _clip("onebyone"), QualityConfig())
    assert result.frames > 1000
    assert result.detections / result.frames <= 0.01, result
    # Without the face-like gate, the same clip gives several times as many.
    loose = run_clip(yunet, _clip("onebyone"), QualityConfig(drop_below=0.0))
    assert loose.detections >= 3 * max(result.detections, 1), loose
