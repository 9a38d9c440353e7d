"""One linear or mixed-integer program, given as arrays, solved by HiGHS (``highspy``).

    minimise cost @ x  subject to  row_lower <= A x <= row_upper,  lower <= x <= upper,
    and x_j integer where ``integer[j]``.

``A`` comes in coordinate form (duplicates summed) and is handed to HiGHS column-wise.
highspy is imported when a window first needs the solver (about 6 MiB resident, against
about 47 MiB for ``scipy.optimize``, which wraps the same HiGHS), and one solver instance
serves the process: HiGHS prints a banner on stdout when an instance is created, which
this module keeps off the node's output.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Status = Literal["optimal", "limit", "infeasible", "unbounded", "failed"]


@dataclass(frozen=True, slots=True)
class Coo:
    """A sparse matrix as (row, column, value) triples and its shape."""

    rows: IntArray
    cols: IntArray
    vals: FloatArray
    shape: tuple[int, int]

    @classmethod
    def dense(cls, a: npt.NDArray[Any]) -> Coo:
        rows, cols = np.nonzero(a)
        return cls(
            rows.astype(np.int64),
            cols.astype(np.int64),
            np.asarray(a[rows, cols], np.float64),
            (a.shape[0], a.shape[1]),
        )


@dataclass(frozen=True, slots=True)
class Program:
    """minimise cost @ x, row_lower <= A x <= row_upper, lower <= x <= upper, x_j integer
    where ``integer[j]`` (all continuous when None)."""

    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    a: Coo
    row_lower: FloatArray
    row_upper: FloatArray
    integer: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """``x`` is None unless HiGHS holds a feasible point (``optimal`` or ``limit``)."""

    status: Status
    x: FloatArray | None
    objective: float | None


_lock = threading.Lock()


@functools.cache
def _instance() -> Any:
    """The process's one HiGHS instance (callers hold ``_lock``)."""
    import highspy

    sys.stdout.flush()
    # The banner is printed by HiGHS's C++ constructor to fd 1: point fd 1 at a pipe for
    # that call (a pipe, not /dev/null: the node opens no file for writing outside its state
    # directory) and drop what it holds (a few hundred bytes, well inside the pipe buffer).
    read_end, write_end = os.pipe()
    saved = os.dup(1)
    os.dup2(write_end, 1)
    try:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)
        os.set_blocking(read_end, False)
        with contextlib.suppress(BlockingIOError):
            while os.read(read_end, 65536):
                pass
        os.close(read_end)


def _colwise(a: Coo) -> tuple[IntArray, IntArray, FloatArray]:
    """(starts, row indices, values) of ``a`` column by column, duplicates summed."""
    n_rows, n_cols = a.shape
    key = a.cols * max(n_rows, 1) + a.rows
    order = np.argsort(key, kind="stable")
    key, vals = key[order], a.vals[order]
    unique, first = np.unique(key, return_index=True)
    summed = np.add.reduceat(vals, first) if len(vals) else vals
    cols, rows = np.divmod(unique, max(n_rows, 1))
    starts = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_cols))])
    return starts.astype(np.int64), rows.astype(np.int64), summed.astype(np.float64)


def solve(program: Program, options: dict[str, bool | int | float] | None = None) -> Result:
    """Solve the program; an option this HiGHS does not know is ignored."""
    import highspy

    n_rows, n_cols = program.a.shape
    starts, index, value = _colwise(program.a)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = np.asarray(program.cost, np.float64)
    lp.col_lower_ = np.asarray(program.lower, np.float64)
    lp.col_upper_ = np.asarray(program.upper, np.float64)
    lp.row_lower_ = np.asarray(program.row_lower, np.float64)
    lp.row_upper_ = np.asarray(program.row_upper, np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, index, value
    if program.integer is not None and program.integer.any():
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[int(bool(v))] for v in program.integer]
    with _lock:
        h = _instance()
        h.clearModel()
        h.resetOptions()
        h.setOptionValue("output_flag", False)
        for name, setting in (options or {}).items():
            h.setOptionValue(name, setting)  # kError for an unknown option: left at default
        if h.passModel(lp) != highspy.HighsStatus.kOk:
            return Result("failed", None, None)
        h.run()
        model = h.getModelStatus()
        info = h.getInfo()
        feasible = info.primal_solution_status == int(
            highspy.SolutionStatus.kSolutionStatusFeasible
        )
        x = np.array(h.getSolution().col_value, np.float64) if feasible else None
        objective = float(info.objective_function_value) if feasible else None
        h.clearModel()
    kind = highspy.HighsModelStatus
    if model == kind.kOptimal:
        return Result("optimal", x, objective)
    if model in (kind.kUnbounded, kind.kUnboundedOrInfeasible):
        return Result("unbounded", None, None)
    if model == kind.kInfeasible:
        return Result("infeasible", None, None)
    return Result("limit" if x is not None else "failed", x, objective)
