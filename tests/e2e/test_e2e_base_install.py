"""The node runs with the base install alone: nothing from the collector, sim or dev extras.

A real node process replays a short scene through a real broker with an import hook
that makes every package outside the base dependencies unimportable, as on a Pi
where only ``pip install kazoe`` was run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.brokers.dev import DevBroker
from tests.conftest import ProbeFactory
from tests.e2e.conftest import Scene, make_scene, node_toml

pytestmark = pytest.mark.integration

# Packages that only the [collector], [sim], [models] and [dev] extras bring.
NOT_IN_BASE = (
    "collector", "simulator", "models", "starlette", "uvicorn", "psycopg", "anyio",
    "motmetrics", "onnx", "tflite2onnx", "ai_edge_litert", "hypothesis",
    "pytest", "playwright", "elftools", "scipy",
)  # fmt: skip

PRELUDE = """
import runpy, sys
from importlib.abc import MetaPathFinder
BLOCKED = set(sys.argv.pop(1).split(","))
class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the base install)")
        return None
sys.meta_path.insert(0, NotInstalled())
sys.argv[0] = "kazoe"
runpy.run_module("edge.cli", run_name="__main__")
"""


@pytest.fixture(scope="module")
def clip(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "base-install", "--people", "2", "--fps", "5", "--seconds", "12",
        "--width", "640", "--height", "360", "--seed", "9",
    )  # fmt: skip


def test_node_runs_with_the_base_install_alone(
    tmp_path: Path, clip: Scene, broker: DevBroker, probe: ProbeFactory
) -> None:
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/node-a/counts")
    config = tmp_path / "node.toml"
    config.write_text(
        node_toml(broker, node_id="node-a", source=clip.video, state=tmp_path / "s", window_s=60),
        "utf-8",
    )
    blocked = ",".join(NOT_IN_BASE)
    args = [sys.executable, "-c", PRELUDE, blocked, "run", "--config", str(config), "--once"]

    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "not in the base install" not in result.stderr
    windows = [json.loads(m.payload) for m in watcher.received("kazoe/v1/node-a/counts")]
    assert windows, "the node published its windows"
    assert sum(w["people"] or 0 for w in windows) == clip.people
    # Small cells were withheld: the suppression solver (HiGHS) ran without scipy.
    assert any(w["suppressed"] for w in windows), windows


def test_the_import_hook_really_blocks() -> None:
    """Guard for the test above: a blocked package cannot be imported through the hook."""
    code = PRELUDE.replace('runpy.run_module("edge.cli", run_name="__main__")', "import starlette")
    result = subprocess.run(
        [sys.executable, "-c", code, "starlette"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "not in the base install" in result.stderr
