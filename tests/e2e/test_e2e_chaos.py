"""Chaos against a real Mosquitto: no closed window is lost.

A node replays a generated scene in real time while the broker is SIGKILLed and
restarted, while the node itself is SIGKILLed and restarted on the same state,
and while the broker is down at start-up. A recorder with a persistent session
deduplicates on (node_id, seq); every window closed must arrive, with no gap.
"""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.brokers.dev import DevBroker, free_port
from simulator.faults.chaos import Wire, closed_seqs, recording, start_node
from simulator.faults.chaos import report as chaos_report
from tests.e2e.conftest import Scene, make_scene, node_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def street(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "chaos", "--people", "8", "--fps", "10", "--seconds", "30",
        "--width", "640", "--height", "360", "--seed", "17",
    )  # fmt: skip


def now_iso() -> str:
    """A recent media-clock anchor: old windows would be purged by retention."""
    return datetime.now(tz=UTC).replace(microsecond=0).isoformat()


@contextmanager
def recorder(broker: DevBroker) -> Iterator[tuple[Wire, list[int]]]:
    """A deduplicating recorder with a persistent session; also every seq seen on the wire."""
    with recording(broker, io.StringIO()) as wire:
        yield wire, wire.seqs


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def report(name: str, closed: list[int], stored: list[int], wire: list[int]) -> None:
    print("\n" + chaos_report(name, closed, stored, wire))


def write_config(tmp_path: Path, broker: DevBroker, source: Path, state: Path) -> Path:
    config = tmp_path / "node.toml"
    toml = node_toml(
        broker, node_id="node-a", source=source, state=state, window_s=2, start=now_iso()
    )
    config.write_text(toml.replace("[models]", "[metrics]\nport = 0\n\n[models]"), "utf-8")
    return config


def test_broker_killed_three_times_loses_no_window(street: Scene, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with (
        DevBroker(["node-a"], state_dir=tmp_path / "broker") as broker,
        recorder(broker) as (rec, wire),
    ):
        config = write_config(tmp_path, broker, street.video, state)
        node = start_node(config, "--once", "--realtime", "--ack-timeout", "60")
        try:
            for target in (3, 6, 9):

                def reached(t: int = target) -> bool:
                    return rec.delivered >= t

                wait_for(reached, 60, f"{target} windows")
                broker.kill()
                time.sleep(1.5)
                broker.restart()
            output, _ = node.communicate(timeout=180)
        finally:
            if node.poll() is None:
                node.kill()
                node.communicate()
        assert node.returncode == 0, output[-3000:]
        closed = closed_seqs(state)
        wait_for(lambda: rec.delivered >= len(closed), 20, "the last windows")
    stored = sorted(set(wire))
    report("broker SIGKILLed 3x", closed, stored, wire)
    assert closed == list(range(1, len(closed) + 1))
    assert stored == closed, "a closed window never arrived"
    assert rec.recorder.stats.stored == len(closed)


def test_node_killed_and_restarted_continues_seq(street: Scene, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with (
        DevBroker(["node-a"], state_dir=tmp_path / "broker") as broker,
        recorder(broker) as (rec, wire),
    ):
        config = write_config(tmp_path, broker, street.video, state)
        node = start_node(config, "--realtime")
        try:
            wait_for(lambda: rec.delivered >= 4, 60, "4 windows")
            node.send_signal(signal.SIGKILL)
        finally:
            if node.poll() is None:
                node.kill()
            node.communicate(timeout=10)
        before = closed_seqs(state)
        # The restart replays a short clip on the same state directory.
        again = start_node(config, "--once", "--source", str(street.video), "--ack-timeout", "60")
        output, _ = again.communicate(timeout=300)
        assert again.returncode == 0, output[-3000:]
        closed = closed_seqs(state)
        wait_for(lambda: rec.delivered >= len(closed), 20, "the restarted node's windows")
    stored = sorted(set(wire))
    report("node SIGKILLed and restarted", closed, stored, wire)
    assert closed[: len(before)] == before
    assert closed == list(range(1, len(closed) + 1)), "seq restarted or skipped after the crash"
    assert set(before) <= set(stored), "a window closed before the crash was never delivered"
    assert stored == closed


def test_broker_down_at_start_then_up(street: Scene, tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    broker = DevBroker(["node-a"], port=port, state_dir=tmp_path / "broker")
    broker.start()  # once, to create the credentials and the recorder's persistent session
    config = write_config(tmp_path, broker, street.video, state)
    with recorder(broker):
        pass
    broker.stop()  # then down before the node starts
    node = start_node(config, "--once", "--realtime", "--ack-timeout", "60")
    try:
        time.sleep(6)  # the node analyses with nowhere to send
        assert node.poll() is None, "the node gave up while the broker was down"
        broker.start()
        with recorder(broker) as (rec, wire):
            output, _ = node.communicate(timeout=180)
            assert node.returncode == 0, output[-3000:]
            closed = closed_seqs(state)
            wait_for(lambda: rec.delivered >= len(closed), 20, "every window")
    finally:
        broker.close()
        if node.poll() is None:
            node.kill()
            node.communicate()
    report("broker down at start", closed, sorted(set(wire)), wire)
    assert "Traceback" not in output
    assert "cannot reach the broker" in output
    assert sorted(set(wire)) == closed == list(range(1, len(closed) + 1))
