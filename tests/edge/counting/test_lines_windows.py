"""Counting lines end to end on the node side: tracks -> windows -> sealed kazoe.counts/2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.config import AggregateConfig, NodeSettings, parse_config
from edge.counting.aggregator import Aggregator
from edge.errors import PayloadError
from edge.payload import ModelIds, validate
from edge.privacy.policy import published_fields, seal
from edge.types import FinishedTrack, WindowCounts

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp()
BOOT = "0123456789abcdef0123456789abcdef"
MODELS = ModelIds(detector="face_detection_full_range@99bf9494")
LINES = """
[[counting.lines]]
name = "gate"
start = [0.5, 0.0]
end = [0.5, 1.0]
[[counting.lines]]
name = "kerb"
start = [0.0, 0.8]
end = [1.0, 0.8]
"""


def settings(lines: str = LINES, k: int = 3) -> NodeSettings:
    text = (
        '[node]\nid = "cam-01"\n[source]\nuri = "street.mp4"\n'
        f'[policy]\npurposes = ["footfall"]\nk = {k}\n' + lines
    )
    return parse_config(text, Path("node.toml"))


def person(ended_at: float, crossings: tuple[tuple[int, int], ...]) -> FinishedTrack:
    return FinishedTrack(T0, ended_at, 10, None, None, crossings)


def test_crossings_are_summed_per_line_and_direction_in_the_track_end_window() -> None:
    agg = Aggregator(
        AggregateConfig(), demographics=False, gender_margin=0.1, lines=("gate", "kerb")
    )
    for crossings in [((1, 0), (0, 0))] * 4 + [((0, 1), (1, 0)), ((0, 0), (0, 0))]:
        agg.add(person(T0 + 10, crossings))
    agg.add(person(T0 + 70, ((1, 0), (0, 0))))  # next window
    first, second = agg.advance(T0 + 200)[:2]
    assert first.people == 6
    assert first.lines == {"gate": {"in": 4, "out": 1}, "kerb": {"in": 1, "out": 0}}
    assert second.lines == {"gate": {"in": 1, "out": 0}, "kerb": {"in": 0, "out": 0}}


def test_no_lines_configured_means_no_lines_table() -> None:
    agg = Aggregator(AggregateConfig(), demographics=False, gender_margin=0.1)
    agg.add(person(T0 + 10, ()))
    (window, *_) = agg.advance(T0 + 200)
    assert window.lines is None


def counts(lines: dict[str, dict[str, int]] | None, people: int = 9) -> WindowCounts:
    return WindowCounts(T0, T0 + 60, people, None, None, None, lines)


def test_sealed_lines_are_schema_2_with_small_cells_withheld() -> None:
    sealed = seal(
        counts({"gate": {"in": 5, "out": 2}, "kerb": {"in": 0, "out": 3}}),
        settings=settings(),
        boot_id=BOOT,
        seq=1,
        models=MODELS,
    )
    doc = validate("counts.schema.json", sealed.payload.to_json())
    assert doc["schema"] == "kazoe.counts/2"
    assert doc["lines"] == {"gate": {"in": 5, "out": None}, "kerb": {"in": 0, "out": 3}}
    assert doc["suppressed"] == ["lines.gate.out"]
    assert sealed.suppressed_cells == 1
    assert doc["people"] == 9


def test_a_node_without_lines_still_sends_schema_1() -> None:
    sealed = seal(counts(None), settings=settings(lines=""), boot_id=BOOT, seq=1, models=MODELS)
    doc = validate("counts.schema.json", sealed.payload.to_json())
    assert doc["schema"] == "kazoe.counts/1"
    assert "lines" not in doc


def test_lines_are_a_published_field_under_footfall() -> None:
    assert published_fields(settings()) == ["people", "lines"]
    assert published_fields(settings(lines="")) == ["people"]


@pytest.mark.parametrize(
    ("schema", "lines"),
    [("kazoe.counts/1", {"gate": {"in": 1, "out": 0}}), ("kazoe.counts/2", None)],
)
def test_lines_and_schema_version_go_together(
    schema: str, lines: dict[str, dict[str, int]] | None
) -> None:
    body = seal(
        counts({"gate": {"in": 5, "out": 5}}),
        settings=settings(),
        boot_id=BOOT,
        seq=1,
        models=MODELS,
    ).payload.model_dump(mode="json", by_alias=True)
    body["schema"] = schema
    body["lines"] = lines
    with pytest.raises(PayloadError, match=r"kazoe\.counts/2"):
        validate("counts.schema.json", json.dumps(body))


def test_a_person_outside_every_zone_is_not_counted() -> None:
    agg = Aggregator(AggregateConfig(), demographics=True, gender_margin=0.1)
    agg.add(FinishedTrack(T0, T0 + 10, 10, 30.0, 0.9, (), in_zone=True))
    agg.add(FinishedTrack(T0, T0 + 10, 10, 30.0, 0.9, (), in_zone=False))
    (window, *_) = agg.advance(T0 + 200)
    assert window.people == 1
    assert window.gender == {"female": 0, "male": 1, "unknown": 0}
