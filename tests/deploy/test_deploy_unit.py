"""deploy/kazoe.service and deploy/kazoe.toml: what systemd and the node will make of them."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "kazoe.service"
EXAMPLE = DEPLOY / "kazoe.toml"
INSTALLED_KAZOE = "/opt/kazoe/.venv/bin/kazoe"
MAX_EXPOSURE = 2.5  # systemd-analyze security: below 3 is rated "OK"


def directives(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return directives(UNIT.read_text(encoding="utf-8"))


def runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's kazoe.

    ``systemd-analyze verify`` insists that the ExecStart binary exists; on this
    machine it is in the venv, on a node in /opt/kazoe.
    """
    kazoe = Path(sys.executable).with_name("kazoe")
    assert kazoe.is_file(), f"{kazoe} is missing: install the project into the venv"
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_KAZOE in text
    copy = tmp_path / "kazoe.service"
    copy.write_text(text.replace(INSTALLED_KAZOE, str(kazoe)), encoding="utf-8")
    return copy


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd to run this check)")
    return tool


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = systemd_analyze()

    result = subprocess.run(
        [tool, "verify", "--man=no", str(runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"systemd-analyze warned:\n{result.stderr}"


def test_systemd_rates_the_sandbox_exposure_as_ok(tmp_path: Path) -> None:
    tool = systemd_analyze()

    result = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security check (systemd < 250)")

    match = re.search(r"Overall exposure level for kazoe\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_is_a_notify_service_with_a_watchdog_that_always_restarts(
    unit: dict[str, list[str]],
) -> None:
    assert unit["Type"] == ["notify"]
    assert int(unit["WatchdogSec"][0]) > 0
    assert unit["Restart"] == ["always"]
    assert unit["ExecStart"] == [
        f"{INSTALLED_KAZOE} run --config /etc/kazoe/kazoe.toml --ack-timeout 20"
    ]
    # A clean stop waits up to --ack-timeout for the last window, then sends "offline"
    # (5 s at most): systemd must not SIGKILL it before that.
    assert int(unit["TimeoutStopSec"][0]) >= 20 + 5
    # A config error cannot be fixed by restarting.
    assert unit["RestartPreventExitStatus"] == ["2"]


def test_unit_is_sandboxed_but_can_open_the_camera(unit: dict[str, list[str]]) -> None:
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "kazoe",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "DevicePolicy": "closed",
    }.items():
        assert unit.get(key) == [value], f"{key}={unit.get(key)}"
    assert unit["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "PrivateDevices" not in unit  # it would hide /dev/video*
    assert "PrivateUsers" not in unit  # it would unmap the video group
    assert any(rule.startswith("char-video4linux ") for rule in unit["DeviceAllow"])
    assert "video" in unit["SupplementaryGroups"]


def test_example_config_is_valid_and_fits_the_unit(unit: dict[str, list[str]]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check-config", str(EXAMPLE)])
    settings = load_config(EXAMPLE)

    assert code == 0, err.getvalue()
    # The state lives where systemd lets the service write, and nowhere else.
    assert settings.node.state_dir == Path("/var/lib") / unit["StateDirectory"][0]
    # The key comes from the credential the unit loads.
    assert settings.mqtt.tls is not None
    credential = unit["LoadCredential"][0].split(":")[0]
    assert settings.mqtt.tls.key_file == Path("/run/credentials/kazoe.service") / credential
    assert settings.mqtt.port == 8883
