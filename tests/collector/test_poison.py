"""One bad message never stops the collector, on SQLite and on PostgreSQL.

First line: the counts schema bounds every integer and every string to what both
databases store, so a poison window is rejected at validation (``malformed``).
Second line: if a value still reaches the database and is refused there, the
writer bisects the batch, drops only that message (``store``) and stores the
rest; errors of the database itself keep the batch unacknowledged.
Each case ends by storing the next valid window: that is what a user would lose.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from collector import records
from collector.db import Database
from collector.errors import StoreError
from collector.subscription import Inbound
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import SimNode, collector_settings, recent_counts, running
from tests.collector.test_store import Harness

Mutation = Callable[[dict[str, Any]], None]


def _set(**fields: Any) -> Mutation:
    return lambda doc: doc.update(fields)


def _band(label: str, value: Any = 1) -> Mutation:
    return lambda doc: doc["age_bands"].update({label: value})


def _model(detector: str) -> Mutation:
    return lambda doc: doc["model"].update(detector=detector)


# Each value was either seen to stop the collector (people=2**64 on SQLite, a lone
# surrogate on PostgreSQL) or is refused by one of the two databases.
POISON: dict[str, Mutation] = {
    "people=2**64": _set(people=2**64),
    "people=2**63": _set(people=2**63),
    "people=2**40 (beyond INTEGER)": _set(people=2**40),
    "people=-1": _set(people=-1),
    "people=5.5": _set(people=5.5),
    "people=1e308": _set(people=1e308),
    "seq=2**63": _set(seq=2**63),
    "seq=2**64": _set(seq=2**64),
    "k=2**64": _set(k=2**64),
    "band=2**64": _band("20-29", 2**64),
    "band label lone surrogate": _band("\ud800"),
    "band label reversed surrogates": _band("\udfff\ud800"),
    "band label NUL": _band("20\x0029"),
    "band label control": _band("20\x1b29"),
    "band label 1000 chars": _band("x" * 1000),
    "suppressed NUL": lambda doc: doc["suppressed"].append("age_bands.\x00"),
    "suppressed surrogate": lambda doc: doc["suppressed"].append("age_bands.\udc80"),
    "model id surrogate": _model("yunet@\ud83d"),
    "model id NUL": _model("yunet\x00"),
}
# Not JSON at all by the standard, though Python's json module reads them.
RAW_POISON = {
    "people=1e400": b"1e400",
    "people=NaN": b"NaN",
    "people=Infinity": b"Infinity",
    "people=-Infinity": b"-Infinity",
}


def poisoned(h: Harness, seq: int, mutate: Mutation) -> Inbound:
    doc = json.loads(recent_counts("node-a", seq, h.base))
    mutate(doc)
    return h.item("kazoe/v1/node-a/counts", json.dumps(doc).encode())


def raw_poisoned(h: Harness, seq: int, literal: bytes) -> Inbound:
    doc = json.loads(recent_counts("node-a", seq, h.base))
    doc["people"] = "@@"
    payload = json.dumps(doc).encode().replace(b'"@@"', literal)
    return h.item("kazoe/v1/node-a/counts", payload)


def stored_seqs(h: Harness) -> list[int]:
    with h.db.reader() as conn:
        return [int(r[0]) for r in conn.query("SELECT seq FROM windows ORDER BY seq")]


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url)
    yield h
    h.close()


@pytest.fixture
def no_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the first line off: messages reach the database unchecked (JSON only)."""

    def json_only(_schema: str, payload: bytes | str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(payload)
        return doc

    monkeypatch.setattr(records, "validate", json_only)


@pytest.mark.parametrize("name", [*POISON, *RAW_POISON])
def test_schema_rejects_each_poison_and_the_next_window_is_stored(
    harness: Harness, name: str
) -> None:
    first = harness.counts("node-a", 1)
    bad = (
        poisoned(harness, 2, POISON[name])
        if name in POISON
        else raw_poisoned(harness, 2, RAW_POISON[name])
    )
    harness.writer.process([first, bad])
    harness.writer.process([harness.counts("node-a", 3)])
    assert stored_seqs(harness) == [1, 3]
    assert harness.metric("kazoe_collector_rejects_total", reason="malformed") == 1
    assert harness.metric("kazoe_collector_store_errors_total") == 0
    assert harness.acked == [1, 2, 3]


# Values the schema would refuse but that each database refuses too, when let through.
REFUSED_BY_DATABASE = {
    "people=2**64": _set(people=2**64),
    "band label lone surrogate": _band("\ud800"),
    "band label reversed surrogates": _band("\udfff\ud800"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_DATABASE))
@pytest.mark.usefixtures("no_schema")
def test_a_value_the_database_refuses_drops_only_its_message(harness: Harness, name: str) -> None:
    batch = [harness.counts("node-a", seq) for seq in range(1, 5)]
    batch.append(poisoned(harness, 50, REFUSED_BY_DATABASE[name]))
    batch += [harness.counts("node-a", seq) for seq in range(5, 8)]
    harness.writer.process(batch)
    harness.writer.process([harness.counts("node-a", 8)])
    assert stored_seqs(harness) == list(range(1, 9))
    assert harness.metric("kazoe_collector_rejects_total", reason="store") == 1
    assert harness.metric("kazoe_collector_windows_stored_total") == 8
    assert harness.acked == list(range(1, 10))


def test_values_only_postgresql_refuses_are_isolated_there(pg_url: str, no_schema: None) -> None:
    h = Harness(pg_url)
    try:
        batch = [
            poisoned(h, 1, _set(people=2**40)),  # beyond PostgreSQL's INTEGER
            h.counts("node-a", 2),
            poisoned(h, 3, _band("20\x0029")),  # PostgreSQL text holds no NUL
            h.counts("node-a", 4),
            poisoned(h, 5, _set(people=5.5)),  # not an integer
        ]
        h.writer.process(batch)
        h.writer.process([h.counts("node-a", 6)])
        assert stored_seqs(h) == [2, 4, 6]
        assert h.metric("kazoe_collector_rejects_total", reason="store") == 3
        assert h.acked == [1, 2, 3, 4, 5, 6]
    finally:
        h.close()


def test_a_broken_database_is_retried_not_blamed_on_the_messages(tmp_path: Any) -> None:
    h = Harness(str(tmp_path / "c.db"))
    try:
        conn = h.db.connect()
        conn.execute("DROP TABLE windows")  # a broken schema, not a bad value
        conn.close()
        with pytest.raises(StoreError, match="no such table"):
            h.writer.process([h.counts("node-a", 1), h.counts("node-a", 2)])
        assert h.acked == []
        assert h.metric("kazoe_collector_rejects_total", reason="store") == 0
    finally:
        h.close()


# -- random poison (hypothesis) -----------------------------------------------------------

# Mostly plausible values, so that valid windows are drawn too, and anything else:
# every code point (NUL, controls, lone surrogates), integers far past 64 bits, floats.
ANY_TEXT = st.one_of(
    st.sampled_from(["20-29", "70+", "yunet@7fc3c140"]),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=80),
)
ANY_NUMBER = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
)
RANDOM = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _random_window(data: st.DataObject) -> Mutation:
    people = data.draw(ANY_NUMBER, "people")
    label = data.draw(ANY_TEXT, "band label")
    value = data.draw(ANY_NUMBER, "band value")
    detector = data.draw(ANY_TEXT, "detector id")

    def mutate(doc: dict[str, Any]) -> None:
        doc.update(people=people)
        doc["age_bands"][label] = value
        doc["model"]["detector"] = detector

    return mutate


# Hypothesis runs many examples on one database: every window needs a fresh seq.
_SEQS = itertools.count(1)


def _check_random(h: Harness, mutate: Mutation) -> None:
    before_stored = h.metric("kazoe_collector_windows_stored_total")
    before_rejected = sum(
        h.metric("kazoe_collector_rejects_total", reason=r) for r in ("malformed", "store")
    )
    acked = len(h.acked)
    bad, good = next(_SEQS), next(_SEQS)
    h.writer.process([poisoned(h, bad, mutate), h.counts("node-a", good)])
    assert good in stored_seqs(h), "the valid window after a random one was not stored"
    assert len(h.acked) == acked + 2
    stored = h.metric("kazoe_collector_windows_stored_total") - before_stored
    rejected = (
        sum(h.metric("kazoe_collector_rejects_total", reason=r) for r in ("malformed", "store"))
        - before_rejected
    )
    assert (stored, rejected) in ((2, 0), (1, 1)), (
        "the random window was neither stored nor counted"
    )
    event("random window stored" if stored == 2 else "random window rejected")
    if h.metric("kazoe_collector_rejects_total", reason="store"):
        event("a store rejection was seen")


@given(data=st.data())
@RANDOM
def test_random_windows_never_stop_storage(harness: Harness, data: st.DataObject) -> None:
    _check_random(harness, _random_window(data))


@given(data=st.data())
@RANDOM
def test_random_windows_past_the_schema_never_stop_storage(
    harness: Harness, no_schema: None, data: st.DataObject
) -> None:
    _check_random(harness, _random_window(data))


# -- at the broker boundary: a running collector, a node publishing poison ----------------


def _payload(node: SimNode, seq: int, mutate: Mutation) -> bytes:
    doc = json.loads(recent_counts(node.node_id, seq, node.base))
    mutate(doc)
    return json.dumps(doc).encode()


@pytest.mark.integration
@pytest.mark.parametrize("first_line", ["schema", "database"])
def test_a_running_collector_keeps_storing_after_every_poison(
    fleet_broker: DevBroker,
    database_url: str,
    first_line: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every poison, each followed by a valid window, over MQTT; then a restart."""
    if first_line == "database":
        monkeypatch.setattr(records, "validate", lambda _schema, payload: json.loads(payload))
        poisons = list(REFUSED_BY_DATABASE.values())
    else:
        poisons = list(POISON.values())
    settings = collector_settings(fleet_broker, database_url)
    node = SimNode(fleet_broker, "node-01")
    valid: list[int] = []
    try:
        with running(settings) as collector:
            for i, mutate in enumerate(poisons):
                node.publish("counts", _payload(node, 1000 + i, mutate))
                node.window(i + 1)
                valid.append(i + 1)
            if first_line == "schema":
                for j, literal in enumerate(RAW_POISON.values()):
                    doc = json.loads(recent_counts(node.node_id, 2000 + j, node.base))
                    doc["people"] = "@@"
                    node.publish("counts", json.dumps(doc).encode().replace(b'"@@"', literal))
            wait_until(
                lambda: (
                    collector.metrics.value("kazoe_collector_windows_stored_total") >= len(valid)
                ),
                30,
                "every valid window to be stored",
            )
            expected_rejects = len(poisons) + (len(RAW_POISON) if first_line == "schema" else 0)
            reason = "malformed" if first_line == "schema" else "store"
            wait_until(
                lambda: (
                    collector.metrics.value("kazoe_collector_rejects_total", reason=reason)
                    >= expected_rejects
                ),
                30,
                "every poison to be rejected",
            )
            assert collector.metrics.value("kazoe_collector_store_errors_total") == 0
        # Everything was acknowledged: a restarted collector gets no poison redelivered
        # and stores the next window.
        with running(settings) as again:
            node.window(len(valid) + 1)
            wait_until(
                lambda: again.metrics.value("kazoe_collector_windows_stored_total") >= 1,
                30,
                "the next window after a restart",
            )
            assert again.metrics.value("kazoe_collector_rejects_total", reason=reason) == 0
    finally:
        node.close()
    db = Database(database_url)
    try:
        with db.reader() as conn:
            seqs = [int(r[0]) for r in conn.query("SELECT seq FROM windows ORDER BY seq")]
    finally:
        db.close()
    assert seqs == [*valid, len(valid) + 1]
