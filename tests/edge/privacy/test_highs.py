"""edge.privacy.highs: arrays in, HiGHS's answer out, nothing on stdout."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np

from edge.privacy import highs


def _program(
    cost: list[float], a: list[list[float]], lo: list[float], hi: list[float]
) -> highs.Program:
    n = len(cost)
    return highs.Program(
        np.array(cost), np.zeros(n), np.full(n, np.inf), highs.Coo.dense(np.array(a)),
        np.array(lo), np.array(hi),
    )  # fmt: skip


def test_an_lp_is_solved_to_its_optimum() -> None:
    # min x + 2y  s.t.  x + y >= 3,  x <= 1  ->  x = 1, y = 2, objective 5
    res = highs.solve(_program([1, 2], [[1, 1], [1, 0]], [3, -np.inf], [np.inf, 1]))
    assert res.status == "optimal"
    assert res.x is not None
    np.testing.assert_allclose(res.x, [1, 2], atol=1e-9)
    assert res.objective == 5


def test_integrality_is_honoured() -> None:
    # min x  s.t.  2x >= 3: 1.5 continuous, 2 integer
    base = _program([1], [[2]], [3], [np.inf])
    assert highs.solve(base).objective == 1.5
    integer = dataclasses.replace(base, integer=np.array([True]))
    assert highs.solve(integer).objective == 2


def test_infeasible_and_unbounded_are_told_apart() -> None:
    infeasible = highs.solve(_program([1], [[1]], [-np.inf], [-1]))  # x <= -1, x >= 0
    assert infeasible.status == "infeasible"
    assert infeasible.x is None
    unbounded = highs.solve(_program([-1], [[1]], [0], [np.inf]))  # max x, x >= 0
    assert unbounded.status == "unbounded"
    assert unbounded.x is None


def test_duplicate_entries_are_summed_and_columns_kept_in_order() -> None:
    a = highs.Coo(
        np.array([0, 0, 1, 0]), np.array([1, 0, 1, 1]), np.array([1.0, 2.0, 3.0, 4.0]), (2, 3)
    )
    starts, rows, vals = highs._colwise(a)
    dense = np.zeros((2, 3))
    for c in range(3):
        for k in range(starts[c], starts[c + 1]):
            dense[rows[k], c] += vals[k]
    np.testing.assert_array_equal(dense, [[2, 5, 0], [0, 3, 0]])
    assert len(vals) == 3  # the two (0, 1) entries are one


def test_an_unknown_option_is_ignored() -> None:
    res = highs.solve(_program([1], [[1]], [1], [np.inf]), options={"no_such_option": True})
    assert res.status == "optimal"


def test_the_solver_prints_nothing_on_stdout() -> None:
    code = (
        "import numpy as np; from edge.privacy import highs;"
        "p = highs.Program(np.ones(1), np.zeros(1), np.ones(1), highs.Coo.dense(np.ones((1, 1))),"
        " np.zeros(1), np.ones(1)); print(highs.solve(p).status)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "optimal\n"  # HiGHS's banner is kept off the node's output
