"""Fuzzing every MQTT message consumer: the payload validator, the watch view and the
recorder. Any bytes on any topic are handled or counted as bad, never a crash."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from edge.errors import PayloadError
from edge.ops.watch import WatchState, render_table
from edge.payload import validate
from edge.testing import sample_counts, sample_status
from simulator.scoring.record import Recorder
from tests.fuzz.strategies import messages, mutated_documents, nested

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = 1_767_258_000.0
SCHEMAS = ("counts.schema.json", "status.schema.json")
# json.loads recurses: deeper nesting is a known bug, pinned below.
SHALLOW = 50


def strict_json(line: str) -> Any:
    """Parse as standard JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


def known_bug(payload: bytes) -> bool:
    """Inputs of the bugs pinned at the end of this file (kept out of the broad fuzzers)."""
    if depth(payload) >= SHALLOW:
        return True
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    for key in ("window_start", "window_end"):
        if isinstance(doc.get(key), str):
            try:
                datetime.fromisoformat(doc[key])
            except ValueError:
                return True
    return False


def depth(data: bytes) -> int:
    deepest = level = 0
    for byte in data:
        if byte in b"[{":
            level += 1
            deepest = max(deepest, level)
        elif byte in b"]}":
            level -= 1
    return deepest


# -- edge.payload.validate ---------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(SCHEMAS), data=st.binary(max_size=300))
@example(name="counts.schema.json", data=b"\xff\xfe")
@example(name="counts.schema.json", data=b"NaN")
@example(name="status.schema.json", data=b"1" * 5000)  # past int()'s digit limit
def test_validate_returns_an_object_or_raises_payload_error(name: str, data: bytes) -> None:
    try:
        doc = validate(name, data)
    except PayloadError:
        return  # the one way a consumer is told "bad message"
    assert isinstance(doc, dict)


@FUZZ
@given(mutated=mutated_documents())
def test_validate_judges_mutated_messages_without_crashing(mutated: tuple[str, bytes]) -> None:
    leaf, body = mutated
    try:
        doc = validate(f"{leaf}.schema.json", body)
    except PayloadError:
        event("mutated message rejected")
        return
    event("mutated message still valid")
    # "schema" may be absent (it has a default in the model), never another version.
    assert doc.get("schema", f"kazoe.{leaf}/1") == f"kazoe.{leaf}/1"


# -- the watch view ------------------------------------------------------------------------


@FUZZ
@given(stream=st.lists(messages(), min_size=1, max_size=12))
def test_watch_state_counts_every_bad_message_and_keeps_drawing(
    stream: list[tuple[str, bytes]],
) -> None:
    assume(not any(known_bug(payload) for _, payload in stream))
    state = WatchState()
    rejected = 0

    for topic, payload in stream:
        try:
            state.apply(topic, payload, NOW)
        except PayloadError:
            rejected += 1

    assert state.malformed == rejected
    event(f"some accepted: {rejected < len(stream)}")
    screen = render_table(state, NOW + 5)
    assert f"{len(state.nodes)} node(s)" in screen
    # A valid window still gets through after any amount of garbage.
    state.apply("kazoe/v1/node-z/counts", sample_counts("node-z", 7).to_json(), NOW)
    assert "node-z" in render_table(state, NOW)


# -- the recorder --------------------------------------------------------------------------


@FUZZ
@given(stream=st.lists(messages(), min_size=1, max_size=12))
def test_recorder_stores_only_valid_windows_and_counts_the_rest(
    stream: list[tuple[str, bytes]],
) -> None:
    assume(not any(known_bug(payload) for _, payload in stream))
    out = io.StringIO()
    recorder = Recorder(out)

    outcomes = [recorder.handle(topic, payload) for topic, payload in stream]
    event(f"some stored: {recorder.stats.stored > 0}")

    stats = recorder.stats
    assert stats.received == len(stream)
    assert stats.invalid == outcomes.count("invalid")
    assert stats.stored + stats.duplicates + stats.invalid == stats.received
    lines = out.getvalue().splitlines()
    assert len(lines) == stats.stored
    for line in lines:
        record = strict_json(line)
        validate("counts.schema.json", json.dumps(record["payload"]))
        assert record["topic"].split("/")[2] == record["payload"]["node_id"]
        assert datetime.fromisoformat(record["payload"]["window_end"])


# -- bugs the fuzzers found (strict xfails: they turn red once fixed; drop the xfail) -----

DEEP = nested(5000)  # 10 kB: well inside the broker's 32 KiB packet limit


def test_validate_rejects_deeply_nested_json() -> None:
    with pytest.raises(PayloadError):
        validate("counts.schema.json", DEEP)


def test_recorder_counts_deeply_nested_json_as_invalid() -> None:
    recorder = Recorder(io.StringIO())

    assert recorder.handle("kazoe/v1/node-a/counts", DEEP) == "invalid"
    assert recorder.stats.invalid == 1


def test_watch_counts_deeply_nested_json_as_malformed() -> None:
    state = WatchState()

    with pytest.raises(PayloadError):
        state.apply("kazoe/v1/node-a/status", DEEP, NOW)
    assert state.malformed == 1


def counts_with_window_end(value: str) -> bytes:
    doc = json.loads(sample_counts("node-a", 1).to_json())
    doc["window_end"] = value
    return json.dumps(doc).encode()


BAD_DATE = counts_with_window_end("")  # the input the watch fuzzer found


def test_validate_rejects_a_window_end_that_is_not_a_date() -> None:
    with pytest.raises(PayloadError):
        validate("counts.schema.json", BAD_DATE)


def test_watch_counts_a_window_end_that_is_not_a_date_as_malformed() -> None:
    state = WatchState()

    with pytest.raises(PayloadError):
        state.apply("kazoe/v1/node-a/counts", BAD_DATE, NOW)
    assert state.malformed == 1


def test_recorder_refuses_a_window_end_that_is_not_a_date() -> None:
    recorder = Recorder(io.StringIO())

    assert recorder.handle("kazoe/v1/node-a/counts", BAD_DATE) == "invalid"


def test_valid_status_and_counts_still_render() -> None:
    # The baseline the fuzzers compare against: real messages show up in the table.
    state = WatchState()
    state.apply("kazoe/v1/node-a/status", sample_status("node-a").to_json(), NOW)
    state.apply("kazoe/v1/node-a/counts", sample_counts("node-a", 3).to_json(), NOW)

    screen = render_table(state, NOW)

    assert "node-a" in screen
    assert "online" in screen
