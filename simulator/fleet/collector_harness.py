"""Test and load-test helpers shipped with the package (like ``edge.testing``).

``collector_settings`` builds a config for a ``DevBroker``; ``running`` starts a
``Collector`` (optionally with its dashboard on a free port) and stops it;
``SimNode`` is a node that publishes windows through a real broker connection.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.config import CollectorSettings
from collector.service import Collector
from edge.testing import sample_counts, sample_status
from simulator.brokers.dev import DevBroker, ProbeClient


def collector_settings(
    broker: DevBroker,
    database_url: str,
    *,
    client_id: str = "collector-1",
    share_group: str = "test",
    **sections: dict[str, Any],
) -> CollectorSettings:
    """A collector config for ``broker`` as user ``watcher``; ``sections`` override keys."""
    raw: dict[str, dict[str, Any]] = {
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "username": "watcher",
            "password_file": str(broker.password_file("watcher")),
            "client_id": client_id,
            "share_group": share_group,
            "keepalive_s": 5,
            "reconnect_min_s": 1,
            "reconnect_max_s": 2,
        },
        "database": {"url": database_url},
        "http": {"port": 0, "refresh_s": 0.2},
        "metrics": {"port": 0},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return CollectorSettings.model_validate(raw)


@contextmanager
def running(
    settings: CollectorSettings, *, http: bool = False, timeout_s: float = 10.0
) -> Iterator[Collector]:
    """A started collector, subscribed to the broker; with ``http`` its dashboard runs too."""
    collector = Collector(settings)
    thread: threading.Thread | None = None
    try:
        sock = collector.bind() if http else None
        collector.start()
        if sock is not None:
            thread = threading.Thread(target=collector.serve_http, args=(sock,), daemon=True)
            thread.start()
        if not collector.wait_connected(timeout_s):
            raise AssertionError(f"collector {settings.mqtt.client_id} did not subscribe in time")
        yield collector
    finally:
        collector.stop()
        if thread is not None:
            thread.join(10)


def recent_start(minutes_ago: int = 60) -> datetime:
    """A whole minute ``minutes_ago`` before now (UTC): windows near now stay in retention."""
    now = datetime.fromtimestamp(time.time() // 60 * 60, tz=UTC)
    return now - timedelta(minutes=minutes_ago)


def recent_counts(node_id: str, seq: int, base: datetime, **changes: Any) -> bytes:
    """``sample_counts`` for the one-minute window ``seq`` after ``base``."""
    start = base + timedelta(minutes=seq - 1)
    fields: dict[str, Any] = {"window_start": start, "window_end": start + timedelta(minutes=1)}
    fields.update(changes)
    return sample_counts(node_id, seq, **fields).to_json()


def sample_notice(
    node_id: str, site: str = "north-gate", location: str = "North gate, Kashiwa-no-ha campus"
) -> bytes:
    """A retained privacy notice as a node publishes it (``kazoe.notice/1``)."""
    doc = {
        "schema": "kazoe.notice/1",
        "node_id": node_id,
        "site": site,
        "location": location,
        "controller": "Kashiwa City smart-city office",
        "contact": "privacy@city.example",
        "statement": "Counting people passing this point to plan services.",
        "purposes": [
            {"id": "footfall", "dpv": "dpv:ServiceOptimisation", "description": "people counts"},
            {
                "id": "demographics",
                "dpv": "dpv:ServiceOptimisation",
                "description": "counts by estimated gender and age band",
            },
        ],
        "data_published": ["people", "gender", "age_bands"],
        "data_not_collected": ["images or video", "identities or names", "per-person records"],
        "retention": {"days": 7, "iso8601": "P7D"},
        "k": 5,
        "window_seconds": 60,
        "age_bands": ["0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"],
        "models": [{"id": "face_detection_full_range@99bf9494", "licence": "Apache-2.0"}],
        "policy_hash": "sha256:" + "ab" * 32,
        "notice_url": "https://city.example/kazoe",
        "pia_reference": None,
        "at": datetime.now(tz=UTC).isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(doc).encode()


class SimNode:
    """A node connected as itself: publishes windows (QoS 1, waits for PUBACK), status, notice.

    Window ``seq`` covers the minute ``seq - 1`` after ``base`` (default: an hour ago).
    """

    def __init__(self, broker: DevBroker, node_id: str, *, base: datetime | None = None) -> None:
        self.node_id = node_id
        self.base = recent_start() if base is None else base
        self.client = ProbeClient(
            broker.host,
            broker.port,
            username=node_id,
            password=broker.password(node_id),
            client_id=node_id,
        )
        reason = self.client.connect()
        if reason.is_failure:
            raise AssertionError(f"{node_id} could not connect: {reason}")

    def topic(self, leaf: str) -> str:
        return f"kazoe/v1/{self.node_id}/{leaf}"

    def window(self, seq: int, **changes: Any) -> None:
        self.publish("counts", recent_counts(self.node_id, seq, self.base, **changes))

    def notice(self, site: str = "north-gate", **changes: str) -> None:
        self.publish("notice", sample_notice(self.node_id, site, **changes), retain=True)

    def status(self, state: Any = "online", **changes: Any) -> None:
        self.publish("status", sample_status(self.node_id, state, **changes).to_json(), retain=True)

    def publish(self, leaf: str, payload: bytes, *, retain: bool = False) -> None:
        reason = self.client.publish(self.topic(leaf), payload, retain=retain)
        if reason is not None and reason.is_failure:
            raise AssertionError(f"broker refused {self.topic(leaf)}: {reason}")

    def close(self) -> None:
        self.client.close()


def health(port: int) -> dict[str, object]:
    """A collector's /healthz on loopback, or {} while it does not answer."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        doc: dict[str, object] = json.loads(conn.getresponse().read())
        conn.close()
    except (OSError, ValueError):
        return {}
    return doc
