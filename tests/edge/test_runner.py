"""Assembling a node: minimum acquisition and one-line failures, without a broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime
import pytest

from edge.cli import main
from edge.config import NodeSettings
from edge.errors import ConfigError, ModelError
from edge.payload import ModelIds
from edge.runner import RunOptions, assemble, effective_settings
from edge.vision.detector import Detector
from edge.vision.yunet import YuNetDetector

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


def settings(
    video: Path,
    tmp_path: Path,
    purposes: list[str],
    detector: dict[str, Any] | None = None,
    models: Path = MODELS,
) -> NodeSettings:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    return NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path / "state")},
            "source": {"uri": str(video)},
            "policy": {"purposes": purposes},
            "models": {"dir": str(models)},
            "detector": detector or {},
        }
    )


@pytest.mark.parametrize(
    ("purposes", "loaded"),
    [
        (["footfall"], {"yunet.onnx"}),
        (
            ["footfall", "demographics"],
            {
                "yunet.onnx",  # the default recipe loads no Cydral network
                "faceres-deep.onnx",
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


@pytest.mark.parametrize(
    ("model", "backend", "template_mouth_y"),
    [("yunet", YuNetDetector, 44.18), ("full_range", Detector, 45.18)],
)
def test_detector_model_selects_the_backend_and_its_chip_template(
    video: Path, tmp_path: Path, model: str, backend: type, template_mouth_y: float
) -> None:
    cfg = settings(video, tmp_path, ["footfall", "demographics"], {"model": model})
    parts = assemble(cfg, RunOptions(once=True))
    try:
        assert isinstance(parts.analyser.detector, backend)
        assert parts.models.detector.startswith("yunet@" if model == "yunet" else "face_det")
        assert parts.analyser.estimator is not None
        assert parts.analyser.estimator.template[3, 1] == template_mouth_y
    finally:
        parts.source.close()
        parts.outbox.close()


def _blazeface_only(tmp_path: Path) -> Path:
    """A model folder as an older build left it: BlazeFace and Cydral, no YuNet."""
    folder = tmp_path / "old-models"
    folder.mkdir()
    lock = json.loads((MODELS / "models.json").read_text(encoding="utf-8"))
    lock["models"].pop("yunet", None)
    (folder / "models.json").write_text(json.dumps(lock), encoding="utf-8")
    for record in lock["models"].values():
        (folder / record["file"]).symlink_to(MODELS / record["file"])
    return folder


def test_a_model_folder_without_yunet_stops_the_node_with_one_line(
    video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _blazeface_only(tmp_path)
    with pytest.raises(ModelError, match=r"lists no yunet \(\[detector\] model = 'yunet'\)"):
        assemble(settings(video, tmp_path, ["footfall"], models=folder), RunOptions(once=True))
    config = tmp_path / "node.toml"
    config.write_text(
        f"""[node]\nid = "node-a"\nstate_dir = "{tmp_path / "state"}"\n"""
        f"""[source]\nuri = "{video}"\n[policy]\npurposes = ["footfall"]\n"""
        f"""[models]\ndir = "{folder}"\n""",
        encoding="utf-8",
    )
    assert main(["run", "--config", str(config), "--once"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("kazoe: ")
    assert "lists no yunet" in err
    assert "make models" in err
    assert "Traceback" not in err
    # The same folder still runs BlazeFace when the config asks for it.
    parts = assemble(
        settings(video, tmp_path, ["footfall"], {"model": "full_range"}, folder),
        RunOptions(once=True),
    )
    parts.source.close()
    parts.outbox.close()


def test_a_calibration_from_other_models_is_refused_at_start_with_one_line(
    video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.counting.calibration import default_path, load_calibration

    other = load_calibration(default_path()).model_copy(
        update={"models": ModelIds(detector="yunet@00000000", age="a@1", gender="g@2")}
    )
    path = tmp_path / "site-calibration.json"
    path.write_text(other.to_json(), encoding="utf-8")
    settings(video, tmp_path, ["footfall"])  # skips without built models
    config = tmp_path / "node.toml"
    config.write_text(
        f"""[node]\nid = "node-a"\nstate_dir = "{tmp_path / "state"}"\n"""
        f"""[source]\nuri = "{video}"\n[policy]\npurposes = ["footfall", "demographics"]\n"""
        f"""[models]\ndir = "{MODELS}"\n[intervals]\ncalibration = "{path}"\n""",
        encoding="utf-8",
    )
    assert main(["run", "--config", str(config), "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"kazoe: {path}: calibration fairface-default was measured with")
    assert "kazoe calibrate" in err
    assert not (tmp_path / "state").exists(), "refused before the outbox was opened"


def test_the_default_node_publishes_intervals_from_the_shipped_calibration(
    video: Path, tmp_path: Path
) -> None:
    parts = assemble(settings(video, tmp_path, ["footfall", "demographics"]), RunOptions(once=True))
    try:
        assert parts.intervals is not None
        assert parts.intervals.calibration_id.startswith("fairface-default@")
        notice = json.loads(parts.notice)
        assert "intervals" in notice["data_published"]
        assert notice["intervals"]["level"] == 0.9
    finally:
        parts.source.close()
        parts.outbox.close()
