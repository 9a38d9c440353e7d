"""Small-count suppression: small cells are withheld and cannot be recomputed from the rest."""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from edge.privacy import suppression_milp
from edge.privacy.suppression import (
    SumRule,
    Table,
    build_table,
    determined,
    make_table,
    plan,
    suppress,
    suppress_heuristic,
    withheld_share,
)

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


# -- optimal complementary suppression (issue 14) -----------------------------------------


def lp_ranges(table: Table, withheld: list[int]) -> list[tuple[float, float]]:
    """Each withheld cell's [min, max] over non-negative tables that agree with the rest.

    Independent of edge.privacy: one LP per bound, straight from the table's equations.
    """
    a = table.constraints.astype(np.float64)
    x = np.array(table.values, dtype=np.float64)
    shown = np.ones(len(x), dtype=bool)
    shown[withheld] = False
    rhs = -(a[:, shown] @ x[shown])
    out = []
    for pos in range(len(withheld)):
        if a.shape[0] == 0:
            out.append((0.0, np.inf))
            continue
        c = np.zeros(len(withheld))
        c[pos] = 1.0
        lo = linprog(c, A_eq=a[:, withheld], b_eq=rhs, bounds=(0, None), method="highs")
        hi = linprog(-c, A_eq=a[:, withheld], b_eq=rhs, bounds=(0, None), method="highs")
        assert lo.status == 0, "the real table is always a solution"
        assert lo.fun is not None
        top = np.inf if hi.status == 3 or hi.fun is None else -float(hi.fun)
        out.append((float(lo.fun), top))
    return out


def protected(table: Table, withheld: set[int], k: int, level: int) -> bool:
    """The documented guarantee, audited by LP (see edge.privacy.suppression)."""
    cells = sorted(withheld)
    small = {i for i, v in enumerate(table.values) if 0 < v < k}
    if not small <= withheld:
        return False
    for cell, (lo, hi) in zip(cells, lp_ranges(table, cells), strict=True):
        if hi - lo < 1 - 1e-7:
            return False  # pinned: recomputable from the published cells
        if cell in small and hi < max(level, table.values[cell] + 1) - 1e-7:
            return False  # the published cells show the cell is small
    return True


def withheld_people(table: Table, cells: set[int]) -> int:
    return sum(table.values[i] for i in cells)


WINDOW_101 = np.array(
    # 0-12 13-19 20-29 30-39 40-49 50-59 60-69 70+ unknown
    [
        [1, 4, 14, 11, 7, 7, 5, 0, 1],  # female
        [2, 3, 12, 10, 3, 6, 5, 0, 2],  # male
        [0, 0, 2, 1, 1, 1, 2, 1, 0],  # unknown gender
    ]
)
BANDS_101 = ["0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+", "unknown"]


def test_one_person_band_no_longer_costs_half_the_age_histogram() -> None:
    # The labelled 101-person window of issue 14 (k = 2): 70+ holds one person.
    table = table_from_joint(WINDOW_101, BANDS_101)
    assert table.values[0] == 101
    middle = {"age_bands.30-39", "age_bands.40-49", "age_bands.50-59"}
    old = suppress_heuristic(table, k=2)
    assert middle <= names(table, old), "the greedy rule gave away the middle of the histogram"
    new = suppress(table, k=2)
    hidden = names(table, new)
    assert "age_bands.70+" in hidden
    assert not middle & hidden
    bands_hidden = sum(table.values[i] for i in new if table.names[i].startswith("age_bands."))
    assert bands_hidden <= 5, f"{bands_hidden} of 101 people lost from the age histogram"
    assert withheld_people(table, new) < withheld_people(table, old) / 1.5
    assert protected(table, new, k=2, level=2)


@st.composite
def small_tables(draw: st.DrawFn) -> tuple[Table, int]:
    """Tables small enough to search every choice of complementary cells."""
    genders = draw(st.sampled_from([("f", "m"), ("f", "m", "u")]))
    n_bands = draw(st.integers(1, 2)) if len(genders) == 3 else 2
    k = draw(st.integers(2, 6))
    cells = np.array(
        draw(
            st.lists(
                st.integers(0, 12), min_size=len(genders) * n_bands, max_size=len(genders) * n_bands
            )
        )
    ).reshape(len(genders), n_bands)
    bands = [f"b{j}" for j in range(n_bands)]
    joint = {g: {b: int(cells[i, j]) for j, b in enumerate(bands)} for i, g in enumerate(genders)}
    table = build_table(
        int(cells.sum()),
        {g: int(cells[i].sum()) for i, g in enumerate(genders)},
        {b: int(cells[:, j].sum()) for j, b in enumerate(bands)},
        joint,
    )
    return table, k


def brute_force_minimum(table: Table, k: int, level: int) -> int:
    """Least withheld people over every admissible choice (zeros stay published)."""
    small = {i for i, v in enumerate(table.values) if 0 < v < k}
    extra = [i for i, v in enumerate(table.values) if v >= k]
    choices = [
        small | set(combo) for r in range(len(extra) + 1) for combo in combinations(extra, r)
    ]
    for cells in sorted(choices, key=lambda c: withheld_people(table, c)):
        if protected(table, cells, k, level):
            return withheld_people(table, cells)
    raise AssertionError("withholding every non-zero cell is always admissible")


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True)
@given(small_tables())
def test_optimal_is_minimal_on_small_tables(case: tuple[Table, int]) -> None:
    table, k = case
    chosen = suppress(table, k)
    assert protected(table, chosen, k, level=k)
    assert withheld_people(table, chosen) == brute_force_minimum(table, k, level=k)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True)
@given(random_tables())
def test_never_withholds_more_than_the_heuristic(case: tuple[IntMatrix, int]) -> None:
    cells, k = case
    table = table_from_joint(cells)
    old = suppress_heuristic(table, k)
    # Protection level 1 is the heuristic's own guarantee (nothing recomputable): there the
    # optimum can only be cheaper. At the default level k it asks more, so it is cheaper
    # whenever the heuristic's choice meets that level too.
    same_rule = suppress(table, k, protection=1)
    assert protected(table, same_rule, k, level=1)
    assert withheld_people(table, same_rule) <= withheld_people(table, old)
    default = suppress(table, k)
    assert protected(table, default, k, level=k)
    if protected(table, old, k, level=k):
        assert withheld_people(table, default) <= withheld_people(table, old)


def test_cost_in_cells_prefers_fewer_cells_and_counts_fewer_people() -> None:
    # Two 1-person joint cells (k = 2); protecting them with 4 cells costs a person more
    # than protecting them with 6.
    cells = np.array([[1, 7, 11], [4, 5, 8], [11, 2, 1]])
    table = table_from_joint(cells, ["young", "old", "older"])
    by_counts = suppress(table, k=2, cost="counts")
    by_cells = suppress(table, k=2, cost="cells")
    assert protected(table, by_counts, 2, 2)
    assert protected(table, by_cells, 2, 2)
    assert withheld_people(table, by_counts) < withheld_people(table, by_cells)
    assert len(by_cells) < len(by_counts)


def test_extra_cell_groups_plug_in_through_sum_rules() -> None:
    # Counting lines: crossings per line and direction, with their own totals.
    extra = {"lines.a": 12, "lines.a.in": 1, "lines.a.out": 11, "lines.b": 7, "lines.b.in": 7}
    rules = [
        SumRule("lines.a", ("lines.a.in", "lines.a.out")),
        SumRule("lines.b", ("lines.b.in",)),
    ]
    table = build_table(20, {"f": 10, "m": 10}, None, None, extra_cells=extra, extra_rules=rules)
    hidden = names(table, suppress(table, k=5))
    assert hidden == {"lines.a.in", "lines.a.out"}, "a's total stays, b is untouched"
    with pytest.raises(ValueError, match="unknown cells"):
        make_table({"t": 1}, [SumRule("t", ("nope",))])


def test_solver_failure_falls_back_to_the_audited_heuristic(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise suppression_milp.SolverFailed("injected")

    monkeypatch.setattr(suppression_milp, "solve", broken)
    table = table_from_joint(WINDOW_101, BANDS_101)
    with caplog.at_level(logging.WARNING, "kazoe.privacy.suppression"):
        result = plan(table, k=2)
    assert result.method == "heuristic"
    assert set(result.withheld) == suppress_heuristic(table, k=2)
    assert "solver failed (injected)" in caplog.text
    # At k = 5 with female 1 and male 2 the heuristic's pair leaves female in [0, 3]: it
    # falls short of level 5, so everything non-zero is withheld, loudly.
    short = table_from_joint(np.array([[1], [2], [9]]), ["all"])
    with caplog.at_level(logging.WARNING, "kazoe.privacy.suppression"):
        worst = plan(short, k=5)
    assert worst.method == "all"
    assert set(worst.withheld) >= {i for i, v in enumerate(short.values) if v}
    assert set(worst.withheld) >= suppress_heuristic(short, k=5)
    assert "withholding every non-zero cell" in caplog.text


def test_withheld_share_counts_people_in_withheld_cells() -> None:
    table = table_from_joint(np.array([[2], [10], [8]]), ["all"])
    chosen = suppress(table, k=5)
    share = withheld_share(table, chosen)
    assert share == withheld_people(table, chosen) / sum(table.values)
    assert 0 < share < 0.5
