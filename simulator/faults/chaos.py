"""Pieces for chaos runs against a real node process: recording, the node, what it closed.

Shared by ``kazoe-sim soak`` and ``tests/e2e/test_e2e_chaos.py``: a deduplicating
recorder with a persistent session (so windows sent while it reconnects are kept
for it by the broker), the node as a ``kazoe run`` child process, the windows it
closed (from its audit log) and its outbox, read without disturbing it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from edge.delivery.subscriber import Subscriber
from simulator.brokers.dev import DevBroker
from simulator.scoring.record import Recorder


@dataclass
class Wire:
    """Every counts message on the wire: the recorder (deduplicated) and each seq as seen."""

    recorder: Recorder
    seqs: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, topic: str, payload: bytes) -> None:
        if self.recorder.handle(topic, payload) != "invalid":
            with self._lock:
                self.seqs.append(int(json.loads(payload)["seq"]))

    def seen(self) -> list[int]:
        with self._lock:
            return list(self.seqs)

    @property
    def delivered(self) -> int:
        return self.recorder.stats.stored

    @property
    def duplicates(self) -> int:
        seqs = self.seen()
        return len(seqs) - len(set(seqs))


@contextmanager
def recording(
    broker: DevBroker, out: TextIO, *, client_id: str = "chaos-recorder", timeout_s: float = 10
) -> Iterator[Wire]:
    """A recorder of ``kazoe/v1/+/counts`` as user ``watcher``, with a 10-minute session."""
    wire = Wire(Recorder(out))
    sub = Subscriber(
        host=broker.host,
        port=broker.port,
        topics=["kazoe/v1/+/counts"],
        on_message=wire.on_message,
        username="watcher",
        password=broker.password("watcher"),
        client_id=client_id,
        session_expiry_s=600,
        keepalive_s=5,
    )
    sub.start()
    if not sub.subscribed.wait(timeout_s):
        sub.stop()
        raise RuntimeError(f"the recorder could not subscribe to {broker.host}:{broker.port}")
    try:
        yield wire
    finally:
        sub.stop()


def start_node(
    config: Path, *args: str, output: IO[str] | int = subprocess.PIPE
) -> subprocess.Popen[str]:
    """``kazoe run --config <config> [args]`` as a child process (stderr into ``output``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), *args],
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def closed_seqs(state: Path) -> list[int]:
    """Every window the node closed, from its audit log.

    A node killed mid-write can leave a partial last line; it is not an entry yet.
    """
    path = state / "audit.jsonl"
    if not path.exists():
        return []
    seqs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("event") == "window":
            seqs.append(int(entry["seq"]))
    return seqs


@dataclass(frozen=True)
class OutboxSize:
    rows: int
    pending: int
    bytes: int


def outbox_size(state: Path) -> OutboxSize | None:
    """Rows and undelivered rows in the node's outbox, read-only (None before it exists)."""
    db = state / "kazoe.db"
    if not db.exists():
        return None
    size = sum(p.stat().st_size for p in state.glob("kazoe.db*") if p.is_file())
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            rows, pending = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(delivered_at IS NULL), 0) FROM outbox"
            ).fetchone()
    except sqlite3.Error:
        return None  # created but not yet initialised, or locked past the timeout
    return OutboxSize(int(rows), int(pending), size)


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process (Linux ``/proc``), None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def report(name: str, closed: list[int], stored: list[int], wire: list[int]) -> str:
    """One line: windows closed, delivered, duplicates on the wire, lost (and which)."""
    lost = sorted(set(closed) - set(stored))
    return (
        f"{name}: windows closed {len(closed)}, delivered {len(set(stored))}, "
        f"duplicates on the wire {len(wire) - len(set(wire))}, lost {len(lost)} {lost or ''}"
    ).rstrip()
