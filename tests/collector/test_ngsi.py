"""NGSI-LD export: entity shape, and the push to a context broker (a tiny local HTTP server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector.ngsi import UPSERT_PATH, geo_of, to_entity
from collector.queries import StoredWindow
from edge.testing import sample_counts, wait_until
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import SimNode, collector_settings, running


def stored(**changes: Any) -> StoredWindow:
    body = json.loads(sample_counts("node-a", 5, **changes).to_json())
    return StoredWindow(body, "plaza", None, 0)


def test_an_entity_carries_counts_breakdowns_and_time_span() -> None:
    entity = to_entity(stored())
    assert entity["id"] == "urn:ngsi-ld:CrowdFlowObserved:kazoe:node-a:5"
    assert entity["peopleCount"]["value"] == 12
    assert entity["dateObservedFrom"]["value"] == {
        "@type": "DateTime",
        "@value": "2026-01-01T09:04:00Z",
    }
    assert entity["dateObservedTo"]["value"]["@value"] == "2026-01-01T09:05:00Z"
    assert entity["ageBandBreakdown"]["value"] == {"20-29": 6, "40-49": 0, "70+": 5}
    assert entity["withheldCells"]["value"] == ["age_bands.30-39"]
    assert entity["areaServed"]["value"] == "plaza"
    assert "location" not in entity  # no geometry in the notice: no guessed location
    assert "@context" in entity


def test_a_withheld_total_is_left_out_not_sent_as_null() -> None:
    entity = to_entity(stored(people=None, suppressed=["people"]))
    assert "peopleCount" not in entity
    assert "null" not in json.dumps({k: v for k, v in entity.items() if k != "@context"})


@pytest.mark.parametrize(
    ("notice", "geometry"),
    [
        ({"location": "North gate"}, None),
        ({"geo": {"lat": 35.9, "lon": 139.95}}, {"type": "Point", "coordinates": [139.95, 35.9]}),
        (
            {"location": {"type": "Point", "coordinates": [139.95, 35.9]}},
            {"type": "Point", "coordinates": [139.95, 35.9]},
        ),
        (None, None),
    ],
)
def test_location_comes_from_the_notice_when_it_has_a_geometry(
    notice: dict[str, Any] | None, geometry: dict[str, Any] | None
) -> None:
    assert geo_of(notice) == geometry


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, list[dict[str, Any]]]]] = []
    fail_first: ClassVar[int] = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def context_broker() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"received": [], "fail_first": 1})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_stored_windows_are_pushed_to_the_context_broker_with_retries(
    fleet_broker: DevBroker, tmp_path: Path, context_broker: tuple[str, type[_Recorder]]
) -> None:
    url, recorder = context_broker
    settings = collector_settings(
        fleet_broker, str(tmp_path / "c.db"), ngsi_ld={"push_url": url, "tenant": "kashiwa"}
    )
    with running(settings) as collector:
        node = SimNode(fleet_broker, "node-05")
        try:
            node.notice(site="plaza")
            for seq in (1, 2, 3):
                node.window(seq)
            node.window(2)  # a duplicate is not pushed again
            wait_until(
                lambda: sum(len(batch) for _, _, batch in recorder.received) >= 3,
                15,
                "three entities at the context broker",
            )
        finally:
            node.close()
        assert collector.metrics.value("kazoe_collector_ngsi_push_failures_total") >= 1
        assert collector.metrics.value("kazoe_collector_ngsi_pushed_total") == 3
    paths = {path for path, _, _ in recorder.received}
    types = {ctype for _, ctype, _ in recorder.received}
    ids = sorted(e["id"] for _, _, batch in recorder.received for e in batch)
    assert paths == {UPSERT_PATH}
    assert types == {"application/ld+json"}
    assert ids == [f"urn:ngsi-ld:CrowdFlowObserved:kazoe:node-05:{s}" for s in (1, 2, 3)]
    entity = recorder.received[0][2][0]
    assert entity["site"]["value"] == "plaza"


def test_a_window_with_counting_lines_adds_one_crowd_flow_per_line() -> None:
    from collector.ngsi import to_entities

    body = json.loads(
        sample_counts(
            "node-a",
            5,
            schema="kazoe.counts/2",
            lines={"gate": {"in": 9, "out": 5}, "kerb": {"in": None, "out": 6}},
            suppressed=["age_bands.30-39", "lines.kerb.in"],
        ).to_json()
    )
    notice = {"counting_lines": [{"name": "gate", "description": "park entrance"}]}
    window, gate, kerb = to_entities(StoredWindow(body, "plaza", notice, 0))
    assert window["id"] == "urn:ngsi-ld:CrowdFlowObserved:kazoe:node-a:5"
    assert gate["id"] == "urn:ngsi-ld:CrowdFlowObserved:kazoe:node-a:5:line:gate"
    assert gate["type"] == "CrowdFlowObserved"
    assert (gate["peopleCountTowards"]["value"], gate["peopleCountAway"]["value"]) == (9, 5)
    assert gate["peopleCount"]["value"] == 14
    assert gate["direction"]["value"] == "inbound"
    assert gate["description"]["value"] == "park entrance"
    assert gate["dateObservedTo"] == window["dateObservedTo"]
    # A withheld direction is left out (never null) and named; no total, no direction.
    assert "peopleCountTowards" not in kerb
    assert kerb["peopleCountAway"]["value"] == 6
    assert "peopleCount" not in kerb
    assert "direction" not in kerb
    assert kerb["withheldCells"]["value"] == ["lines.kerb.in"]


def test_a_window_without_lines_is_one_entity() -> None:
    from collector.ngsi import to_entities

    assert len(to_entities(stored())) == 1
