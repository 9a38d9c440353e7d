"""Prometheus metrics on loopback: messages, rejects, duplicates, store latency."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from collector.config import CollectorSettings
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import SimNode, collector_settings, running

pytestmark = pytest.mark.integration


def test_metrics_are_on_loopback_by_default() -> None:
    assert CollectorSettings().metrics.host == "127.0.0.1"


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_scraped_metrics_count_what_happened(fleet_broker: DevBroker, tmp_path: Path) -> None:
    with running(collector_settings(fleet_broker, str(tmp_path / "c.db"))) as collector:
        node = SimNode(fleet_broker, "node-06")
        try:
            node.status("online")
            node.window(1)
            node.window(2)
            node.window(2)
            node.publish("counts", b"{}")
            wait_until(
                lambda: (
                    collector.metrics.value("kazoe_collector_duplicates_total") == 1
                    and collector.metrics.value("kazoe_collector_rejects_total", reason="malformed")
                    == 1
                ),
                10,
                "the duplicate and the reject to be counted",
            )
        finally:
            node.close()
        assert collector.metrics.port is not None
        samples = scrape(collector.metrics.port)
    assert samples['kazoe_collector_messages_total{topic="counts"}'] == 4
    assert samples['kazoe_collector_messages_total{topic="status"}'] == 1
    assert samples["kazoe_collector_windows_stored_total"] == 2
    assert samples["kazoe_collector_duplicates_total"] == 1
    assert samples['kazoe_collector_rejects_total{reason="malformed"}'] == 1
    assert samples["kazoe_collector_store_latency_seconds_count"] == 2
    # Buckets resolve the 2 s goal: "stored within 2 s" is one sample, not a guess.
    bounds = sorted(
        float(name.split('le="')[1].rstrip('"}'))
        for name in samples
        if name.startswith("kazoe_collector_store_latency_seconds_bucket") and "+Inf" not in name
    )
    assert bounds == [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0]
    assert samples['kazoe_collector_store_latency_seconds_bucket{le="+Inf"}'] == 2
    assert samples["kazoe_collector_mqtt_connected"] == 1
    assert not any("node-06" in name for name in samples)  # no node ids in labels
