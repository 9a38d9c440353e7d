"""The read-only dashboard and its JSON, SSE and NGSI-LD endpoints (Starlette).

``/`` the page, ``/api/snapshot`` the fleet as JSON, ``/api/events`` the same
as server-sent events whenever any collector stores something,
``/api/sites/<site>/hours`` hourly roll-ups, ``/api/history`` roll-ups over a
range (24 h, 7 days, 30 days, a UTC day), ``/api/export`` the same as CSV or
JSON rows, ``/api/nodes/<id>/notice`` a
node's retained privacy notice, ``/ngsi-ld/v1/entities`` windows as NGSI-LD
``CrowdFlowObserved`` entities, ``/healthz``. Only GET (and HEAD) exist.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from anyio import sleep
from anyio.to_thread import run_sync
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from collector.auth import AuthGuard, Credentials
from collector.db import Database
from collector.ngsi import ENTITY_TYPE, to_entities
from collector.queries import site_hours, windows
from collector.rollup import roll_up
from collector.snapshot import HISTORY_HOURS, SnapshotCache, iso
from collector.store import hour_of
from collector.web_history import history_routes

STATIC = Path(__file__).resolve().parent / "static"
_KEEPALIVE_S = 15.0
_NO_CACHE = {"Cache-Control": "no-store"}


class LdResponse(JSONResponse):
    media_type = "application/ld+json"


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _time_param(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        raise ValueError(f"{name} must be an RFC 3339 time, e.g. 2026-01-01T09:00:00Z") from None


def create_app(
    db: Database,
    snapshots: SnapshotCache,
    *,
    k: int,
    refresh_s: float,
    credentials: Credentials,
    stopping: threading.Event,
    health: Callable[[], dict[str, Any]],
) -> ASGIApp:
    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_NO_CACHE)

    async def snapshot(request: Request) -> Response:
        _, doc = await run_sync(snapshots.get)
        return JSONResponse(doc, headers=_NO_CACHE)

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            last: tuple[int, int] | None = None
            last_doc: dict[str, Any] | None = None
            sent_at = 0.0
            while not stopping.is_set():
                token, doc = await run_sync(snapshots.get)
                if token != last or doc is not last_doc:
                    last, last_doc, sent_at = token, doc, time.monotonic()
                    yield f"event: snapshot\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n"
                elif time.monotonic() - sent_at > _KEEPALIVE_S:
                    sent_at = time.monotonic()
                    yield ": keepalive\n\n"
                await sleep(refresh_s)

        headers = {**_NO_CACHE, "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def notice(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        _, doc = await run_sync(snapshots.get)
        for node in doc["nodes"]:
            if node["node_id"] == node_id and node["notice"] is not None:
                return JSONResponse(node["notice"])
        return JSONResponse({"error": f"no notice from node {node_id!r}"}, status_code=404)

    async def hours(request: Request) -> Response:
        site = request.path_params["site"]
        try:
            count = int(request.query_params.get("hours", HISTORY_HOURS))
        except ValueError:
            return _bad("hours must be an integer")
        if not 1 <= count <= 24 * 31:
            return _bad("hours must be between 1 and 744")
        now_hour = hour_of(int(time.time()))
        since = now_hour - (count - 1) * 3600

        def load() -> list[dict[str, Any]]:
            with db.reader() as conn:
                sums = site_hours(conn, since)
            return [
                {"hour": iso(h), **roll_up(sums.get((site, h), {}), k).to_json()}
                for h in range(since, now_hour + 1, 3600)
            ]

        return JSONResponse({"site": site, "hours": await run_sync(load)})

    async def entities(request: Request) -> Response:
        wanted = request.query_params.get("type", ENTITY_TYPE)
        if wanted != ENTITY_TYPE:
            return LdResponse([])
        now = time.time()
        try:
            since = _time_param(request, "since", now - 3600)
            until = _time_param(request, "until", now + 60)
            limit = int(request.query_params.get("limit", "100"))
        except ValueError as exc:
            return _bad(str(exc))
        if not 1 <= limit <= 1000:
            return _bad("limit must be between 1 and 1000")
        node_id = request.query_params.get("node")

        def load() -> list[dict[str, Any]]:
            with db.reader() as conn:
                found = windows(
                    conn, since_s=int(since), until_s=int(until), node_id=node_id, limit=limit
                )
            return [e for w in found for e in to_entities(w)]

        return LdResponse(await run_sync(load))

    async def healthz(request: Request) -> Response:
        return JSONResponse(health())

    routes = [
        Route("/", index),
        Route("/api/snapshot", snapshot),
        Route("/api/events", events),
        Route("/api/nodes/{node_id}/notice", notice),
        Route("/api/sites/{site}/hours", hours),
        *history_routes(db, snapshots, k=k),
        Route("/ngsi-ld/v1/entities", entities),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return AuthGuard(Starlette(routes=routes), credentials)
