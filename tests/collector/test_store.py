"""Storage on SQLite and PostgreSQL: migrations, exactly-once windows, node state, retention.

Drives the writer directly with inbound messages (no broker), so each case is
about what ends up in the database and what gets acknowledged.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector import store
from collector.config import CollectorSettings
from collector.db import Database
from collector.errors import StoreUnavailable
from collector.metrics import Metrics
from collector.migrations import available, migrate
from collector.queries import count_windows, nodes, site_hours
from collector.records import parse
from collector.rollup import roll_up
from collector.store import hour_of, purge
from collector.subscription import Inbound
from collector.writer import Writer
from edge.testing import sample_status
from simulator.fleet.collector_harness import recent_counts, recent_start, sample_notice


class Harness:
    """A writer on a real database whose acks are recorded."""

    def __init__(self, url: str, **sections: dict[str, Any]) -> None:
        self.settings = CollectorSettings.model_validate({"database": {"url": url}, **sections})
        self.db = Database(url)
        conn = self.db.connect()
        migrate(conn)
        conn.close()
        self.metrics = Metrics()
        self.acked: list[int] = []
        self.writer = Writer(self.db, self.settings, self.metrics, ack=self._ack)
        self.base = recent_start(120)
        self._mid = 0

    def _ack(self, item: Inbound) -> None:
        self.acked.append(item.mid)

    def item(self, topic: str, payload: bytes) -> Inbound:
        self._mid += 1
        return Inbound(topic, payload, int(time.time() * 1000), self._mid, 1)

    def counts(self, node: str, seq: int, **changes: Any) -> Inbound:
        return self.item(f"kazoe/v1/{node}/counts", recent_counts(node, seq, self.base, **changes))

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.value(name, **labels)

    def close(self) -> None:
        self.writer.stop()
        self.db.close()


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url)
    yield h
    h.close()


def test_migrations_are_recorded_and_applied_once(database_url: str) -> None:
    db = Database(database_url)
    conn = db.connect()
    try:
        assert migrate(conn) == [m.version for m in available()]
        assert migrate(conn) == []
        rows = conn.query("SELECT version, name FROM schema_migrations ORDER BY version")
        assert rows == [(m.version, m.name) for m in available()]
    finally:
        conn.close()


def test_two_collectors_migrating_at_once_do_not_collide(database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        conn = Database(database_url).connect()
        try:
            migrate(conn)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_each_window_is_stored_once_and_every_message_is_acked(harness: Harness) -> None:
    first = [harness.counts("node-a", seq) for seq in range(1, 6)]
    again = [harness.counts("node-a", 3), harness.counts("node-a", 3)]
    harness.writer.process(first + again[:1])
    harness.writer.process([*again[1:], harness.counts("node-b", 1)])
    with harness.db.reader() as conn:
        assert count_windows(conn) == 6
    assert harness.metric("kazoe_collector_windows_stored_total") == 6
    assert harness.metric("kazoe_collector_duplicates_total") == 2
    assert harness.acked == list(range(1, 9))


def test_malformed_messages_are_counted_dropped_and_acked(harness: Harness) -> None:
    batch = [
        harness.item("kazoe/v1/node-a/counts", b"{not json"),
        harness.counts("node-a", 1),
        harness.item("kazoe/v1/node-a/counts", recent_counts("node-b", 2, harness.base)),
        harness.item("kazoe/v1/node-a/counts", b"x" * 20000),
    ]
    harness.writer.process(batch)
    with harness.db.reader() as conn:
        assert count_windows(conn) == 1
    assert harness.metric("kazoe_collector_rejects_total", reason="malformed") == 1
    assert harness.metric("kazoe_collector_rejects_total", reason="mismatch") == 1
    assert harness.metric("kazoe_collector_rejects_total", reason="oversized") == 1
    assert harness.acked == [1, 2, 3, 4]


def test_windows_older_than_retention_are_not_stored(harness: Harness) -> None:
    old = datetime.now(tz=UTC) - timedelta(days=40)
    harness.writer.process(
        [harness.counts("node-a", 1, window_start=old, window_end=old + timedelta(minutes=1))]
    )
    with harness.db.reader() as conn:
        assert count_windows(conn) == 0
    assert harness.metric("kazoe_collector_rejects_total", reason="expired") == 1


def test_node_state_follows_receive_order_and_notice_names_the_site(harness: Harness) -> None:
    birth = sample_status("node-a", "online")
    # A Will is stamped when the node connected: older than the birth it overrides.
    will = sample_status("node-a", "offline", at=birth.at - timedelta(seconds=5))
    harness.writer.process([harness.item("kazoe/v1/node-a/status", birth.to_json())])
    harness.writer.process(
        [
            harness.item("kazoe/v1/node-a/notice", sample_notice("node-a", "east-exit")),
            harness.counts("node-a", 4),
            harness.counts("node-a", 2),
        ]
    )
    harness.writer.process([harness.item("kazoe/v1/node-a/status", will.to_json())])
    with harness.db.reader() as conn:
        (node,) = nodes(conn)
    assert node.state == "offline"
    assert node.site == "east-exit"
    assert node.notice is not None
    assert node.notice["location"].startswith("North gate")
    assert node.latest is not None
    assert node.latest["seq"] == 4


def test_site_falls_back_to_config_then_default(database_url: str) -> None:
    h = Harness(database_url, sites={"node-a": "station"})
    try:
        h.writer.process([h.counts("node-a", 1), h.counts("node-b", 1)])
        with h.db.reader() as conn:
            sites = {n.node_id: n.site for n in nodes(conn)}
        assert sites == {"node-a": "station", "node-b": "default"}
    finally:
        h.close()


def test_site_rollups_sum_nodes_and_withhold_unknown_cells(harness: Harness) -> None:
    # sample windows: people 12, female 5, male 7, band 30-39 withheld at the node.
    harness.writer.process([harness.counts(n, s) for n in ("node-a", "node-b") for s in (1, 2)])
    with harness.db.reader() as conn:
        sums = site_hours(conn, hour_of(int(harness.base.timestamp())) - 3600)
    rolled = [roll_up(v, 5) for v in sums.values()]
    assert sum(r.windows for r in rolled) == 4
    assert sum(r.people or 0 for r in rolled) == 48
    for r in rolled:
        assert r.age_bands is not None
        assert r.age_bands["30-39"] is None
        assert "age_bands.30-39" in r.withheld


def test_retention_purge_deletes_old_windows_and_their_sums(harness: Harness) -> None:
    harness.writer.process([harness.counts("node-a", s) for s in (1, 2, 3)])
    with harness.db.reader() as conn:
        assert count_windows(conn) == 3
    conn = harness.db.connect()
    try:
        assert purge(conn, retention_days=1, now_s=time.time() + 2 * 86400) == 3
        assert count_windows(conn) == 0
        assert conn.query("SELECT COUNT(*) FROM hourly")[0][0] == 0
    finally:
        conn.close()


def test_an_unreachable_database_keeps_messages_unacknowledged(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database directory should be")
    h_settings = CollectorSettings.model_validate({"database": {"url": str(blocker / "c.db")}})
    acked: list[Inbound] = []
    writer = Writer(Database(str(blocker / "c.db")), h_settings, Metrics(), ack=acked.append)
    item = Inbound("kazoe/v1/node-a/counts", recent_counts("node-a", 1, recent_start()), 0, 1, 1)
    with pytest.raises(StoreUnavailable, match=r"cannot create"):
        writer.process([item])
    assert acked == []


def test_stored_ms_is_stamped_at_commit_not_at_the_start_of_the_batch(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that moves one second per reading: a stamp taken before the rows were
    # written would be the first reading, the commit stamp is the last one.
    ticks = itertools.count(1_800_000_000)
    readings: list[float] = []

    def clock() -> float:
        readings.append(float(next(ticks)))
        return readings[-1]

    records = [
        parse(item.topic, item.payload, received_ms=item.received_ms, max_bytes=16384)
        for item in (harness.counts("node-a", 1), harness.counts("node-a", 2))
    ]
    monkeypatch.setattr(time, "time", clock)
    conn = harness.db.connect()
    try:
        result = store.write_batch(conn, records, lambda _node: None)
    finally:
        conn.close()
    monkeypatch.undo()
    assert len(readings) == 2
    assert result.stored_ms == int(readings[-1] * 1000)
    with harness.db.reader() as conn:
        stamps = {int(r[0]) for r in conn.query("SELECT stored_ms FROM windows")}
    assert stamps == {result.stored_ms}
