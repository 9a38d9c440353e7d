"""Wire payloads: committed JSON Schemas match the models; what validates and what does not."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from edge.errors import PayloadError
from edge.payload import SCHEMAS, generated_schema, validate
from edge.testing import sample_counts, sample_status


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_the_model(name: str) -> None:
    committed = json.loads(resources.files("edge").joinpath("schemas", name).read_text("utf-8"))

    assert committed == generated_schema(SCHEMAS[name]), (
        f"edge/schemas/{name} is stale: run `python -m edge.payload --write`"
    )


def test_sample_counts_validate() -> None:
    doc = validate("counts.schema.json", sample_counts("node-a", 42).to_json())

    assert (doc["schema"], doc["node_id"], doc["seq"]) == ("kazoe.counts/1", "node-a", 42)
    assert doc["age_bands"]["30-39"] is None, "a suppressed cell is published as null"


def test_sample_status_validates() -> None:
    doc = validate(
        "status.schema.json", sample_status("node-a", "offline", reason="shutdown").to_json()
    )

    assert (doc["state"], doc["reason"]) == ("offline", "shutdown")


def mutate(change: dict[str, object], drop: str | None = None) -> bytes:
    doc = json.loads(sample_counts().to_json())
    doc.update(change)
    if drop:
        del doc[drop]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (mutate({"face_crop": "AAAA"}), "face_crop"),  # nothing per-person may be smuggled in
        (mutate({"schema": "kazoe.counts/2"}), "schema"),
        (mutate({"seq": 0}), "seq"),
        (mutate({"people": -1}), "people"),
        (mutate({"node_id": "Node A"}), "node_id"),
        (mutate({"gender": {"female": 1, "other": 2}}), "gender"),
        (mutate({}, drop="policy_hash"), "policy_hash"),
        (b"[]", "object"),
        (b"not json", "not JSON"),
    ],
    ids=[
        "extra-field",
        "schema-id",
        "seq-zero",
        "negative",
        "node-id",
        "gender-key",
        "missing",
        "array",
        "text",
    ],
)
def test_invalid_counts_are_rejected_with_the_place(payload: bytes, where: str) -> None:
    with pytest.raises(PayloadError, match=where):
        validate("counts.schema.json", payload)


def test_withheld_people_count_is_an_explicit_null() -> None:
    payload = sample_counts(people=None, suppressed=["people"]).to_json()

    assert validate("counts.schema.json", payload)["people"] is None


INTERVALS = {
    "level": 0.9,
    "calibration": "fairface-default@01234567",
    "female_share": {"low": 40.0, "high": 62.5},
    "age_bands": {"20-29": {"low": 10.0, "high": 35.0}},
}


def test_schema_3_carries_intervals_and_a_v2_window_with_lines_may_too() -> None:
    doc = validate(
        "counts.schema.json", mutate({"schema": "kazoe.counts/3", "intervals": INTERVALS})
    )
    assert doc["intervals"]["female_share"] == {"low": 40.0, "high": 62.5}
    lines = {"door": {"in": 5, "out": 7}}
    both = mutate({"schema": "kazoe.counts/3", "intervals": INTERVALS, "lines": lines})
    assert validate("counts.schema.json", both)["lines"] == lines
    # Older windows stay valid: /1 without lines or intervals, /2 with lines.
    assert validate("counts.schema.json", mutate({}))["schema"] == "kazoe.counts/1"
    v2 = mutate({"schema": "kazoe.counts/2", "lines": lines})
    assert validate("counts.schema.json", v2)["schema"] == "kazoe.counts/2"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"intervals": INTERVALS}, "kazoe.counts/3"),  # intervals under /1
        ({"schema": "kazoe.counts/3"}, "carries 'intervals'"),  # /3 without them
        (
            {
                "schema": "kazoe.counts/3",
                "intervals": {**INTERVALS, "female_share": {"low": 70, "high": 20}},
            },
            "low <= high",
        ),
        (
            {
                "schema": "kazoe.counts/3",
                "intervals": {**INTERVALS, "female_share": {"low": 0, "high": 120}},
            },
            "female_share",
        ),
        ({"schema": "kazoe.counts/3", "intervals": {**INTERVALS, "level": 1.5}}, "level"),
        # A list of numbers is not an interval: nothing on the wire is a list of numbers.
        (
            {"schema": "kazoe.counts/3", "intervals": {**INTERVALS, "female_share": [20, 70]}},
            "female_share",
        ),
    ],
    ids=["intervals-under-1", "v3-without", "reversed", "over-100", "level", "a-list"],
)
def test_malformed_intervals_are_rejected(change: dict[str, object], where: str) -> None:
    with pytest.raises(PayloadError, match=where):
        validate("counts.schema.json", mutate(change))
