"""The policy stage: purpose coverage and small-count suppression -> the published payload.

Pure functions of the config and the counts; the notice and the enforcement
read the same ``PolicyConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import NodeSettings
from edge.errors import ConfigError
from edge.payload import CountsPayload, ModelIds
from edge.privacy.suppression import build_table, suppress
from edge.types import WindowCounts, utc

# Which declared purpose covers each published field.
FIELD_PURPOSE = {
    "people": "footfall",
    "gender": "demographics",
    "age_bands": "demographics",
    "joint": "demographics",
}


def published_fields(settings: NodeSettings) -> list[str]:
    """The fields this node will publish: people always, demographics when declared."""
    fields = ["people"]
    if settings.policy.demographics:
        fields += ["gender", "age_bands", "joint"]
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
) -> Sealed:
    """Apply small-count suppression and build the versioned counts payload."""
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
    payload = CountsPayload.model_validate(
        {
            "schema": "kazoe.counts/1",
            "node_id": settings.node.id,
            "boot_id": boot_id,
            "seq": seq,
            "window_start": utc(counts.window_start),
            "window_end": utc(counts.window_end),
            "people": cell("people", counts.people),
            "gender": gender,
            "age_bands": bands,
            "joint": joint,
            "suppressed": sorted(hidden),
            "k": k,
            "policy_hash": settings.policy_hash(),
            "model": models,
        }
    )
    return Sealed(payload, len(hidden))
