"""A TF.js model as plain data: ops in topological order plus dequantised weights.

Both TF.js graph models (FaceRes) and face-api's code-defined networks (AgeGenderNet,
see models/faceapi.py) end up as a `Graph`, so one numpy reference (models/tfref.py)
and one ONNX emitter (models/tfjs.py) serve both. Tensors are NHWC, as in TF.js.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError

# The ops DESIGN §4b found in the TF.js graphs, plus Sub (face-api's mean subtraction).
SUPPORTED_OPS = frozenset(
    {
        "Conv2D",
        "_FusedConv2D",
        "DepthwiseConv2dNative",
        "MaxPool",
        "AvgPool",
        "MatMul",
        "_FusedMatMul",
        "Add",
        "AddV2",
        "Sub",
        "Mul",
        "RealDiv",
        "Minimum",
        "Maximum",
        "Relu",
        "Relu6",
        "Tanh",
        "Sigmoid",
        "Softmax",
        "Mean",
        "Max",
        "Reshape",
        "ExpandDims",
        "Identity",
    }
)
FUSED = frozenset({"BiasAdd", "Relu", "Relu6"})

Weights = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class Op:
    """One graph node: its op type, input tensor names and parsed attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    strides: tuple[int, int] = (1, 1)
    ksize: tuple[int, int] = (1, 1)
    padding: str = "VALID"
    fused: tuple[str, ...] = ()
    keep_dims: bool = False


@dataclass(frozen=True)
class Graph:
    """A feed-forward network: one NHWC input, named outputs, constants by name."""

    input: str
    input_hw: tuple[int, int]
    ops: tuple[Op, ...]
    consts: Mapping[str, NDArray[Any]] = field(repr=False)
    outputs: Mapping[str, str]


def dequantise(groups: Sequence[Mapping[str, Any]], data: bytes, label: str) -> Weights:
    """The weights a TF.js weights manifest describes, read from the concatenated .bin bytes."""
    weights: Weights = {}
    offset = 0
    for group in groups:
        for spec in group.get("weights", []):
            name, shape = str(spec["name"]), tuple(int(d) for d in spec["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            dtype = str(quant["dtype"] if quant else spec["dtype"])
            width = {"float32": 4, "int32": 4, "float16": 2, "uint8": 1, "uint16": 2}.get(dtype)
            if width is None:
                raise ModelBuildError(f"{label}: weight {name} has unsupported dtype {dtype}")
            chunk = data[offset : offset + count * width]
            if len(chunk) != count * width:
                raise ModelBuildError(
                    f"{label}: the weights manifest needs more bytes than the .bin holds "
                    f"({len(data)}); manifest and weights do not match"
                )
            offset += count * width
            raw = np.frombuffer(chunk, dtype={"float32": "<f4", "int32": "<i4"}.get(dtype, dtype))
            if dtype in ("uint8", "uint16"):
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(
                    quant["min"]
                )
            elif dtype == "float16":
                values = raw.astype("<f2").astype(np.float32)
            else:
                values = raw.copy()
            weights[name] = values.reshape(shape)
    if offset != len(data):
        raise ModelBuildError(
            f"{label}: the weights manifest describes {offset} bytes but the .bin holds "
            f"{len(data)}; manifest and weights do not match"
        )
    return weights


def weight_paths(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every .bin file a weights manifest names, in order."""
    return [str(p) for group in groups for p in group.get("paths", [])]


def load_graph_model(
    model_json: bytes, weights_bin: bytes, label: str, outputs: Mapping[str, str]
) -> Graph:
    """Parse a TF.js graph model; raise if an op is unknown or the weights do not fit the graph."""
    try:
        model = json.loads(model_json)
        nodes: list[dict[str, Any]] = model["modelTopology"]["node"]
        groups: list[dict[str, Any]] = model["weightsManifest"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelBuildError(f"{label}: not a TF.js graph model ({exc})") from None
    weights = dequantise(groups, weights_bin, label)
    consts: Weights = {}
    ops: list[Op] = []
    placeholder: tuple[str, tuple[int, int]] | None = None
    for node in nodes:
        name, kind, attr = node["name"], node["op"], node.get("attr", {})
        if kind == "Const":
            if name not in weights:
                raise ModelBuildError(
                    f"{label}: graph constant {name} is not in the weights manifest; "
                    "manifest and graph do not match"
                )
            want = tuple(
                int(d["size"]) for d in attr["value"]["tensor"]["tensorShape"].get("dim", [])
            )
            got = weights[name].shape
            if got != want:
                raise ModelBuildError(
                    f"{label}: weight {name} has shape {list(got)} but the graph expects "
                    f"{list(want)}; manifest and graph do not match"
                )
            consts[name] = weights.pop(name)
        elif kind == "Placeholder":
            dims = [int(d["size"]) for d in attr["shape"]["shape"]["dim"]]
            placeholder = (name, (dims[1], dims[2]))
        else:
            ops.append(_op(label, name, kind, node.get("input", []), attr))
    if weights:
        raise ModelBuildError(
            f"{label}: weight {sorted(weights)[0]} is in the manifest but not in the graph; "
            "manifest and graph do not match"
        )
    if placeholder is None:
        raise ModelBuildError(f"{label}: the graph has no input (Placeholder)")
    known = {placeholder[0], *consts, *(op.name for op in ops)}
    for tensor in outputs.values():
        if tensor not in known:
            raise ModelBuildError(f"{label}: the graph has no tensor {tensor}")
    return Graph(placeholder[0], placeholder[1], tuple(ops), consts, dict(outputs))


def _op(label: str, name: str, kind: str, inputs: list[str], attr: dict[str, Any]) -> Op:
    if kind not in SUPPORTED_OPS:
        raise ModelBuildError(f"{label}: op {kind} ({name}) is not supported by the translator")
    clean: list[str] = []
    for ref in inputs:
        if ref.startswith("^"):
            continue  # control dependency: no data
        base, _, index = ref.partition(":")
        if index not in ("", "0"):
            raise ModelBuildError(f"{label}: {name} reads output {index} of {base}; unsupported")
        clean.append(base)
    for key in ("data_format",):
        if key in attr and _text(attr[key]) != "NHWC":
            raise ModelBuildError(f"{label}: {name} uses {key} {_text(attr[key])}; only NHWC")
    dilations = _ints(attr.get("dilations"))
    if dilations and any(d != 1 for d in dilations):
        raise ModelBuildError(f"{label}: {name} uses dilations {dilations}; unsupported")
    for key in ("transpose_a", "transpose_b"):
        if attr.get(key, {}).get("b", False):
            raise ModelBuildError(f"{label}: {name} uses {key}; unsupported")
    fused = tuple(
        base64.b64decode(s).decode("ascii")
        for s in attr.get("fused_ops", {}).get("list", {}).get("s", [])
    )
    if any(f not in FUSED for f in fused) or (fused and fused[0] != "BiasAdd"):
        raise ModelBuildError(f"{label}: {name} fuses {list(fused)}; unsupported")
    strides = _ints(attr.get("strides")) or [1, 1, 1, 1]
    ksize = _ints(attr.get("ksize")) or [1, 1, 1, 1]
    padding = _text(attr["padding"]) if "padding" in attr else "VALID"
    if padding not in ("SAME", "VALID"):
        raise ModelBuildError(f"{label}: {name} uses padding {padding}; unsupported")
    return Op(
        name=name,
        op=kind,
        inputs=tuple(clean),
        strides=(strides[1], strides[2]),
        ksize=(ksize[1], ksize[2]),
        padding=padding,
        fused=fused,
        keep_dims=bool(attr.get("keep_dims", {}).get("b", False)),
    )


def _text(value: dict[str, Any]) -> str:
    return base64.b64decode(value["s"]).decode("ascii")


def _ints(value: dict[str, Any] | None) -> list[int]:
    if not value:
        return []
    return [int(i) for i in value.get("list", {}).get("i", [])]
