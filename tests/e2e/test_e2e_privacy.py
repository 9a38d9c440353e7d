"""Nothing leaves the node but aggregates — proven on a real run.

A node replays a generated scene with the real models and a real Mosquitto, under
a Python audit hook that records every file opened for writing and every socket
it connects or binds, while a subscriber on '#' records every MQTT message.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.payload import validate
from simulator.brokers.dev import DevBroker, ProbeClient
from tests.e2e.conftest import Scene, make_scene, node_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MAX_PAYLOAD = 4096
# Anything that looks like array data in a log: numpy reprs, nested lists, long number runs.
ARRAY_SHAPED = re.compile(r"array\(|\[\[|\[\s*-?\d+(?:\.\d+)?(?:[\s,]+-?\d+(?:\.\d+)?){7,}")


@pytest.fixture(scope="module")
def scene(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "privacy", "--people", "6", "--fps", "10", "--seconds", "30",
        "--width", "960", "--height", "540", "--seed", "21",
    )  # fmt: skip


def numbers_in_lists(doc: Any) -> bool:
    """True if any list in the document holds numbers (per-person data would)."""
    if isinstance(doc, list):
        return any(isinstance(x, int | float) for x in doc) or any(numbers_in_lists(x) for x in doc)
    if isinstance(doc, dict):
        return any(numbers_in_lists(v) for v in doc.values())
    return False


def test_only_aggregates_leave_the_node(broker: DevBroker, scene: Scene, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "node.toml"
    toml = node_toml(broker, node_id="node-a", source=scene.video, state=state, window_s=10)
    config.write_text(toml.replace("[models]", "[metrics]\nport = 0\n\n[models]"), "utf-8")
    report = tmp_path / "audit-hook.json"
    with ProbeClient(
        broker.host, broker.port, username="watcher", password=broker.password("watcher")
    ) as everything:
        assert not everything.connect().is_failure
        everything.subscribe("#")
        result = subprocess.run(
            [sys.executable, "-m", "tests.e2e.audited_node", str(report), "--",
             "run", "--config", str(config), "--once"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert everything.wait_for(
            lambda ms: any(m.topic.endswith("/status") and b'"offline"' in m.payload for m in ms),
            timeout_s=10,
        )
        messages = list(everything.messages)
    events = json.loads(report.read_text(encoding="utf-8"))

    # Files: every write lands in the state directory, which holds the database and audit log only.
    writes = [e["path"] for e in events if e["event"] in ("open-write", "sqlite")]
    outside = [p for p in writes if not Path(p).resolve().is_relative_to(state.resolve())]
    assert not outside, f"files written outside the state directory: {outside}"
    assert {p.name for p in state.iterdir()} <= {
        "kazoe.db",
        "kazoe.db-wal",
        "kazoe.db-shm",
        "audit.jsonl",
    }
    assert (state / "audit.jsonl").is_file()

    # Network: the only peer is the broker. paho also makes a loopback socket pair to wake
    # its own loop (bind 127.0.0.1:0, then connect to it) and binds an ephemeral source port.
    connects = [tuple(e["address"][:2]) for e in events if e["event"] == "socket.connect"]
    binds = [tuple(e["address"][:2]) for e in events if e["event"] == "socket.bind"]
    assert (broker.host, broker.port) in connects, "the node never connected to the broker"
    wakeups = [c for c in connects if c != (broker.host, broker.port)]
    assert all(host == "127.0.0.1" for host, _ in wakeups), wakeups
    assert len(wakeups) <= binds.count(("127.0.0.1", 0)), (wakeups, binds)
    assert all(port == 0 for _, port in binds), f"something listens on a fixed port: {binds}"
    assert not [e for e in events if e["event"] == "socket.sendto"]

    # MQTT: everything on the wire is a small, schema-valid aggregate.
    topics = {m.topic for m in messages}
    assert topics == {f"kazoe/v1/node-a/{leaf}" for leaf in ("counts", "status", "notice")}
    for message in messages:
        assert len(message.payload) <= MAX_PAYLOAD, f"{message.topic}: {len(message.payload)} bytes"
        doc = validate(f"{message.topic.rsplit('/', 1)[1]}.schema.json", message.payload)
        assert not numbers_in_lists(doc), f"{message.topic} carries a list of numbers: {doc}"
    counts = [json.loads(m.payload) for m in messages if m.topic.endswith("/counts")]
    assert len(counts) == 3

    # Logs: no array data, no numpy reprs.
    assert not ARRAY_SHAPED.search(result.stderr), ARRAY_SHAPED.search(result.stderr)
    summary = {
        "files written": sorted({Path(p).name for p in writes}),
        "connections": sorted(set(connects)),
        "mqtt messages": {t.rsplit("/", 1)[1]: sum(m.topic == t for m in messages) for t in topics},
        "largest payload": max(len(m.payload) for m in messages),
    }
    print(f"\naudited replay: {summary}")
