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
