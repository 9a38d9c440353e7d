"""The policy stage: purpose coverage and small-count suppression -> the published payload.

Pure functions of the config and the counts; the notice and the enforcement
read the same ``PolicyConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import NodeSettings
from edge.errors import ConfigError
from edge.payload import (
    COUNTS_SCHEMA_ID,
    COUNTS_SCHEMA_V2,
    COUNTS_SCHEMA_V3,
    CountsPayload,
    ModelIds,
)
from edge.privacy.shares import IntervalMaker
from edge.privacy.suppression import Table, build_table, suppress
from edge.types import WindowCounts, utc

# Which declared purpose covers each published field.
FIELD_PURPOSE = {
    "people": "footfall",
    "gender": "demographics",
    "age_bands": "demographics",
    "joint": "demographics",
    "lines": "footfall",
    "intervals": "demographics",
}


def published_fields(settings: NodeSettings, intervals: bool = False) -> list[str]:
    """The fields this node will publish: people always, demographics when declared,
    intervals when a calibration is in use (``edge.privacy.shares``)."""
    fields = ["people"]
    if settings.policy.demographics:
        fields += ["gender", "age_bands", "joint"]
    if settings.counting.lines:
        fields.append("lines")
    if intervals:
        fields.append("intervals")
    return fields


def check_purpose_coverage(settings: NodeSettings) -> None:
    """Refuse to start when a published field lacks the purpose that allows it."""
    declared = set(settings.policy.purposes)
    for name in published_fields(settings):
        need = FIELD_PURPOSE[name]
        if need not in declared:
            raise ConfigError(
                f"policy.purposes: field '{name}' would be published but needs purpose "
                f"'{need}', which is not declared; add it or stop publishing '{name}'"
            )


def _suppressed_lines(lines: dict[str, dict[str, int]] | None, k: int) -> set[str]:
    """Line cells to withhold: every cell with 0 < count < k.

    Line cells are tied to no published total (a person may cross a line twice, or not at
    all), so no withheld cell can be recomputed and primary suppression is all there is; the
    cells still go through the same suppression entry point as the rest of the window.
    """
    if not lines:
        return set()
    names = [f"lines.{n}.{d}" for n, row in lines.items() for d in row]
    values = [v for row in lines.values() for v in row.values()]
    table = Table(tuple(names), tuple(values), np.zeros((0, len(names)), dtype=np.int8))
    return {names[i] for i in suppress(table, k)}


@dataclass(frozen=True, slots=True)
class Sealed:
    """A window ready for the outbox: its payload and how many cells were withheld."""

    payload: CountsPayload
    suppressed_cells: int


def seal(
    counts: WindowCounts,
    *,
    settings: NodeSettings,
    boot_id: str,
    seq: int,
    models: ModelIds,
    intervals: IntervalMaker | None = None,
) -> Sealed:
    """Apply small-count suppression and build the versioned counts payload; with
    ``intervals``, add the shares' intervals, computed from the published cells only."""
    k = settings.policy.k
    table = build_table(counts.people, counts.gender, counts.age_bands, counts.joint)
    withheld = suppress(
        table,
        k,
        cost=settings.policy.suppression_cost,
        protection=settings.policy.protection_level,
        time_limit_s=settings.policy.suppression_time_limit_ms / 1000,
    )
    hidden = {table.names[i] for i in withheld}
    hidden |= _suppressed_lines(counts.lines, k)

    def cell(name: str, value: int) -> int | None:
        return None if name in hidden else value

    gender = (
        {g: cell(f"gender.{g}", v) for g, v in counts.gender.items()} if counts.gender else None
    )
    bands = (
        {b: cell(f"age_bands.{b}", v) for b, v in counts.age_bands.items()}
        if counts.age_bands
        else None
    )
    joint = (
        {
            g: {b: cell(f"joint.{g}.{b}", v) for b, v in row.items()}
            for g, row in counts.joint.items()
        }
        if counts.joint
        else None
    )
    lines = (
        {
            name: {d: cell(f"lines.{name}.{d}", v) for d, v in row.items()}
            for name, row in counts.lines.items()
        }
        if counts.lines is not None
        else None
    )
    people = cell("people", counts.people)
    shares = (
        intervals.intervals(people, gender, bands)
        if intervals is not None and counts.gender is not None
        else None
    )
    schema = COUNTS_SCHEMA_ID if lines is None else COUNTS_SCHEMA_V2
    payload = CountsPayload.model_validate(
        {
            "schema": schema if shares is None else COUNTS_SCHEMA_V3,
            "node_id": settings.node.id,
            "boot_id": boot_id,
            "seq": seq,
            "window_start": utc(counts.window_start),
            "window_end": utc(counts.window_end),
            "people": people,
            "gender": gender,
            "age_bands": bands,
            "joint": joint,
            "lines": lines,
            "suppressed": sorted(hidden),
            "k": k,
            "policy_hash": settings.policy_hash(),
            "model": models,
            "intervals": shares,
        }
    )
    return Sealed(payload, len(hidden))
