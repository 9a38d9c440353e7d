"""Small-count suppression with optimal complementary suppression (pure functions).

A window's cells form one ``Table``: named counts plus the equations between them, each
``total = sum(parts)``. ``build_table`` lays out the demographic one (people = sum of
gender = sum of age bands, the gender x band joint table); any other group of cells (per
counting line and direction, say) plugs in as more cells and ``SumRule`` equations.

The rule, for threshold k and protection level P (``policy.protection_level``, default k):

- every cell with 0 < count < k is withheld (primary); zero is published as zero;
- complementary cells are withheld so that, for every primary cell with count x, the
  published cells and the equations are consistent with a non-negative table in which that
  cell holds max(P, x + 1) or more: its interval (min to max over all such tables, by LP)
  reaches at least P, so nothing published shows it is small, and is at least
  max(P - x, 1) wide, so it cannot be recomputed; and no withheld cell at all is pinned
  to a single value;
- among all such choices, the one with the least cost (``policy.suppression_cost``): the
  withheld counts (``"counts"``, the people hidden, default) or the number of withheld cells
  (``"cells"``), ties broken by the other. The choice is an integer program solved by HiGHS
  (``edge.privacy.suppression_milp``); its own alternative tables certify every cell.

For the demographic table the equations are a network (flows source -> gender -> joint ->
band -> sink), so LP bounds are integers and the guarantee holds for integer counts, not
only for their linear relaxation. If the solver fails, or its time limit passes with no
answer, the older greedy heuristic (``suppress_heuristic``) is used and its answer audited
by LP; if that falls short too, every non-zero cell is withheld. Both are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge.privacy import suppression_milp as milp

log = logging.getLogger("kazoe.privacy.suppression")

Cost = Literal["counts", "cells"]
Method = Literal["none", "optimal", "incumbent", "heuristic", "all"]
DEFAULT_TIME_LIMIT_S = 0.5


@dataclass(frozen=True, slots=True)
class Table:
    """A window's cells as a flat vector with names and the linear constraints between them."""

    names: tuple[str, ...]
    values: tuple[int, ...]
    constraints: npt.NDArray[np.int8]  # (rows, cells); each row sums to zero


@dataclass(frozen=True, slots=True)
class SumRule:
    """One equation of a table: ``total`` is the sum of ``parts``."""

    total: str
    parts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Suppression:
    """Which cells to withhold, and how the choice was made."""

    withheld: frozenset[int]
    method: Method  # incumbent: the solver's best within its time limit, not proven optimal
    seconds: float


def make_table(cells: Mapping[str, int], rules: Iterable[SumRule]) -> Table:
    """A table from named counts and the sum rules between them (any cells, any groups)."""
    names = tuple(cells)
    index = {name: i for i, name in enumerate(names)}
    rows: list[npt.NDArray[np.int8]] = []
    for rule in rules:
        row = np.zeros(len(names), dtype=np.int8)
        unknown = [n for n in (rule.total, *rule.parts) if n not in index]
        if unknown:
            raise ValueError(f"sum rule for {rule.total!r} names unknown cells {unknown}")
        row[index[rule.total]] = 1
        for part in rule.parts:
            row[index[part]] -= 1
        rows.append(row)
    matrix = np.array(rows, dtype=np.int8) if rows else np.zeros((0, len(names)), dtype=np.int8)
    return Table(names, tuple(int(cells[n]) for n in names), matrix)


def demographic_cells(
    people: int,
    gender: Mapping[str, int] | None,
    bands: Mapping[str, int] | None,
    joint: Mapping[str, Mapping[str, int]] | None,
) -> tuple[dict[str, int], list[SumRule]]:
    """The window's people / gender / age-band / joint cells and their sum rules."""
    cells: dict[str, int] = {"people": people}
    cells.update({f"gender.{g}": v for g, v in (gender or {}).items()})
    cells.update({f"age_bands.{b}": v for b, v in (bands or {}).items()})
    for g, row in (joint or {}).items():
        cells.update({f"joint.{g}.{b}": v for b, v in row.items()})
    rules: list[SumRule] = []
    if gender:
        rules.append(SumRule("people", tuple(f"gender.{g}" for g in gender)))
    if bands:
        rules.append(SumRule("people", tuple(f"age_bands.{b}" for b in bands)))
    if joint and gender and bands:
        rules += [SumRule(f"gender.{g}", tuple(f"joint.{g}.{b}" for b in bands)) for g in gender]
        rules += [SumRule(f"age_bands.{b}", tuple(f"joint.{g}.{b}" for g in gender)) for b in bands]
    return cells, rules


def build_table(
    people: int,
    gender: Mapping[str, int] | None,
    bands: Mapping[str, int] | None,
    joint: Mapping[str, Mapping[str, int]] | None,
    *,
    extra_cells: Mapping[str, int] | None = None,
    extra_rules: Iterable[SumRule] = (),
) -> Table:
    """The demographic table, plus any further cells and rules (e.g. per counting line)."""
    cells, rules = demographic_cells(people, gender, bands, joint)
    cells.update(extra_cells or {})
    return make_table(cells, [*rules, *extra_rules])


def determined(constraints: npt.NDArray[np.int8], withheld: list[int]) -> list[int]:
    """Withheld cells that the published cells pin down through the constraints."""
    if not withheld or constraints.shape[0] == 0:
        return []
    sub = constraints[:, withheld].astype(np.float64)
    full_rank = np.linalg.matrix_rank(sub)
    out = []
    for pos, cell in enumerate(withheld):
        reduced = np.delete(sub, pos, axis=1)
        if np.linalg.matrix_rank(reduced) < full_rank:
            out.append(cell)
    return out


def suppress(
    table: Table,
    k: int,
    *,
    cost: Cost = "counts",
    protection: int | None = None,
    forced: Collection[int] = (),
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> set[int]:
    """Indices of cells to withhold (see the module docstring for the guarantee)."""
    return set(
        plan(
            table, k, cost=cost, protection=protection, forced=forced, time_limit_s=time_limit_s
        ).withheld
    )


def plan(
    table: Table,
    k: int,
    *,
    cost: Cost = "counts",
    protection: int | None = None,
    forced: Collection[int] = (),
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Suppression:
    """Choose the withheld cells; ``forced`` cells are withheld and their values unknown."""
    start = time.perf_counter()
    p = k if protection is None else protection
    primary = sorted({i for i, v in enumerate(table.values) if 0 < v < k} | set(forced))

    def done(cells: Collection[int], method: Method) -> Suppression:
        return Suppression(frozenset(cells), method, time.perf_counter() - start)

    if not primary:
        return done((), "none")
    if table.constraints.shape[0] == 0:
        return done(primary, "optimal")  # no equations: nothing can recompute a withheld cell
    candidates = [i for i, v in enumerate(table.values) if v >= k and i not in primary]
    attempts = [candidates]
    if forced:
        # A roll-up cell whose inputs were withheld may be pinned by published zeros; then
        # hiding a zero is the only way to protect it, so try that before giving up.
        attempts.append(
            sorted({*candidates, *(i for i, v in enumerate(table.values) if v == 0)} - set(primary))
        )
    failure = ""
    for pool in attempts:
        try:
            answer = _optimal(
                table,
                primary=primary,
                candidates=pool,
                forced=forced,
                cost=cost,
                reach=p,
                time_limit_s=time_limit_s,
            )
        except milp.SolverFailed as exc:
            failure = str(exc)
            continue
        if not answer.proven_optimal:
            log.warning(
                "suppression solver hit its %.3f s time limit; using its best answer, "
                "which meets the guarantee but may withhold more than needed",
                time_limit_s,
            )
        return done(answer.withheld, "optimal" if answer.proven_optimal else "incumbent")
    log.warning("suppression solver failed (%s); using the greedy heuristic", failure)
    withheld = suppress_heuristic(table, k, forced=forced)
    if forced:
        # Unknown values cannot be audited; the heuristic still leaves none recomputable.
        return done(withheld, "heuristic")
    if meets_protection(table, sorted(withheld), primary, p):
        return done(withheld, "heuristic")
    log.error(
        "suppression fallback: the heuristic's choice leaves a small cell short of the "
        "protection level %d; withholding every non-zero cell",
        p,
    )
    # With the heuristic's cells too: on inconsistent counts (no table fits them, so the
    # audit cannot pass) they still keep every withheld cell from being recomputed.
    return done({i for i, v in enumerate(table.values) if v != 0} | withheld, "all")


def _optimal(
    table: Table,
    *,
    primary: list[int],
    candidates: list[int],
    forced: Collection[int],
    cost: Cost,
    reach: int,
    time_limit_s: float,
) -> milp.MilpAnswer:
    x = milp.complete(table.constraints, np.array(table.values, np.float64), sorted(forced))
    return milp.solve(
        table.constraints,
        x,
        primary=primary,
        candidates=candidates,
        weights=_weights(table, candidates, cost),
        reach=reach,
        time_limit_s=time_limit_s,
    )


def _weights(table: Table, candidates: list[int], cost: Cost) -> npt.NDArray[np.float64]:
    """Lexicographic costs in whole numbers: the chosen measure first, the other breaks ties."""
    counts = np.array([table.values[i] for i in candidates], dtype=np.float64)
    if cost == "counts":
        return counts * (len(candidates) + 1) + 1
    return counts + float(counts.sum()) + 1


def meets_protection(table: Table, withheld: list[int], primary: list[int], p: int) -> bool:
    """LP audit of the guarantee: each primary cell reaches max(p, x + 1), none is pinned."""
    x = np.array(table.values, np.float64)
    try:
        ranges = milp.intervals(table.constraints, x, withheld)
    except milp.SolverFailed:
        return False
    for cell, (lo, hi) in zip(withheld, ranges, strict=True):
        if hi - lo < 1 - milp.TOL:
            return False
        if cell in primary and hi < max(p, x[cell] + 1) - milp.TOL:
            return False
    return True


def withheld_share(table: Table, withheld: Collection[int]) -> float:
    """People in withheld cells / people in all cells (each table counts everyone once)."""
    total = sum(table.values)
    return sum(table.values[i] for i in withheld) / total if total else 0.0


def suppress_heuristic(table: Table, k: int, *, forced: Collection[int] = ()) -> set[int]:
    """The earlier greedy rule: withhold cells one at a time until none is recomputable.

    Kept as the fallback and as the baseline the benchmark compares with. It asks only that
    no withheld cell be fixed by linear algebra, which for the demographic table is the
    guarantee above with P = 1; with P = k its choice may leave a small cell's range short.
    """
    withheld = {i for i, v in enumerate(table.values) if 0 < v < k} | set(forced)
    while True:
        exposed = determined(table.constraints, sorted(withheld))
        if not exposed:
            return withheld
        candidates = [i for i in range(len(table.values)) if i not in withheld]
        # Only cells that share a constraint with an exposed cell can hide it.
        linked = np.abs(table.constraints[:, exposed]).sum(axis=1) > 0
        near = {i for i in candidates if np.abs(table.constraints[linked, i]).sum() > 0}
        pool = sorted(near or set(candidates))
        best = min(
            pool,
            key=lambda i: (
                table.values[i] == 0,
                table.names[i] == "people",  # the headline count goes last
                len(determined(table.constraints, sorted(withheld | {i}))),
                table.values[i],
                i,
            ),
        )
        withheld.add(best)
