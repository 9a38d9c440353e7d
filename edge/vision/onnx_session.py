"""onnxruntime behind one small function, with its errors translated."""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from edge.errors import ModelError
from edge.types import FloatArray, ImageArray

log = logging.getLogger(__name__)


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
    if _shared_arena():
        options.add_session_config_entry("session.use_env_allocators", "1")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises bare RuntimeError subclasses
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelError(
            f"model file {path} cannot be loaded ({first}); run 'make models'"
        ) from None
    release_freed_memory()
    return session


@functools.cache
def _shared_arena() -> bool:
    """One CPU arena for every session of the process, registered once.

    Each session otherwise grows its own arena to the largest activations it has seen
    (YuNet on a whole frame, FaceRes-deep on a batch of faces) and keeps it. The sessions
    run one after another, so one arena shared by all peaks at the largest of them instead
    of their sum (measured on the node: peak RSS 274 -> 229 MiB, README "Speed").
    """
    info = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    try:
        # max_mem 0 (no limit), kNextPowerOfTwo, default chunk and dead-bytes sizes.
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 0, -1, -1))
    except Exception as exc:  # noqa: BLE001 - then each session keeps its own arena
        log.warning("onnxruntime has no shared CPU arena (%s); each model keeps its own", exc)
        return False
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # The process's own symbols (dlopen(NULL)): glibc's malloc_trim where there is one.
    # Not ctypes.util.find_library, which runs ldconfig and opens /dev/null to do it.
    try:
        trim: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    return trim


def release_freed_memory() -> bool:
    """Give the C heap's freed pages back to the OS (glibc ``malloc_trim``); False elsewhere.

    Loading a model frees about as much as it keeps (the protobuf, the initializers before
    graph optimisation): FaceRes-deep leaves 59 MiB resident, 24 MiB of it in use; glibc
    keeps the rest for reuse unless asked. Called after every session is created.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


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
