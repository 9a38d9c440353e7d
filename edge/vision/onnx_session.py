"""onnxruntime behind one small function, with its errors translated."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from edge.errors import ModelError


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
