"""Collectors against a real Mosquitto: shared subscription, exactly-once storage, bad input.

Nodes publish as themselves (their own broker users, QoS 1); collectors read as
``watcher`` through ``$share/<group>/kazoe/v1/+/counts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from collector.db import Database
from collector.queries import count_windows, nodes
from collector.service import Collector
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import SimNode, collector_settings, recent_counts, running
from tests.collector.conftest import FLEET, PG_ADMIN

pytestmark = pytest.mark.integration

WINDOWS_PER_NODE = 30
REPEATED = (3, 7, 11, 19, 29)  # windows each node sends twice, as after a reconnect


@pytest.fixture
def sim_nodes(fleet_broker: DevBroker) -> Iterator[Callable[..., list[SimNode]]]:
    made: list[SimNode] = []

    def make(ids: tuple[str, ...] = FLEET) -> list[SimNode]:
        new = [SimNode(fleet_broker, n) for n in ids]
        made.extend(new)
        return new

    yield make
    for node in made:
        node.close()


def stored_keys(db_url: str) -> list[tuple[str, int]]:
    db = Database(db_url)
    try:
        with db.reader() as conn:
            rows = conn.query("SELECT node_id, seq FROM windows ORDER BY node_id, seq")
    finally:
        db.close()
    return [(str(n), int(s)) for n, s in rows]


def total(collectors: list[Collector], name: str, **labels: str) -> float:
    return sum(c.metrics.value(name, **labels) for c in collectors)


def test_two_collectors_in_one_group_store_every_window_exactly_once(
    fleet_broker: DevBroker, database_url: str, sim_nodes: Callable[..., list[SimNode]]
) -> None:
    s1 = collector_settings(fleet_broker, database_url, client_id="collector-1")
    s2 = collector_settings(fleet_broker, database_url, client_id="collector-2")
    with running(s1) as c1, running(s2) as c2:
        fleet = sim_nodes()
        for node in fleet:
            node.notice(site="campus")
            node.status("online")
        for seq in range(1, WINDOWS_PER_NODE + 1):
            for node in fleet:
                node.window(seq)
                if seq in REPEATED:
                    node.window(seq)  # a redelivered copy
        expected = len(fleet) * WINDOWS_PER_NODE
        both = [c1, c2]
        wait_until(
            lambda: (
                total(both, "kazoe_collector_windows_stored_total")
                + total(both, "kazoe_collector_duplicates_total")
                == expected + len(fleet) * len(REPEATED)
            ),
            30,
            "every window and duplicate to be processed",
        )
        assert total(both, "kazoe_collector_windows_stored_total") == expected
        assert total(both, "kazoe_collector_duplicates_total") == len(fleet) * len(REPEATED)
        # The group shared the stream: each collector stored some of it.
        assert c1.metrics.value("kazoe_collector_windows_stored_total") > 0
        assert c2.metrics.value("kazoe_collector_windows_stored_total") > 0
        with c1.db.reader() as conn:
            seen = {n.node_id: (n.site, n.state) for n in nodes(conn)}
    want = [(n, s) for n in FLEET for s in range(1, WINDOWS_PER_NODE + 1)]
    assert stored_keys(database_url) == want
    assert seen == dict.fromkeys(FLEET, ("campus", "online"))


def test_malformed_messages_never_stop_the_collector(
    fleet_broker: DevBroker, tmp_path: Path, sim_nodes: Callable[..., list[SimNode]]
) -> None:
    url = str(tmp_path / "c.db")
    settings = collector_settings(fleet_broker, url, mqtt={"max_payload_bytes": 2048})
    with running(settings) as collector:
        (node,) = sim_nodes(("node-01",))
        node.publish("counts", b"\xff\xfe not json")
        node.publish("counts", json.dumps({"schema": "kazoe.counts/1", "seq": 1}).encode())
        node.publish("counts", b'{"pad": "' + b"x" * 4000 + b'"}')
        node.publish("status", b'{"state": "sideways"}', retain=True)
        node.publish("counts", recent_counts("node-02", 1, node.base))  # names another node
        node.window(1)
        node.window(2)
        wait_until(
            lambda: collector.metrics.value("kazoe_collector_windows_stored_total") == 2,
            15,
            "the valid windows after the bad ones to be stored",
        )
        m = collector.metrics
        assert m.value("kazoe_collector_rejects_total", reason="malformed") == 3
        assert m.value("kazoe_collector_rejects_total", reason="oversized") == 1
        assert m.value("kazoe_collector_rejects_total", reason="mismatch") == 1
        assert collector.subscription.connected
    assert stored_keys(url) == [("node-01", 1), ("node-01", 2)]


def test_a_restarted_collector_receives_what_was_published_while_it_was_away(
    fleet_broker: DevBroker, tmp_path: Path, sim_nodes: Callable[..., list[SimNode]]
) -> None:
    url = str(tmp_path / "c.db")
    settings = collector_settings(fleet_broker, url, client_id="collector-steady")
    (node,) = sim_nodes(("node-03",))
    with running(settings):
        node.window(1)
        wait_until(lambda: len(stored_keys(url)) == 1, 10, "the first window")
    for seq in range(2, 12):
        node.window(seq)  # the broker queues these in the collector's session
    with running(settings) as again:
        wait_until(lambda: len(stored_keys(url)) == 11, 15, "the queued windows")
        assert again.metrics.value("kazoe_collector_windows_stored_total") == 10
    assert stored_keys(url) == [("node-03", s) for s in range(1, 12)]


def _set_connections(db_name: str, allowed: bool) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (db_name,),
            )


def test_a_database_outage_loses_nothing(
    fleet_broker: DevBroker, pg_url: str, sim_nodes: Callable[..., list[SimNode]]
) -> None:
    db_name = pg_url.rsplit("/", 1)[1]
    settings = collector_settings(fleet_broker, pg_url)
    (node,) = sim_nodes(("node-04",))
    with running(settings) as collector:
        node.window(1)
        wait_until(
            lambda: collector.metrics.value("kazoe_collector_windows_stored_total") == 1,
            10,
            "the first window",
        )
        _set_connections(db_name, allowed=False)
        try:
            for seq in range(2, 8):
                node.window(seq)
            wait_until(
                lambda: collector.metrics.value("kazoe_collector_store_errors_total") >= 1,
                10,
                "the writer to notice the outage",
            )
        finally:
            _set_connections(db_name, allowed=True)
        wait_until(
            lambda: collector.metrics.value("kazoe_collector_windows_stored_total") == 7,
            20,
            "the windows held during the outage to be stored",
        )
    assert stored_keys(pg_url) == [("node-04", s) for s in range(1, 8)]
    db = Database(pg_url)
    with db.reader() as conn:
        assert count_windows(conn) == 7
    db.close()
