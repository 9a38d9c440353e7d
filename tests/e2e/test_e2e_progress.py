"""A file replay shows a progress bar on a terminal, and nothing of the kind in a pipe or CI."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.e2e.conftest import Scene, make_scene, node_toml

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "progress", "--people", "1", "--fps", "5", "--seconds", "8",
        "--width", "640", "--height", "360", "--seed", "4",
    )  # fmt: skip


def run(config: Path, env: dict[str, str], tty: bool) -> str:
    args = [sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--once",
            "--ack-timeout", "1"]  # fmt: skip
    if not tty:
        result = subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        return result.stderr
    leader, follower = pty.openpty()
    # A real terminal has a size; tqdm draws nothing on a zero-width one.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(args, stderr=follower, stdout=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the child exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize(
    ("tty", "ci", "bar"), [(True, False, True), (True, True, False), (False, False, False)]
)
def test_progress_bar_only_for_a_person_at_a_terminal(
    tmp_path: Path, clip: Scene, tty: bool, ci: bool, bar: bool
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        node_toml(None, node_id="node-a", source=clip.video, state=tmp_path / "s"), "utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    output = run(config, env, tty)
    assert ("40/40" in output) == bar, output[-1500:]
    assert "Traceback" not in output
