"""Behavioural checks of built models: TFLite/ONNX parity and softmax sanity."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError
from models.manifest import Entry
from models.quiet import silenced

PARITY_TOLERANCE = 1e-3
SOFTMAX_TOLERANCE = 1e-4
SEED = 20240607
Array = NDArray[np.float32]


def parity_input(height: int, width: int, seed: int = SEED) -> Array:
    """A fixed NHWC image in [-1, 1]: smooth gradients plus seeded noise."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    gradient = np.stack(
        [
            2 * cols / (width - 1) - 1,
            2 * rows / (height - 1) - 1,
            2 * (rows + cols) / (height + width - 2) - 1,
        ],
        axis=-1,
    )
    noise = np.random.default_rng(seed).uniform(-1.0, 1.0, (height, width, 3))
    image = np.clip(0.6 * gradient + 0.4 * noise, -1.0, 1.0)
    return image[np.newaxis].astype(np.float32)


def compare_outputs(
    label: str,
    reference: Mapping[str, Array],
    candidate: Mapping[str, Array],
    shapes: tuple[tuple[int, ...], ...],
    tolerance: float = PARITY_TOLERANCE,
) -> dict[str, float]:
    """Max abs difference per output; raise if names, shapes or values disagree."""
    if set(reference) != set(candidate):
        raise ModelBuildError(
            f"{label}: parity check failed: TFLite outputs {sorted(reference)} but ONNX "
            f"outputs {sorted(candidate)}"
        )
    got = sorted(tuple(a.shape) for a in candidate.values())
    if got != sorted(shapes):
        raise ModelBuildError(
            f"{label}: output shapes are {got}, expected {sorted(shapes)}; "
            "the manifest or the converter is wrong"
        )
    diffs: dict[str, float] = {}
    for name, expected in reference.items():
        actual = candidate[name]
        if expected.shape != actual.shape:
            raise ModelBuildError(
                f"{label}: output {name} is {actual.shape} in ONNX but {expected.shape} in TFLite"
            )
        diff = float(np.max(np.abs(expected.astype(np.float64) - actual.astype(np.float64))))
        if not diff <= tolerance:  # also catches NaN
            raise ModelBuildError(
                f"{label}: parity check failed: output {name} differs from TFLite by "
                f"{diff:.3g} (limit {tolerance:g}); the conversion is wrong, do not use it"
            )
        diffs[name] = diff
    return diffs


def blazeface_parity(entry: Entry, tflite_path: Path, onnx_path: Path) -> dict[str, float]:
    """Run both models on `parity_input` and compare (TFLite is NHWC, ONNX is NCHW)."""
    batch, channels, height, width = entry.input_shape
    if (batch, channels) != (1, 3):
        raise ModelBuildError(f"{entry.name}: input_shape must be [1, 3, H, W] for parity")
    image = parity_input(height, width)
    try:
        with silenced():
            reference = _run_tflite(tflite_path, image)
            candidate = run_onnx(onnx_path, np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
    except ModelBuildError:
        raise
    except ImportError as exc:
        raise ModelBuildError(
            f"cannot import a model runtime ({exc}); install the build extras: "
            "pip install -e '.[models]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - third-party runtimes: any failure is one line
        raise ModelBuildError(f"{entry.output}: cannot run the parity check: {exc}") from None
    return compare_outputs(entry.output, reference, candidate, entry.output_shapes)


def softmax_check(entry: Entry, onnx_path: Path, batch: int = 2) -> float:
    """Run a classifier on a fixed batch; return max |row sum - 1| or raise."""
    _, channels, height, width = entry.input_shape
    rng = np.random.default_rng(SEED)
    images = rng.uniform(-0.5, 0.5, (batch, channels, height, width)).astype(np.float32)
    try:
        with silenced():
            outputs = run_onnx(onnx_path, images)
    except ModelBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party runtime: any failure is one line
        raise ModelBuildError(f"{entry.output}: onnxruntime cannot run it: {exc}") from None
    expected = [(batch, *shape[1:]) for shape in entry.output_shapes]
    got = [tuple(a.shape) for a in outputs.values()]
    if got != expected:
        raise ModelBuildError(f"{entry.output}: output shapes are {got}, expected {expected}")
    worst = 0.0
    for name, probs in outputs.items():
        sums = probs.astype(np.float64).sum(axis=1)
        error = float(np.max(np.abs(sums - 1.0)))
        if not (error <= SOFTMAX_TOLERANCE and float(probs.min()) >= 0.0):
            raise ModelBuildError(
                f"{entry.output}: output {name} is not a softmax (rows sum to "
                f"{sums.tolist()}); the file is not the expected network"
            )
        worst = max(worst, error)
    return worst


def _run_tflite(path: Path, image: Array) -> dict[str, Array]:
    from ai_edge_litert.interpreter import (
        Interpreter,
        OpResolverType,
    )

    # Reference kernels without the XNNPACK delegate: the plainest TFLite result.
    interpreter: Any = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return {
        str(d["name"]): np.array(interpreter.get_tensor(d["index"]), dtype=np.float32)
        for d in interpreter.get_output_details()
    }


def run_onnx(path: Path, tensor: Array) -> dict[str, Array]:
    """Every output of a one-input ONNX model on CPU, by name."""
    # Imported here (the no-op build stays light) and as Any: onnxruntime ships no types.
    ort: Any = importlib.import_module("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelBuildError(f"{path.name}: expected one input, found {len(inputs)}")
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, {inputs[0].name: tensor})
    return {
        name: np.asarray(value, dtype=np.float32)
        for name, value in zip(names, results, strict=True)
    }
