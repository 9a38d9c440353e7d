"""Writing records: windows exactly once, node state, hourly sums; and retention.

A batch is one transaction. Windows are inserted with ``ON CONFLICT (node_id,
seq) DO NOTHING ... RETURNING``, so a redelivered window is counted as a
duplicate and changes nothing. Node rows and hourly sums are updated in the
same transaction, only for windows that were actually inserted, in a fixed key
order so that two collectors writing to one PostgreSQL cannot deadlock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from collector.db import Connection, Row
from collector.records import NoticeUpdate, Record, StatusUpdate, Window

WINDOWS_CELL = "_windows"  # hourly row counting the windows of that node-hour
_WINDOW_TYPES = (
    "text",
    "bigint",
    "text",
    "bigint",
    "bigint",
    "integer",
    "text",
    "bigint",
    "bigint",
)
_NODE_TYPES: tuple[str, ...] = ("text", "text", "text", "text", "text", "bigint", "text")
_NODE_TYPES += ("bigint", "bigint", "text", "bigint", "bigint", "bigint", "bigint")
_HOURLY_TYPES = ("text", "bigint", "text", "integer", "integer", "integer")

_INSERT_WINDOWS = (
    "INSERT INTO windows (node_id, seq, boot_id, window_start_s, window_end_s, people, body,"
    " received_ms, stored_ms) {rows}"
    " ON CONFLICT (node_id, seq) DO NOTHING RETURNING node_id, seq"
)

_UNSTAMPED = -1  # stored_ms of rows inserted by the open transaction, until its commit
_STAMP_WINDOWS = "UPDATE windows SET stored_ms = ? WHERE stored_ms = ?"

_NEWER = "CASE WHEN excluded.{when} > nodes.{when} THEN excluded.{col} ELSE nodes.{col} END"
_UPSERT_NODE = (
    "INSERT INTO nodes (node_id, config_site, notice_site, state, status_body, status_at_ms,"
    " notice_body, notice_ms, latest_seq, latest_body, latest_end_s, first_seen_ms,"
    " last_seen_ms, updated_ms) {rows}"
    " ON CONFLICT (node_id) DO UPDATE SET config_site = excluded.config_site, "
    + ", ".join(
        f"{col} = " + _NEWER.format(when=when, col=col)
        for when, cols in (
            ("status_at_ms", ("state", "status_body")),
            ("notice_ms", ("notice_site", "notice_body")),
            ("latest_seq", ("latest_body", "latest_end_s")),
        )
        for col in (*cols, when)
    )
    + ", last_seen_ms = "
    + _NEWER.format(when="last_seen_ms", col="last_seen_ms")
    + ", updated_ms = excluded.updated_ms"
)

_UPSERT_HOURLY = (
    "INSERT INTO hourly (node_id, hour_s, cell, n, nulls, total) {rows}"
    " ON CONFLICT (node_id, hour_s, cell) DO UPDATE SET n = hourly.n + excluded.n,"
    " nulls = hourly.nulls + excluded.nulls, total = hourly.total + excluded.total"
)


@dataclass
class _NodeDelta:
    node_id: str
    last_seen_ms: int = 0
    status: StatusUpdate | None = None
    notice: NoticeUpdate | None = None
    latest: Window | None = None

    def add(self, record: Record) -> None:
        self.last_seen_ms = max(self.last_seen_ms, record.received_ms)
        if isinstance(record, StatusUpdate):
            # Receive order, not the node's clock: a Will is stamped when the node
            # connected, before the birth message it must override.
            self.status = record
        elif isinstance(record, NoticeUpdate):
            self.notice = record
        elif self.latest is None or record.seq > self.latest.seq:
            self.latest = record

    def row(self, config_site: str | None, now_ms: int) -> tuple[object, ...]:
        status, notice, latest = self.status, self.notice, self.latest
        return (
            self.node_id,
            config_site,
            notice.site if notice else None,
            status.state if status else "unknown",
            status.body if status else None,
            status.received_ms if status else 0,
            notice.body if notice else None,
            notice.received_ms if notice else 0,
            latest.seq if latest else 0,
            latest.body if latest else None,
            latest.window_end_s if latest else 0,
            self.last_seen_ms,
            self.last_seen_ms,
            now_ms,
        )


@dataclass
class WriteResult:
    stored: list[Window] = field(default_factory=list)
    duplicates: int = 0
    stored_ms: int = 0  # the stamp written into the stored rows, just before COMMIT


def hour_of(seconds: int) -> int:
    return seconds // 3600 * 3600


def hourly_deltas(windows: Sequence[Window]) -> list[tuple[str, int, str, int, int, int]]:
    """(node_id, hour_s, cell, n, nulls, total) sums for these windows, in key order."""
    sums: dict[tuple[str, int, str], list[int]] = {}
    for w in windows:
        hour = hour_of(w.window_start_s)
        sums.setdefault((w.node_id, hour, WINDOWS_CELL), [0, 0, 0])[0] += 1
        for cell, value in w.cells.items():
            acc = sums.setdefault((w.node_id, hour, cell), [0, 0, 0])
            acc[0] += 1
            if value is None:
                acc[1] += 1
            else:
                acc[2] += value
    return [(*key, *acc) for key, acc in sorted(sums.items())]  # type: ignore[misc]


def _bulk(
    conn: Connection, sql: str, types: Sequence[str], rows: Sequence[Sequence[object]]
) -> list[Row]:
    """Run ``sql`` for many rows at once; returns what a RETURNING clause gives.

    PostgreSQL gets one column array per parameter (``unnest``), so the statement
    text never changes (psycopg parses each new text, which dominated the cost of
    big VALUES lists); SQLite, which parses in C, gets multi-row VALUES chunks.
    Keys must be unique within ``rows``: PostgreSQL refuses to update a row twice.
    """
    if not rows:
        return []
    if conn.postgres:
        arrays = ", ".join(f"%b::{t}[]" for t in types)  # binary: no text-array escaping
        columns = [list(column) for column in zip(*rows, strict=True)]
        unnest = f"SELECT * FROM unnest({arrays})"  # noqa: S608 - fixed type names only
        return _run(conn, sql.format(rows=unnest), columns)
    found: list[Row] = []
    group = "(" + ", ".join(["?"] * len(types)) + ")"
    per_chunk = max(1, 4000 // len(types))  # under SQLite's limit of bound parameters
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        values = "VALUES " + ", ".join([group] * len(chunk))
        found += _run(conn, sql.format(rows=values), [v for row in chunk for v in row])
    return found


def _run(conn: Connection, sql: str, params: Sequence[object]) -> list[Row]:
    if " RETURNING " in sql:
        return conn.query(sql, params)
    conn.execute(sql, params)
    return []


def write_batch(
    conn: Connection,
    records: Sequence[Record],
    site_for: Callable[[str], str | None],
    now_ms: int | None = None,
) -> WriteResult:
    """Store a batch in one transaction; returns the windows inserted and the duplicates."""
    fixed_ms = now_ms
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    windows = [r for r in records if isinstance(r, Window)]
    result = WriteResult(stored_ms=now_ms)
    with conn.transaction():
        rows = [
            (
                w.node_id,
                w.seq,
                w.boot_id,
                w.window_start_s,
                w.window_end_s,
                w.people,
                w.body,
                w.received_ms,
                _UNSTAMPED,
            )
            for w in windows
        ]
        inserted = {(str(n), int(q)) for n, q in _bulk(conn, _INSERT_WINDOWS, _WINDOW_TYPES, rows)}
        seen: set[tuple[str, int]] = set()
        for w in windows:
            key = (w.node_id, w.seq)
            if key in inserted and key not in seen:
                result.stored.append(w)
            else:
                result.duplicates += 1
            seen.add(key)
        stored_ids = {id(w) for w in result.stored}
        deltas: dict[str, _NodeDelta] = {}
        for record in records:
            delta = deltas.setdefault(record.node_id, _NodeDelta(record.node_id))
            if isinstance(record, Window) and id(record) not in stored_ids:
                # A duplicate changes nothing but still proves the node is alive.
                delta.last_seen_ms = max(delta.last_seen_ms, record.received_ms)
            else:
                delta.add(record)
        node_rows = [deltas[n].row(site_for(n), now_ms) for n in sorted(deltas)]
        _bulk(conn, _UPSERT_NODE, _NODE_TYPES, node_rows)
        _bulk(conn, _UPSERT_HOURLY, _HOURLY_TYPES, hourly_deltas(result.stored))
        # Stamped by the last statement before COMMIT, so stored_ms is when the rows
        # became durable, not when the batch started (latency figures include the
        # transaction). Other writers' unstamped rows are uncommitted, so invisible here.
        result.stored_ms = int(time.time() * 1000) if fixed_ms is None else fixed_ms
        if result.stored:
            conn.execute(_STAMP_WINDOWS, (result.stored_ms, _UNSTAMPED))
    return result


def purge(conn: Connection, retention_days: int, now_s: float | None = None) -> int:
    """Delete windows (and hourly sums) that ended before the retention period; returns windows."""
    now_s = time.time() if now_s is None else now_s
    cutoff = int(now_s) - retention_days * 86400
    with conn.transaction():
        removed = conn.execute("DELETE FROM windows WHERE window_end_s < ?", (cutoff,))
        conn.execute("DELETE FROM hourly WHERE hour_s <= ?", (cutoff - 3600,))
    return removed
