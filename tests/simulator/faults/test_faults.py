"""Fault simulation: the proxy's cut / stall / drop and broker restarts, seen by real clients.

Every wait is bounded; each test says what a node (``edge.delivery.mqtt.MqttPublisher``) or a
blocking probe client notices.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from edge.config import MqttConfig
from edge.delivery.mqtt import MqttPublisher
from edge.errors import BrokerError
from edge.testing import sample_counts, sample_status, wait_until
from simulator.brokers.dev import DevBroker, ProbeClient
from simulator.faults.proxy import FaultError, FaultProxy
from simulator.faults.schedule import (
    BROKER_ACTIONS,
    PROXY_ACTIONS,
    BrokerRestarts,
    Fault,
    ProxySchedule,
    parse_schedule,
)

NODE = "node-a"


@pytest.fixture
def proxy(broker: DevBroker) -> Iterator[FaultProxy]:
    with FaultProxy(broker.host, broker.port) as p:
        yield p


def _probe(broker: DevBroker, port: int) -> ProbeClient:
    return ProbeClient(broker.host, port, username=NODE, password=broker.password(NODE))


def _publisher(broker: DevBroker, port: int) -> MqttPublisher:
    config = MqttConfig(
        host=broker.host,
        port=port,
        password_file=broker.password_file(NODE),
        keepalive_s=5,
        reconnect_min_s=0.2,
        reconnect_max_s=1,
    )
    return MqttPublisher(config, node_id=NODE, status=lambda state: sample_status(NODE, state))


def _stop(publisher: MqttPublisher) -> None:
    publisher.stop(sample_status(NODE, "offline", at=datetime.now(tz=UTC)), timeout_s=2)


@pytest.mark.integration
def test_messages_pass_through_the_proxy(broker: DevBroker, proxy: FaultProxy) -> None:
    with _probe(broker, proxy.port) as client:
        assert not client.connect().is_failure
        reason = client.publish(f"kazoe/v1/{NODE}/counts", b"{}")
        assert reason is not None
        assert not reason.is_failure
    assert proxy.stats.accepted == 1
    assert proxy.stats.bytes_up > 0
    assert proxy.stats.bytes_down > 0


@pytest.mark.integration
def test_cut_disconnects_the_node_and_it_reconnects(broker: DevBroker, proxy: FaultProxy) -> None:
    publisher = _publisher(broker, proxy.port)
    publisher.start()
    try:
        wait_until(lambda: publisher.connected, 10, "the node to connect through the proxy")
        assert proxy.cut() == 1
        wait_until(lambda: not publisher.connected, 5, "the node to notice the cut")
        wait_until(lambda: publisher.connected, 10, "the node to reconnect")
        assert publisher.take_reconnected()
        assert publisher.publish_counts(1, sample_counts(NODE).to_json())
        wait_until(lambda: publisher.take_acked() == [1], 5, "the PUBACK after reconnecting")
    finally:
        _stop(publisher)
    assert proxy.stats.cut == 1


@pytest.mark.integration
def test_stall_holds_the_puback_until_it_ends(broker: DevBroker, proxy: FaultProxy) -> None:
    with _probe(broker, proxy.port) as client:
        assert not client.connect().is_failure
        proxy.stall(2.0)
        assert proxy.stalled
        started = time.monotonic()
        with pytest.raises(BrokerError, match="no PUBACK"):
            client.publish(f"kazoe/v1/{NODE}/counts", b"{}", timeout_s=1.0)
        reason = client.publish(f"kazoe/v1/{NODE}/counts", b"{}", timeout_s=5.0)
        assert reason is not None
        assert not reason.is_failure
        assert time.monotonic() - started >= 1.9
    assert not proxy.stalled


@pytest.mark.integration
def test_drop_refuses_new_connections_until_it_ends(broker: DevBroker, proxy: FaultProxy) -> None:
    proxy.drop(1.5)
    with _probe(broker, proxy.port) as refused, pytest.raises(BrokerError):
        refused.connect(timeout_s=1.0)
    assert proxy.stats.refused >= 1
    wait_until(lambda: not proxy.dropping, 3, "the drop to end")
    with _probe(broker, proxy.port) as client:
        assert not client.connect().is_failure


@pytest.mark.integration
def test_proxy_schedule_applies_faults_in_order(broker: DevBroker, proxy: FaultProxy) -> None:
    faults = parse_schedule("0.2:stall=0.3, 0.6:cut", PROXY_ACTIONS)
    with _probe(broker, proxy.port) as client:
        assert not client.connect().is_failure
        with ProxySchedule(proxy, faults) as schedule:
            assert schedule.wait(2, timeout_s=5)
        assert [f.action for _, f in schedule.done] == ["stall", "cut"]
    assert proxy.stats.cut == 1


@pytest.mark.integration
def test_broker_kill_and_restart_on_a_schedule(broker: DevBroker) -> None:
    publisher = _publisher(broker, broker.port)
    publisher.start()
    try:
        wait_until(lambda: publisher.connected, 10, "the node to connect")
        with BrokerRestarts(broker, [Fault(0.1, "kill", 1.0)]) as restarts:
            wait_until(lambda: not publisher.connected, 5, "the node to notice the crash")
            assert restarts.wait(1, timeout_s=5)
        assert broker.running
        wait_until(lambda: publisher.connected, 10, "the node to reconnect to the restarted broker")
    finally:
        _stop(publisher)


@pytest.mark.parametrize(
    ("text", "actions", "message"),
    [
        ("10:explode", PROXY_ACTIONS, "use SECONDS:ACTION with cut, stall=SECONDS, drop=SECONDS"),
        ("10:stall", PROXY_ACTIONS, "'10:stall'"),
        ("10:cut=3", PROXY_ACTIONS, "'10:cut=3'"),
        ("", PROXY_ACTIONS, "the schedule is empty"),
        ("x:kill=5", BROKER_ACTIONS, "kill=SECONDS, stop=SECONDS, restart"),
    ],
)
def test_bad_schedules_say_what_is_allowed(
    text: str, actions: dict[str, bool], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text, actions)


def test_schedule_is_sorted_by_time() -> None:
    faults = parse_schedule("30:drop=10, 5:cut, 12.5:stall=2", PROXY_ACTIONS)
    assert faults == [Fault(5, "cut"), Fault(12.5, "stall", 2), Fault(30, "drop", 10)]


def test_calls_on_a_stopped_proxy_are_a_clear_error() -> None:
    proxy = FaultProxy("127.0.0.1", 1)
    with pytest.raises(FaultError, match="call start\\(\\) first"):
        proxy.cut()


@pytest.mark.integration
def test_faults_cli_runs_a_broker_behind_the_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.faults.cli import faults_main

    args = ["--dev-broker", "--nodes", "cam-1", "--schedule", "0.2:cut", "--seconds", "0.8"]
    assert faults_main(args) == 0
    out = capsys.readouterr().out
    assert "  user cam-1: password file " in out
    assert "proxy listening on 127.0.0.1:" in out
    assert out.rstrip().endswith("bytes up 0, down 0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --target-port (an existing broker) or --dev-broker"),
        (["--target-port", "1883", "--broker-schedule", "5:restart"], "needs --dev-broker"),
        (["--target-port", "1883", "--schedule", "5:boom"], "'5:boom': use SECONDS:ACTION"),
        (["--target-port", "1883", "--schedule", "5:cut", "--repeat", "2"], "--repeat must be"),
    ],
)
def test_faults_cli_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from simulator.faults.cli import faults_main

    with pytest.raises(SystemExit) as info:
        faults_main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
