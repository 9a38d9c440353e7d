"""The development broker config: authentication, per-node ACLs, persistence, scripts."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import BrokerError
from edge.testing import sample_counts, sample_status
from simulator.brokers.dev import BROKER_CONFIG_DIR, DevBroker, ProbeClient

ProbeFactory = Callable[..., ProbeClient]
SUCCESS = 0
NOT_AUTHORIZED = 135
SCRIPT = BROKER_CONFIG_DIR / "make-dev-passwords.sh"

pytestmark = pytest.mark.integration


def code(reason: ReasonCode | None) -> int | None:
    return None if reason is None else reason.value


def test_node_publishes_its_own_counts_and_status(probe: ProbeFactory) -> None:
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/#")
    node = probe("node-a")

    counts = node.publish("kazoe/v1/node-a/counts", sample_counts("node-a").to_json())
    status = node.publish("kazoe/v1/node-a/status", sample_status("node-a").to_json(), retain=True)
    notice = node.publish("kazoe/v1/node-a/notice", b'{"k": 5}', retain=True)

    assert [code(counts), code(status), code(notice)] == [SUCCESS, SUCCESS, SUCCESS]
    got = watcher.wait_for(lambda msgs: len(msgs) == 3)
    assert got, f"watcher received only {watcher.messages}"
    assert [m.topic for m in watcher.messages] == [
        "kazoe/v1/node-a/counts",
        "kazoe/v1/node-a/status",
        "kazoe/v1/node-a/notice",
    ]


@pytest.mark.parametrize(
    "topic",
    [
        "kazoe/v1/node-b/counts",  # another node's namespace
        "kazoe/v1/node-b/status",
        "kazoe/v1/node-a/debug",  # not one of the three leaves
        "kazoe/v1/node-a/counts/extra",
        "other/topic",
    ],
)
def test_node_cannot_write_outside_its_topics(probe: ProbeFactory, topic: str) -> None:
    watcher = probe("watcher")
    watcher.subscribe("#")
    node = probe("node-a")

    denied = node.publish(topic, b"forged")
    # A marker from the same client after the forged message: once the watcher
    # has the marker, it would already have had the forged message.
    node.publish("kazoe/v1/node-a/status", sample_status("node-a").to_json())

    assert denied == NOT_AUTHORIZED, f"PUBACK was {denied}"
    assert watcher.wait_for(lambda msgs: any(m.topic == "kazoe/v1/node-a/status" for m in msgs))
    assert watcher.received(topic) == []


def test_node_reads_nothing(probe: ProbeFactory) -> None:
    spy = probe("node-a")
    spy.subscribe("kazoe/v1/#")
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/#")
    other = probe("node-b")

    other.publish("kazoe/v1/node-b/counts", sample_counts("node-b").to_json())
    assert watcher.wait_for(lambda msgs: len(msgs) == 1), "watcher did not get node-b's window"
    # The broker writes to a client's socket in order: the PUBACK of this later
    # publish arrives after anything it routed to the spy earlier.
    spy.publish("kazoe/v1/node-a/status", sample_status("node-a").to_json())

    assert spy.messages == []


@pytest.mark.parametrize("topic", ["kazoe/v1/node-a/counts", "kazoe/v1/watcher/counts"])
def test_watcher_cannot_publish(probe: ProbeFactory, topic: str) -> None:
    watcher = probe("watcher")

    reason = watcher.publish(topic, sample_counts("node-a").to_json())

    assert reason == NOT_AUTHORIZED, f"PUBACK was {reason}"


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("node-a", "wrong-password"), ("stranger", "whatever"), ("node-a", "")],
    ids=["anonymous", "wrong-password", "unknown-user", "empty-password"],
)
def test_bad_credentials_are_refused(
    probe: ProbeFactory, user: str | None, password: str | None
) -> None:
    client = probe(user, password, connect=False)

    reason = client.connect()

    assert reason.is_failure, f"{user!r} was let in"
    assert reason.value == NOT_AUTHORIZED


def test_retained_status_survives_a_clean_restart(broker: DevBroker, probe: ProbeFactory) -> None:
    node = probe("node-a")
    node.publish("kazoe/v1/node-a/status", sample_status("node-a").to_json(), retain=True)
    node.close()

    broker.restart()
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/+/status")

    assert watcher.wait_for(lambda msgs: len(msgs) == 1), "retained status lost in restart"
    assert watcher.messages[0].retain


def test_broker_on_a_taken_port_fails_with_its_log(broker: DevBroker, tmp_path: Path) -> None:
    second = DevBroker(["node-a"], port=broker.port, state_dir=tmp_path / "second")

    with pytest.raises(BrokerError, match="Address already in use"), second:
        pass

    assert not second.running


def test_broker_process_is_gone_after_exit(tmp_path: Path) -> None:
    with DevBroker(["node-a"], state_dir=tmp_path / "b") as dev:
        pid = dev.pid
        assert dev.running
    assert pid is not None

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_probe_client_times_out_clearly_on_a_dead_port(broker: DevBroker) -> None:
    broker.kill()
    client = ProbeClient(broker.host, broker.port)

    with pytest.raises(BrokerError, match="cannot connect"):
        client.connect(timeout_s=0.5)
    client.close()


# -- scripts --------------------------------------------------------------------------------


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_password_script_writes_private_files_and_reuses_them(tmp_path: Path) -> None:
    first = run_script(tmp_path, "node-a", "node-b")
    secret = (tmp_path / "node-a.password").read_text()
    second = run_script(tmp_path, "node-a", "node-b")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "node-a.password").read_text() == secret, "password changed on re-run"
    users = [line.split(":")[0] for line in (tmp_path / "passwd").read_text().splitlines()]
    assert users == ["node-a", "node-b", "watcher"]
    for name in ("passwd", "node-a.password", "node-b.password", "watcher.password"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
    assert len(secret.strip()) == 32


@pytest.mark.parametrize(
    ("node_id", "message"),
    [("watcher", "reserved"), ("Node-A", "invalid node id"), ("a/b", "invalid node id")],
)
def test_password_script_rejects_bad_node_ids(tmp_path: Path, node_id: str, message: str) -> None:
    result = run_script(tmp_path, node_id)

    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "passwd").exists()


def test_ensure_mosquitto_succeeds_when_installed() -> None:
    result = subprocess.run(
        ["bash", str(BROKER_CONFIG_DIR / "ensure-mosquitto.sh")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
