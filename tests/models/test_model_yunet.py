"""YuNet rebuilt from the yuface wheel: layer checks, parity, and one-line build failures."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import models.fetch
from models.build import main
from models.convert import yunet_to_onnx
from models.errors import ModelBuildError
from models.lock import LOCK_NAME
from models.manifest import Entry, Manifest
from models.yunet_check import (
    EXPECTED_PATH,
    LIB_NMS,
    LIB_THRESHOLD,
    compare_faces,
    decode,
    expected_check,
    parity_image,
    reference_available,
    reference_check,
    reference_faces,
    run_heads,
)
from models.yunet_elf import read_weights
from models.yunet_graph import LAYERS, PARAMETERS, check_layers

pytestmark = pytest.mark.integration
FAIRFACE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fairface"
needs_x86 = pytest.mark.skipif(
    not reference_available(), reason="the yuface library runs on x86-64 Linux only"
)


def _entry(manifest: Manifest) -> Entry:
    return next(e for e in manifest.models if e.name == "yunet")


@pytest.fixture(scope="module")
def library(wheel_cache: Path, model_manifest: Manifest) -> bytes:
    entry = _entry(model_manifest)
    with zipfile.ZipFile(wheel_cache / entry.wheel.filename) as archive:
        return archive.read(entry.member)


def _table_offset(data: bytes) -> int:
    elftools: Any = importlib.import_module("elftools.elf.elffile")
    elf = elftools.ELFFile(io.BytesIO(data))
    symbol = elf.get_section_by_name(".symtab").get_symbol_by_name("param_pConvInfo")[0]
    section = elf.get_section(symbol["st_shndx"])
    return int(symbol["st_value"] - section["sh_addr"] + section["sh_offset"])


def test_weights_come_from_the_symbol_table(library: bytes) -> None:
    weights = read_weights("lib", library)
    assert len(weights.layers) == len(LAYERS) == 53
    assert len(weights.arrays) == 106
    assert PARAMETERS == 53_104
    checked = check_layers("lib", weights)
    assert checked["backbone__model0_pw_weight"].shape == (16, 32)
    assert checked["bbox_head__multi_level_kps__2_dw_weight"].shape == (9, 10)


def test_a_missing_symbol_is_named(library: bytes, tmp_path: Path) -> None:
    # Rename the symbol in the string tables: the pointer in the layer table no longer
    # resolves to the name the layout expects.
    name = b"backbone__model3_dp1_dw_weight\0"
    broken = library.replace(name, b"backbone__model3_dp1_dw_weighX\0")
    assert broken != library
    with pytest.raises(ModelBuildError) as caught:
        yunet_to_onnx("libfacedetection.so", broken, tmp_path / "y.onnx")
    assert str(caught.value) == (
        "libfacedetection.so: symbol backbone__model3_dp1_dw_weight is missing; the library "
        "is not the pinned yuface build, check models/manifest.toml"
    )
    assert not (tmp_path / "y.onnx").exists()


def test_a_layer_of_unexpected_shape_is_named(library: bytes, tmp_path: Path) -> None:
    offset = _table_offset(library) + 5 * 32 + 4  # layer 5: num_filters 32 -> 48
    broken = bytearray(library)
    broken[offset : offset + 4] = (48).to_bytes(4, "little")
    with pytest.raises(
        ModelBuildError,
        match=r"layer 5 \(backbone__model1_dp2_pw\) has an "
        r"unexpected shape: 16->48 .* expected 16->32 pw",
    ):
        yunet_to_onnx("libfacedetection.so", bytes(broken), tmp_path / "y.onnx")


def test_a_table_of_another_length_is_refused(library: bytes) -> None:
    weights = read_weights("lib", library)
    shorter = dataclasses.replace(weights, layers=weights.layers[:-1])
    with pytest.raises(ModelBuildError, match="the layer table has 52 layers, expected 53"):
        check_layers("lib", shorter)


def test_garbage_is_not_an_elf_library() -> None:
    with pytest.raises(ModelBuildError, match="cannot read it as an ELF library"):
        read_weights("lib", b"\x7fELF" + bytes(100))


def test_rebuild_is_deterministic_and_runs_at_any_multiple_of_32(
    library: bytes, built_models: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again.onnx"
    yunet_to_onnx("lib", library, again)
    assert again.read_bytes() == (built_models / "yunet.onnx").read_bytes()
    assert 200_000 < again.stat().st_size < 260_000
    ort: Any = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(str(again), providers=["CPUExecutionProvider"])
    assert [i.shape for i in session.get_inputs()] == [["N", 3, "H", "W"]]
    for height, width in ((32, 32), (96, 160)):
        out = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, {"input": np.zeros((2, 3, height, width), np.float32)}),
                strict=True,
            )
        )
        assert out["kps_8"].shape == (2, height * width // 64, 10)
        assert out["bbox_16"].shape == (2, height * width // 256, 4)
        assert out["cls_32"].shape == (2, height * width // 1024, 1)


def test_matches_the_committed_expectation(built_models: Path, model_manifest: Manifest) -> None:
    entry = _entry(model_manifest)
    assert expected_check("yunet.onnx", built_models / "yunet.onnx", entry.output_shapes) <= 1e-3
    record = json.loads((built_models / LOCK_NAME).read_text())["models"]["yunet"]
    assert record["parity"]["expected"]["tolerance"] == 1e-3
    faces = np.load(EXPECTED_PATH)["faces"]
    assert faces.shape == (4, 15)  # the four drawn faces of the parity image, found


def test_a_drifted_expectation_fails_the_check(
    built_models: Path, model_manifest: Manifest, tmp_path: Path
) -> None:
    with np.load(EXPECTED_PATH) as stored:
        arrays = {name: stored[name].copy() for name in stored.files}
    arrays["bbox_16"][0, 7, 2] += 0.05
    drifted = tmp_path / "drifted.npz"
    np.savez(drifted, **arrays)
    with pytest.raises(ModelBuildError) as caught:
        expected_check(
            "yunet.onnx", built_models / "yunet.onnx", _entry(model_manifest).output_shapes, drifted
        )
    assert str(caught.value).startswith(
        "yunet.onnx: parity check failed: output bbox_16 differs from the committed expectation"
    )


def test_decoded_faces_must_match_in_number_and_place() -> None:
    reference = [[92, 16, 19, 48, 63, 28, 43, 53, 44, 40, 56, 29, 66, 49, 66]]
    face = [
        0.925,
        16.4,
        19.2,
        64.9,
        82.5,
        28.3,
        43.5,
        53.2,
        44.1,
        40.6,
        56.2,
        29.1,
        66.4,
        49.5,
        66.9,
    ]
    compare_faces("y", "the library", reference, [face])
    moved = [face[0], face[1] + 3, *face[2:]]
    with pytest.raises(ModelBuildError, match=r"no face matches \[16, 19, 48, 63\]"):
        compare_faces("y", "the library", reference, [moved])
    with pytest.raises(ModelBuildError, match="2 faces against 1"):
        compare_faces("y", "the library", reference, [face, face])
    with pytest.raises(ModelBuildError, match="found no face"):
        compare_faces("y", "the library", [], [])


@needs_x86
def test_matches_the_wheels_own_library(
    built_models: Path, wheel_cache: Path, model_manifest: Manifest, tmp_path: Path
) -> None:
    wheel = wheel_cache / _entry(model_manifest).wheel.filename
    assert reference_check("yunet.onnx", built_models / "yunet.onnx", wheel, tmp_path) == 4
    # ...and the committed expectation is what the library itself reports.
    faces = reference_faces(wheel, tmp_path, parity_image())
    assert sorted(faces) == sorted(np.load(EXPECTED_PATH)["faces"].tolist())


@needs_x86
@pytest.mark.skipif(not FAIRFACE.is_dir(), reason=f"FairFace photos not found at {FAIRFACE}")
def test_matches_the_library_on_real_faces(
    built_models: Path, wheel_cache: Path, model_manifest: Manifest, tmp_path: Path
) -> None:
    cv2: Any = importlib.import_module("cv2")
    canvas = np.full((480, 800, 3), 100, np.uint8)
    x = 0
    for number, size in enumerate((160, 120, 96, 64, 48, 40, 32, 28), start=1):
        face = cv2.imread(str(FAIRFACE / f"fairface_{number:04d}.jpg"))
        canvas[100 : 100 + size, x : x + size] = cv2.resize(face, (size, size))
        x += size + 4
    wheel = wheel_cache / _entry(model_manifest).wheel.filename
    reference = reference_faces(wheel, tmp_path, canvas)
    heads = run_heads(built_models / "yunet.onnx", canvas)
    faces = decode(heads, 800, LIB_THRESHOLD, LIB_NMS)
    assert len(reference) >= 6
    compare_faces("yunet.onnx", "the yuface library", reference, faces)


def test_wrong_library_stops_the_build_with_one_line(
    built_models: Path,
    wheel_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = models.fetch.read_member

    def renamed(path: Path, wheel: Any, member: str, sha: str) -> bytes:
        data = real(path, wheel, member, sha)
        if member.endswith("libfacedetection.so"):
            return data.replace(
                b"neck__lateral_convs__1_pw_bias\0", b"neck__lateral_convs__1_pw_biaZ\0"
            )
        return data

    monkeypatch.setattr("models.build.read_member", renamed)
    out = tmp_path / "build"
    shutil.copytree(built_models, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    assert main(["--out", str(out), "--cache", str(wheel_cache), "--force"]) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        "models: yunet.onnx: symbol neck__lateral_convs__1_pw_bias is missing; the library "
        "is not the pinned yuface build, check models/manifest.toml\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old build kept


def test_licence_is_shipped_as_a_notice(built_models: Path) -> None:
    text = (built_models / "libfacedetection-LICENSE.txt").read_text(encoding="utf-8")
    assert "3-clause BSD License" in text
    assert "Shiqi Yu" in text
    lock = json.loads((built_models / LOCK_NAME).read_text())
    assert lock["notices"]["libfacedetection-LICENSE"]["licence"] == "BSD-3-Clause"


def test_on_a_host_without_the_reference_the_expectation_alone_is_checked(
    built_models: Path,
    wheel_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An ARM host: the x86-64 library cannot run, the committed expectation still gates.
    monkeypatch.setattr("models.yunet_check.reference_available", lambda: False)
    out = tmp_path / "build"
    shutil.copytree(built_models, out)
    assert main(["--out", str(out), "--cache", str(wheel_cache), "--force"]) == 0
    assert "yuface's own library cannot run on this host, not compared" in capsys.readouterr().out
    record = json.loads((out / LOCK_NAME).read_text())["models"]["yunet"]
    assert "reference" not in record["parity"]
    assert (out / "yunet.onnx").read_bytes() == (built_models / "yunet.onnx").read_bytes()
