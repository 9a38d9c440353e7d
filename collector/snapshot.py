"""The dashboard's picture of the fleet, as one JSON document (built from the database).

Everything any collector of the group stored shows up, whichever collector
serves the page. Node figures are the node's own published windows; site and
24-hour figures are roll-ups with suppression re-applied (``collector.rollup``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.db import Database
from collector.queries import NodeView, change_token, node_totals, nodes, site_hours, site_totals
from collector.rollup import roll_up
from collector.store import hour_of

HISTORY_HOURS = 24
_MAX_AGE_S = 10.0  # rebuild at least this often, so "silent" nodes show up without news


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown_state(node: NodeView, now_ms: int, stale_after_s: int) -> str:
    """online / degraded / offline / unknown, or ``silent`` when an online node went quiet."""
    if node.state in ("online", "degraded") and now_ms - node.last_seen_ms > stale_after_s * 1000:
        return "silent"
    return node.state


def _latest(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    keys = ("seq", "window_start", "window_end", "people", "gender", "age_bands", "suppressed", "k")
    latest = {key: body.get(key) for key in keys}
    # kazoe.counts/3: how sure the window's shares are (absent from /1 and /2 windows).
    latest["intervals"] = body.get("intervals")
    return latest


def build(
    db: Database, *, k: int, stale_after_s: int, now_s: float | None = None
) -> dict[str, Any]:
    now_s = time.time() if now_s is None else now_s
    now_ms = int(now_s * 1000)
    this_hour = hour_of(int(now_s))
    since = this_hour - (HISTORY_HOURS - 1) * 3600
    with db.reader() as conn:
        fleet = nodes(conn)
        per_node = node_totals(conn, since)
        per_site = site_totals(conn, since)
        hours = site_hours(conn, since)
    node_docs = []
    for node in fleet:
        node_docs.append(
            {
                "node_id": node.node_id,
                "site": node.site,
                "state": shown_state(node, now_ms, stale_after_s),
                "reported_state": node.state,
                "last_seen_ms": node.last_seen_ms,
                "last_seen": iso(node.last_seen_ms / 1000),
                "status": node.status,
                "notice": node.notice,
                "latest": _latest(node.latest),
                "day": roll_up(per_node.get(node.node_id, {}), k).to_json(),
            }
        )
    site_names = sorted({n.site for n in fleet} | set(per_site))
    site_docs = []
    for site in site_names:
        members = [d for d in node_docs if d["site"] == site]
        history = []
        for hour in range(since, this_hour + 1, 3600):
            rolled = roll_up(hours.get((site, hour), {}), k)
            history.append({"hour": iso(hour), "windows": rolled.windows, "people": rolled.people})
        site_docs.append(
            {
                "site": site,
                "nodes": len(members),
                "online": sum(1 for d in members if d["state"] in ("online", "degraded")),
                "hour": roll_up(hours.get((site, this_hour), {}), k).to_json(),
                "day": roll_up(per_site.get(site, {}), k).to_json(),
                "history": history,
            }
        )
    return {
        "generated_ms": now_ms,
        "generated": iso(now_s),
        "k": k,
        "stale_after_s": stale_after_s,
        "nodes": node_docs,
        "sites": site_docs,
        "totals": {
            "nodes": len(node_docs),
            "online": sum(1 for d in node_docs if d["state"] in ("online", "degraded")),
            "offline": sum(1 for d in node_docs if d["state"] == "offline"),
        },
    }


@dataclass
class _Cached:
    token: tuple[int, int]
    built_at: float
    doc: dict[str, Any]


class SnapshotCache:
    """One snapshot shared by every viewer; rebuilt when the database changed or it aged."""

    def __init__(self, db: Database, *, k: int, stale_after_s: int) -> None:
        self._db = db
        self._k = k
        self._stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self.clock: Callable[[], float] = time.monotonic

    def token(self) -> tuple[int, int]:
        with self._db.reader() as conn:
            return change_token(conn)

    def get(self) -> tuple[tuple[int, int], dict[str, Any]]:
        """(change token, snapshot); blocking (call from a worker thread)."""
        with self._lock:
            token = self.token()
            cached = self._cached
            if (
                cached is None
                or cached.token != token
                or self.clock() - cached.built_at > _MAX_AGE_S
            ):
                doc = build(self._db, k=self._k, stale_after_s=self._stale_after_s)
                cached = self._cached = _Cached(token, self.clock(), doc)
            return cached.token, cached.doc
