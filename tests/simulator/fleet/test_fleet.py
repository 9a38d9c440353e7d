"""``kazoe-sim fleet``: virtual nodes through the node's publisher, fast dev credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from pathlib import Path

import pytest

from simulator.brokers.dev import ProbeClient
from simulator.brokers.passwords import hash_password, write_dev_passwords
from simulator.fleet.broker import FastDevBroker
from simulator.fleet.cli import fleet_main
from simulator.fleet.fdselect import poll_select


def test_password_hash_is_mosquittos_pbkdf2_sha512() -> None:
    salt = bytes(range(12))
    line = hash_password("secret", salt)
    _, kind, rounds, b64salt, b64hash = line.split("$")
    assert (kind, rounds, base64.b64decode(b64salt)) == ("7", "101", salt)
    assert base64.b64decode(b64hash) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101, 64)


def test_dev_passwords_keep_existing_secrets_and_reject_bad_ids(tmp_path: Path) -> None:
    (tmp_path / "cam-1.password").write_text("kept\n", encoding="utf-8")
    passwd = write_dev_passwords(tmp_path, ["cam-1", "cam-2"])
    users = [line.split(":")[0] for line in passwd.read_text().splitlines()]
    assert users == ["cam-1", "cam-2", "watcher"]
    assert (tmp_path / "cam-1.password").read_text() == "kept\n"
    assert oct((tmp_path / "cam-2.password").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="invalid node id 'Cam'"):
        write_dev_passwords(tmp_path, ["Cam"])
    with pytest.raises(ValueError, match="'watcher' is reserved"):
        write_dev_passwords(tmp_path, ["watcher"])


def test_poll_select_answers_like_select() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert poll_select([a], [b], [], 0) == ([], [b], [])
        b.send(b"x")
        assert poll_select([a], [], [], 1.0) == ([a], [], [])
        with pytest.raises(ValueError, match="negative"):
            poll_select([-1], [], [], 0)


@pytest.mark.integration
def test_fast_dev_broker_accepts_its_users_and_refuses_others(tmp_path: Path) -> None:
    with FastDevBroker(["cam-1"], state_dir=tmp_path / "b") as broker:
        ok = ProbeClient(
            broker.host, broker.port, username="cam-1", password=broker.password("cam-1")
        )
        with ok:
            assert not ok.connect().is_failure
            reason = ok.publish("kazoe/v1/cam-1/counts", b"{}")
            assert reason is not None
            assert not reason.is_failure
        bad = ProbeClient(broker.host, broker.port, username="cam-1", password="wrong")  # noqa: S106
        with bad:
            assert bad.connect().is_failure


def _fleet(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert fleet_main([*args, "--dev-broker", "--json"]) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


@pytest.mark.integration
def test_every_window_is_acknowledged_and_received(capsys: pytest.CaptureFixture[str]) -> None:
    doc = _fleet(capsys, "--nodes", "5", "--window", "1", "--seconds", "3.5", "--prod-autosave")
    assert doc["connected"] == 5
    assert isinstance(doc["windows"], int)
    assert doc["windows"] >= 10
    assert doc["sent"] == doc["acked"] == doc["received"] == doc["windows"]
    assert doc["unacked"] == doc["unsent"] == 0
    latency = doc["latency_ms"]
    assert isinstance(latency, dict)
    assert set(latency) == {"p50", "p90", "p99", "max"}


@pytest.mark.integration
@pytest.mark.slow
def test_more_clients_than_select_can_watch(capsys: pytest.CaptureFixture[str]) -> None:
    # 3 descriptors per client: 400 clients pass descriptor 1024, where select() stops.
    doc = _fleet(capsys, "--nodes", "400", "--window", "2", "--seconds", "3", "--jitter", "0.5")
    assert doc["connected"] == 400
    assert doc["acked"] == doc["windows"]
    assert isinstance(doc["windows"], int)
    assert doc["windows"] >= 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0", "--seconds", "1"], "--nodes must be between 1 and 5000"),
        (["--nodes", "2", "--seconds", "0"], "--seconds must be in (0, 86400]"),
        (["--nodes", "2", "--seconds", "1", "--prefix", "Bad!"], "--prefix 'Bad!'"),
        (["--nodes", "2", "--seconds", "1", "--dev-broker", "--password-dir", "x"], "--dev-broker"),
        (["--nodes", "2", "--seconds", "1", "--cert-dir", "c"], "--cert-dir needs --ca-file"),
        (["--nodes", "2", "--seconds", "1", "--prod-autosave"], "are for --dev-broker"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        fleet_main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.integration
def test_unreachable_broker_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.brokers.dev import free_port

    code = fleet_main(
        ["--nodes", "2", "--seconds", "0.5", "--port", str(free_port()), "--connect-timeout", "1"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "connected     0/2" in out
    assert "note: only 0 of 2 nodes connected within 1 s" in out


def test_a_virtual_node_publishes_sealed_windows_in_seq_order_and_resends_after_reconnect() -> None:
    from edge.config import MqttConfig
    from edge.payload import validate
    from edge.testing import RecordingPublisher
    from simulator.fleet.nodes import FleetSpec, make_node

    node = make_node("fleet-0001", MqttConfig(), FleetSpec(nodes=1, window_s=10, seconds=1), 0)
    fake = RecordingPublisher(auto_ack=False)
    node.publisher = fake
    node.prepare(0.0, 10.0, 30)  # the next window, sealed ahead in idle time
    node.close_window(0.0, 10.0, 30)
    node.prepare(0.0, 10.0, 30)  # closed already: no new seq
    node.close_window(10.0, 20.0, 30)  # sealed on demand
    assert node.flush(lambda: 0.0) == 2
    assert fake.sent_seqs == [1, 2]
    docs = [validate("counts.schema.json", body) for _, body in fake.counts]
    assert {d["node_id"] for d in docs} == {"fleet-0001"}
    fake.ack(1)
    assert node.take_latencies(0.5) == [0.5]
    fake.drop_connection()
    assert node.flush(lambda: 1.0) == 0
    fake.restore_connection()
    assert node.flush(lambda: 2.0) == 1  # the unacknowledged window goes out again
    assert node.resent == 1
