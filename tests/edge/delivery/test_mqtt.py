"""MqttPublisher against a real Mosquitto (and one race, against a fake client)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import MqttConfig
from edge.delivery.mqtt import LinkState, MqttPublisher
from edge.payload import StatusPayload
from edge.testing import sample_counts, sample_status, wait_until
from simulator.brokers.dev import DevBroker, ProbeClient, free_port
from simulator.brokers.probe import ProbeMessage

ProbeFactory = Callable[..., ProbeClient]
ConfigFactory = Callable[..., MqttConfig]
STATUS = "kazoe/v1/node-a/status"
NOTICE = "kazoe/v1/node-a/notice"
COUNTS = "kazoe/v1/node-a/counts"


def status_of(node_id: str) -> Callable[[LinkState], StatusPayload]:
    def make(state: LinkState) -> StatusPayload:
        reason = "connection lost" if state == "offline" else None
        return sample_status(node_id, state, reason=reason)

    return make


def states(messages: list[ProbeMessage]) -> list[str]:
    return [json.loads(m.payload)["state"] for m in messages if m.topic.endswith("/status")]


def collect_acks(pub: MqttPublisher, count: int, timeout_s: float = 5.0) -> list[int]:
    """Drain take_acked() until ``count`` seqs arrived (or fail after ``timeout_s``)."""
    acked: list[int] = []

    def enough() -> bool:
        acked.extend(pub.take_acked())
        return len(acked) >= count

    wait_until(enough, timeout_s, f"{count} PUBACK(s)")
    return acked


@pytest.fixture
def publishers() -> Iterator[list[MqttPublisher]]:
    """Publishers a test creates are stopped afterwards, whatever happened."""
    made: list[MqttPublisher] = []
    yield made
    for pub in made:
        pub.stop(sample_status("node-a", "offline"), timeout_s=1.0)


@pytest.fixture
def start_node(
    node_mqtt: ConfigFactory, publishers: list[MqttPublisher]
) -> Callable[..., MqttPublisher]:
    """``start_node(node_id="node-a", user=None, notice=None, **mqtt)``: a started publisher."""

    def start(
        node_id: str = "node-a",
        user: str | None = None,
        notice: bytes | None = None,
        **changes: object,
    ) -> MqttPublisher:
        user = user or node_id
        pub = MqttPublisher(
            node_mqtt(user, **changes),
            node_id=node_id,
            username=user,
            status=status_of(node_id),
            notice=notice,
        )
        publishers.append(pub)
        pub.start()
        return pub

    return start


@pytest.mark.integration
def test_birth_status_is_retained_online(
    start_node: Callable[..., MqttPublisher], probe: ProbeFactory
) -> None:
    pub = start_node()
    wait_until(lambda: pub.connected, 5, "the publisher to connect")

    watcher = probe("watcher")
    watcher.subscribe(STATUS)

    assert watcher.wait_for(lambda msgs: len(msgs) == 1), "no retained status"
    assert watcher.messages[0].retain
    assert states(watcher.messages) == ["online"]


@pytest.mark.integration
def test_notice_and_birth_are_republished_after_the_broker_lost_them(
    broker: DevBroker, start_node: Callable[..., MqttPublisher], probe: ProbeFactory
) -> None:
    pub = start_node(notice=b'{"purposes": ["footfall"]}')
    wait_until(lambda: pub.connected, 5, "the publisher to connect")

    broker.kill()  # a crash: retained messages since the last autosave are gone
    wait_until(lambda: not pub.connected, 5, "the publisher to notice the crash")
    broker.start()
    wait_until(lambda: pub.connected, 10, "the publisher to reconnect")
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/node-a/#")

    assert watcher.wait_for(lambda msgs: len(msgs) == 2), f"got {watcher.messages}"
    by_topic = {m.topic: m for m in watcher.messages}
    assert by_topic[NOTICE].payload == b'{"purposes": ["footfall"]}'
    assert by_topic[NOTICE].retain
    assert by_topic[STATUS].retain
    assert states(watcher.messages) == ["online"]
    assert pub.take_reconnected() is True
    assert pub.take_reconnected() is False


@pytest.mark.integration
def test_clean_stop_publishes_retained_offline(
    start_node: Callable[..., MqttPublisher], probe: ProbeFactory
) -> None:
    pub = start_node()
    wait_until(lambda: pub.connected, 5, "the publisher to connect")

    pub.stop(sample_status("node-a", "offline", reason="shutdown"), timeout_s=5)
    watcher = probe("watcher")
    watcher.subscribe(STATUS)

    assert watcher.wait_for(lambda msgs: len(msgs) == 1), "no retained status after stop"
    doc = json.loads(watcher.messages[0].payload)
    assert (doc["state"], doc["reason"]) == ("offline", "shutdown"), "not the explicit offline"
    assert not pub.connected


WILL_SCRIPT = """
import sys, time
from edge.config import MqttConfig
from edge.delivery.mqtt import MqttPublisher
from edge.testing import sample_status
cfg = MqttConfig.model_validate_json(sys.argv[1])
status = lambda s: sample_status("node-a", s, reason="connection lost" if s == "offline" else None)
MqttPublisher(cfg, node_id="node-a", status=status).start()
time.sleep(60)
"""


@pytest.mark.integration
def test_will_announces_offline_when_the_node_dies(
    node_mqtt: ConfigFactory, probe: ProbeFactory
) -> None:
    watcher = probe("watcher")
    watcher.subscribe(STATUS)
    config = node_mqtt("node-a").model_dump_json()
    node = subprocess.Popen([sys.executable, "-c", WILL_SCRIPT, config])
    try:
        assert watcher.wait_for(lambda msgs: "online" in states(msgs), 15), "node never came up"
        node.send_signal(signal.SIGKILL)  # no DISCONNECT, no clean stop
        node.wait(5)

        assert watcher.wait_for(lambda msgs: states(msgs)[-1:] == ["offline"], 10), "no Will"
    finally:
        node.kill()
        node.wait(5)
    doc = json.loads(watcher.messages[-1].payload)
    assert doc["reason"] == "connection lost"


@pytest.mark.integration
def test_counts_are_acked_after_puback(
    start_node: Callable[..., MqttPublisher], probe: ProbeFactory
) -> None:
    watcher = probe("watcher")
    watcher.subscribe(COUNTS)
    pub = start_node()
    wait_until(lambda: pub.connected, 5, "the publisher to connect")

    sent = [pub.publish_counts(seq, sample_counts("node-a", seq).to_json()) for seq in (7, 8, 9)]
    acked = collect_acks(pub, 3)

    assert sent == [True, True, True]
    assert sorted(acked) == [7, 8, 9]
    assert watcher.wait_for(lambda msgs: len(msgs) == 3)
    assert not any(m.retain for m in watcher.messages), "counts must not be retained"
    assert pub.take_acked() == []


@pytest.mark.integration
def test_broker_outage_refuses_counts_then_reports_the_reconnect(
    broker: DevBroker, start_node: Callable[..., MqttPublisher]
) -> None:
    pub = start_node()
    wait_until(lambda: pub.connected, 5, "the publisher to connect")
    assert pub.take_reconnected() is False, "a first connection is not a reconnect"

    broker.stop()
    wait_until(lambda: not pub.connected, 5, "the publisher to notice the outage")
    down = pub.publish_counts(1, sample_counts("node-a", 1).to_json())
    broker.start()
    wait_until(lambda: pub.connected, 10, "the publisher to reconnect")

    assert down is False
    assert pub.take_reconnected() is True
    assert pub.take_reconnected() is False
    assert pub.publish_counts(2, sample_counts("node-a", 2).to_json())
    acked = collect_acks(pub, 1)
    assert acked == [2]


@pytest.mark.integration
def test_wrong_password_is_logged_once_while_retrying(
    broker: DevBroker,
    start_node: Callable[..., MqttPublisher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    caplog.set_level(logging.ERROR, logger="kazoe.mqtt")

    pub = start_node(password_file=wrong)
    wait_until(
        lambda: broker.log_tail(200).count("not authorised") >= 2, 10, "two refused attempts"
    )

    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, refusals
    assert (
        "broker refused the password for user 'node-a'; check [mqtt].password_file" in refusals[0]
    )
    assert not pub.connected


@pytest.mark.integration
def test_puback_with_failure_code_is_logged_not_acked(
    start_node: Callable[..., MqttPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kazoe.mqtt")
    # node-a's credentials but node-b's topics: the ACL refuses every publish.
    pub = start_node(node_id="node-b", user="node-a")
    wait_until(lambda: pub.connected, 5, "the publisher to connect")

    assert pub.publish_counts(3, sample_counts("node-b", 3).to_json())
    wait_until(
        lambda: any("rejected window seq=3" in r.getMessage() for r in caplog.records),
        5,
        "the rejection to be logged",
    )
    assert pub.take_acked() == []
    assert any("rejected the status" in r.getMessage() for r in caplog.records)


@pytest.mark.integration
def test_unreachable_broker_is_logged_once_and_stop_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="kazoe.mqtt")
    config = MqttConfig(port=free_port(), reconnect_min_s=1, reconnect_max_s=1)
    pub = MqttPublisher(config, node_id="node-a", status=status_of("node-a"))
    pub.start()
    try:
        wait_until(lambda: bool(caplog.records), 5, "the unreachable broker to be logged")
        assert not pub.publish_counts(1, b"{}")
    finally:
        pub.stop(sample_status("node-a", "offline"), timeout_s=1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert f"cannot reach the broker at 127.0.0.1:{config.port}" in messages[0]


# -- without a broker: the PUBACK/registration race -----------------------------------------


class FakeClient:
    """Stands in for paho: ``publish`` can deliver the PUBACK before it returns."""

    def __init__(self, pub: MqttPublisher, ack_early: bool) -> None:
        self.pub = pub
        self.ack_early = ack_early
        self.next_mid = 1
        self.reason = ReasonCode(PacketTypes.PUBACK, "Success")

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo:
        mid, self.next_mid = self.next_mid, self.next_mid + 1
        if self.ack_early:  # the network thread won the race
            self.pub._on_publish(None, None, mid, self.reason, None)  # type: ignore[arg-type]
        return mqtt.MQTTMessageInfo(mid)


def connected_fake(
    monkeypatch: pytest.MonkeyPatch, ack_early: bool
) -> tuple[MqttPublisher, FakeClient]:
    pub = MqttPublisher(MqttConfig(), node_id="node-a", status=status_of("node-a"))
    fake = FakeClient(pub, ack_early)
    monkeypatch.setattr(pub, "_client", fake)
    flags = mqtt.ConnectFlags(session_present=False)
    pub._on_connect(None, None, flags, ReasonCode(PacketTypes.CONNACK, "Success"), None)  # type: ignore[arg-type]
    return pub, fake


@pytest.mark.parametrize("ack_early", [True, False], ids=["puback-first", "register-first"])
def test_puback_is_counted_whoever_wins_the_race(
    monkeypatch: pytest.MonkeyPatch, ack_early: bool
) -> None:
    pub, fake = connected_fake(monkeypatch, ack_early)

    assert pub.publish_counts(5, b"{}")
    if not ack_early:
        pub._on_publish(None, None, fake.next_mid - 1, fake.reason, None)  # type: ignore[arg-type]

    assert pub.take_acked() == [5]


def test_puback_from_a_forgotten_session_acks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    pub, fake = connected_fake(monkeypatch, ack_early=False)
    assert pub.publish_counts(5, b"{}")
    old_mid = fake.next_mid - 1
    lost = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
    pub._on_disconnect(None, None, mqtt.DisconnectFlags(False), lost, None)  # type: ignore[arg-type]
    pub._on_connect(
        None,  # type: ignore[arg-type]
        None,
        mqtt.ConnectFlags(False),
        ReasonCode(PacketTypes.CONNACK, "Success"),
        None,
    )

    # paho re-sends its unacked message itself; that PUBACK must not ack seq 5,
    # which the outbox re-sends after take_reconnected().
    pub._on_publish(None, None, old_mid, fake.reason, None)  # type: ignore[arg-type]

    assert pub.take_reconnected() is True
    assert pub.take_acked() == []
