"""The durable outbox: every closed window is in SQLite before it is sent.

A window gets its 64-bit ``seq`` (monotonic across restarts) in the same
transaction that stores it, so a crash never leaves a gap. It is marked
delivered on PUBACK and kept as local history until its retention ends; an
undelivered window past retention is deleted too (retention beats delivery).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    payload BLOB NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_end ON outbox(window_end);
"""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    rows: int
    undelivered: int
    oldest_end: float | None
    newest_end: float | None


class Outbox:
    """SQLite (WAL) store of closed windows, keyed by seq."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the node database {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def append(self, window_start: float, window_end: float, make: Callable[[int], bytes]) -> int:
        """Allocate the next seq, build the payload for it, store both atomically."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            seq = (int(row[0]) if row else 0) + 1
            payload = make(seq)
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (seq,),
            )
            self._db.execute(
                "INSERT INTO outbox(seq, window_start, window_end, payload) VALUES (?, ?, ?, ?)",
                (seq, window_start, window_end, payload),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"cannot store a closed window in {self.path}: {exc}") from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return seq

    def pending(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset()
    ) -> list[tuple[int, bytes]]:
        """Undelivered windows in seq order, skipping those already in flight."""
        rows = self._db.execute(
            "SELECT seq, payload FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?",
            (limit + len(exclude),),
        ).fetchall()
        return [(int(s), bytes(p)) for s, p in rows if s not in exclude][:limit]

    def mark_delivered(self, seqs: list[int], now: float) -> None:
        if seqs:
            self._db.executemany(
                "UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                [(now, s) for s in seqs],
            )

    def depth(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        return int(n)

    def last_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return int(row[0]) if row else 0

    def purge(self, cutoff: float) -> PurgeResult:
        """Delete every window that ended before ``cutoff`` (delivered or not)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows, undelivered, oldest, newest = self._db.execute(
                "SELECT COUNT(*), SUM(delivered_at IS NULL), MIN(window_end), MAX(window_end) "
                "FROM outbox WHERE window_end < ?",
                (cutoff,),
            ).fetchone()
            self._db.execute("DELETE FROM outbox WHERE window_end < ?", (cutoff,))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"cannot purge {self.path}: {exc}") from None
        return PurgeResult(int(rows), int(undelivered or 0), oldest, newest)
