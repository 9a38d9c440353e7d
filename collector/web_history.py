"""``/api/history`` (the dashboard's range view) and ``/api/export`` (CSV or JSON roll-ups).

Both take the ranges of ``collector.history``; an unknown, repeated or malformed
parameter, or a range that is too large, is a 400 with ``{"error": "..."}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from anyio.to_thread import run_sync
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.db import Database
from collector.history import (
    RangeError,
    export_rows,
    history_doc,
    parse_export,
    parse_range,
    to_csv,
)
from collector.snapshot import SnapshotCache, iso

HISTORY_PARAMS = frozenset({"range", "day", "bucket", "node"})
EXPORT_PARAMS = HISTORY_PARAMS | {"from", "until", "by", "site", "format"}
_MAX_AGE_S = 10.0
_NO_CACHE = {"Cache-Control": "no-store"}


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def query_of(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    """The query as a dict; an unknown or repeated parameter is a RangeError, not ignored."""
    items = request.query_params.multi_items()
    for name, _ in items:
        if name not in allowed:
            raise RangeError(
                f"unknown parameter {name!r}; this endpoint takes {', '.join(sorted(allowed))}"
            )
    query = dict(items)
    if len(query) != len(items):
        raise RangeError("each parameter may be given once")
    return query


class HistoryCache:
    """Recent range views, shared by viewers; rebuilt when the database changed or aged."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._docs: dict[tuple[object, ...], tuple[float, dict[str, Any]]] = {}

    def get(self, key: tuple[object, ...], build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._docs.get(key)
            if hit is not None and now - hit[0] <= _MAX_AGE_S:
                return hit[1]
        doc = build()
        with self._lock:
            self._docs[key] = (now, doc)
            while len(self._docs) > self._size:
                self._docs.pop(next(iter(self._docs)))
        return doc


def history_routes(db: Database, snapshots: SnapshotCache, *, k: int) -> list[Route]:
    cache = HistoryCache()

    async def history(request: Request) -> Response:
        try:
            query = query_of(request, HISTORY_PARAMS)
            span = parse_range(query, time.time())
        except RangeError as exc:
            return _bad(str(exc))
        node_id = query.get("node")

        def load() -> dict[str, Any]:
            def build() -> dict[str, Any]:
                with db.reader() as conn:
                    return history_doc(conn, span, k=k, node_id=node_id)

            return cache.get((span, node_id, snapshots.token()), build)

        return JSONResponse(await run_sync(load), headers=_NO_CACHE)

    async def export(request: Request) -> Response:
        try:
            wanted = parse_export(query_of(request, EXPORT_PARAMS), time.time())
        except RangeError as exc:
            return _bad(str(exc))
        span, by = wanted.span, wanted.by

        def load() -> Response:
            with db.reader() as conn:
                try:
                    rows = export_rows(
                        conn, span, group=by, k=k, site=wanted.site, node_id=wanted.node_id
                    )
                except RangeError as exc:
                    return _bad(str(exc))
            stem = f"kazoe-{by}s-{iso(span.start_s)}-{iso(span.end_s)}".replace(":", "")
            if wanted.format == "csv":
                disposition = f'attachment; filename="{stem}.csv"'
                return Response(
                    to_csv(rows, by),
                    media_type="text/csv; charset=utf-8",
                    headers={**_NO_CACHE, "Content-Disposition": disposition},
                )
            doc = {"range": span.to_json(), "by": by, "k": k, "rows": [r.to_json() for r in rows]}
            disposition = f'inline; filename="{stem}.json"'
            return JSONResponse(doc, headers={**_NO_CACHE, "Content-Disposition": disposition})

        return await run_sync(load)

    return [Route("/api/history", history), Route("/api/export", export)]
