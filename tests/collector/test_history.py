"""History ranges and exports: which hours a range covers, roll-ups per bucket with
suppression re-applied, CSV/JSON rows, and one clear error for a bad range."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import history
from collector.db import Database
from collector.history import (
    RangeError,
    export_rows,
    history_doc,
    parse_export,
    parse_range,
    to_csv,
)
from collector.rollup import roll_up
from simulator.brokers.dev import DevBroker
from tests.collector.history_seed import people_at, seed, utc
from tests.collector.test_web import dashboard, request

NOW = utc(2026, 3, 10, 14, 25)
SITES = {"node-01": "north-gate", "node-02": "north-gate", "node-03": "station"}
K = 5


def ts(*args: int) -> int:
    return int(utc(*args).timestamp())


@pytest.mark.parametrize(
    ("query", "start", "end", "bucket_s"),
    [
        ({}, ts(2026, 3, 9, 15), ts(2026, 3, 10, 15), 3600),
        ({"range": "24h"}, ts(2026, 3, 9, 15), ts(2026, 3, 10, 15), 3600),
        ({"range": "7d"}, ts(2026, 3, 3, 18), ts(2026, 3, 10, 18), 6 * 3600),
        ({"range": "30d"}, ts(2026, 2, 9), ts(2026, 3, 11), 86400),
        ({"range": "30d", "bucket": "hour"}, ts(2026, 2, 8, 15), ts(2026, 3, 10, 15), 3600),
        ({"range": "day", "day": "2026-03-01"}, ts(2026, 3, 1), ts(2026, 3, 2), 3600),
        ({"from": "2026-03-01", "until": "2026-03-03"}, ts(2026, 3, 1), ts(2026, 3, 3), 3600),
        # Explicit bounds widen to whole buckets (the collector stores hours).
        (
            {"from": "2026-03-01T09:30:00+09:00", "until": "2026-03-01T11:10:00Z"},
            ts(2026, 3, 1, 0),
            ts(2026, 3, 1, 12),
            3600,
        ),
        (
            {"from": "2026-01-01", "until": "2026-03-01", "bucket": "day"},
            ts(2026, 1, 1),
            ts(2026, 3, 1),
            86400,
        ),
    ],
)
def test_a_range_covers_whole_buckets(
    query: dict[str, str], start: int, end: int, bucket_s: int
) -> None:
    span = parse_range(query, NOW.timestamp(), explicit=True)
    assert (span.start_s, span.end_s, span.bucket_s) == (start, end, bucket_s)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"range": "week"}, "range must be one of 24h, 7d, 30d, day, not 'week'"),
        ({"range": "day"}, "range=day needs day=YYYY-MM-DD"),
        ({"range": "day", "day": "2026-13-01"}, "day must be a date such as 2026-03-01"),
        ({"from": "2026-03-01"}, "needs both 'from' and 'until'"),
        ({"from": "yesterday", "until": "2026-03-01"}, "from must be an RFC 3339 time"),
        ({"from": "2026-03-01T09:00:00", "until": "2026-03-02"}, "from needs a time zone"),
        ({"from": "2026-03-02", "until": "2026-03-01"}, "the range is empty"),
        (
            {"from": "2026-01-01", "until": "2026-03-01"},
            "the range is too large: 59 days in hour buckets",
        ),
        ({"from": "2024-01-01", "until": "2026-03-01", "bucket": "day"}, "the range is too large"),
        ({"range": "7d", "bucket": "minute"}, "bucket must be one of hour, 6h, day"),
        ({"range": "7d", "from": "2026-03-01"}, "either range=... or from=/until="),
        ({"range": "7d", "by": "camera"}, "by must be 'site' or 'node'"),
        ({"range": "7d", "format": "xlsx"}, "format must be 'csv' or 'json'"),
    ],
)
def test_a_bad_range_is_one_clear_error(query: dict[str, str], message: str) -> None:
    with pytest.raises(
        RangeError, match=message.replace("(", r"\(").replace(".", r"\.").replace("+", r"\+")
    ):
        parse_export(query, NOW.timestamp())


@pytest.fixture
def stored(database_url: str) -> Iterator[Database]:
    # Node 3 has no windows during the last three hours; everything else, one per hour.
    seed(database_url, SITES, now=NOW, hours=30 * 24, skip_node_hours={"node-03": range(3)})
    db = Database(database_url)
    yield db
    db.close()


def expected(nodes: list[str], start: int, end: int) -> dict[str, int]:
    """What the published windows of ``nodes`` in [start, end) add up to."""
    out = {"windows": 0, "people": 0, "female": 0}
    for node_id in nodes:
        hour = datetime.fromtimestamp(start, tz=NOW.tzinfo)
        while hour.timestamp() < end:
            gap = int((NOW.replace(minute=0) - hour).total_seconds() // 3600)
            if 0 <= gap < 30 * 24 and not (node_id == "node-03" and gap < 3):
                people = people_at(node_id, hour)
                out["windows"] += 1
                out["people"] += people
                out["female"] += people // 2
            hour += timedelta(hours=1)
    return out


def members(key: str) -> list[str]:
    return [n for n, s in SITES.items() if s == key] or [key]


def check(key: str, start: int, end: int, rollup: dict[str, Any]) -> None:
    want = expected(members(key), start, end)
    assert rollup["windows"] == want["windows"]
    if want["windows"] == 0:
        assert rollup["people"] == 0
        return
    # Withheld at the node means unknown in every roll-up; the rest are exact sums.
    assert rollup["gender"]["unknown"] is None
    assert rollup["age_bands"]["13-19"] is None
    assert {"gender.unknown", "age_bands.13-19"} <= set(rollup["withheld"])
    for name, value in (("people", rollup["people"]), ("female", rollup["gender"]["female"])):
        assert value in (None, want[name]), name
    # people = female + male + unknown with unknown withheld: a second gender cell must go
    # too, or the withheld one could be recomputed.
    shown = [v for v in rollup["gender"].values() if v is not None]
    assert not (rollup["people"] is not None and len(shown) == 2)


@pytest.mark.parametrize("name", ["24h", "7d", "30d"])
def test_history_rolls_up_every_bucket_per_site_and_node(stored: Database, name: str) -> None:
    span = parse_range({"range": name}, NOW.timestamp())
    with stored.reader() as conn:
        doc = history_doc(conn, span, k=K, node_id="node-03")
    assert [s["site"] for s in doc["sites"]] == ["north-gate", "station"]
    assert [n["node_id"] for n in doc["nodes"]] == list(SITES)
    for site in doc["sites"]:
        assert len(site["buckets"]) == len(span.buckets)
        check(site["site"], span.start_s, span.end_s, site["total"])
        for bucket, start in zip(site["buckets"], span.buckets, strict=True):
            want = expected(members(site["site"]), start, start + span.bucket_s)
            assert bucket["windows"] == want["windows"]
            assert bucket["people"] in (None, want["people"])
    for node in doc["nodes"]:
        check(node["node_id"], span.start_s, span.end_s, node["total"])
    node = doc["node"]
    assert node["site"] == "station"
    assert [b["people"] for b in node["buckets"]] == [
        expected(["node-03"], s, s + span.bucket_s)["people"] for s in span.buckets
    ]


def test_a_chosen_day_has_its_24_hours(stored: Database) -> None:
    span = parse_range({"range": "day", "day": "2026-03-01"}, NOW.timestamp())
    with stored.reader() as conn:
        doc = history_doc(conn, span, k=K)
    station = doc["sites"][1]
    assert [b["start"] for b in station["buckets"]][:2] == [
        "2026-03-01T00:00:00Z",
        "2026-03-01T01:00:00Z",
    ]
    published = [b["people"] for b in station["buckets"]]
    truth = [people_at("node-03", utc(2026, 3, 1, h)) for h in range(24)]
    # A bucket's total may be withheld to protect a small cell (complementary suppression);
    # every published one is right, and most are published.
    assert all(p in (None, t) for p, t in zip(published, truth, strict=True))
    assert sum(p is not None for p in published) >= 20


def test_export_rows_match_as_json_and_csv(stored: Database) -> None:
    span = parse_range({"range": "7d"}, NOW.timestamp())
    with stored.reader() as conn:
        rows = export_rows(conn, span, group="node", k=K)
    # Every node-bucket that had windows, oldest first; node-03's empty last bucket absent.
    assert len(rows) == 3 * 28 - 1
    assert [r.start_s for r in rows] == sorted(r.start_s for r in rows)
    for row in rows:
        check(row.key, row.start_s, row.end_s, row.rollup.to_json())
    table = list(csv.DictReader(io.StringIO(to_csv(rows, "node"))))
    assert len(table) == len(rows)
    head = list(table[0])
    assert head[:6] == ["node_id", "site", "from", "until", "windows", "people"]
    assert "gender.female" in head
    assert (
        head.index("age_bands.13-19") < head.index("age_bands.20-29") < head.index("age_bands.70+")
    )
    for line, row in zip(table, rows, strict=True):
        doc = row.to_json()
        assert (line["node_id"], line["site"], line["from"]) == (
            doc["node_id"],
            doc["site"],
            doc["from"],
        )
        assert line["people"] == ("" if doc["people"] is None else str(doc["people"]))
        assert line["age_bands.13-19"] == ""  # withheld: empty, and named
        assert "age_bands.13-19" in line["withheld"].split(";")
        assert line["age_bands.30-39"] == str(doc["age_bands"]["30-39"] or "")


def test_export_filters_by_site_and_node(stored: Database) -> None:
    span = parse_range({"range": "day", "day": "2026-03-05"}, NOW.timestamp())
    with stored.reader() as conn:
        by_site = export_rows(conn, span, group="site", k=K, site="station")
        one = export_rows(conn, span, group="node", k=K, node_id="node-02")
    assert {r.key for r in by_site} == {"station"}
    assert len(by_site) == 24
    assert {(r.key, r.site) for r in one} == {("node-02", "north-gate")}


def test_an_export_larger_than_the_row_limit_is_refused(
    stored: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_EXPORT_ROWS", 3 * 24 - 1)
    span = parse_range({"range": "24h"}, NOW.timestamp())
    with stored.reader() as conn:
        assert len(export_rows(conn, span, group="site", k=K)) == 2 * 24 - 3
        with pytest.raises(RangeError, match=r"export is too large: 3 nodes x 24 buckets"):
            export_rows(conn, span, group="node", k=K)


def test_a_site_name_cannot_start_a_spreadsheet_formula() -> None:
    row = history.ExportRow("site", "=HYPERLINK(1)", "=HYPERLINK(1)", 0, 3600, roll_up({}, K))
    assert to_csv([row], "site").splitlines()[1].startswith("'=HYPERLINK(1)")


@pytest.mark.integration
def test_the_endpoints_answer_a_bad_query_with_one_error(
    fleet_broker: DevBroker, tmp_path: Path
) -> None:
    seed(str(tmp_path / "c.db"), SITES, now=datetime.now(tz=UTC), hours=48)
    with dashboard(fleet_broker, tmp_path) as c:
        port = c.http_port
        assert port is not None
        status, headers, body = request(port, "/api/export?range=24h&format=csv&by=node")
        assert status == 200
        assert headers["content-type"] == "text/csv; charset=utf-8"
        assert headers["content-disposition"].startswith('attachment; filename="kazoe-nodes-')
        assert body.decode().startswith("node_id,site,from,until,windows,people,")
        assert len(body.decode().splitlines()) == 1 + 3 * 24
        for path, message in (
            ("/api/export?range=24h&form=2026-01-01", "unknown parameter 'form'"),
            ("/api/export?range=24h&range=7d", "each parameter may be given once"),
            ("/api/export?from=2026-03-01&until=tomorrow", "until must be an RFC 3339 time"),
            ("/api/history?range=day&day=01-03-2026", "day must be a date such as 2026-03-01"),
            ("/api/history?from=2026-03-01&until=2026-03-02", "unknown parameter 'from'"),
        ):
            status, _, body = request(port, path)
            assert status == 400, path
            assert message in json.loads(body)["error"], path
