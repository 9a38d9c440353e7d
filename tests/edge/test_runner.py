"""Assembling a node: minimum acquisition and one-line failures, without a broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime
import pytest

from edge.config import NodeSettings
from edge.errors import ConfigError
from edge.runner import RunOptions, assemble, effective_settings

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "build"


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, dtype=np.uint8))
    writer.release()
    return path


def settings(video: Path, tmp_path: Path, purposes: list[str]) -> NodeSettings:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    return NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path / "state")},
            "source": {"uri": str(video)},
            "policy": {"purposes": purposes},
            "models": {"dir": str(MODELS)},
        }
    )


@pytest.mark.parametrize(
    ("purposes", "loaded"),
    [
        (["footfall"], {"face_detection_full_range.onnx"}),
        (
            ["footfall", "demographics"],
            {
                "face_detection_full_range.onnx",
                "age-v1.onnx",
                "gender-v1.onnx",
                "faceres.onnx",
                "faceapi-agegender.onnx",
            },
        ),
    ],
)
def test_attribute_models_load_only_with_the_demographics_purpose(
    monkeypatch: pytest.MonkeyPatch,
    video: Path,
    tmp_path: Path,
    purposes: list[str],
    loaded: set[str],
) -> None:
    opened: list[str] = []
    real = onnxruntime.InferenceSession

    def spy(path: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    parts = assemble(settings(video, tmp_path, purposes), RunOptions(once=True))
    try:
        assert set(opened) == loaded
        assert (parts.analyser.estimator is None) == ("demographics" not in purposes)
    finally:
        parts.source.close()
        parts.outbox.close()


def test_once_with_a_camera_is_a_config_error(video: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--once needs a video file"):
        assemble(settings(video, tmp_path, ["footfall"]), RunOptions(source="0", once=True))


def test_once_and_loop_contradict(video: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="contradict"):
        assemble(settings(video, tmp_path, ["footfall"]), RunOptions(once=True, loop=True))


def test_command_line_overrides_the_file(video: Path, tmp_path: Path) -> None:
    base = settings(video, tmp_path, ["footfall"])
    merged = effective_settings(base, RunOptions(source="other.mp4", realtime=True))
    assert merged.source.uri == "other.mp4"
    assert merged.source.realtime is True
    assert merged.source.loop is base.source.loop
