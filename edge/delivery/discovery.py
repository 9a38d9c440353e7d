"""Home Assistant MQTT discovery: retained sensor configs that read the node's counts topic.

Topics follow Home Assistant's layout, ``<prefix>/sensor/<node_id>/<object_id>/config``
(as Frigate's users know it: one device per camera, one sensor per count), so the
broker ACL can bind them to the node's username like its ``kazoe/v1/<node_id>/``
topics. Every sensor reads the window the node already publishes on
``kazoe/v1/<node_id>/counts`` through a value template: discovery adds no new
data, only the description of aggregates that are published anyway. Availability
comes from the node's retained ``status`` (birth, Will, clean ``offline``).

A sensor is announced only when a declared purpose covers its field
(``edge.privacy.policy.FIELD_PURPOSE``): without ``demographics`` no gender or
age-band sensor is announced, and their config topics get an empty retained
message, which removes a sensor announced under an earlier policy. A withheld
cell (``null``) renders as ``None``, which Home Assistant shows as *unknown*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.config import NodeSettings
from edge.delivery.publisher import topic
from edge.privacy.policy import FIELD_PURPOSE

GENDERS = {"female": "Female", "male": "Male", "unknown": "Gender unknown"}


@dataclass(frozen=True, slots=True)
class Sensor:
    """One count the node can describe: its field, its object id, its template."""

    field: str
    object_id: str
    name: str
    value_template: str
    icon: str


def _object_id(label: str) -> str:
    return label.replace("+", "_plus").replace("-", "_")


def sensors(settings: NodeSettings) -> list[Sensor]:
    """Every sensor this node's aggregation could feed, covered by a purpose or not."""
    out = [Sensor("people", "people", "People", "{{ value_json.people }}", "mdi:account-group")]
    for g, name in GENDERS.items():
        template = f"{{{{ value_json.gender['{g}'] if value_json.gender else None }}}}"
        out.append(Sensor("gender", f"gender_{g}", name, template, "mdi:human-male-female"))
    for band in settings.aggregate.band_labels():
        template = f"{{{{ value_json.age_bands['{band}'] if value_json.age_bands else None }}}}"
        out.append(
            Sensor("age_bands", f"age_{_object_id(band)}", f"Age {band}", template, "mdi:counter")
        )
    return out


def covered(settings: NodeSettings, sensor: Sensor) -> bool:
    return FIELD_PURPOSE[sensor.field] in settings.policy.purposes


def config_topic(settings: NodeSettings, sensor: Sensor) -> str:
    prefix = settings.home_assistant.discovery_prefix
    return f"{prefix}/sensor/{settings.node.id}/{sensor.object_id}/config"


def sensor_config(settings: NodeSettings, sensor: Sensor) -> dict[str, Any]:
    """The discovery payload of one sensor (Home Assistant's MQTT sensor schema)."""
    node_id = settings.node.id
    device_name = settings.home_assistant.device_name or f"Kazoe {node_id}"
    window = settings.aggregate.window_seconds
    return {
        "name": sensor.name,
        "unique_id": f"kazoe_{node_id}_{sensor.object_id}",
        "state_topic": topic(node_id, "counts"),
        "value_template": sensor.value_template,
        "unit_of_measurement": "people",
        "state_class": "measurement",
        "icon": sensor.icon,
        "qos": 1,
        # A window closes every window_seconds; three missed in a row is stale.
        "expire_after": 3 * window,
        "json_attributes_topic": topic(node_id, "counts"),
        "json_attributes_template": (
            "{{ {'window_start': value_json.window_start, 'window_end': value_json.window_end,"
            " 'seq': value_json.seq, 'withheld': value_json.suppressed} | tojson }}"
        ),
        "availability_topic": topic(node_id, "status"),
        "availability_template": "{{ 'offline' if value_json.state == 'offline' else 'online' }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [f"kazoe_{node_id}"],
            "name": device_name,
            "manufacturer": "Kazoe",
            "model": f"counting node, {window} s windows, k = {settings.policy.k}",
            "sw_version": __version__,
        },
        "origin": {"name": "Kazoe", "sw_version": __version__},
    }


def discovery_messages(settings: NodeSettings) -> list[tuple[str, bytes]]:
    """(topic, retained payload) for every sensor: a config if covered, else empty (removal)."""
    out = []
    for sensor in sensors(settings):
        body = b""
        if covered(settings, sensor):
            body = json.dumps(sensor_config(settings, sensor), separators=(",", ":")).encode()
        out.append((config_topic(settings, sensor), body))
    return out
