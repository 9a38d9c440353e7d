"""Stored history for range and export tests: hourly windows going back weeks, written
through the collector's own parser and writer (no broker), so the hourly sums are real."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from collector.db import Database
from collector.migrations import migrate
from collector.records import Record, parse
from collector.store import write_batch
from edge.testing import sample_counts, sample_status
from simulator.fleet.collector_harness import sample_notice

LIMIT = 1 << 20


def people_at(node_id: str, start: datetime) -> int:
    """A daily rhythm per node: busy at noon, quiet at night (always at least 10)."""
    busy = 12 - abs(start.hour - 12)
    return 10 + busy * (2 + int(node_id[-1])) + start.day % 5


def window_payload(node_id: str, seq: int, start: datetime) -> bytes:
    """A ten-minute window: band 13-19 withheld at the node, a small 'unknown' gender."""
    people = people_at(node_id, start)
    female = people // 2
    return sample_counts(
        node_id,
        seq,
        window_start=start,
        window_end=start + timedelta(minutes=10),
        people=people,
        gender={"female": female, "male": people - female - 1, "unknown": None},
        age_bands={"13-19": None, "20-29": people - 8, "30-39": 8, "70+": 0},
        suppressed=["age_bands.13-19", "gender.unknown"],
    ).to_json()


def seed(
    url: str,
    sites: Mapping[str, str],
    *,
    now: datetime,
    hours: int,
    skip_node_hours: Mapping[str, range] | None = None,
    online: bool = False,
) -> dict[str, list[datetime]]:
    """One window per node per hour for the ``hours`` hours up to ``now``; returns their starts.

    ``skip_node_hours[node]`` lists hour offsets (0 = the current hour) without a window;
    ``online`` adds each node's birth status.
    """
    db = Database(url)
    conn = db.connect()
    try:
        migrate(conn)
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        records: list[Record] = []
        starts: dict[str, list[datetime]] = {}
        received = int(now.timestamp() * 1000)
        for node_id, site in sites.items():
            topic = f"kazoe/v1/{node_id}"
            records.append(
                parse(
                    f"{topic}/notice",
                    sample_notice(node_id, site),
                    received_ms=received,
                    max_bytes=LIMIT,
                )
            )
            if online:
                status = sample_status(node_id, "online", fps=12.5, uptime_s=3600.0).to_json()
                records.append(
                    parse(f"{topic}/status", status, received_ms=received, max_bytes=LIMIT)
                )
            skipped = (skip_node_hours or {}).get(node_id, range(0))
            for offset in range(hours - 1, -1, -1):
                if offset in skipped:
                    continue
                start = this_hour - timedelta(hours=offset)
                seq = hours - offset
                payload = window_payload(node_id, seq, start)
                records.append(
                    parse(f"{topic}/counts", payload, received_ms=received, max_bytes=LIMIT)
                )
                starts.setdefault(node_id, []).append(start)
        write_batch(conn, records, lambda _node: None, now_ms=received)
        return starts
    finally:
        conn.close()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
