"""Rebuild libfacedetection's YuNet network as an ONNX graph from the weights in the library.

The layout follows libfacedetection's own source (objectdetect_cnn in
facedetectcnn-model.cpp, the kernels in facedetectcnn.cpp): a 3x3 stride-2 head
convolution, depthwise-separable blocks (1x1 pointwise then 3x3 depthwise, relu after the
depthwise), 2x2 max pools, a top-down neck (nearest x2 upsample + add) and, at strides 8,
16 and 32, four heads: cls (1), bbox (4), obj (1) and kps (10). The graph outputs those raw
heads per stride as [N, rows*cols, C] (row-major cells), so decoding stays beside the node's
detector. Input: BGR 0..255, NCHW, H and W multiples of 32 (the caller zero-pads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError
from models.yunet_elf import ElfWeights, missing_symbol

STRIDES = (8, 16, 32)
HEADS: tuple[tuple[str, int], ...] = (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))
OPSET = 13
Kind = Literal["pw", "dw"]


@dataclass(frozen=True)
class Layer:
    """What one row of the library's layer table must say."""

    symbol: str  # prefix of the <prefix>_weight / <prefix>_bias arrays
    channels: int
    filters: int
    kind: Kind
    relu: bool

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """The flat array as libfacedetection lays it out (filter-major / tap-major)."""
        return (self.filters, self.channels) if self.kind == "pw" else (9, self.channels)


def _block(prefix: str, cin: int, cout: int) -> list[Layer]:
    return [
        Layer(f"{prefix}_pw", cin, cout, "pw", False),
        Layer(f"{prefix}_dw", cout, cout, "dw", True),
    ]


def _expected_layers() -> tuple[Layer, ...]:
    layers = [Layer("backbone__model0_pw", 32, 16, "pw", True)]
    layers += _block("backbone__model0_dp", 16, 16)
    widths = {1: (16, 16, 32), 2: (32, 32, 64), 3: (64, 64, 64), 4: (64, 64, 64), 5: (64, 64, 64)}
    for stage, (cin, mid, cout) in widths.items():
        layers += _block(f"backbone__model{stage}_dp1", cin, mid)
        layers += _block(f"backbone__model{stage}_dp2", mid, cout)
    for level in range(3):
        layers += _block(f"neck__lateral_convs__{level}", 64, 64)
    for head, width in (("cls", 1), ("bbox", 4), ("obj", 1), ("kps", 10)):
        for level in range(3):
            prefix = f"bbox_head__multi_level_{head}__{level}"
            layers += [
                Layer(f"{prefix}_pw", 64, width, "pw", False),
                Layer(f"{prefix}_dw", width, width, "dw", False),
            ]
    return tuple(layers)


LAYERS = _expected_layers()
# 53,104, the count DESIGN §4b gives: the head layer uses 27 of its 32 input channels.
PARAMETERS = sum(int(np.prod(layer.weight_shape)) + layer.filters for layer in LAYERS) - 16 * 5


def check_layers(label: str, weights: ElfWeights) -> dict[str, NDArray[np.float32]]:
    """Compare the library's table with the expected layout; return weights keyed by layer."""
    if len(weights.layers) != len(LAYERS):
        raise ModelBuildError(
            f"{label}: the layer table has {len(weights.layers)} layers, expected {len(LAYERS)}; "
            "this is not the pinned yuface build, check models/manifest.toml"
        )
    out: dict[str, NDArray[np.float32]] = {}
    for index, (got, want) in enumerate(zip(weights.layers, LAYERS, strict=True)):
        for suffix, name in (("weight", got.weight_symbol), ("bias", got.bias_symbol)):
            expected = f"{want.symbol}_{suffix}"
            if expected not in weights.symbols:
                raise missing_symbol(label, expected)
            if name != expected:
                raise ModelBuildError(
                    f"{label}: layer {index} uses {name}, expected {expected}; this is not "
                    "the pinned yuface build, check models/manifest.toml"
                )
        table = (got.channels, got.filters, got.depthwise, got.pointwise, got.relu)
        wanted = (want.channels, want.filters, want.kind == "dw", want.kind == "pw", want.relu)
        weight = weights.arrays[got.weight_symbol]
        bias = weights.arrays[got.bias_symbol]
        sizes = (weight.size, bias.size)
        if table != wanted or sizes != (int(np.prod(want.weight_shape)), want.filters):
            raise ModelBuildError(
                f"{label}: layer {index} ({want.symbol}) has an unexpected shape: "
                f"{got.channels}->{got.filters} with {weight.size}+{bias.size} values, expected "
                f"{want.channels}->{want.filters} {want.kind}; the network layout changed, "
                "do not use this library"
            )
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ModelBuildError(f"{label}: layer {index} ({want.symbol}) holds NaN or inf")
        out[f"{want.symbol}_weight"] = weight.reshape(want.weight_shape)
        out[f"{want.symbol}_bias"] = bias
    return out


class _Graph:
    def __init__(self, weights: dict[str, NDArray[np.float32]]) -> None:
        self.weights = weights
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def _init(self, name: str, array: NDArray[Any]) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self._name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, prefix: str, relu: bool, *, first: bool = False) -> str:
        raw = self.weights[f"{prefix}_weight"]
        bias = self.weights[f"{prefix}_bias"]
        attrs: dict[str, Any]
        if first:
            # The library feeds 3x3 stride-2 patches as 32 channels: ((ky*3)+kx)*3 + bgr.
            weight = raw[:, :27].reshape(-1, 3, 3, 3).transpose(0, 3, 1, 2)
            attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
        elif raw.shape[0] == 9:  # depthwise: tap-major [9, C]
            weight = raw.T.reshape(-1, 1, 3, 3)
            attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": raw.shape[1]}
        else:  # pointwise: [filters, channels]
            weight = raw.reshape(*raw.shape, 1, 1)
            attrs = {"kernel_shape": [1, 1]}
        w = self._init(f"{prefix}.weight", weight.astype(np.float32))
        b = self._init(f"{prefix}.bias", bias.astype(np.float32))
        y = self.node("Conv", [x, w, b], prefix, **attrs)
        return self.node("Relu", [y], f"{prefix}_relu") if relu else y

    def dp(self, x: str, prefix: str, relu: bool = True) -> str:
        return self.conv(self.conv(x, f"{prefix}_pw", False), f"{prefix}_dw", relu)

    def unit(self, x: str, stage: int) -> str:
        return self.dp(self.dp(x, f"backbone__model{stage}_dp1"), f"backbone__model{stage}_dp2")

    def pool(self, x: str) -> str:
        return self.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])

    def up_add(self, small: str, big: str) -> str:
        scales = self._init(f"scales_{self.count}", np.array([1, 1, 2, 2], np.float32))
        up = self.node(
            "Resize",
            [small, "", scales],
            "up",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        return self.node("Add", [up, big], "add")


def build_graph(weights: dict[str, NDArray[np.float32]]) -> Any:
    """The ONNX ModelProto of YuNet, with deterministic names and a fixed producer."""
    from onnx import TensorProto, helper

    g = _Graph(weights)
    x = g.conv("input", "backbone__model0_pw", True, first=True)
    x = g.pool(g.dp(x, "backbone__model0_dp"))
    x = g.unit(g.unit(x, 1), 2)
    f8 = g.unit(g.pool(x), 3)
    f16 = g.unit(g.pool(f8), 4)
    f32 = g.unit(g.pool(f16), 5)
    f32 = g.dp(f32, "neck__lateral_convs__2")
    f16 = g.dp(g.up_add(f32, f16), "neck__lateral_convs__1")
    f8 = g.dp(g.up_add(f16, f8), "neck__lateral_convs__0")
    outputs = []
    for _head, width in HEADS:
        if f"flat_{width}" not in {init.name for init in g.inits}:
            g._init(f"flat_{width}", np.array([0, -1, width], np.int64))
    for level, (stride, feature) in enumerate(zip(STRIDES, (f8, f16, f32), strict=True)):
        for head, width in HEADS:
            y = g.dp(feature, f"bbox_head__multi_level_{head}__{level}", relu=False)
            nhwc = g.node("Transpose", [y], f"{head}_{stride}_nhwc", perm=[0, 2, 3, 1])
            name = f"{head}_{stride}"
            # Reshape [N, H, W, C] -> [N, H*W, C]; the 0 copies N from the input.
            g.nodes.append(helper.make_node("Reshape", [nhwc, f"flat_{width}"], [name], name=name))
            outputs.append(
                helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, ["N", f"cells_{stride}", width]
                )
            )
    graph = helper.make_graph(
        g.nodes,
        "yunet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        outputs,
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="kazoe models.build",
        producer_version="1",
    )
    model.ir_version = 8
    return model
