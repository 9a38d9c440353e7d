"""The dashboard's HTTP side through a real uvicorn: auth, read-only, JSON, SSE, NGSI-LD."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.service import Collector
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import SimNode, collector_settings, running

pytestmark = pytest.mark.integration

Reply = tuple[int, dict[str, str], bytes]


def request(
    port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str, **kwargs: Any) -> Any:
    status, _, body = request(port, path, **kwargs)
    assert status == 200, body
    return json.loads(body)


@contextmanager
def dashboard(broker: DevBroker, tmp_path: Path, **http: Any) -> Iterator[Collector]:
    settings = collector_settings(broker, str(tmp_path / "c.db"), http={"refresh_s": 0.1, **http})
    with running(settings, http=True) as collector:
        yield collector


def test_loopback_dashboard_is_open_and_read_only(fleet_broker: DevBroker, tmp_path: Path) -> None:
    with dashboard(fleet_broker, tmp_path) as c:
        assert c.http_port is not None
        status, _headers, body = request(c.http_port, "/")
        assert status == 200
        assert b"Kazoe" in body
        assert request(c.http_port, "/static/vendor/chart.umd.min.js")[0] == 200
        for method in ("POST", "PUT", "DELETE"):
            assert request(c.http_port, "/api/snapshot", method=method)[0] == 405


def test_a_token_is_required_when_configured(fleet_broker: DevBroker, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with dashboard(fleet_broker, tmp_path, token_file=str(token_file)) as c:
        port = c.http_port
        assert port is not None
        status, headers, _ = request(port, "/api/snapshot")
        assert status == 401
        assert headers["www-authenticate"] == "Bearer"
        assert request(port, "/api/snapshot", headers={"Authorization": "Bearer nope"})[0] == 401
        ok = {"Authorization": "Bearer s3cret-token"}
        assert request(port, "/api/snapshot", headers=ok)[0] == 200
        # A browser opens /?token=... once and then uses the cookie (EventSource sends no headers).
        status, headers, _ = request(port, "/?token=s3cret-token")
        assert status == 303
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert "httponly" in headers["set-cookie"].lower()
        assert request(port, "/api/snapshot", headers={"Cookie": cookie})[0] == 200
        assert request(port, "/?token=wrong")[0] == 401


def test_basic_auth_when_configured(fleet_broker: DevBroker, tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("hunter2\n")
    with dashboard(
        fleet_broker, tmp_path, basic_user="operator", basic_password_file=str(password_file)
    ) as c:
        port = c.http_port
        assert port is not None
        status, headers, _ = request(port, "/")
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic")

        def basic(user: str, password: str) -> dict[str, str]:
            return {
                "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            }

        assert request(port, "/", headers=basic("operator", "hunter2"))[0] == 200
        assert request(port, "/", headers=basic("operator", "wrong"))[0] == 401
        assert request(port, "/", headers={"Authorization": "Basic !!!"})[0] == 401


def read_events(port: int, count: int) -> list[dict[str, Any]]:
    """The first ``count`` snapshot events of /api/events."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    events: list[dict[str, Any]] = []
    try:
        conn.request("GET", "/api/events")
        response = conn.getresponse()
        assert response.getheader("content-type", "").startswith("text/event-stream")
        event = ""
        while len(events) < count:
            line = response.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "snapshot":
                events.append(json.loads(line[6:]))
    finally:
        conn.close()
    return events


def test_fleet_json_sse_and_ngsi_ld(fleet_broker: DevBroker, tmp_path: Path) -> None:
    with dashboard(fleet_broker, tmp_path) as c:
        port = c.http_port
        assert port is not None
        a, b = SimNode(fleet_broker, "node-01"), SimNode(fleet_broker, "node-02")
        try:
            a.notice(site="plaza")
            a.status("online")
            b.status("online")
            for seq in (1, 2, 3):
                a.window(seq)
                b.window(seq)
            wait_until(
                lambda: c.metrics.value("kazoe_collector_windows_stored_total") == 6,
                10,
                "six windows",
            )
            snap = get_json(port, "/api/snapshot")
            by_id = {n["node_id"]: n for n in snap["nodes"]}
            assert by_id["node-01"]["site"] == "plaza"
            assert by_id["node-02"]["site"] == "default"
            assert by_id["node-01"]["latest"]["seq"] == 3
            assert by_id["node-01"]["day"]["people"] == 36
            assert by_id["node-01"]["day"]["age_bands"]["30-39"] is None  # withheld at the node
            sites = {s["site"]: s for s in snap["sites"]}
            assert sites["plaza"]["day"]["people"] == 36
            assert len(sites["plaza"]["history"]) == 24

            hours = get_json(port, "/api/sites/plaza/hours?hours=3")
            assert len(hours["hours"]) == 3
            assert sum(h["windows"] for h in hours["hours"]) == 3
            assert request(port, "/api/sites/plaza/hours?hours=x")[0] == 400

            assert get_json(port, "/api/nodes/node-01/notice")["site"] == "plaza"
            assert request(port, "/api/nodes/node-02/notice")[0] == 404

            # Live: the stream starts with the current picture and follows new windows.
            first = read_events(port, 1)[0]
            assert {n["node_id"] for n in first["nodes"]} == {"node-01", "node-02"}
            b.window(4)
            wait_until(
                lambda: any(n["latest"]["seq"] == 4 for n in read_events(port, 1)[0]["nodes"]),
                10,
                "the stream to show window 4",
            )

            status, headers, body = request(
                port, "/ngsi-ld/v1/entities?type=CrowdFlowObserved&node=node-01"
            )
            assert status == 200
            assert headers["content-type"].startswith("application/ld+json")
            entities = json.loads(body)
            assert [e["id"] for e in entities] == [
                f"urn:ngsi-ld:CrowdFlowObserved:kazoe:node-01:{s}" for s in (1, 2, 3)
            ]
            first_entity = entities[0]
            assert first_entity["type"] == "CrowdFlowObserved"
            assert first_entity["peopleCount"] == {"type": "Property", "value": 12}
            assert first_entity["dateObservedFrom"]["value"]["@type"] == "DateTime"
            assert first_entity["areaServed"]["value"] == "North gate, Kashiwa-no-ha campus"
            assert first_entity["genderBreakdown"]["value"] == {
                "female": 5,
                "male": 7,
                "unknown": 0,
            }
            assert "30-39" not in first_entity["ageBandBreakdown"]["value"]
            assert first_entity["withheldCells"]["value"] == ["age_bands.30-39"]
            assert request(port, "/ngsi-ld/v1/entities?since=yesterday")[0] == 400
            assert json.loads(request(port, "/ngsi-ld/v1/entities?type=Other")[2]) == []
        finally:
            a.close()
            b.close()
