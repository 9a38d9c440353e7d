"""``kazoe-sim replay``: derived configs per file, and a real two-file replay through a broker."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from edge.config import load_config
from edge.delivery.subscriber import Subscriber
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.replay import replay_main
from simulator.scenes.scene import scene_main
from simulator.scoring.counts_file import node_windows, read_counts
from simulator.scoring.record import Recorder
from tests.simulator.videos import tiny_video

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "build"


def base_config(tmp_path: Path, *, port: int = 1, password: Path | None = None) -> Path:
    pw = f'password_file = "{password}"\n' if password else ""
    text = f"""
[node]
id = "cam"
state_dir = "{tmp_path / "state"}"

[source]
uri = "unused.mp4"
start_time = "2026-03-01T08:00:00Z"

[mqtt]
port = {port}
username = "someone"
reconnect_min_s = 0.2
reconnect_max_s = 1.0
{pw}
[aggregate]
window_seconds = 5

[policy]
purposes = ["footfall"]
k = 2

[models]
dir = "{MODELS}"
"""
    config = tmp_path / "node.toml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir()
    tiny_video(videos / "b-second.mp4", 15)  # 3 s
    tiny_video(videos / "a-first.mp4", 40)  # 8 s: replayed first (name order)
    (videos / "notes.txt").write_text("not a video")
    return videos


def _configs(tmp_path: Path) -> list[dict[str, object]]:
    return [tomllib.loads(p.read_text()) for p in sorted((tmp_path / "work").glob("*.toml"))]


def test_one_stream_continues_the_media_clock(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(folder), "--config", str(base_config(tmp_path)), "--work", str(tmp_path / "work")]
    assert replay_main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] a-first.mp4: node cam, 8.0 s from 2026-03-01T08:00:00Z" in out
    assert "[2/2] b-second.mp4: node cam, 3.0 s from 2026-03-01T08:00:08Z" in out
    assert "--source" in out
    assert "--once" in out
    first, second = _configs(tmp_path)
    assert first["node"] == second["node"] == {"id": "cam", "state_dir": str(tmp_path / "state")}
    assert first["policy"] == {"purposes": ["footfall"], "k": 2}
    for path in (tmp_path / "work").glob("*.toml"):
        load_config(path)  # the node accepts what was derived


def test_node_per_file_gets_its_own_id_state_and_password(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(folder), "--config", str(base_config(tmp_path)), "--work", str(tmp_path / "work")]
    args += ["--node-per-file", "--password-dir", str(tmp_path / "pw"), "--dry-run"]
    assert replay_main(args) == 0
    configs = _configs(tmp_path)
    assert [c["node"] for c in configs] == [
        {"id": "cam-a-first", "state_dir": str(tmp_path / "state" / "cam-a-first")},
        {"id": "cam-b-second", "state_dir": str(tmp_path / "state" / "cam-b-second")},
    ]
    mqtt = configs[1]["mqtt"]
    assert isinstance(mqtt, dict)
    assert mqtt["password_file"] == str(tmp_path / "pw" / "cam-b-second.password")
    assert "username" not in mqtt  # topics are bound to each node's own user
    assert "from 2026-03-01T08:00:00Z" in capsys.readouterr().out.splitlines()[-2]


@pytest.mark.parametrize(
    ("setup", "extra", "code", "message"),
    [
        ("empty", [], 1, "holds no video files"),
        ("no-config", [], 2, "config file not found"),
        ("bad-config", [], 2, "policy.k = 1: Input should be greater than or equal to 2"),
        ("ok", ["--password-dir", "x"], 2, "--password-dir is for --node-per-file"),
        ("ok", ["--as-one-stream", "--node-per-file"], 2, "not allowed with argument"),
    ],
)
def test_bad_input_is_one_clear_line(  # noqa: PLR0917 - pytest passes these by name
    tmp_path: Path,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    config = base_config(tmp_path)
    target = folder
    if setup == "empty":
        target = tmp_path / "empty"
        target.mkdir()
    elif setup == "no-config":
        config = tmp_path / "missing.toml"
    elif setup == "bad-config":
        config.write_text(config.read_text().replace("k = 2", "k = 1"))
    try:
        got = replay_main([str(target), "--config", str(config), "--dry-run", *extra])
    except SystemExit as exc:
        got = int(str(exc.code))
    err = capsys.readouterr().err
    assert got == code
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.integration
@pytest.mark.slow
def test_two_files_replayed_as_one_stream_through_a_broker(tmp_path: Path) -> None:
    if not (MODELS / "models.json").is_file():
        pytest.fail("models are not built: run 'make models' (make test does it)")
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, seed in (("1.mp4", 3), ("2.mp4", 4)):
        out = ["--out", str(videos / name), "--truth", str(tmp_path / f"{name}.json")]
        size = ["--width", "640", "--height", "360", "--fps", "5", "--seconds", "7"]
        assert scene_main(["--people", "2", "--seed", str(seed), *size, *out]) == 0
    with DevBroker(("cam",), state_dir=tmp_path / "broker") as broker:
        config = base_config(tmp_path, port=broker.port, password=broker.password_file("cam"))
        config.write_text(config.read_text().replace('username = "someone"\n', ""))
        sink = io.StringIO()
        recorder = Recorder(sink)
        sub = Subscriber(
            host=broker.host,
            port=broker.port,
            topics=["kazoe/v1/+/counts"],
            on_message=recorder.on_message,
            username="watcher",
            password=broker.password("watcher"),
        )
        sub.start()
        try:
            assert sub.subscribed.wait(10)
            assert replay_main([str(videos), "--config", str(config)]) == 0
            # 2 x 7 s from 08:00:00 in 5 s windows: [0, 5) [5, 10) then [5, 10) [10, 15)
            wait_until(lambda: recorder.stats.stored >= 4, 20, "four recorded windows")
        finally:
            sub.stop()
    counts = tmp_path / "counts.jsonl"
    counts.write_text(sink.getvalue(), encoding="utf-8")
    payloads = read_counts(counts)
    assert [p["seq"] for p in payloads] == [1, 2, 3, 4]  # one outbox across files
    _, length, windows = node_windows(payloads, "cam")
    assert length == 5
    starts = [w.start - windows[0].start for w in windows]
    assert starts == [0, 5, 10]
    assert [w.messages for w in windows] == [1, 2, 1]  # the boundary window, in two parts
