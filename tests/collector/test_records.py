"""Every inbound payload is validated; what is wrong is rejected with a reason, never stored."""

from __future__ import annotations

import json

import pytest

from collector.errors import Rejected
from collector.records import NoticeUpdate, StatusUpdate, Window, parse
from edge.testing import sample_counts, sample_status
from simulator.fleet.collector_harness import sample_notice

LIMIT = 16384


def counts(**changes: object) -> bytes:
    return sample_counts("node-a", 7, **changes).to_json()


def test_a_valid_window_becomes_a_record_with_flattened_cells() -> None:
    record = parse("kazoe/v1/node-a/counts", counts(), received_ms=1, max_bytes=LIMIT)
    assert isinstance(record, Window)
    assert (record.node_id, record.seq, record.people) == ("node-a", 7, 12)
    assert record.cells["gender.female"] == 5
    assert record.cells["age_bands.30-39"] is None  # withheld stays unknown, not zero
    assert record.window_end_s - record.window_start_s == 60


def test_a_schema_2_window_carries_its_line_cells() -> None:
    payload = sample_counts(
        "node-a",
        7,
        schema="kazoe.counts/2",
        lines={"gate": {"in": 8, "out": None}},
        suppressed=["age_bands.30-39", "lines.gate.out"],
    ).to_json()
    record = parse("kazoe/v1/node-a/counts", payload, received_ms=1, max_bytes=LIMIT)
    assert isinstance(record, Window)
    assert record.cells["lines.gate.in"] == 8
    assert record.cells["lines.gate.out"] is None


def test_a_schema_3_window_keeps_its_intervals_and_its_cells() -> None:
    intervals = {
        "level": 0.9,
        "calibration": "fairface-default@58318882",
        "female_share": {"low": 30.0, "high": 60.0},
        "age_bands": {"20-29": {"low": 20.0, "high": 70.0}},
    }
    payload = sample_counts("node-a", 7, schema="kazoe.counts/3", intervals=intervals).to_json()
    record = parse("kazoe/v1/node-a/counts", payload, received_ms=1, max_bytes=LIMIT)
    assert isinstance(record, Window)
    assert record.cells["gender.female"] == 5
    assert not any(name.startswith("intervals") for name in record.cells)  # not a count
    assert json.loads(record.body)["intervals"] == intervals


def test_status_and_notice_are_recognised() -> None:
    status = parse(
        "kazoe/v1/node-a/status",
        sample_status("node-a", "offline").to_json(),
        received_ms=5,
        max_bytes=LIMIT,
    )
    assert isinstance(status, StatusUpdate)
    assert status.state == "offline"
    notice = parse(
        "kazoe/v1/node-a/notice",
        sample_notice("node-a", "north-gate"),
        received_ms=5,
        max_bytes=LIMIT,
    )
    assert isinstance(notice, NoticeUpdate)
    assert notice.site == "north-gate"


def test_an_empty_retained_notice_withdraws_it() -> None:
    notice = parse("kazoe/v1/node-a/notice", b"", received_ms=5, max_bytes=LIMIT)
    assert isinstance(notice, NoticeUpdate)
    assert notice.body is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("kazoe/v1/node-a/counts", b"not json", "malformed"),
        ("kazoe/v1/node-a/counts", b"", "malformed"),
        ("kazoe/v1/node-a/counts", b"[1, 2]", "malformed"),
        ("kazoe/v1/node-a/counts", counts().replace(b'"people":12', b'"people":-1'), "malformed"),
        ("kazoe/v1/node-a/counts", counts().replace(b'"seq":7', b'"seq":"7"'), "malformed"),
        (
            "kazoe/v1/node-a/counts",
            json.dumps({**json.loads(counts()), "face": "base64..."}).encode(),
            "malformed",
        ),
        ("kazoe/v1/node-b/counts", counts(), "mismatch"),
        ("kazoe/v1/node-a/status", sample_status("node-b").to_json(), "mismatch"),
        ("kazoe/v1/node-a/status", b'{"state": "online"}', "malformed"),
        ("kazoe/v1/node-a/notice", b"[]", "malformed"),
        ("kazoe/v1/node-a/notice", sample_notice("node-b"), "mismatch"),
        ("kazoe/v1/node-a/images", counts(), "topic"),
        ("kazoe/v2/node-a/counts", counts(), "topic"),
        ("kazoe/v1/Node A/counts", counts(), "topic"),
        ("kazoe/v1/node-a/counts", b"{" + b" " * LIMIT + b"}", "oversized"),
    ],
    ids=[
        "not-json",
        "empty",
        "array",
        "negative-count",
        "string-seq",
        "extra-field",
        "node-mismatch",
        "status-mismatch",
        "status-incomplete",
        "notice-array",
        "notice-mismatch",
        "unknown-leaf",
        "wrong-version",
        "bad-node-id",
        "oversized",
    ],
)
def test_bad_messages_are_rejected_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse(topic, payload, received_ms=1, max_bytes=LIMIT)
    assert caught.value.reason == reason
    assert str(caught.value)  # a line a human can read in the log


def test_a_window_that_ends_before_it_starts_is_rejected() -> None:
    payload = counts(
        window_start=sample_counts().window_end, window_end=sample_counts().window_start
    )
    with pytest.raises(Rejected, match="window_end"):
        parse("kazoe/v1/node-a/counts", payload, received_ms=1, max_bytes=LIMIT)
