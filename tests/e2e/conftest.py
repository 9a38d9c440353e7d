"""Fixtures for end-to-end node tests: generated scenes and node configs for a DevBroker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.brokers.dev import DevBroker
from simulator.scenes.scene import scene_main

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "build"
START = "2026-03-01T08:00:00Z"


@dataclass(frozen=True)
class Scene:
    video: Path
    truth: dict[str, Any]

    @property
    def people(self) -> int:
        return len(self.truth["people"])


def make_scene(directory: Path, name: str, *args: str) -> Scene:
    video, truth = directory / f"{name}.mp4", directory / f"{name}.json"
    code = scene_main([*args, "--out", str(video), "--truth", str(truth)])
    assert code == 0, f"scene generation failed for {name}"
    return Scene(video, json.loads(truth.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def scenes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (MODELS / "models.json").is_file():
        pytest.fail("models are not built: run 'make models' (make test does it)")
    return tmp_path_factory.mktemp("scenes")


def node_toml(
    broker: DevBroker | None,
    *,
    node_id: str,
    source: Path,
    state: Path,
    window_s: int = 10,
    k: int = 2,
    purposes: str = '["footfall", "demographics"]',
    port: int | None = None,
    password_file: Path | None = None,
    start: str = START,
) -> str:
    host = broker.host if broker else "127.0.0.1"
    port = port if port is not None else (broker.port if broker else 1)
    if password_file is None and broker is not None:
        password_file = broker.password_file(node_id)
    pw = f'password_file = "{password_file}"\n' if password_file else ""
    return f"""\
[node]
id = "{node_id}"
state_dir = "{state}"

[source]
uri = "{source}"
start_time = "{start}"

[mqtt]
host = "{host}"
port = {port}
keepalive_s = 5
reconnect_min_s = 0.2
reconnect_max_s = 1.0
{pw}
[aggregate]
window_seconds = {window_s}

[policy]
purposes = {purposes}
k = {k}

[models]
dir = "{MODELS}"
"""


RunNode = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_node(tmp_path: Path) -> RunNode:
    """Run ``kazoe run --config <toml> [args]`` as a real process; returns the result."""

    def run(toml: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"node-{len(list(tmp_path.glob('node-*.toml')))}.toml"
        config.write_text(toml, encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
