"""The dashboard's time range, per-site and per-node charts and export, in real Chromium.

Thirty days of hourly windows are stored through the collector's own writer; the
page must show each range's buckets with the figures the seeded windows add up
to (suppression re-applied), a node's own chart, a CSV download of the same
roll-ups, and one clear message for a bad range. The screenshot lands in
``artifacts/dashboard-history.png``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.service import Collector
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import collector_settings, running
from tests.collector.history_seed import people_at, seed
from tests.collector.test_dashboard import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, needs_chromium

pytestmark = pytest.mark.integration

HISTORY = '[data-site="station"] .history-chart canvas'
NODE_CHART = 'tr[data-chart-for="node-02"] canvas'
NODE_TITLE = 'tr[data-chart-for="node-02"] .node-chart-title'
SITES = {
    "node-01": "north-gate",
    "node-02": "north-gate",
    "node-03": "station",
    "node-04": "station",
}


@pytest.fixture
def dashboard(fleet_broker: DevBroker, tmp_path: Path) -> Iterator[Collector]:
    url = str(tmp_path / "c.db")
    seed(url, SITES, now=datetime.now(tz=UTC), hours=30 * 24, online=True)
    settings = collector_settings(
        fleet_broker, url, http={"refresh_s": 0.3}, database={"retention_days": 60}
    )
    with running(settings, http=True) as collector:
        yield collector


def bars(page: Any, selector: str) -> list[Any]:
    """The values a Chart.js chart draws (None for a withheld bucket)."""
    values: list[Any] = page.evaluate(
        "(sel) => Chart.getChart(document.querySelector(sel)).data.datasets[0].data", selector
    )
    return values


def wait_for_bars(page: Any, selector: str, count: int) -> None:
    page.wait_for_function(
        "([sel, n]) => Chart.getChart(document.querySelector(sel))"
        ".data.datasets[0].data.length === n",
        arg=[selector, count],
    )


def day_people(nodes: list[str], day: datetime) -> list[int]:
    return [sum(people_at(n, day + timedelta(hours=h)) for n in nodes) for h in range(24)]


def relative_ranges(page: Any, base: str) -> None:
    """Each relative range: its bucket size, its bucket count, the API's figures."""
    from playwright.sync_api import expect

    station = page.locator('[data-site="station"]')
    expect(station.locator(".range-label")).to_have_text("people, last 24 h")
    for button, title, count, name in (
        ("24 h", "People per hour, last 24 h", 24, "24h"),
        ("7 days", "People per 6 h, last 7 days", 28, "7d"),
        ("30 days", "People per day, last 30 days", 30, "30d"),
    ):
        page.get_by_role("button", name=button, exact=True).click()
        expect(station.locator(".history-title")).to_have_text(title)
        expect(page.locator("#nodes th .range-name").first).to_have_text(button)
        reply = page.request.get(f"{base}/api/history?range={name}")
        assert reply.ok, reply.text()
        site = next(s for s in reply.json()["sites"] if s["site"] == "station")
        expect(station.locator(".people-range")).to_have_text(f"{site['total']['people']:,}")
        assert bars(page, HISTORY) == [b["people"] for b in site["buckets"]]
        assert len(site["buckets"]) == count
    assert page.url.endswith("#range=30d")


def chosen_day(page: Any, day: datetime) -> None:
    """A chosen UTC day: 24 hourly bars per site and per node, each the sum of its windows."""
    from playwright.sync_api import expect

    station = page.locator('[data-site="station"]')
    page.locator("#range-day").fill(day.date().isoformat())
    label = f"{day.date().isoformat()} (UTC)"
    expect(station.locator(".history-title")).to_have_text(f"People per hour, {label}")
    assert bars(page, HISTORY) == day_people(["node-03", "node-04"], day)
    north = '[data-site="north-gate"] .history-chart canvas'
    assert bars(page, north) == day_people(["node-01", "node-02"], day)
    # Gender and age bands over the day: withheld at the node, so withheld here.
    expect(station.locator(".ages-title")).to_have_text(f"Age bands, {label}")
    row = page.locator('tr[data-node="node-02"]')
    expect(row.locator("td.people-range")).to_have_text(f"{sum(day_people(['node-02'], day)):,}")
    expect(row.locator(".hist span.withheld")).to_have_count(2)

    row.locator("button.chart-toggle").click()
    expect(page.locator(NODE_TITLE)).to_contain_text(f"node-02: people per hour, {label}")
    wait_for_bars(page, NODE_CHART, 24)
    assert bars(page, NODE_CHART) == day_people(["node-02"], day)


def csv_export(page: Any, day: datetime) -> None:
    """Export what is on screen, per node, as CSV: the same figures, withheld cells empty."""
    page.locator("#export-by").select_option("node")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 4 * 24
    mine = [r for r in table if r["node_id"] == "node-02"]
    assert [int(r["people"]) for r in mine] == day_people(["node-02"], day)
    assert all(r["site"] == "north-gate" for r in mine)
    assert all(r["age_bands.13-19"] == "" for r in table)
    assert all("age_bands.13-19" in r["withheld"].split(";") for r in table)


def bad_ranges(page: Any, base: str) -> None:
    """A bad range in the address is one clear message; a too large export is refused."""
    from playwright.sync_api import expect

    page.goto(base + "/#range=week")
    problem = page.locator("#range-error")
    expect(problem).to_have_text(
        "Cannot show this range: range must be one of 24h, 7d, 30d, day, not 'week'"
    )
    expect(page.locator("body")).to_have_class(re.compile("range-failed"))
    page.get_by_role("button", name="24 h", exact=True).click()
    expect(problem).to_be_hidden()
    reply = page.request.get(base + "/api/export?from=2026-01-01&until=2026-03-01")
    assert reply.status == 400
    assert json.loads(reply.text())["error"].startswith("the range is too large: 59 days")


@needs_chromium
def test_ranges_charts_export_and_a_bad_range_in_the_browser(dashboard: Collector) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = f"http://127.0.0.1:{dashboard.http_port}"
    day = (datetime.now(tz=UTC) - timedelta(days=3)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/")
            relative_ranges(page, base)
            chosen_day(page, day)
            csv_export(page, day)

            # Screenshot of a range view with a node's chart open.
            page.get_by_role("button", name="7 days", exact=True).click()
            expect(page.locator(NODE_TITLE)).to_contain_text("node-02: people per 6 h, last 7 days")
            wait_for_bars(page, NODE_CHART, 28)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-history.png"), full_page=True)

            bad_ranges(page, base)
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
