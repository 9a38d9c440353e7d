"""Bad input through the real CLI: one clear line and the right exit code, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.brokers.dev import DevBroker, free_port
from tests.e2e.conftest import RunNode, Scene, make_scene, node_toml

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny(scenes_dir: Path) -> Scene:
    return make_scene(
        scenes_dir, "tiny", "--people", "2", "--fps", "5", "--seconds", "12",
        "--width", "640", "--height", "360", "--seed", "2",
    )  # fmt: skip


def kazoe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_clear_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("kazoe:")]
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = kazoe("run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert_one_clear_line(result.stderr, "nope.toml", "not found")


def test_check_config_names_every_bad_key(tmp_path: Path, tiny: Scene) -> None:
    config = tmp_path / "bad.toml"
    text = node_toml(None, node_id="Node A", source=tiny.video, state=tmp_path / "s")
    config.write_text(text.replace("k = 2", "k = 1\nretension_days = 3"), encoding="utf-8")
    result = kazoe("check-config", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{config}: node.id = 'Node A':") for line in lines), lines
    assert any("policy.k = 1:" in line and "greater than or equal to 2" in line for line in lines)
    assert any("policy.retension_days" in line and "unknown key" in line for line in lines)


def test_check_config_accepts_a_valid_file(tmp_path: Path, tiny: Scene) -> None:
    config = tmp_path / "good.toml"
    config.write_text(node_toml(None, node_id="node-a", source=tiny.video, state=tmp_path), "utf-8")
    result = kazoe("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_purpose_not_declared_refuses_to_start(tmp_path: Path, tiny: Scene) -> None:
    config = tmp_path / "p.toml"
    toml = node_toml(
        None, node_id="node-a", source=tiny.video, state=tmp_path, purposes='["demographics"]'
    )
    config.write_text(toml, "utf-8")
    result = kazoe("run", "--config", str(config), "--once")
    assert result.returncode == 2
    assert_one_clear_line(result.stderr, "'people'", "'footfall'")


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "not found"), (b"this is not a video\n" * 50, "not a readable video")],
    ids=["missing", "corrupt"],
)
def test_bad_video_file_exits_1(
    tmp_path: Path, run_node: RunNode, content: bytes | None, needle: str
) -> None:
    video = tmp_path / "clip.mp4"
    if content is not None:
        video.write_bytes(content)
    result = run_node(
        node_toml(None, node_id="node-a", source=video, state=tmp_path / "s"), "--once"
    )
    assert result.returncode == 1
    assert_one_clear_line(result.stderr, str(video), needle)


def test_models_not_built_exits_1(tmp_path: Path, run_node: RunNode, tiny: Scene) -> None:
    toml = node_toml(None, node_id="node-a", source=tiny.video, state=tmp_path / "s")
    toml = toml.replace(str(Path("models") / "build"), str(tmp_path / "empty-models"))
    result = run_node(toml, "--once")
    assert result.returncode == 1
    assert_one_clear_line(result.stderr, "make models")


def test_wrong_password_is_one_clear_line(
    broker: DevBroker, tmp_path: Path, run_node: RunNode, tiny: Scene
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    toml = node_toml(
        broker, node_id="node-a", source=tiny.video, state=tmp_path / "s", password_file=wrong
    )
    result = run_node(toml, "--once", "--ack-timeout", "3")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "refused the password" in line]
    assert len(refusals) == 1, result.stderr
    assert "'node-a'" in refusals[0]
    assert "[mqtt].password_file" in refusals[0]


def test_unreachable_broker_keeps_windows_for_the_next_run(
    tmp_path: Path, run_node: RunNode, tiny: Scene
) -> None:
    """Closed windows survive a run without a broker and go out, in order, on the next one."""
    port = free_port()
    state = tmp_path / "state"
    # Recent windows: older ones would be purged by retention (7 days) before they are sent.
    start = datetime.now(tz=UTC).replace(second=0, microsecond=0).isoformat()
    with DevBroker(["node-a"], port=port, state_dir=tmp_path / "broker") as broker:
        toml = node_toml(
            broker, node_id="node-a", source=tiny.video, state=state, window_s=5, start=start
        )
    # The broker is gone now: the first run analyses everything but cannot deliver.
    first = run_node(toml, "--once", "--ack-timeout", "2")
    assert first.returncode == 1
    assert_one_clear_line(first.stderr, "not acknowledged", "next run")
    assert "Traceback" not in first.stderr
    with DevBroker(["node-a"], port=port, state_dir=tmp_path / "broker") as broker:
        from simulator.brokers.dev import ProbeClient

        with ProbeClient(
            broker.host, broker.port, username="watcher", password=broker.password("watcher")
        ) as watch:
            assert not watch.connect().is_failure
            watch.subscribe("kazoe/v1/node-a/counts")
            second = run_node(toml, "--once")
            assert second.returncode == 0, second.stderr[-2000:]
            seqs = [json.loads(m.payload)["seq"] for m in watch.received("kazoe/v1/node-a/counts")]
    per_run = len(seqs) // 2
    assert per_run >= 2
    assert seqs == list(range(1, 2 * per_run + 1)), "windows of both runs, in seq order, no gap"


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.97], ids=["empty", "half", "tail-cut"])
def test_truncated_video_is_one_clear_line(
    tmp_path: Path, run_node: RunNode, tiny: Scene, keep: float
) -> None:
    data = tiny.video.read_bytes()
    video = tmp_path / "cut.mp4"
    video.write_bytes(data[: int(len(data) * keep)])
    result = run_node(
        node_toml(None, node_id="node-a", source=video, state=tmp_path / "s"),
        "--once",
        "--ack-timeout",
        "1",
    )
    assert "Traceback" not in result.stderr
    # An MP4 cut anywhere loses its index (written last), so OpenCV cannot open it at all.
    assert result.returncode == 1
    assert_one_clear_line(result.stderr, str(video), "not a readable video")
