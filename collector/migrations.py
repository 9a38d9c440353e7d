"""Schema migrations: ``collector/migrations/NNN_name.sql``, applied once each, in order.

Applied versions are recorded in ``schema_migrations``. Two collectors starting
at once do not race: PostgreSQL takes an advisory lock, SQLite ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources

from collector.db import Connection
from collector.errors import StoreError

log = logging.getLogger("kazoe.collector.migrations")

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x4B415A4F45  # "KAZOE"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped with the package, by version."""
    found = []
    for entry in resources.files("collector").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version: {versions}")
    return found


def migrate(conn: Connection) -> list[int]:
    """Apply what is missing; returns the versions applied now."""
    applied_now: list[int] = []
    with conn.transaction():
        if conn.postgres:
            conn.query("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
        )
        done = {int(row[0]) for row in conn.query("SELECT version FROM schema_migrations")}
        known = available()
        newest = max((m.version for m in known), default=0)
        if done and max(done) > newest:
            raise StoreError(
                f"the database has schema version {max(done)} but this collector knows only "
                f"up to {newest}; upgrade the collector"
            )
        for migration in known:
            if migration.version in done:
                continue
            conn.script(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time() * 1000)),
            )
            applied_now.append(migration.version)
    for version in applied_now:
        log.info("applied schema migration %03d", version)
    return applied_now
