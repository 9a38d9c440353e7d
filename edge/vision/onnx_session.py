"""onnxruntime behind one small function, with its errors translated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from edge.errors import ModelError
from edge.types import FloatArray, ImageArray


def open_session(
    path: Path, threads: int = 1, *, varying_shapes: bool = False
) -> ort.InferenceSession:
    """Load a model for CPU inference, or raise ModelError naming the file and the fix.

    ``varying_shapes``: the input size changes from call to call (YuNet on regions). Then
    onnxruntime's memory patterns, planned and kept per input shape, only add memory
    (measured: 30 MiB more peak RSS over mixed region sizes, no speed gained), so they
    are off.
    """
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; run 'make models' to build it")
    options = ort.SessionOptions()
    options.enable_mem_pattern = not varying_shapes
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises bare RuntimeError subclasses
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelError(
            f"model file {path} cannot be loaded ({first}); run 'make models'"
        ) from None


class Session(Protocol):
    """What the attribute backends use of an onnxruntime session (tests pass a stand-in)."""

    def run(self, output_names: Any, input_feed: dict[str, Any]) -> Sequence[Any]: ...

    def get_outputs(self) -> Sequence[Any]: ...


def run_batched(
    session: Session,
    input_name: str,
    crops: Sequence[ImageArray],
    to_tensor: Callable[[list[ImageArray]], FloatArray],
    batch_size: int,
) -> list[FloatArray]:
    """Every output of the model over all crops, in batches; input tensors are zeroed after use."""
    parts: list[list[FloatArray]] = []
    for start in range(0, len(crops), batch_size):
        tensor = to_tensor(list(crops[start : start + batch_size]))
        try:
            outputs = session.run(None, {input_name: tensor})
        finally:
            tensor.fill(0)  # derived from face pixels
        parts.append([np.asarray(o, dtype=np.float32) for o in outputs])
    if not parts:
        return [np.zeros(0, np.float32) for _ in session.get_outputs()]
    return [np.concatenate(column) for column in zip(*parts, strict=True)]
