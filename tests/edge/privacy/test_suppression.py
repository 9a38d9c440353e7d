"""Small-count suppression: small cells are withheld and cannot be recomputed from the rest."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.privacy.suppression import Table, build_table, determined, suppress

GENDERS = ("female", "male", "unknown")
IntMatrix = npt.NDArray[np.int64]


def table_from_joint(joint_cells: IntMatrix, bands: list[str] | None = None) -> Table:
    """A full demographic table (total, marginals, joint) from a genders x bands matrix."""
    labels = bands or [f"b{j}" for j in range(joint_cells.shape[1])]
    joint = {
        g: {b: int(joint_cells[i, j]) for j, b in enumerate(labels)} for i, g in enumerate(GENDERS)
    }
    gender = {g: int(joint_cells[i].sum()) for i, g in enumerate(GENDERS)}
    band_totals = {b: int(joint_cells[:, j].sum()) for j, b in enumerate(labels)}
    return build_table(int(joint_cells.sum()), gender, band_totals, joint)


def names(table: Table, cells: set[int]) -> set[str]:
    return {table.names[i] for i in cells}


def free_in_solution_space(constraints: npt.NDArray[np.int8], withheld: list[int]) -> list[bool]:
    """For each withheld cell: can it change while the published cells and constraints hold?

    Independent of edge.privacy.suppression: the solutions of A_W x_W = b form x0 + null(A_W);
    x_w is unfixed iff some null-space basis vector (from the SVD) has a non-zero w entry.
    """
    sub = constraints[:, withheld].astype(np.float64)
    _, singular, vt = np.linalg.svd(sub)
    tol = max(sub.shape) * np.finfo(np.float64).eps * (singular.max() if singular.size else 0.0)
    rank = int((singular > max(tol, 1e-9)).sum())
    null_basis = vt[rank:]  # rows span the null space of sub
    return [
        bool(np.abs(null_basis[:, pos]).max(initial=0.0) > 1e-8) for pos in range(len(withheld))
    ]


def test_table_layout_and_constraints_hold() -> None:
    cells = np.array([[3, 4], [5, 6], [0, 1]])
    table = table_from_joint(cells, ["0-49", "50+"])
    assert table.names[:4] == ("people", "gender.female", "gender.male", "gender.unknown")
    assert "joint.unknown.50+" in table.names
    assert table.values[0] == 19
    # Every constraint row is an equation the real counts satisfy.
    assert not (table.constraints.astype(np.int64) @ np.array(table.values)).any()
    assert table.constraints.shape == (2 + 3 + 2, 1 + 3 + 2 + 6)


@pytest.mark.parametrize(
    "cells",
    [
        np.array([[5, 6], [7, 8], [9, 5]]),
        np.array([[0, 6], [7, 0], [0, 0]]),
        np.zeros((3, 4), dtype=np.int64),
    ],
    ids=["all-at-least-k", "zeros-and-large", "empty-window"],
)
def test_nothing_withheld_when_no_cell_is_small(cells: IntMatrix) -> None:
    assert suppress(table_from_joint(cells), k=5) == set()


def test_single_small_gender_cell_forces_a_complementary_cell() -> None:
    # One band; female=2 is small. Publishing people and the other genders would give it away.
    table = table_from_joint(np.array([[2], [10], [8]]), ["all"])
    withheld = suppress(table, k=5)
    hidden = names(table, withheld)
    assert {"gender.female", "joint.female.all"} <= hidden
    assert len(hidden) >= 4, "a second gender (and its joint cell) must be withheld with it"
    assert "people" not in hidden, "the headline count is withheld last"
    assert determined(table.constraints, sorted(withheld)) == []
    assert all(free_in_solution_space(table.constraints, sorted(withheld)))


def test_small_joint_cell_is_hidden_by_a_rectangle() -> None:
    cells = np.array([[2, 10], [10, 10], [10, 10]])
    table = table_from_joint(cells, ["young", "old"])
    withheld = suppress(table, k=5)
    hidden = names(table, withheld)
    assert "joint.female.young" in hidden
    assert all(name.startswith("joint.") for name in hidden), "marginals are all >= k"
    assert len(hidden) == 4, "the cheapest cover is a 2x2 rectangle of joint cells"
    assert determined(table.constraints, sorted(withheld)) == []


def test_zero_cells_are_published_as_zero() -> None:
    cells = np.array([[0, 0], [3, 12], [0, 9]])
    table = table_from_joint(cells, ["young", "old"])
    withheld = suppress(table, k=5)
    assert all(table.values[i] != 0 for i in withheld)
    assert "joint.male.young" in names(table, withheld)


@pytest.mark.parametrize(
    ("people", "k", "hidden"), [(3, 5, {"people"}), (5, 5, set()), (0, 5, set())]
)
def test_footfall_only_table(people: int, k: int, hidden: set[str]) -> None:
    table = build_table(people, None, None, None)
    assert table.names == ("people",)
    assert table.constraints.shape == (0, 1)
    assert names(table, suppress(table, k)) == hidden


def test_determined_detects_a_recoverable_cell() -> None:
    table = table_from_joint(np.array([[2], [10], [8]]), ["all"])
    female = table.names.index("gender.female")
    joint_female = table.names.index("joint.female.all")
    # Withholding just the small cell and its joint twin: people - male - unknown gives it away.
    exposed = determined(table.constraints, [female, joint_female])
    assert exposed == [female, joint_female]
    assert free_in_solution_space(table.constraints, [female, joint_female]) == [False, False]


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[IntMatrix, int]:
    n_bands = draw(st.integers(1, 8))
    people = draw(st.integers(0, 60))
    k = draw(st.integers(2, 10))
    where = draw(st.lists(st.integers(0, 3 * n_bands - 1), min_size=people, max_size=people))
    cells = np.bincount(np.array(where, dtype=np.int64), minlength=3 * n_bands)
    return cells.reshape(3, n_bands).astype(np.int64), k


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, derandomize=True)
@given(random_tables())
def test_no_withheld_cell_can_be_recomputed(case: tuple[IntMatrix, int]) -> None:
    cells, k = case
    table = table_from_joint(cells)
    withheld = sorted(suppress(table, k))
    values = table.values
    small = {i for i, v in enumerate(values) if 0 < v < k}
    assert small <= set(withheld), "every small non-zero cell is withheld"
    assert determined(table.constraints, withheld) == []
    if withheld:
        free = free_in_solution_space(table.constraints, withheld)
        pinned = [table.names[w] for w, ok in zip(withheld, free, strict=True) if not ok]
        assert pinned == [], f"recomputable from published cells: {pinned}"
