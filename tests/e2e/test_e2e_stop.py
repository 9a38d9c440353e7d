"""A stopped node loses nothing it counted; a killed one loses at most the window in progress.

A real ``kazoe run`` replays a generated street scene at full speed (every frame,
so the media clock is ``start_time + frame / fps``). The test watches the node's
own ``kazoe_frames_analysed_total`` and acts just after the media clock crosses a
window boundary, well inside the tracker's patience (``max_missed_s``):

- SIGKILL there: the window that just ended is already sealed in the outbox; only
  the window in progress is lost. (Before, a window waited out max_missed_s after
  its end, so a kill at that moment lost it too: two windows per kill.)
- SIGTERM there: the window in progress is closed, published and acknowledged by
  the broker before the node exits 0; with no broker, it stays in the outbox.
"""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.brokers.dev import DevBroker, free_port
from tests.e2e.conftest import Scene, make_scene, node_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FPS = 10
WINDOW_S = 4
PATIENCE_S = 3.0  # [tracker] max_missed_s: what a window used to wait after its end
BOUNDARY_S = 2 * WINDOW_S  # the end of window 2
ACT_AT_FRAME = BOUNDARY_S * FPS + 3  # 0.3 s into window 3, 2.7 s before the old seal


@pytest.fixture(scope="module")
def street(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "stop", "--people", "6", "--fps", str(FPS), "--seconds", "20",
        "--width", "640", "--height", "360", "--seed", "23",
    )  # fmt: skip


def aligned_start() -> datetime:
    """A recent media-clock anchor on a window boundary (old windows would be purged)."""
    now = datetime.now(tz=UTC).timestamp()
    return datetime.fromtimestamp(math.floor(now / WINDOW_S) * WINDOW_S - 3600, tz=UTC)


def write_config(
    tmp_path: Path, broker: DevBroker | None, source: Path, start: datetime, metrics_port: int
) -> Path:
    toml = node_toml(
        broker,
        node_id="node-a",
        source=source,
        state=tmp_path / "state",
        window_s=WINDOW_S,
        start=start.isoformat(),
    )
    extra = f"[tracker]\nmax_missed_s = {PATIENCE_S}\n\n[metrics]\nport = {metrics_port}\n\n"
    config = tmp_path / "node.toml"
    config.write_text(toml.replace("[models]", extra + "[models]"), "utf-8")
    return config


def frames_analysed(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0
    for line in text.splitlines():
        if line.startswith("kazoe_frames_analysed_total "):
            return int(float(line.split()[1]))
    return 0


@pytest.fixture
def node_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def run_until_frame(
    config: Path, port: int, started: list[subprocess.Popen[str]], *args: str
) -> tuple[subprocess.Popen[str], float]:
    """Start the node; once it has analysed ACT_AT_FRAME frames, return it and its media
    time then (seconds since start_time; a lower bound by the time a signal lands)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(proc)
    deadline = time.monotonic() + 180
    while (frames := frames_analysed(port)) < ACT_AT_FRAME:
        assert proc.poll() is None, f"the node exited early: {proc.communicate()[0][-2000:]}"
        assert time.monotonic() < deadline, "the node never reached the window boundary"
        time.sleep(0.01)
    return proc, (frames - 1) / FPS


def contiguous(windows: list[tuple[int, float, float, bool]], t0: float) -> list[float]:
    """Window ends (seconds since start_time), checking seq 1.. and spans back to back."""
    assert [w[0] for w in windows] == list(range(1, len(windows) + 1))
    assert [(a - t0, b - t0) for _, a, b, _ in windows] == [
        (i * WINDOW_S, (i + 1) * WINDOW_S) for i in range(len(windows))
    ]
    return [b - t0 for _, _, b, _ in windows]


def outbox(state: Path) -> list[tuple[int, float, float, bool]]:
    """(seq, window_start, window_end, delivered) of every window in the node's outbox."""
    db = sqlite3.connect(state / "kazoe.db")
    try:
        rows = db.execute(
            "SELECT seq, window_start, window_end, delivered_at IS NOT NULL FROM outbox "
            "ORDER BY seq"
        ).fetchall()
    finally:
        db.close()
    return [(int(s), float(a), float(b), bool(d)) for s, a, b, d in rows]


def test_sigkill_at_the_start_of_a_window_loses_only_that_window(
    street: Scene, tmp_path: Path, node_process: list[subprocess.Popen[str]]
) -> None:
    start, port = aligned_start(), free_port()
    config = write_config(tmp_path, None, street.video, start, port)
    proc, media_s = run_until_frame(config, port, node_process)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    ends = contiguous(outbox(tmp_path / "state"), start.timestamp())
    print(
        f"\nSIGKILL at media >= {media_s:.1f} s ({media_s - BOUNDARY_S:.1f} s into a window): "
        f"windows in the outbox end at {ends} s; lost: the window in progress only"
    )
    # Every window that ended before the kill is sealed (8 s is the one that used to be
    # lost); only the one in progress is gone.
    assert ends, "no window survived the kill"
    assert ends[-1] >= math.floor(media_s / WINDOW_S) * WINDOW_S >= BOUNDARY_S


def test_sigterm_publishes_the_open_window_and_exits_cleanly(
    street: Scene, tmp_path: Path, node_process: list[subprocess.Popen[str]]
) -> None:
    start, port = aligned_start(), free_port()
    with DevBroker(["node-a"], state_dir=tmp_path / "broker") as broker:
        config = write_config(tmp_path, broker, street.video, start, port)
        proc, media_s = run_until_frame(config, port, node_process, "--ack-timeout", "60")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    windows = outbox(tmp_path / "state")
    ends = contiguous(windows, start.timestamp())
    # The window in progress at the stop was closed early, published and acknowledged.
    assert ends[-1] > media_s
    assert all(delivered for *_, delivered in windows)
    audit_text = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8")
    audit = [json.loads(line) for line in audit_text.splitlines()]
    assert [e["seq"] for e in audit if e["event"] == "window"] == [w[0] for w in windows]
    assert audit[-1]["event"] == "stop"
    assert audit[-1]["windows_acknowledged"] == len(windows)


def test_sigterm_without_a_broker_keeps_the_open_window_in_the_outbox(
    street: Scene, tmp_path: Path, node_process: list[subprocess.Popen[str]]
) -> None:
    start, port = aligned_start(), free_port()
    config = write_config(tmp_path, None, street.video, start, port)
    proc, media_s = run_until_frame(config, port, node_process, "--ack-timeout", "1")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output[-3000:]
    assert "not acknowledged within 1 s" in output
    assert "Traceback" not in output
    windows = outbox(tmp_path / "state")
    # The open window is closed and kept for the next start, with every earlier one.
    assert contiguous(windows, start.timestamp())[-1] > media_s
    assert not any(delivered for *_, delivered in windows)
