"""The dashboard in a real browser (Debian's Chromium through Playwright) while nodes publish.

Nodes are real ``edge.delivery.mqtt.MqttPublisher`` instances: birth status and notice
on connect, a clean ``offline`` on stop. The page must show counts that appear
and update, per-site roll-ups, the notice, and a stopped node as offline.
The screenshot lands in ``artifacts/dashboard.png``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.service import Collector
from edge.config import MqttConfig
from edge.delivery.mqtt import LinkState, MqttPublisher
from edge.payload import StatusPayload
from edge.testing import sample_counts, sample_status
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import (
    collector_settings,
    recent_start,
    running,
    sample_notice,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SITES = {
    "node-01": "north-gate",
    "node-02": "north-gate",
    "node-03": "station",
    "node-04": "station",
}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"
)


def window(node_id: str, seq: int, base: Any) -> bytes:
    """A plausible window whose people count changes with ``seq`` (two small bands withheld)."""
    from datetime import timedelta

    people = 14 + (seq * 7 + len(node_id) * 3) % 23
    start = base + timedelta(minutes=seq - 1)
    # node-01 is a kazoe.counts/3 node (intervals); the others still send /1.
    v3: dict[str, Any] = {}
    if node_id == "node-01":
        v3 = {
            "schema": "kazoe.counts/3",
            "intervals": {
                "level": 0.9,
                "calibration": "fairface-default@58318882",
                "female_share": {"low": 31.5, "high": 64.2},
                "age_bands": {"20-29": {"low": 40.0, "high": 90.0}},
            },
        }
    return sample_counts(
        node_id,
        seq,
        window_start=start,
        window_end=start + timedelta(minutes=1),
        people=people,
        gender={"female": 6, "male": people - 6, "unknown": 0},
        age_bands={"13-19": None, "20-29": people - 10, "30-39": 7, "40-49": None, "70+": 0},
        suppressed=["age_bands.13-19", "age_bands.40-49"],
        **v3,
    ).to_json()


class Fleet:
    """MqttPublisher nodes publishing one window each every ``period_s`` until stopped."""

    def __init__(self, broker: DevBroker, period_s: float = 0.4) -> None:
        # Windows in the current hour, so "people this hour" has something to show.
        self.base = max(recent_start(30), recent_start(0).replace(minute=0))
        self.period_s = period_s
        self.publishers: dict[str, MqttPublisher] = {}
        self.seq = 0
        self._stop = threading.Event()
        for node_id, site in SITES.items():
            config = MqttConfig.model_validate(
                {
                    "host": broker.host,
                    "port": broker.port,
                    "password_file": broker.password_file(node_id),
                    "keepalive_s": 5,
                    "reconnect_min_s": 1,
                    "reconnect_max_s": 1,
                }
            )
            pub = MqttPublisher(
                config,
                node_id=node_id,
                status=self._status_of(node_id),
                notice=sample_notice(node_id, site, location=f"{site} entrance, camera {node_id}"),
            )
            pub.start()
            self.publishers[node_id] = pub
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _status_of(node_id: str) -> Any:
        def make(state: LinkState) -> StatusPayload:
            return sample_status(node_id, state, fps=12.5, uptime_s=30.0)

        return make

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.seq += 1
            for node_id, pub in list(self.publishers.items()):
                pub.publish_counts(self.seq, window(node_id, self.seq, self.base))
                pub.take_acked()

    def stop_node(self, node_id: str) -> None:
        pub = self.publishers.pop(node_id)
        pub.stop(sample_status(node_id, "offline", reason="stopped by operator"), timeout_s=5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for node_id in list(self.publishers):
            self.stop_node(node_id)


@pytest.fixture
def fleet(fleet_broker: DevBroker) -> Iterator[Fleet]:
    f = Fleet(fleet_broker)
    yield f
    f.close()


@pytest.fixture
def dashboard(fleet_broker: DevBroker, tmp_path: Path) -> Iterator[Collector]:
    settings = collector_settings(fleet_broker, str(tmp_path / "c.db"), http={"refresh_s": 0.3})
    with running(settings, http=True) as collector:
        yield collector


@needs_chromium
def test_dashboard_shows_live_counts_sites_notices_and_offline_nodes(
    fleet: Fleet, dashboard: Collector
) -> None:
    from playwright.sync_api import expect, sync_playwright

    fleet.start()
    url = f"http://127.0.0.1:{dashboard.http_port}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            expect(page.locator("#live")).to_have_text(re.compile("live"), timeout=10_000)

            # Counts appear ...
            people = page.locator('tr[data-node="node-01"] td.people')
            expect(people).to_have_text(re.compile(r"^\d+$"), timeout=15_000)
            first = people.inner_text()
            # ... and update while the node publishes.
            expect(people).not_to_have_text(first, timeout=15_000)
            for node_id in SITES:
                expect(page.locator(f'tr[data-node="{node_id}"] td.state')).to_have_text("online")

            # A /3 node's last window shows its female-share interval; /1 nodes show none.
            shown = page.locator('tr[data-node="node-01"] td.window .intervals')
            expect(shown).to_have_text("female 32\u201364 % (90 %)")
            expect(shown).to_have_attribute("title", re.compile("20-29: 40\u201390 %"))
            expect(page.locator('tr[data-node="node-02"] td.window .intervals')).to_have_count(0)

            # Per-site roll-ups, with suppression re-applied (two bands withheld at the node).
            station = page.locator('[data-site="station"]')
            expect(station.locator(".people-hour")).to_have_text(re.compile(r"^[\d,]+$"))
            expect(station.locator(".nodes-online")).to_have_text("2 / 2")
            gender = page.locator('tr[data-node="node-03"] .gender-text')
            expect(gender).to_contain_text("F ")
            expect(page.locator('tr[data-node="node-03"] .hist span.withheld')).to_have_count(2)

            # The node's retained notice, as JSON.
            page.locator('tr[data-node="node-02"] button.notice').click()
            notice = page.locator('tr[data-notice-for="node-02"] pre.notice-json')
            expect(notice).to_contain_text('"controller": "Kashiwa City smart-city office"')
            expect(notice).to_contain_text("north-gate entrance, camera node-02")

            # A node that stops is shown offline; the others stay online.
            fleet.stop_node("node-04")
            state = page.locator('tr[data-node="node-04"] td.state')
            expect(state).to_have_text("offline", timeout=10_000)
            expect(page.locator('tr[data-node="node-03"] td.state')).to_have_text("online")
            expect(station.locator(".nodes-online")).to_have_text("1 / 2")
            expect(page.locator("#totals")).to_contain_text("3 online · 1 offline")

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
