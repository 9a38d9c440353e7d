"""Roll-ups (per site or node, over hours) that re-apply small-count suppression.

Input: per-cell sums over a group of windows (``n`` windows had the cell,
``nulls`` of them withheld it, ``total`` is the sum of the rest). A cell is
*known* only if every window of the group had it and none withheld it; an
unknown cell is withheld, never summed as zero. Then ``edge.privacy.suppression``
re-applies the node's rule to the roll-up: every cell with 0 < count < k and
every unknown cell is withheld (primary; an unknown cell's value is unknown to the
solver too, which only needs some non-negative completion of the table), plus the
cheapest complementary cells under which every primary cell could, for all the
published cells show through ``people = sum(gender) = sum(bands)`` and the joint
table, hold at least the protection level (default k), and no withheld cell is
pinned to one value. When published zeros pin an unknown cell, zeros may be withheld
too; data too inconsistent for any completion falls back to the greedy rule (logged).

Why this is enough across overlapping roll-ups: a published roll-up cell is a
sum of published window cells only (any withheld input makes it unknown), so
differencing roll-ups (site minus node, day minus hours) reveals nothing that
the published windows do not already show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from edge.privacy.suppression import Table, build_table, suppress

GENDERS = ("female", "male", "unknown")
WINDOWS_CELL = "_windows"
Cell = int | None


@dataclass(frozen=True, slots=True)
class CellSum:
    n: int
    nulls: int
    total: int


@dataclass(frozen=True)
class Rollup:
    """A suppressed roll-up: withheld cells are None and named in ``withheld``."""

    windows: int
    people: Cell
    gender: dict[str, Cell] | None
    age_bands: dict[str, Cell] | None
    joint: dict[str, dict[str, Cell]] | None
    withheld: tuple[str, ...]
    k: int
    lines: dict[str, dict[str, Cell]] | None = None  # counting line -> {"in": n, "out": n}

    def to_json(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "people": self.people,
            "gender": self.gender,
            "age_bands": self.age_bands,
            "joint": self.joint,
            "lines": self.lines,
            "withheld": list(self.withheld),
            "k": self.k,
        }


def band_key(label: str) -> tuple[int, str]:
    """Age bands in age order ('0-12' < '13-19' < '70+'); labels without a number last."""
    match = re.match(r"^(\d+)", label)
    return (int(match[1]) if match else 10_000, label)


def _gender_key(label: str) -> tuple[int, str]:
    return (GENDERS.index(label) if label in GENDERS else len(GENDERS), label)


def roll_up(sums: Mapping[str, CellSum], k: int) -> Rollup:
    """Combine cell sums into a roll-up and suppress it with threshold ``k``."""
    key = tuple(sorted((name, s.n, s.nulls, s.total) for name, s in sums.items()))
    return _roll_up(key, k)


@lru_cache(maxsize=4096)
def _roll_up(key: tuple[tuple[str, int, int, int], ...], k: int) -> Rollup:
    sums = {name: CellSum(n, nulls, total) for name, n, nulls, total in key}
    windows = sums.pop(WINDOWS_CELL, CellSum(0, 0, 0)).n
    if windows == 0:
        return Rollup(0, 0, None, None, None, (), k)

    def value(name: str) -> Cell:
        s = sums.get(name)
        return s.total if s is not None and s.n == windows and s.nulls == 0 else None

    genders = sorted({n.split(".", 1)[1] for n in sums if n.startswith("gender.")}, key=_gender_key)
    bands = sorted({n.split(".", 1)[1] for n in sums if n.startswith("age_bands.")}, key=band_key)
    joint_names = [n for n in sums if n.startswith("joint.")]
    known: dict[str, Cell] = {"people": value("people")}
    gender = {g: value(f"gender.{g}") for g in genders} or None
    age_bands = {b: value(f"age_bands.{b}") for b in bands} or None
    joint: dict[str, dict[str, Cell]] | None = None
    if joint_names and gender and age_bands:
        joint = {g: {b: value(f"joint.{g}.{b}") for b in bands} for g in genders}
    known.update({f"gender.{g}": v for g, v in (gender or {}).items()})
    known.update({f"age_bands.{b}": v for b, v in (age_bands or {}).items()})
    for g, row in (joint or {}).items():
        known.update({f"joint.{g}.{b}": v for b, v in row.items()})

    def given(v: Cell) -> int:
        return 0 if v is None else v  # a placeholder: unknown cells are passed as forced

    table = build_table(
        given(known["people"]),
        {g: given(v) for g, v in gender.items()} if gender else None,
        {b: given(v) for b, v in age_bands.items()} if age_bands else None,
        {g: {b: given(v) for b, v in row.items()} for g, row in joint.items()} if joint else None,
    )
    unknown = [i for i, name in enumerate(table.names) if known[name] is None]
    withheld = {table.names[i] for i in suppress(table, k, forced=unknown)}
    lines, line_withheld = _lines(sums, value, k)
    withheld |= line_withheld

    def shown(name: str) -> Cell:
        return None if name in withheld else known[name]

    return Rollup(
        windows=windows,
        people=shown("people"),
        gender={g: shown(f"gender.{g}") for g in gender} if gender else None,
        age_bands={b: shown(f"age_bands.{b}") for b in age_bands} if age_bands else None,
        joint=(
            {g: {b: shown(f"joint.{g}.{b}") for b in row} for g, row in joint.items()}
            if joint
            else None
        ),
        withheld=tuple(n for n in table.names if n in withheld) + tuple(sorted(line_withheld)),
        k=k,
        lines=lines,
    )


def _lines(
    sums: Mapping[str, CellSum], value: Callable[[str], Cell], k: int
) -> tuple[dict[str, dict[str, Cell]] | None, set[str]]:
    """Counting-line cells of a roll-up, suppressed like the node does it.

    Line cells are tied to no published total, so only primary suppression applies: an
    unknown cell (withheld in some window, or missing from some window) and every cell with
    0 < count < k are withheld, through the same suppression entry point.
    """
    names = sorted(n for n in sums if n.startswith("lines."))
    if not names:
        return None, set()
    values = [value(n) for n in names]
    table = Table(
        tuple(names),
        tuple(0 if v is None else v for v in values),
        np.zeros((0, len(names)), dtype=np.int8),
    )
    unknown = [i for i, v in enumerate(values) if v is None]
    withheld = {names[i] for i in suppress(table, k, forced=unknown)}
    lines: dict[str, dict[str, Cell]] = {}
    for name, v in zip(names, values, strict=True):
        _, line, direction = name.split(".", 2)
        lines.setdefault(line, {})[direction] = None if name in withheld else v
    return lines, withheld
