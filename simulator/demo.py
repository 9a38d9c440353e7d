"""``make run``: a local broker, the demo scene, one node replaying it, and the watch view.

Everything it starts lives under ``run/`` (git-ignored) and is stopped on
Ctrl-C: the node gets SIGTERM (so it publishes ``offline``), then the broker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from edge.errors import KazoeError
from edge.ops.watch import watch_main
from simulator.brokers.dev import DevBroker
from simulator.scenes.scene import scene_main

REPO = Path(__file__).resolve().parent.parent
NODE_ID = "demo-01"


def node_config(broker: DevBroker, scene: Path, state: Path, models: Path, window_s: int) -> str:
    """The demo node's TOML: loopback broker, replayed scene, demographics on, k = 3.

    The replay is anchored at the current minute, so its windows are fresh (an old
    anchor would put them past retention straight away).
    """
    start = datetime.now(tz=UTC).replace(second=0, microsecond=0).isoformat()
    return f"""\
[node]
id = "{NODE_ID}"
site = "demo-street"
state_dir = "{state}"

[source]
uri = "{scene}"
start_time = "{start}"
realtime = true
loop = true

[mqtt]
host = "{broker.host}"
port = {broker.port}
password_file = "{broker.password_file(NODE_ID)}"

[aggregate]
window_seconds = {window_s}

[policy]
purposes = ["footfall", "demographics"]
retention_days = 7
k = 3
controller = "Kazoe demo"
contact = "privacy@example.org"
location = "a synthetic street"

[models]
dir = "{models}"
"""


def ensure_scene(scene: Path, truth: Path, people: int, seconds: int) -> None:
    if scene.is_file() and truth.is_file():
        return
    print(f"demo: generating the demo scene ({people} people, {seconds} s) ...", flush=True)
    argv = ["--people", str(people), "--seconds", str(seconds), "--fps", "10", "--seed", "7"]
    code = scene_main([*argv, "--out", str(scene), "--truth", str(truth)])
    if code != 0:
        raise KazoeError("could not generate the demo scene (see the message above)")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def demo_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description="Kazoe end-to-end demo")
    parser.add_argument("--run-dir", type=Path, default=REPO / "run")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--window", type=int, default=30, help="window length in seconds")
    parser.add_argument("--watch-seconds", type=float, default=None, help="stop after N seconds")
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir.resolve()
    demo_dir = run_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    scene, truth = demo_dir / "scene.mp4", demo_dir / "truth.json"
    try:
        ensure_scene(scene, truth, args.people, args.seconds)
    except KazoeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    # Ctrl-C is for the watch view; the node and the broker are stopped in order below.
    try:
        with DevBroker([NODE_ID], state_dir=run_dir / "broker") as broker:
            config = demo_dir / "node.toml"
            config.write_text(
                node_config(
                    broker, scene, demo_dir / "state", REPO / "models" / "build", args.window
                ),
                encoding="utf-8",
            )
            print(f"demo: broker on {broker.host}:{broker.port}; node config {config}", flush=True)
            log = (demo_dir / "node.log").open("wb")
            node = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            print(
                f"demo: node {NODE_ID} running (log {demo_dir / 'node.log'}); Ctrl-C stops all",
                flush=True,
            )
            try:
                watch_args = ["--host", broker.host, "--port", str(broker.port)]
                watch_args += ["--password-file", str(broker.password_file("watcher"))]
                if args.watch_seconds is not None:
                    watch_args += ["--once-seconds", str(args.watch_seconds)]
                time.sleep(0.5)
                code = watch_main(watch_args)
            finally:
                stop_process(node)
                log.close()
            return code
    except KazoeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(demo_main())
