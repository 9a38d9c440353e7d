"""``kazoe-sim soak``, short: a real node, the broker and the node SIGKILLed at random moments.

The long run (15 minutes, 10 broker kills, 5 node kills) is a documented command;
this CI variant runs the same code for under a minute and checks its verdict.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from simulator.faults.soak import plan, soak_main
from tests.e2e.conftest import MODELS, Scene, make_scene

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def street(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "soak", "--people", "8", "--fps", "10", "--seconds", "30",
        "--width", "640", "--height", "360", "--seed", "17",
    )  # fmt: skip


@pytest.mark.parametrize(("brokers", "nodes"), [(10, 5), (2, 1), (0, 3)])
def test_kills_fall_one_per_slot_and_never_overlap(brokers: int, nodes: int) -> None:
    import random

    duration = 900.0
    kills = plan(duration, brokers, nodes, random.Random(7))
    assert [k.target for k in kills].count("broker") == brokers
    assert [k.target for k in kills].count("node") == nodes
    assert all(0.1 * duration <= k.at_s <= 0.85 * duration for k in kills)
    for first, second in itertools.pairwise(kills):
        assert first.at_s + first.down_s <= second.at_s
    assert plan(duration, brokers, nodes, random.Random(7)) == kills


def test_a_short_soak_loses_no_window(street: Scene, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    code = soak_main(
        [
            "--seconds", "45", "--broker-kills", "2", "--node-kills", "1", "--seed", "5",
            "--video", str(street.video), "--models", str(MODELS), "--work", str(tmp_path / "w"),
            "--sample-s", "2", "--json", str(out),
        ]
    )  # fmt: skip
    result = json.loads(out.read_text(encoding="utf-8"))
    closed = result["closed"]
    assert closed > 3
    assert [k["kill"]["target"] for k in result["kills"]].count("broker") == 2
    assert [k["kill"]["target"] for k in result["kills"]].count("node") == 1
    # Every window the node closed reached the recorder, none twice at the collector.
    assert result["lost"] == []
    assert result["delivered"] == closed
    assert result["stored_twice"] == 0
    assert result["pending_at_stop"] == 0
    # The default collector subscription is plain and persistent: the broker queues for it
    # across its own restarts, so the collector misses nothing (a shared group would; see
    # tests/broker/test_session_restore.py).
    assert result["collector_missing"] == []
    assert code == 0
    # The node was sampled; its outbox holds one row per closed window, none left behind.
    rss = [s["rss_kib"] for s in result["samples"] if s["rss_kib"] is not None]
    assert rss
    rows = [s["outbox_rows"] for s in result["samples"] if s["outbox_rows"] is not None]
    assert rows == sorted(rows)
    assert rows[-1] <= closed
    log = (tmp_path / "w" / "node.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    recorded = (tmp_path / "w" / "windows.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["payload"]["seq"] for line in recorded) == list(
        range(1, closed + 1)
    )
