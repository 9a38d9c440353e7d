"""face-api's AgeGenderNet as a `Graph`: TinyXception(2) + age and gender heads.

Transcribed from @vladmandic/face-api 1.7.15 src/xception/TinyXception.ts and
src/ageGenderNet/AgeGenderNet.ts. The weights manifest carries only weights; the
architecture lives here, and every weight name and shape is checked against it.
Input: (N, 112, 112, 3) RGB 0..255. Outputs: age (N, 1) in years, gender (N, 2)
softmax [male, female].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.errors import ModelBuildError
from models.tfgraph import Graph, Op, Weights

MEAN_RGB = (122.782, 117.001, 104.298)
INPUT = "input"
MAIN_BLOCKS = 2


class _Builder:
    def __init__(self, weights: Weights, label: str) -> None:
        self.weights = weights
        self.label = label
        self.used: set[str] = set()
        self.ops: list[Op] = []
        self.consts: dict[str, Any] = {}

    def weight(self, name: str, shape: tuple[int | None, ...]) -> str:
        if name not in self.weights:
            raise ModelBuildError(
                f"{self.label}: weight {name} is missing from the weights manifest; "
                "manifest and network do not match"
            )
        got = self.weights[name].shape
        if len(got) != len(shape) or any(
            w is not None and w != g for w, g in zip(shape, got, strict=True)
        ):
            raise ModelBuildError(
                f"{self.label}: weight {name} has shape {list(got)}, the network needs "
                f"{[d if d is not None else '?' for d in shape]}; manifest and network do not match"
            )
        self.used.add(name)
        self.consts[name] = self.weights[name]
        return name

    def const(self, name: str, value: Any) -> str:
        self.consts[name] = np.asarray(value)
        return name

    def op(self, name: str, kind: str, *inputs: str, **attrs: Any) -> str:
        self.ops.append(Op(name=name, op=kind, inputs=tuple(inputs), **attrs))
        return name

    def channels(self, name: str) -> int:
        return int(self.weights[name].shape[-1]) if name in self.weights else -1

    def conv(self, x: str, prefix: str, c_in: int, stride: int, k: int) -> tuple[str, int]:
        c_out = self.channels(f"{prefix}/filters")
        w = self.weight(f"{prefix}/filters", (k, k, c_in, None))
        b = self.weight(f"{prefix}/bias", (c_out,))
        y = self.op(f"{prefix}/conv", "Conv2D", x, w, strides=(stride, stride), padding="SAME")
        return self.op(f"{prefix}/add", "Add", y, b), c_out

    def separable(self, x: str, prefix: str, c_in: int) -> tuple[str, int]:
        # tf.separableConv2d: depthwise 3x3 'same', then pointwise 1x1 'valid', then + bias.
        c_out = self.channels(f"{prefix}/pointwise_filter")
        dw = self.weight(f"{prefix}/depthwise_filter", (3, 3, c_in, 1))
        pw = self.weight(f"{prefix}/pointwise_filter", (1, 1, c_in, None))
        b = self.weight(f"{prefix}/bias", (c_out,))
        y = self.op(f"{prefix}/depthwise", "DepthwiseConv2dNative", x, dw, padding="SAME")
        y = self.op(f"{prefix}/pointwise", "Conv2D", y, pw, padding="VALID")
        return self.op(f"{prefix}/add", "Add", y, b), c_out

    def relu(self, x: str) -> str:
        return self.op(f"{x}/relu", "Relu", x)

    def reduction(self, x: str, prefix: str, c_in: int, activate: bool) -> tuple[str, int]:
        out = self.relu(x) if activate else x
        out, c = self.separable(out, f"{prefix}/separable_conv0", c_in)
        out, c = self.separable(self.relu(out), f"{prefix}/separable_conv1", c)
        out = self.op(
            f"{prefix}/maxpool", "MaxPool", out, ksize=(3, 3), strides=(2, 2), padding="SAME"
        )
        skip, c_skip = self.conv(x, f"{prefix}/expansion_conv", c_in, stride=2, k=1)
        if c_skip != c:
            raise ModelBuildError(f"{self.label}: {prefix}: expansion width {c_skip} != {c}")
        return self.op(f"{prefix}/sum", "Add", out, skip), c

    def main_block(self, x: str, prefix: str, c_in: int) -> tuple[str, int]:
        out, c = self.separable(self.relu(x), f"{prefix}/separable_conv0", c_in)
        out, c = self.separable(self.relu(out), f"{prefix}/separable_conv1", c)
        out, c = self.separable(self.relu(out), f"{prefix}/separable_conv2", c)
        if c != c_in:
            raise ModelBuildError(f"{self.label}: {prefix}: residual width {c} != {c_in}")
        return self.op(f"{prefix}/sum", "Add", out, x), c

    def dense(self, x: str, prefix: str, c_in: int, units: int) -> str:
        w = self.weight(f"{prefix}/weights", (c_in, units))
        b = self.weight(f"{prefix}/bias", (units,))
        return self.op(f"{prefix}/add", "Add", self.op(f"{prefix}/matmul", "MatMul", x, w), b)


def age_gender_graph(weights: Weights, label: str) -> Graph:
    """Build the network from its dequantised weights; raise if any weight is missing or extra."""
    g = _Builder(weights, label)
    x = g.op("normalize/sub", "Sub", INPUT, g.const("normalize/mean", MEAN_RGB))
    x = g.op("normalize/div", "RealDiv", x, g.const("normalize/255", 255.0))
    x, c = g.conv(x, "entry_flow/conv_in", 3, stride=2, k=3)
    x = g.relu(x)
    x, c = g.reduction(x, "entry_flow/reduction_block_0", c, activate=False)
    x, c = g.reduction(x, "entry_flow/reduction_block_1", c, activate=True)
    for index in range(MAIN_BLOCKS):
        x, c = g.main_block(x, f"middle_flow/main_block_{index}", c)
    x, c = g.reduction(x, "exit_flow/reduction_block", c, activate=True)
    x, c = g.separable(x, "exit_flow/separable_conv", c)
    x = g.relu(x)
    # 112 -> 7x7 features; a 7x7 'valid' average pool is the global mean.
    x = g.op("pool", "AvgPool", x, ksize=(7, 7), strides=(2, 2), padding="VALID")
    x = g.op("flatten", "Reshape", x, g.const("flatten/shape", np.array([-1, c], np.int32)))
    age = g.dense(x, "fc/age", c, 1)
    gender = g.op("gender/softmax", "Softmax", g.dense(x, "fc/gender", c, 2))
    extra = sorted(set(weights) - g.used)
    if extra:
        raise ModelBuildError(
            f"{label}: weight {extra[0]} is in the manifest but not in the network; "
            "manifest and network do not match"
        )
    return Graph(INPUT, (112, 112), tuple(g.ops), g.consts, {"age": age, "gender": gender})
