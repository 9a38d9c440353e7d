"""Silence chatty converters and runtimes: Python output, logging, warnings and C-level fds."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def silenced(*logger_names: str) -> Iterator[None]:
    """Discard everything written to stdout/stderr (also by C code) and the named loggers.

    tflite2onnx logs one float16 warning per tensor; TFLite and onnxruntime print from C++.
    Errors still propagate as exceptions, which the build translates into one line.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    loggers = [logging.getLogger(name) for name in logger_names]
    was_disabled = [logger.disabled for logger in loggers]
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        stack.enter_context(_fds_to_devnull())
        for logger in loggers:
            logger.disabled = True
        try:
            yield
        finally:
            for logger, disabled in zip(loggers, was_disabled, strict=True):
                logger.disabled = disabled


@contextlib.contextmanager
def _fds_to_devnull() -> Iterator[None]:
    saved: list[tuple[int, int]] = []
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
            except OSError:  # fd closed (e.g. a daemon): nothing to silence
                continue
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
