"""Fixtures for collector tests: a real Mosquitto with a small fleet, SQLite and PostgreSQL.

PostgreSQL tests create their own database ``kazoe_test_<random>`` on the
server at ``KAZOE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and drop it afterwards; they skip only when no server is reachable there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from edge.errors import BrokerError
from simulator.brokers.dev import DevBroker

FLEET = tuple(f"node-{i:02d}" for i in range(1, 7))
PG_ADMIN = os.environ.get("KAZOE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def start_broker(nodes: tuple[str, ...], state_dir: Path) -> DevBroker:
    dev = DevBroker(nodes, state_dir=state_dir)
    try:
        dev.start()
    except BrokerError as exc:
        dev.close()
        pytest.fail(f"cannot start the test broker: {exc}")
    return dev


@pytest.fixture
def fleet_broker(tmp_path: Path) -> Iterator[DevBroker]:
    """A DevBroker with users node-01 .. node-06 and watcher."""
    dev = start_broker(FLEET, tmp_path / "broker")
    try:
        yield dev
    finally:
        dev.close()


@pytest.fixture
def make_pg_database() -> Iterator[Callable[[], str]]:
    """``make()`` creates a fresh PostgreSQL database and returns its URL; all dropped after."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(f"no PostgreSQL server reachable at {PG_ADMIN} ({reason})")
    created: list[str] = []

    def make() -> str:
        name = f"kazoe_test_{secrets.token_hex(6)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    try:
        yield make
    finally:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_url(make_pg_database: Callable[[], str]) -> str:
    return make_pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on SQLite (a file) and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "collector.db")
    url: str = request.getfixturevalue("pg_url")
    return url
