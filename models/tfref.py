"""A plain numpy forward pass of a `Graph` in NHWC, with TF's padding rules: the reference.

Written independently of the ONNX emitter (no shared layout tricks), in float64, so a
disagreement between the two points at the translation, not at both.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError
from models.tfgraph import Graph, Op

F64 = NDArray[np.float64]


def run_reference(graph: Graph, image: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
    """Evaluate every op in order on an NHWC batch; return the named outputs as float32."""
    values: dict[str, F64] = {graph.input: image.astype(np.float64)}
    values |= {name: np.asarray(v, dtype=np.float64) for name, v in graph.consts.items()}
    for op in graph.ops:
        args = [values[name] for name in op.inputs]
        values[op.name] = _evaluate(op, args)
    return {name: values[tensor].astype(np.float32) for name, tensor in graph.outputs.items()}


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2  # TF puts the odd pixel at the end


def _windows(
    x: F64, kernel: tuple[int, int], stride: tuple[int, int], padding: str, fill: float
) -> tuple[F64, int, int]:
    """Pad x for a kh x kw window; return it with the output height and width."""
    (kh, kw), (sh, sw) = kernel, stride
    _, h, w, _ = x.shape
    if padding == "SAME":
        top, bottom = _same_pads(h, kh, sh)
        left, right = _same_pads(w, kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    oh = (x.shape[1] - kh) // sh + 1
    ow = (x.shape[2] - kw) // sw + 1
    return x, oh, ow


def _conv(x: F64, w: F64, op: Op, depthwise: bool) -> F64:
    kh, kw = w.shape[0], w.shape[1]
    padded, oh, ow = _windows(x, (kh, kw), op.strides, op.padding, 0.0)
    sh, sw = op.strides
    channels = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((x.shape[0], oh, ow, channels))
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
            if depthwise:
                if w.shape[3] != 1:
                    raise ModelBuildError(f"{op.name}: depth multiplier {w.shape[3]} unsupported")
                out += patch * w[i, j, :, 0]
            else:
                out += patch @ w[i, j]
    return out


def _pool(x: F64, op: Op, kind: str) -> F64:
    kh, kw = op.ksize
    sh, sw = op.strides
    fill = -np.inf if kind == "max" else np.nan
    padded, oh, ow = _windows(x, op.ksize, op.strides, op.padding, fill)
    stack = np.stack(
        [
            padded[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]
    )
    # TF's average pool divides by the number of real (unpadded) pixels in the window.
    result: F64 = np.max(stack, axis=0) if kind == "max" else np.nanmean(stack, axis=0)
    return result


def _fuse(x: F64, op: Op, args: list[F64]) -> F64:
    for index, step in enumerate(op.fused):
        if step == "BiasAdd":
            x = x + args[2 + index]
        elif step == "Relu":
            x = np.maximum(x, 0.0)
        else:  # Relu6
            x = np.clip(x, 0.0, 6.0)
    return x


def _softmax(x: F64) -> F64:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    result: F64 = e / e.sum(axis=-1, keepdims=True)
    return result


def _axes(value: F64) -> tuple[int, ...]:
    return tuple(int(a) for a in np.atleast_1d(value))


_BINARY: dict[str, Callable[[F64, F64], F64]] = {
    "Add": np.add,
    "AddV2": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Minimum": np.minimum,
    "Maximum": np.maximum,
}
_UNARY: dict[str, Callable[[F64], F64]] = {
    "Relu": lambda x: np.maximum(x, 0.0),
    "Relu6": lambda x: np.clip(x, 0.0, 6.0),
    "Tanh": np.tanh,
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "Softmax": _softmax,
    "Identity": lambda x: x,
}


def _evaluate(op: Op, args: list[F64]) -> F64:  # noqa: PLR0911 - one branch per TF op reads as the op table
    kind = op.op
    if kind in _BINARY:
        return _BINARY[kind](args[0], args[1])
    if kind in _UNARY:
        return _UNARY[kind](args[0])
    if kind in ("Conv2D", "_FusedConv2D"):
        return _fuse(_conv(args[0], args[1], op, depthwise=False), op, args)
    if kind == "DepthwiseConv2dNative":
        return _conv(args[0], args[1], op, depthwise=True)
    if kind in ("MatMul", "_FusedMatMul"):
        return _fuse(args[0] @ args[1], op, args)
    if kind == "MaxPool":
        return _pool(args[0], op, "max")
    if kind == "AvgPool":
        return _pool(args[0], op, "avg")
    if kind == "Mean":
        return np.asarray(np.mean(args[0], axis=_axes(args[1]), keepdims=op.keep_dims), np.float64)
    if kind == "Max":
        return np.asarray(np.max(args[0], axis=_axes(args[1]), keepdims=op.keep_dims), np.float64)
    if kind == "Reshape":
        return args[0].reshape(tuple(int(d) for d in args[1]))
    if kind == "ExpandDims":
        return np.expand_dims(args[0], _axes(args[1])[0])
    raise ModelBuildError(f"{op.name}: op {kind} has no reference implementation")
