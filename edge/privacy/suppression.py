"""Small-count suppression with complementary suppression (a pure function).

Cells of one window: the total, the gender and age-band marginals and the joint
gender x band table, linked by ``total = sum(gender) = sum(bands)``,
``gender_g = sum_b joint_gb`` and ``band_b = sum_g joint_gb``. Every cell with
0 < count < k is withheld (primary). Then, while some withheld cell can be
recomputed from the published cells through those equations, one more published
cell is withheld (complementary), preferring a non-zero cell other than the total
that leaves fewest cells determined, then the smallest count. Zero is published as zero.

A withheld cell w is determined iff its indicator is in the row space of the
constraint matrix restricted to withheld columns, i.e. iff dropping column w
lowers that matrix's rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Table:
    """A window's cells as a flat vector with names and the linear constraints between them."""

    names: tuple[str, ...]
    values: tuple[int, ...]
    constraints: npt.NDArray[np.int8]  # (rows, cells); each row sums to zero


def build_table(
    people: int,
    gender: dict[str, int] | None,
    bands: dict[str, int] | None,
    joint: dict[str, dict[str, int]] | None,
) -> Table:
    names: list[str] = ["people"]
    values: list[int] = [people]
    index: dict[str, int] = {"people": 0}

    def add(name: str, value: int) -> None:
        index[name] = len(names)
        names.append(name)
        values.append(value)

    for g, v in (gender or {}).items():
        add(f"gender.{g}", v)
    for b, v in (bands or {}).items():
        add(f"age_bands.{b}", v)
    for g, row in (joint or {}).items():
        for b, v in row.items():
            add(f"joint.{g}.{b}", v)

    rows: list[np.ndarray] = []

    def constraint(total: str, parts: list[str]) -> None:
        row = np.zeros(len(names), dtype=np.int8)
        row[index[total]] = 1
        for p in parts:
            row[index[p]] = -1
        rows.append(row)

    if gender:
        constraint("people", [f"gender.{g}" for g in gender])
    if bands:
        constraint("people", [f"age_bands.{b}" for b in bands])
    if joint and gender and bands:
        for g in gender:
            constraint(f"gender.{g}", [f"joint.{g}.{b}" for b in bands])
        for b in bands:
            constraint(f"age_bands.{b}", [f"joint.{g}.{b}" for g in gender])
    matrix = np.array(rows, dtype=np.int8) if rows else np.zeros((0, len(names)), dtype=np.int8)
    return Table(tuple(names), tuple(values), matrix)


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


def suppress(table: Table, k: int) -> set[int]:
    """Indices of cells to withhold so no withheld value is recoverable from the rest."""
    withheld = {i for i, v in enumerate(table.values) if 0 < v < k}
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
