"""The policy stage: purpose coverage, then sealed payloads that match the published schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.config import NodeSettings, parse_config
from edge.errors import ConfigError
from edge.payload import ModelIds, validate
from edge.privacy.policy import Sealed, check_purpose_coverage, published_fields, seal
from edge.types import WindowCounts

BOOT_ID = "0123456789abcdef0123456789abcdef"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp()
BANDS = ("0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
FULL_MODELS = ModelIds(
    detector="face_detection_full_range@99bf9494",
    age="age-v1@4f9f0075",
    gender="gender-v1@d4c4116c",
)
FOOTFALL_MODELS = ModelIds(detector="face_detection_full_range@99bf9494")


def settings_for(*purposes: str, k: int = 5) -> NodeSettings:
    listed = ", ".join(f'"{p}"' for p in purposes)
    text = (
        '[node]\nid = "cam-01"\n[source]\nuri = "street.mp4"\n'
        f"[policy]\npurposes = [{listed}]\nk = {k}\n"
    )
    return parse_config(text, Path("node.toml"))


def demographic_counts(joint: dict[str, dict[str, int]]) -> WindowCounts:
    full = {
        g: {b: joint.get(g, {}).get(b, 0) for b in BANDS} for g in ("female", "male", "unknown")
    }
    return WindowCounts(
        window_start=START,
        window_end=START + 60,
        people=sum(sum(row.values()) for row in full.values()),
        gender={g: sum(row.values()) for g, row in full.items()},
        age_bands={b: sum(full[g][b] for g in full) for b in BANDS},
        joint=full,
    )


def footfall_counts(people: int) -> WindowCounts:
    return WindowCounts(START, START + 60, people, None, None, None)


def sealed_json(sealed: Sealed) -> dict[str, Any]:
    """The bytes that would go on the wire, validated against the committed schema."""
    return validate("counts.schema.json", sealed.payload.to_json())


def test_large_cells_are_published_as_is() -> None:
    counts = demographic_counts(
        {"female": {"20-29": 6, "30-39": 7}, "male": {"20-29": 8, "30-39": 9}}
    )
    sealed = seal(
        counts,
        settings=settings_for("footfall", "demographics"),
        boot_id=BOOT_ID,
        seq=7,
        models=FULL_MODELS,
    )
    doc = sealed_json(sealed)
    assert sealed.suppressed_cells == 0
    assert doc["suppressed"] == []
    assert doc["people"] == 30
    assert doc["gender"] == {"female": 13, "male": 17, "unknown": 0}
    assert doc["age_bands"]["20-29"] == 14
    assert doc["joint"]["male"]["30-39"] == 9
    assert doc["seq"] == 7
    assert doc["k"] == 5
    assert doc["window_start"] == "2026-01-01T09:00:00Z"
    assert doc["window_end"] == "2026-01-01T09:01:00Z"
    assert doc["policy_hash"] == settings_for("footfall", "demographics").policy_hash()
    assert doc["model"]["age"] == "age-v1@4f9f0075"


def test_suppressed_cells_are_null_and_listed() -> None:
    counts = demographic_counts(
        {"female": {"20-29": 2, "30-39": 10}, "male": {"20-29": 10, "30-39": 10}}
    )
    sealed = seal(
        counts,
        settings=settings_for("footfall", "demographics"),
        boot_id=BOOT_ID,
        seq=1,
        models=FULL_MODELS,
    )
    doc = sealed_json(sealed)
    assert "joint.female.20-29" in doc["suppressed"]
    assert sealed.suppressed_cells == len(doc["suppressed"]) >= 4
    for name in doc["suppressed"]:
        section, *path = name.split(".")
        value: Any = doc[section]
        for part in path:
            value = value[part]
        assert value is None, f"{name} is listed as suppressed but published as {value}"
    assert doc["joint"]["female"]["40-49"] == 0, "zero is published as zero"
    assert 2 not in doc["joint"]["female"].values(), "the small count itself never appears"


def test_footfall_only_payload_has_no_demographic_keys() -> None:
    sealed = seal(
        footfall_counts(12),
        settings=settings_for("footfall"),
        boot_id=BOOT_ID,
        seq=3,
        models=FOOTFALL_MODELS,
    )
    doc = sealed_json(sealed)
    assert doc["people"] == 12
    assert doc["suppressed"] == []
    for key in ("gender", "age_bands", "joint"):
        assert key not in doc
    assert doc["model"]["detector"] == "face_detection_full_range@99bf9494"
    assert doc["model"].get("age") is None
    assert doc["model"].get("gender") is None


def test_small_footfall_count_is_published_as_null() -> None:
    """A withheld headline count is an explicit null on the wire, not a missing key."""
    sealed = seal(
        footfall_counts(3),
        settings=settings_for("footfall"),
        boot_id=BOOT_ID,
        seq=1,
        models=FOOTFALL_MODELS,
    )
    assert sealed.payload.people is None
    assert sealed.suppressed_cells == 1
    doc = sealed_json(sealed)
    assert doc["people"] is None
    assert doc["suppressed"] == ["people"]


def test_small_demographic_window_is_published_with_null_people() -> None:
    """Any window with 0 < people < k withholds people; the message still matches the schema."""
    counts = demographic_counts({"female": {"20-29": 1}, "male": {"30-39": 2}})
    sealed = seal(
        counts,
        settings=settings_for("footfall", "demographics"),
        boot_id=BOOT_ID,
        seq=1,
        models=FULL_MODELS,
    )
    assert "people" in {*sealed.payload.suppressed}
    doc = sealed_json(sealed)
    assert doc["people"] is None


def test_empty_window_is_all_zero_and_nothing_suppressed() -> None:
    sealed = seal(
        demographic_counts({}),
        settings=settings_for("footfall", "demographics"),
        boot_id=BOOT_ID,
        seq=1,
        models=FULL_MODELS,
    )
    doc = sealed_json(sealed)
    assert doc["people"] == 0
    assert doc["suppressed"] == []
    assert set(doc["gender"].values()) == {0}


@pytest.mark.parametrize(
    ("purposes", "fields"),
    [
        (("footfall",), ["people"]),
        (("footfall", "demographics"), ["people", "gender", "age_bands", "joint"]),
        (("demographics", "footfall"), ["people", "gender", "age_bands", "joint"]),
    ],
)
def test_covered_purposes_pass(purposes: tuple[str, ...], fields: list[str]) -> None:
    settings = settings_for(*purposes)
    check_purpose_coverage(settings)
    assert published_fields(settings) == fields


def test_missing_footfall_purpose_refuses_to_start() -> None:
    settings = settings_for("demographics")
    with pytest.raises(
        ConfigError, match=r"^policy\.purposes: field 'people' .* needs purpose 'footfall'"
    ):
        check_purpose_coverage(settings)


def test_suppression_cost_key_reaches_the_sealed_window() -> None:
    # Two 1-person joint cells at k = 2: 4 withheld joint cells cost one person more than 6.
    joint = {
        "female": {"0-12": 1, "13-19": 7, "20-29": 11},
        "male": {"0-12": 4, "13-19": 5, "20-29": 8},
        "unknown": {"0-12": 11, "13-19": 2, "20-29": 1},
    }
    counts = demographic_counts(joint)
    by_cost = {}
    for cost in ("counts", "cells"):
        base = settings_for("footfall", "demographics", k=2)
        policy = base.policy.model_copy(update={"suppression_cost": cost})
        cfg = base.model_copy(update={"policy": policy})
        sealed = seal(counts, settings=cfg, boot_id=BOOT_ID, seq=1, models=FULL_MODELS)
        by_cost[cost] = sealed.payload.suppressed
        assert "joint.female.0-12" in sealed.payload.suppressed
    assert len(by_cost["cells"]) < len(by_cost["counts"])
