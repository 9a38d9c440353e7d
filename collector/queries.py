"""Reading what the collectors stored: nodes, cell sums for roll-ups, windows.

A node's site is the one its retained notice names, else the collector's
``[sites]`` mapping, else ``default``; roll-ups group a node's hours under its
current site.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.db import Connection, Row
from collector.rollup import CellSum

SITE = "COALESCE(n.notice_site, n.config_site, 'default')"
DEFAULT_SITE = "default"


def _json(text: object) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    doc = json.loads(text)
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class NodeView:
    node_id: str
    site: str
    state: str
    status: dict[str, Any] | None
    notice: dict[str, Any] | None
    latest: dict[str, Any] | None
    first_seen_ms: int
    last_seen_ms: int


def nodes(conn: Connection) -> list[NodeView]:
    rows = conn.query(
        f"SELECT n.node_id, {SITE}, n.state, n.status_body, n.notice_body, n.latest_body,"  # noqa: S608 - constant SQL; values are bound
        " n.first_seen_ms, n.last_seen_ms FROM nodes n ORDER BY n.node_id"
    )
    return [
        NodeView(
            node_id=str(r[0]),
            site=str(r[1]),
            state=str(r[2]),
            status=_json(r[3]),
            notice=_json(r[4]),
            latest=_json(r[5]),
            first_seen_ms=int(r[6]),
            last_seen_ms=int(r[7]),
        )
        for r in rows
    ]


def change_token(conn: Connection) -> tuple[int, int]:
    """Changes whenever any collector stores anything (used to push live updates)."""
    row = conn.query("SELECT COALESCE(MAX(updated_ms), 0), COUNT(*) FROM nodes")[0]
    return int(row[0]), int(row[1])


def _sums(rows: Sequence[Row], width: int) -> dict[tuple[Any, ...], dict[str, CellSum]]:
    out: dict[tuple[Any, ...], dict[str, CellSum]] = {}
    for row in rows:
        key, (cell, n, nulls, total) = tuple(row[:width]), row[width:]
        out.setdefault(key, {})[str(cell)] = CellSum(int(n), int(nulls), int(total))
    return out


def site_hours(conn: Connection, since_hour: int) -> dict[tuple[str, int], dict[str, CellSum]]:
    """Cell sums per (site, hour) from ``since_hour`` on."""
    rows = conn.query(
        f"SELECT {SITE}, h.hour_s, h.cell, SUM(h.n), SUM(h.nulls), SUM(h.total)"  # noqa: S608 - constant SQL; values are bound
        " FROM hourly h JOIN nodes n ON n.node_id = h.node_id WHERE h.hour_s >= ?"
        f" GROUP BY {SITE}, h.hour_s, h.cell",
        (since_hour,),
    )
    return {(str(k[0]), int(k[1])): v for k, v in _sums(rows, 2).items()}


def site_totals(conn: Connection, since_hour: int) -> dict[str, dict[str, CellSum]]:
    """Cell sums per site over every hour from ``since_hour`` on."""
    rows = conn.query(
        f"SELECT {SITE}, h.cell, SUM(h.n), SUM(h.nulls), SUM(h.total)"  # noqa: S608 - constant SQL; values are bound
        " FROM hourly h JOIN nodes n ON n.node_id = h.node_id WHERE h.hour_s >= ?"
        f" GROUP BY {SITE}, h.cell",
        (since_hour,),
    )
    return {str(k[0]): v for k, v in _sums(rows, 1).items()}


def node_totals(conn: Connection, since_hour: int) -> dict[str, dict[str, CellSum]]:
    """Cell sums per node over every hour from ``since_hour`` on."""
    rows = conn.query(
        "SELECT h.node_id, h.cell, SUM(h.n), SUM(h.nulls), SUM(h.total) FROM hourly h"
        " WHERE h.hour_s >= ? GROUP BY h.node_id, h.cell",
        (since_hour,),
    )
    return {str(k[0]): v for k, v in _sums(rows, 1).items()}


def bucket_sums(
    conn: Connection,
    start_s: int,
    end_s: int,
    bucket_s: int,
    *,
    group: str,
    site: str | None = None,
    node_id: str | None = None,
) -> tuple[dict[tuple[str, int], dict[str, CellSum]], dict[str, str]]:
    """Cell sums per (site or node, bucket index) over hours in [start_s, end_s), and the
    groups that exist (key -> site), so a group without data in the range still shows."""
    key = SITE if group == "site" else "n.node_id"
    where, params = "", []
    if site is not None:
        where += f" AND {SITE} = ?"
        params.append(site)
    if node_id is not None:
        where += " AND n.node_id = ?"
        params.append(node_id)
    rows = conn.query(
        f"SELECT {key}, (h.hour_s - ?) / ?, h.cell, SUM(h.n), SUM(h.nulls), SUM(h.total)"  # noqa: S608 - constant SQL; values are bound
        " FROM hourly h JOIN nodes n ON n.node_id = h.node_id"
        f" WHERE h.hour_s >= ? AND h.hour_s < ?{where} GROUP BY 1, 2, 3",
        (start_s, bucket_s, start_s, end_s, *params),
    )
    sums = {(str(k[0]), int(k[1])): v for k, v in _sums(rows, 2).items()}
    groups = conn.query(
        f"SELECT DISTINCT {key}, {SITE} FROM nodes n WHERE 1 = 1{where}",  # noqa: S608 - constant SQL; values are bound
        tuple(params),
    )
    sites = {str(r[0]): str(r[1]) for r in groups}
    return sums, sites


@dataclass(frozen=True)
class StoredWindow:
    body: dict[str, Any]
    site: str
    notice: dict[str, Any] | None
    stored_ms: int


def windows(
    conn: Connection,
    *,
    since_s: int,
    until_s: int,
    node_id: str | None = None,
    limit: int = 1000,
) -> list[StoredWindow]:
    """Windows that ended in [since_s, until_s), oldest first, with their node's notice."""
    where = "w.window_end_s >= ? AND w.window_end_s < ?"
    params: list[object] = [since_s, until_s]
    if node_id is not None:
        where += " AND w.node_id = ?"
        params.append(node_id)
    rows = conn.query(
        f"SELECT w.body, {SITE}, n.notice_body, w.stored_ms FROM windows w"  # noqa: S608 - constant SQL; values are bound
        f" LEFT JOIN nodes n ON n.node_id = w.node_id WHERE {where}"
        " ORDER BY w.window_end_s, w.node_id, w.seq LIMIT ?",
        (*params, limit),
    )
    out = []
    for r in rows:
        body = _json(r[0])
        if body is not None:
            out.append(StoredWindow(body, str(r[1] or DEFAULT_SITE), _json(r[2]), int(r[3])))
    return out


def count_windows(conn: Connection) -> int:
    return int(conn.query("SELECT COUNT(*) FROM windows")[0][0])


def windows_by_keys(conn: Connection, keys: Sequence[tuple[str, int]]) -> list[StoredWindow]:
    """The stored windows with these (node_id, seq), in the order given."""
    found: dict[tuple[str, int], StoredWindow] = {}
    for node_id, seq in keys:
        rows = conn.query(
            f"SELECT w.body, {SITE}, n.notice_body, w.stored_ms FROM windows w"  # noqa: S608 - constant SQL; values are bound
            " LEFT JOIN nodes n ON n.node_id = w.node_id WHERE w.node_id = ? AND w.seq = ?",
            (node_id, seq),
        )
        for r in rows:
            body = _json(r[0])
            if body is not None:
                found[(node_id, seq)] = StoredWindow(
                    body, str(r[1] or DEFAULT_SITE), _json(r[2]), int(r[3])
                )
    return [found[k] for k in keys if k in found]
