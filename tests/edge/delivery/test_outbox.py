"""The SQLite outbox: gap-free seq across restarts, atomic appends, retention purge."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from edge.delivery.outbox import Outbox, PurgeResult
from edge.errors import StoreError

T0 = 1_767_258_000.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.sqlite"


@pytest.fixture
def outbox(db_path: Path) -> Iterator[Outbox]:
    box = Outbox(db_path)
    yield box
    box.close()


def body(seq: int) -> bytes:
    return f'{{"seq": {seq}}}'.encode()


def add(box: Outbox, minute: int) -> int:
    start = T0 + 60 * minute
    return box.append(start, start + 60, body)


def test_seq_counts_from_one_and_continues_after_reopening(db_path: Path) -> None:
    box = Outbox(db_path)
    assert box.last_seq() == 0
    assert [add(box, m) for m in range(3)] == [1, 2, 3]
    box.close()

    reopened = Outbox(db_path)
    try:
        assert reopened.last_seq() == 3
        assert reopened.depth() == 3
        assert add(reopened, 3) == 4
        assert [seq for seq, _ in reopened.pending(10)] == [1, 2, 3, 4]
    finally:
        reopened.close()


def test_seq_is_not_reused_after_rows_are_purged(outbox: Outbox) -> None:
    for m in range(3):
        add(outbox, m)
    outbox.purge(cutoff=T0 + 10_000)
    assert outbox.depth() == 0
    assert add(outbox, 200) == 4, "seq is monotonic even when the table is empty"


def test_payload_is_built_with_its_own_seq(outbox: Outbox) -> None:
    add(outbox, 0)
    add(outbox, 1)
    assert outbox.pending(10) == [(1, b'{"seq": 1}'), (2, b'{"seq": 2}')]


def test_failed_make_stores_nothing_and_consumes_no_seq(outbox: Outbox) -> None:
    add(outbox, 0)

    def broken(seq: int) -> bytes:
        raise ValueError(f"cannot build window {seq}")

    with pytest.raises(ValueError, match="cannot build window 2"):
        outbox.append(T0 + 60, T0 + 120, broken)
    assert outbox.depth() == 1
    assert outbox.last_seq() == 1
    assert add(outbox, 1) == 2
    assert [seq for seq, _ in outbox.pending(10)] == [1, 2]


def test_database_error_is_a_store_error(outbox: Outbox) -> None:
    with pytest.raises(StoreError, match="cannot store a closed window"):
        outbox.append(T0, T0 + 60, lambda seq: None)  # type: ignore[arg-type,return-value]
    assert outbox.depth() == 0
    assert add(outbox, 0) == 1


def test_pending_is_in_seq_order_and_honours_exclude_and_limit(outbox: Outbox) -> None:
    for m in range(6):
        add(outbox, m)
    assert [s for s, _ in outbox.pending(3)] == [1, 2, 3]
    assert [s for s, _ in outbox.pending(3, exclude={1, 2})] == [3, 4, 5]
    assert [s for s, _ in outbox.pending(10, exclude=frozenset({2, 4}))] == [1, 3, 5, 6]
    assert outbox.pending(0) == []


def test_mark_delivered_lowers_depth(outbox: Outbox) -> None:
    for m in range(4):
        add(outbox, m)
    assert outbox.depth() == 4
    outbox.mark_delivered([1, 3], now=T0 + 500)
    assert outbox.depth() == 2
    assert [s for s, _ in outbox.pending(10)] == [2, 4]
    outbox.mark_delivered([1], now=T0 + 900)  # a duplicate PUBACK changes nothing
    outbox.mark_delivered([], now=T0 + 900)
    assert outbox.depth() == 2
    with closing(sqlite3.connect(outbox.path)) as raw:
        (delivered_at,) = raw.execute("SELECT delivered_at FROM outbox WHERE seq = 1").fetchone()
    assert delivered_at == T0 + 500


def test_purge_deletes_delivered_and_undelivered_rows_before_the_cutoff(outbox: Outbox) -> None:
    for m in range(5):  # windows end at T0+60 ... T0+300
        add(outbox, m)
    outbox.mark_delivered([1], now=T0 + 400)
    result = outbox.purge(cutoff=T0 + 180.5)  # rows 1-3 ended before the cutoff
    assert result == PurgeResult(rows=3, undelivered=2, oldest_end=T0 + 60, newest_end=T0 + 180)
    assert [s for s, _ in outbox.pending(10)] == [4, 5]
    with closing(sqlite3.connect(outbox.path)) as raw:
        (left,) = raw.execute("SELECT COUNT(*) FROM outbox").fetchone()
    assert left == 2


def test_purge_with_nothing_to_delete(outbox: Outbox) -> None:
    add(outbox, 0)
    assert outbox.purge(cutoff=T0 + 60) == PurgeResult(0, 0, None, None), "end == cutoff is kept"
    assert outbox.depth() == 1


def test_database_is_in_wal_mode(outbox: Outbox, db_path: Path) -> None:
    add(outbox, 0)
    with closing(sqlite3.connect(db_path)) as raw:
        (mode,) = raw.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    assert db_path.with_name(db_path.name + "-wal").exists()


def test_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot open the node database"):
        Outbox(blocker / "outbox.sqlite")
