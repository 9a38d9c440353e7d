"""One small database layer for SQLite (the default) and PostgreSQL (psycopg 3).

The collector's SQL is written once with ``?`` placeholders and portable
syntax (``INSERT ... ON CONFLICT``, integer epoch times, no ``%``); this module
adapts placeholders for psycopg and translates both drivers' errors into
``StoreUnavailable`` (retry later), ``StoreDataError`` (these values cannot be
stored, including values a driver cannot even bind) and ``StoreError``
(anything else: a bug or a broken schema).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg

from collector.errors import StoreDataError, StoreError, StoreUnavailable

Row = tuple[Any, ...]
Params = Sequence[Any]


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    return sql.replace("?", "%s")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))


def describe(url: str) -> str:
    """The URL without a password, for logs."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Driver errors become StoreUnavailable (connection, locks, deadlocks) or StoreError."""
    try:
        yield
    except (sqlite3.OperationalError, psycopg.OperationalError) as exc:
        raise StoreUnavailable(f"database {describe(url)} unavailable: {_one_line(exc)}") from exc
    except (
        sqlite3.DataError,
        sqlite3.IntegrityError,
        psycopg.DataError,
        psycopg.IntegrityError,
        # Raised by the drivers while binding a value, before the database sees it:
        # sqlite3 OverflowError (int beyond 64 bits), UnicodeEncodeError (a lone
        # surrogate), TypeError/ValueError (a value neither driver can adapt).
        OverflowError,
        UnicodeError,
        ValueError,
        TypeError,
    ) as exc:
        raise StoreDataError(f"database {describe(url)} refused a value: {_one_line(exc)}") from exc
    except (sqlite3.Error, psycopg.Error) as exc:
        raise StoreError(f"database {describe(url)} refused a statement: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    """Driver messages can span lines (libpq adds hints); logs and the CLI want one."""
    return " ".join(str(exc).split()) or type(exc).__name__


class Connection:
    """The same SQL on either driver; autocommit unless inside ``transaction()``."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection[Any], url: str) -> None:
        self._raw = raw
        self.url = url
        self.postgres = isinstance(raw, psycopg.Connection)

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with translated(self.url):
            if isinstance(self._raw, psycopg.Connection):
                return self._raw.execute(_pg_sql(sql), params).rowcount
            return self._raw.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if not rows:
            return
        with translated(self.url):
            if isinstance(self._raw, psycopg.Connection):
                with self._raw.cursor() as cur:
                    cur.executemany(_pg_sql(sql), rows)
            else:
                self._raw.executemany(sql, rows)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with translated(self.url):
            if isinstance(self._raw, psycopg.Connection):
                return list(self._raw.execute(_pg_sql(sql), params).fetchall())
            return list(self._raw.execute(sql, params).fetchall())

    def script(self, sql: str) -> None:
        """Run several ';'-separated statements (a migration file) in the current transaction."""
        for statement in split_statements(sql):
            self.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with translated(self.url):
            if isinstance(self._raw, psycopg.Connection):
                with self._raw.transaction():
                    yield
                return
            self._raw.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._raw.execute("ROLLBACK")
                raise
            self._raw.execute("COMMIT")

    def close(self) -> None:
        with suppress(sqlite3.Error, psycopg.Error):
            self._raw.close()


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: ';' ends one; '--' comments are dropped."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class Database:
    """Connections to one database URL, plus a small pool of readers for the web app."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self._pool: list[Connection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()

    def connect(self) -> Connection:
        with translated(self.url):
            if self.postgres:
                return Connection(
                    psycopg.connect(self.url, autocommit=True, connect_timeout=5), self.url
                )
            path = sqlite_path(self.url)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create {path.parent}: {exc.strerror}") from None
            raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA busy_timeout=10000")
            return Connection(raw, self.url)

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A pooled connection for short reads; a connection that failed is not reused."""
        with self._lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self.connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if len(self._pool) < self._pool_size:
                self._pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()
