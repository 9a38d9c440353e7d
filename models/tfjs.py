"""Translate a `Graph` (TF.js, NHWC) to ONNX (NCHW inside) with the `onnx` package only.

The ONNX model keeps the TF.js interface: one NHWC float input of any batch, named
outputs. Inside, 4-D activations are NCHW (what ONNX Conv and pools want); the input
is transposed once, constants broadcast over channels are reshaped to (C, 1, 1), and
anything that leaves 4-D (Reshape, a reduction without keep_dims) is handled where
it happens. TF "SAME" padding puts the odd pixel at the end, as ONNX SAME_UPPER does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError
from models.tfgraph import Graph, Op

OPSET = 13
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}
_ELEMENTWISE = {
    "Add": "Add",
    "AddV2": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "RealDiv": "Div",
    "Minimum": "Min",
    "Maximum": "Max",
}
_UNARY = {"Relu": "Relu", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Identity": "Identity"}


@dataclass
class _Tensor:
    name: str
    rank: int
    nchw: bool  # a 4-D activation held as NCHW


class _Emitter:
    def __init__(self, graph: Graph, label: str) -> None:
        from onnx import helper, numpy_helper

        self.helper: Any = helper
        self.numpy_helper: Any = numpy_helper
        self.graph = graph
        self.label = label
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.tensors: dict[str, _Tensor] = {}
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}__{self.count}"

    def node(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def constant(self, value: NDArray[Any], hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(self.numpy_helper.from_array(value, name))
        return name

    def const_value(self, name: str) -> NDArray[Any]:
        if name not in self.graph.consts:
            raise ModelBuildError(f"{self.label}: {name} must be a constant for this translation")
        return np.asarray(self.graph.consts[name])

    def operand(self, name: str, like: _Tensor | None) -> _Tensor:
        """A tensor by TF name; constants are laid out to broadcast against `like`."""
        if name in self.tensors:
            return self.tensors[name]
        value = self.const_value(name).astype(np.float32)
        if like is not None and like.nchw:
            if value.ndim == 4:
                value = value.transpose(NHWC_TO_NCHW)
            elif value.ndim == 1 and value.size > 1:
                value = value.reshape(-1, 1, 1)
            elif value.ndim > 1:
                raise ModelBuildError(
                    f"{self.label}: constant {name} of shape {value.shape} cannot broadcast "
                    "against a 4-D activation"
                )
        return _Tensor(self.constant(value, name), value.ndim, nchw=False)

    def as_nhwc(self, tensor: _Tensor) -> _Tensor:
        if not tensor.nchw:
            return tensor
        out = self.node("Transpose", [tensor.name], "to_nhwc", perm=list(NCHW_TO_NHWC))
        return _Tensor(out, 4, nchw=False)

    def emit(self, op: Op) -> _Tensor:  # noqa: PLR0911, PLR0912 - one branch per TF op reads as the op table
        kind = op.op
        if kind in _ELEMENTWISE:
            first = self.tensors.get(op.inputs[0])
            second = self.tensors.get(op.inputs[1])
            like = first or second
            if first and second and first.nchw != second.nchw:
                first, second = self.as_nhwc(first), self.as_nhwc(second)
                like = first
            a = self.operand(op.inputs[0], like)
            b = self.operand(op.inputs[1], like)
            out = self.node(_ELEMENTWISE[kind], [a.name, b.name], op.name)
            return _Tensor(out, max(a.rank, b.rank), nchw=bool(like and like.nchw))
        x = self.tensors[op.inputs[0]]
        if kind in _UNARY:
            return _Tensor(self.node(_UNARY[kind], [x.name], op.name), x.rank, x.nchw)
        if kind == "Relu6":
            return self.clip6(x, op.name)
        if kind == "Softmax":
            axis = 1 if x.nchw else -1
            return _Tensor(self.node("Softmax", [x.name], op.name, axis=axis), x.rank, x.nchw)
        if kind in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative"):
            return self.conv(op, x)
        if kind in ("MatMul", "_FusedMatMul"):
            weight = self.constant(self.const_value(op.inputs[1]).astype(np.float32), op.name)
            product = _Tensor(self.node("MatMul", [x.name, weight], op.name), 2, nchw=False)
            return self.fused(op, product)
        if kind in ("MaxPool", "AvgPool"):
            return self.pool(op, x)
        if kind in ("Mean", "Max"):
            axes = [int(a) for a in np.atleast_1d(self.const_value(op.inputs[1]))]
            if x.nchw:
                axes = [_NCHW_AXIS[a] for a in axes]
            onnx_op = "ReduceMean" if kind == "Mean" else "ReduceMax"
            keep = int(op.keep_dims)
            out = self.node(onnx_op, [x.name], op.name, axes=axes, keepdims=keep)
            if x.nchw and not op.keep_dims and sorted(axes) != [2, 3]:
                raise ModelBuildError(f"{self.label}: {op.name}: reduction over {axes} unsupported")
            return _Tensor(out, x.rank if keep else x.rank - len(axes), x.nchw and bool(keep))
        if kind == "Reshape":
            flat = self.as_nhwc(x)
            shape = self.constant(self.const_value(op.inputs[1]).astype(np.int64), op.name)
            target = self.const_value(op.inputs[1])
            return _Tensor(self.node("Reshape", [flat.name, shape], op.name), target.size, False)
        if kind == "ExpandDims":
            flat = self.as_nhwc(x)
            axis = int(np.atleast_1d(self.const_value(op.inputs[1]))[0])
            out = self.node(
                "Unsqueeze", [flat.name, self.constant(np.array([axis]), "ax")], op.name
            )
            return _Tensor(out, flat.rank + 1, nchw=False)
        raise ModelBuildError(f"{self.label}: op {kind} ({op.name}) has no ONNX translation")

    def clip6(self, x: _Tensor, hint: str) -> _Tensor:
        low = self.constant(np.array(0.0, np.float32), "zero")
        high = self.constant(np.array(6.0, np.float32), "six")
        return _Tensor(self.node("Clip", [x.name, low, high], hint), x.rank, x.nchw)

    def fused(self, op: Op, x: _Tensor) -> _Tensor:
        for index, step in enumerate(op.fused):
            if step == "BiasAdd":
                bias = self.operand(op.inputs[2 + index], x)
                x = _Tensor(self.node("Add", [x.name, bias.name], op.name), x.rank, x.nchw)
            elif step == "Relu":
                x = _Tensor(self.node("Relu", [x.name], op.name), x.rank, x.nchw)
            else:
                x = self.clip6(x, op.name)
        return x

    def conv(self, op: Op, x: _Tensor) -> _Tensor:
        if not x.nchw:
            raise ModelBuildError(f"{self.label}: {op.name} convolves a tensor that is not 4-D")
        w = self.const_value(op.inputs[1]).astype(np.float32)
        kh, kw = int(w.shape[0]), int(w.shape[1])
        if op.op == "DepthwiseConv2dNative":
            if w.shape[3] != 1:
                raise ModelBuildError(f"{self.label}: {op.name}: depth multiplier unsupported")
            group = int(w.shape[2])
            kernel = w.transpose(2, 3, 0, 1)  # (C, 1, kh, kw)
        else:
            group = 1
            kernel = w.transpose(3, 2, 0, 1)  # (Cout, Cin, kh, kw)
        pad = "SAME_UPPER" if op.padding == "SAME" else "VALID"
        out = self.node(
            "Conv",
            [x.name, self.constant(np.ascontiguousarray(kernel), op.inputs[1])],
            op.name,
            kernel_shape=[kh, kw],
            strides=list(op.strides),
            auto_pad=pad,
            group=group,
        )
        return self.fused(op, _Tensor(out, 4, nchw=True))

    def pool(self, op: Op, x: _Tensor) -> _Tensor:
        if not x.nchw:
            raise ModelBuildError(f"{self.label}: {op.name} pools a tensor that is not 4-D")
        pad = "SAME_UPPER" if op.padding == "SAME" else "VALID"
        attrs: dict[str, Any] = {"kernel_shape": list(op.ksize), "strides": list(op.strides)}
        if op.op == "AvgPool":
            attrs["count_include_pad"] = 0  # TF averages over real pixels only
        onnx_op = "MaxPool" if op.op == "MaxPool" else "AveragePool"
        return _Tensor(self.node(onnx_op, [x.name], op.name, auto_pad=pad, **attrs), 4, True)


def graph_to_onnx(
    graph: Graph, label: str, doc: str, widths: Mapping[str, tuple[int, ...]] | None = None
) -> bytes:
    """The serialised ONNX model (deterministic bytes) for `graph`; raise if it cannot be built.

    `widths` gives each output's shape after the batch dimension, declared in the model.
    """
    import onnx
    from onnx import TensorProto, helper

    emitter = _Emitter(graph, label)
    height, width = graph.input_hw
    transposed = emitter.node("Transpose", ["input"], "to_nchw", perm=list(NHWC_TO_NCHW))
    emitter.tensors[graph.input] = _Tensor(transposed, 4, nchw=True)
    needed = set(graph.outputs.values())
    for op in graph.ops:
        emitter.tensors[op.name] = emitter.emit(op)
    outputs = []
    for out_name, tensor_name in graph.outputs.items():
        if tensor_name not in needed or tensor_name not in emitter.tensors:
            raise ModelBuildError(f"{label}: output {tensor_name} was not produced")
        tensor = emitter.as_nhwc(emitter.tensors[tensor_name])
        emitter.nodes.append(helper.make_node("Identity", [tensor.name], [out_name], name=out_name))
        known = (widths or {}).get(out_name)
        dims: list[str | int | None] = ["N", *(known or [None] * (tensor.rank - 1))]
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, dims))
    model_input = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", height, width, 3])
    onnx_graph = helper.make_graph(
        emitter.nodes, label, [model_input], outputs, initializer=emitter.initializers
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="kazoe models.tfjs",
        doc_string=doc,
    )
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    _prune(model)
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString(deterministic=True)
    return data


def _prune(model: Any) -> None:
    """Drop nodes and constants no output depends on."""
    graph = model.graph
    wanted = {out.name for out in graph.output}
    kept: list[Any] = []
    for node in reversed(list(graph.node)):
        if any(out in wanted for out in node.output):
            kept.append(node)
            wanted.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    inits = [init for init in graph.initializer if init.name in wanted]
    del graph.initializer[:]
    graph.initializer.extend(inits)
