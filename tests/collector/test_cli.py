"""``kazoe-collector``: one line per problem, exit 2 on a bad config, clean stop on SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.cli import main
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker, free_port
from simulator.fleet.collector_harness import SimNode

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "c.toml", '[database]\nurl = "x.db"\n')
    assert main(["check-config", str(config)]) == 0
    assert "ok (SQLite" in capsys.readouterr().out


def test_a_bad_config_is_one_line_per_problem_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", "[http]\nprot = 80\n[rollup]\nk = 1\n")
    for argv in (["check-config", str(config)], ["serve", "--config", str(config)]):
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert sorted(lines) == [
            f"{config}: http.prot = 80: unknown key (check the spelling; see collector/README.md)",
            f"{config}: rollup.k = 1: Input should be greater than or equal to 2",
        ]


def test_serve_refuses_an_open_dashboard_beyond_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", "[http]\nhost = '0.0.0.0'\n")
    assert main(["serve", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"{config}: http = ")
    assert "beyond loopback: set http.token_file or http.basic_user" in line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "config file not found"),
        ("[http]\ntoken_file = '/nonexistent/token'\n", "http.token_file: cannot read"),
        ("[mqtt]\npassword_file = '/nonexistent/pw'\n", "mqtt.password_file: cannot read"),
    ],
)
def test_missing_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, message: str
) -> None:
    config = tmp_path / "c.toml"
    if text is not None:
        write(config, text)
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def serve(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def config_for(broker: DevBroker, tmp_path: Path, db: str, http_port: int) -> Path:
    return write(
        tmp_path / "collector.toml",
        f"""
[mqtt]
port = {broker.port}
password_file = "{broker.password_file("watcher")}"
client_id = "cli-collector"

[database]
url = "{db}"

[http]
port = {http_port}

[metrics]
port = 0
""",
    )


def health(port: int) -> dict[str, object] | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        body = conn.getresponse().read()
        conn.close()
    except OSError:
        return None
    loaded: dict[str, object] = json.loads(body)
    return loaded


@pytest.mark.integration
def test_serve_stores_windows_and_stops_cleanly_on_sigterm(
    fleet_broker: DevBroker, tmp_path: Path
) -> None:
    port = free_port()
    proc = serve(config_for(fleet_broker, tmp_path, str(tmp_path / "c.db"), port))
    node = SimNode(fleet_broker, "node-01")
    try:
        wait_until(lambda: (health(port) or {}).get("mqtt_connected") is True, 20, "the collector")
        node.window(1)
        node.window(2)
        wait_until(lambda: (health(port) or {}).get("stored") == 2, 10, "two windows stored")
    finally:
        node.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "dashboard on http://127.0.0.1:" in err


@pytest.mark.integration
def test_an_unreachable_database_is_one_line_and_exit_1(
    fleet_broker: DevBroker, tmp_path: Path
) -> None:
    proc = serve(config_for(fleet_broker, tmp_path, "postgresql://kazoe@127.0.0.1:1/kazoe", 0))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if "kazoe-collector:" in line and "INFO" not in line]
    assert lines == [lines[0]]
    assert "database postgresql://kazoe@127.0.0.1:1/kazoe unavailable" in lines[0]
    assert "Traceback" not in err


@pytest.mark.integration
def test_a_busy_dashboard_port_is_one_line_and_exit_1(
    fleet_broker: DevBroker, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = serve(config_for(fleet_broker, tmp_path, str(tmp_path / "c.db"), port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"cannot serve the dashboard on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
    time.sleep(0)  # keep the port bound until the collector gave up
