"""Home Assistant MQTT discovery: which sensors a node announces, and how, on a real Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from edge.config import MqttConfig, NodeSettings
from edge.delivery.discovery import discovery_messages
from edge.delivery.mqtt import LinkState, MqttPublisher
from edge.payload import StatusPayload
from edge.testing import sample_counts, sample_status
from simulator.brokers.dev import ProbeClient

ProbeFactory = Callable[..., ProbeClient]
ConfigFactory = Callable[..., MqttConfig]
BANDS = ["0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
DEMOGRAPHICS = [f"gender_{g}" for g in ("female", "male", "unknown")] + [
    "age_" + b.replace("+", "_plus").replace("-", "_") for b in BANDS
]
PREFIX = "homeassistant/sensor/node-a/"


def settings(purposes: list[str], mqtt: MqttConfig | None = None, **ha: Any) -> NodeSettings:
    raw: dict[str, Any] = {
        "node": {"id": "node-a", "site": "north-gate"},
        "source": {"uri": "street.mp4"},
        "aggregate": {"window_seconds": 60, "age_bands": [13, 20, 30, 40, 50, 60, 70]},
        "policy": {"purposes": purposes, "k": 5},
    }
    if mqtt is not None:
        raw["mqtt"] = mqtt.model_dump(mode="json", exclude_none=True)
    if ha:
        raw["home_assistant"] = ha
    return NodeSettings.model_validate(raw)


def announced(messages: list[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    return {t.removeprefix(PREFIX).split("/")[0]: json.loads(p) for t, p in messages if p}


@pytest.mark.parametrize(
    ("purposes", "sensors", "removed"),
    [
        (["footfall"], ["people"], DEMOGRAPHICS),
        (["footfall", "demographics"], ["people", *DEMOGRAPHICS], []),
    ],
)
def test_only_sensors_a_declared_purpose_covers_are_announced(
    purposes: list[str], sensors: list[str], removed: list[str]
) -> None:
    messages = discovery_messages(settings(purposes, enabled=True))
    assert list(announced(messages)) == sensors
    # The rest get an empty retained config: Home Assistant removes a sensor announced
    # under an earlier policy.
    assert [t.removeprefix(PREFIX).split("/")[0] for t, p in messages if not p] == removed
    assert all(t.startswith(PREFIX) and t.endswith("/config") for t, _ in messages)


def test_every_sensor_reads_only_the_nodes_published_aggregates() -> None:
    configs = announced(discovery_messages(settings(["footfall", "demographics"], enabled=True)))
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    for config in configs.values():
        assert config["state_topic"] == "kazoe/v1/node-a/counts"
        assert config["json_attributes_topic"] == "kazoe/v1/node-a/counts"
        assert config["availability_topic"] == "kazoe/v1/node-a/status"
        assert config["device"]["identifiers"] == ["kazoe_node-a"]
        assert config["device"]["name"] == "Kazoe node-a"
        assert config["expire_after"] == 180
        topics = {v for k, v in config.items() if k.endswith("_topic")}
        assert topics <= {"kazoe/v1/node-a/counts", "kazoe/v1/node-a/status"}
    assert configs["people"]["value_template"] == "{{ value_json.people }}"
    assert "value_json.age_bands['70+']" in configs["age_70_plus"]["value_template"]
    assert "value_json.gender['female']" in configs["gender_female"]["value_template"]


def test_discovery_is_off_by_default_and_the_prefix_is_checked() -> None:
    assert settings(["footfall"]).home_assistant.enabled is False
    with pytest.raises(ValidationError, match="discovery_prefix"):
        settings(["footfall"], enabled=True, discovery_prefix="home assistant/")


def status_of(node_id: str) -> Callable[[LinkState], StatusPayload]:
    def make(state: LinkState) -> StatusPayload:
        return sample_status(
            node_id, state, reason="connection lost" if state == "offline" else None
        )

    return make


@pytest.fixture
def run_node(
    node_mqtt: ConfigFactory,
) -> Iterator[Callable[[NodeSettings], MqttPublisher]]:
    started: list[MqttPublisher] = []

    def start(node: NodeSettings) -> MqttPublisher:
        pub = MqttPublisher.from_settings(node, status_of("node-a"))
        pub.start()
        started.append(pub)
        return pub

    yield start
    for pub in started:
        pub.stop(sample_status("node-a", "offline"), timeout_s=5)


def retained_configs(probe: ProbeFactory, node: NodeSettings) -> dict[str, dict[str, Any]]:
    """What a Home Assistant that subscribes now is given (retained configs only).

    The node sends its discovery messages right after connecting; a removal (an empty
    retained message) leaves nothing a late subscriber could wait for, so each attempt is a
    fresh subscriber, until the broker holds what the node sends or 10 s have passed.
    """
    want = {t: p for t, p in discovery_messages(node) if p}
    deadline = time.monotonic() + 10
    while True:
        watcher = probe("watcher")
        watcher.subscribe("homeassistant/#")
        watcher.subscribe("kazoe/v1/node-a/status")
        # Retained messages come in subscription order: with the status, all configs are in.
        assert watcher.wait_for(lambda ms: any(m.topic.endswith("/status") for m in ms))
        status = json.loads(watcher.received("kazoe/v1/node-a/status")[-1].payload)
        configs = [m for m in watcher.messages if m.topic.startswith("homeassistant/")]
        watcher.close()
        # A watcher that subscribed just before the node published gets the configs live
        # (retain flag off); only a later subscriber shows what the broker retained.
        held = all(m.retain for m in configs)
        if ({m.topic: m.payload for m in configs} == want and held) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert status["state"] == "online"
    assert all(m.retain for m in configs)
    return {m.topic.removeprefix(PREFIX).split("/")[0]: json.loads(m.payload) for m in configs}


def test_a_node_announces_its_sensors_retained_and_withdraws_uncovered_ones(
    run_node: Callable[[NodeSettings], MqttPublisher],
    node_mqtt: ConfigFactory,
    probe: ProbeFactory,
) -> None:
    mqtt = node_mqtt("node-a")
    node = settings(["footfall", "demographics"], mqtt, enabled=True)
    first = run_node(node)
    assert wait_connected(first)
    configs = retained_configs(probe, node)
    assert sorted(configs) == sorted(["people", *DEMOGRAPHICS])
    assert configs["gender_male"]["name"] == "Male"
    # A window goes where the sensors read it, unchanged.
    ha = probe("watcher")
    ha.subscribe(configs["people"]["state_topic"])
    assert first.publish_counts(1, sample_counts("node-a", 1).to_json())
    assert ha.wait_for(lambda ms: len(ms) == 1)
    assert json.loads(ha.messages[0].payload)["people"] == 12
    first.stop(sample_status("node-a", "offline"), timeout_s=5)

    # The same node restarts with footfall only: its gender and age sensors go away.
    node = settings(["footfall"], mqtt, enabled=True, device_name="North gate")
    second = run_node(node)
    assert wait_connected(second)
    configs = retained_configs(probe, node)
    assert sorted(configs) == ["people"]
    assert configs["people"]["device"]["name"] == "North gate"


def test_with_discovery_off_nothing_is_announced(
    run_node: Callable[[NodeSettings], MqttPublisher],
    node_mqtt: ConfigFactory,
    probe: ProbeFactory,
) -> None:
    pub = run_node(settings(["footfall", "demographics"], node_mqtt("node-a")))
    assert wait_connected(pub)
    watcher = probe("watcher")
    watcher.subscribe("kazoe/v1/node-a/status")
    watcher.subscribe("homeassistant/#")
    # The birth status is published after any discovery config, so once it is here
    # every retained config would be too.
    assert watcher.wait_for(lambda ms: any(m.topic.endswith("/status") for m in ms))
    assert [m.topic for m in watcher.messages] == ["kazoe/v1/node-a/status"]


def test_a_node_cannot_announce_sensors_for_another_node(probe: ProbeFactory) -> None:
    fake = json.dumps({"name": "People", "state_topic": "kazoe/v1/node-a/counts"}).encode()
    for user in ("node-b", "watcher"):
        reason = probe(user).publish(PREFIX + "people/config", fake, retain=True)
        assert reason is not None, user
        assert reason.is_failure, user
    own = probe("node-b").publish("homeassistant/sensor/node-b/people/config", fake, retain=True)
    assert own is not None
    assert not own.is_failure


def wait_connected(pub: MqttPublisher) -> bool:
    from edge.testing import wait_until

    wait_until(lambda: pub.connected, 10, "the node connects")
    return pub.connected
