"""The spine end to end: generated scene -> ``kazoe run --once`` -> real Mosquitto -> watcher.

Real models, a real broker with the project's config, the real CLI in its own
process. What a user would notice: wrong totals, a lingering person counted
twice, invalid payloads, windows that depend on replay speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.payload import validate
from simulator.brokers.dev import DevBroker, ProbeClient
from tests.e2e.conftest import RunNode, Scene, make_scene, node_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def watcher(broker: DevBroker) -> ProbeClient:
    client = ProbeClient(
        broker.host, broker.port, username="watcher", password=broker.password("watcher")
    )
    assert not client.connect().is_failure
    client.subscribe("kazoe/v1/#")
    return client


def counts_of(client: ProbeClient, node_id: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in client.received(f"kazoe/v1/{node_id}/counts")]


@pytest.fixture(scope="module")
def street(scenes_dir: Path) -> Scene:
    """12 people at 1280x720 (one lingers), the issue's 48-200 px faces."""
    return make_scene(scenes_dir, "street", "--people", "12", "--fps", "10", "--seed", "3")


@pytest.fixture(scope="module")
def lingerer(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir,
        "linger",
        "--people",
        "1",
        "--lingerers",
        "1",
        "--fps",
        "10",
        "--width",
        "640",
        "--height",
        "360",
        "--seed",
        "5",
    )


@pytest.fixture(scope="module")
def small(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir,
        "small",
        "--people",
        "3",
        "--fps",
        "10",
        "--seconds",
        "14",
        "--width",
        "640",
        "--height",
        "360",
        "--seed",
        "11",
    )


def test_generated_street_counts_within_ten_percent(
    broker: DevBroker, street: Scene, run_node: RunNode, tmp_path: Path
) -> None:
    with watcher(broker) as watch:
        result = run_node(
            # One 60 s window holds the whole scene, so no cell is small enough to withhold.
            node_toml(
                broker, node_id="node-a", source=street.video, state=tmp_path / "state", window_s=60
            ),
            "--once",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert watch.wait_for(
            lambda ms: any(m.topic.endswith("/status") and b'"offline"' in m.payload for m in ms),
            timeout_s=10,
        ), "no offline status after a clean --once run"
        windows = counts_of(watch, "node-a")
        statuses = [json.loads(m.payload) for m in watch.received("kazoe/v1/node-a/status")]

    for message in watch.messages:
        leaf = message.topic.rsplit("/", 1)[1]
        validate(f"{leaf}.schema.json", message.payload)
    assert [w["seq"] for w in windows] == list(range(1, len(windows) + 1))
    assert statuses[0]["state"] == "online"
    assert statuses[-1]["state"] == "offline"
    assert all(w["people"] is not None for w in windows)
    counted = sum(w["people"] for w in windows)
    truth = street.people
    print(f"\nstreet scene: truth {truth} people, counted {counted} in {len(windows)} windows")
    assert abs(counted - truth) <= 0.1 * truth, f"counted {counted} people, truth {truth}"
    assert "Traceback" not in result.stderr


def test_lingering_person_is_counted_once(
    broker: DevBroker, lingerer: Scene, run_node: RunNode, tmp_path: Path
) -> None:
    person = lingerer.truth["people"][0]
    assert person["lingers"]
    assert person["exit_s"] - person["enter_s"] >= 10
    with watcher(broker) as watch:
        result = run_node(
            node_toml(
                broker, node_id="node-a", source=lingerer.video, state=tmp_path / "s", k=1 + 1
            ),
            "--once",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        windows = counts_of(watch, "node-a")
    # k = 2 would withhold a lone person; the node's log line carries the raw count.
    counted = [line for line in result.stderr.splitlines() if "closed: seq" in line]
    people = sum(int(line.split(", ")[1].split()[0]) for line in counted)
    assert people == 1, "\n".join(counted)
    assert all(w["people"] in (0, None) for w in windows)
    assert sum(1 for w in windows if w["people"] is None) == 1


def _comparable(window: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in window.items() if k not in ("boot_id", "seq")}


def test_realtime_and_full_speed_replays_publish_identical_windows(
    broker: DevBroker, small: Scene, run_node: RunNode, tmp_path: Path
) -> None:
    runs: list[list[dict[str, Any]]] = []
    for mode, extra in (("fast", ()), ("realtime", ("--realtime",))):
        with watcher(broker) as watch:
            toml = node_toml(
                broker, node_id="node-a", source=small.video, state=tmp_path / mode, window_s=5
            )
            result = run_node(toml, "--once", *extra)
            assert result.returncode == 0, result.stderr[-2000:]
            runs.append([_comparable(w) for w in counts_of(watch, "node-a")])
    fast, realtime = runs
    assert len(fast) >= 3
    assert fast == realtime
    # Frame lifetime (capture -> pixels overwritten) while paced at the file's own rate.
    stop = json.loads((tmp_path / "realtime" / "audit.jsonl").read_text().splitlines()[-1])
    interval_ms = 1000 / small.truth["fps"]
    print(f"\nrealtime replay: frame lifetime p99 {stop['frame_lifetime_p99_ms']} ms")
    assert stop["event"] == "stop"
    assert stop["frame_lifetime_p99_ms"] < 2 * interval_ms
