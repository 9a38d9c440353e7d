"""Scale: 200 simulated nodes, one Mosquitto, two ``kazoe-collector`` processes, one PostgreSQL.

Prints the measured figures (run with ``-s`` to see them; they are also
written to ``artifacts/collector-scale.txt``). The 1000-node run is manual:
``python -m simulator.fleet.loadtest --nodes 1000 --windows 5 --interval 5 --pg-admin URL``
(see collector/README.md). Speed is reported, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.fleet.loadtest import LoadPlan, run_load

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def test_two_collectors_store_every_window_of_200_nodes_exactly_once(pg_url: str) -> None:
    plan = LoadPlan(nodes=200, windows=5, database_url=pg_url, collectors=2, interval_s=1.0)
    result = run_load(plan, say=lambda line: print(f"  {line}"))
    report = f"collector scale test (two collectors, PostgreSQL)\n{result.table()}\n"
    print(report)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "collector-scale.txt").write_text(report, encoding="utf-8")
    assert result.stored == result.expected == 1000
    assert result.distinct == result.stored, "a window was stored twice"
    assert result.duplicates_sent > 0
    assert all(n > 0 for n in result.per_collector), "the share group did not split the load"
    assert sum(result.per_collector) == result.expected


def _report(name: str, text: str) -> None:
    print(text)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"collector-{name}.txt").write_text(text, encoding="utf-8")


def test_a_backlog_after_a_collector_outage_is_drained_exactly_once(pg_url: str) -> None:
    """Two collectors (share group) stopped while 200 nodes publish; restarted, they drain."""
    plan = LoadPlan(nodes=200, windows=3, database_url=pg_url, collectors=2, outage_s=6.0)
    result = run_load(plan, say=lambda line: print(f"  {line}"))
    _report("backlog", f"collector backlog test (two collectors, PostgreSQL)\n{result.table()}\n")
    assert result.stored == result.expected == 600
    assert result.distinct == result.stored, "a window was stored twice"
    assert result.duplicates_sent > 0


def test_one_sqlite_collector_stores_a_burst_exactly_once(tmp_path: Path) -> None:
    """200 nodes x 3 rounds with no pause between rounds into one collector on SQLite."""
    url = str(tmp_path / "collector.db")
    plan = LoadPlan(nodes=200, windows=3, database_url=url, collectors=1, interval_s=0.0)
    result = run_load(plan, say=lambda line: print(f"  {line}"))
    _report("burst-sqlite", f"collector burst test (one collector, SQLite)\n{result.table()}\n")
    assert result.stored == result.expected == 600
    assert result.distinct == result.stored, "a window was stored twice"
    assert result.duplicates_sent > 0
