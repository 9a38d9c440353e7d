"""Retention on the node: windows older than retention_days are deleted, delivered or not,
and every purge is written to the audit log (counts and range, never the counts themselves)."""

from __future__ import annotations

import json
from pathlib import Path

from edge.config import NodeSettings
from edge.delivery.outbox import Outbox
from edge.node import Node
from edge.payload import ModelIds
from edge.privacy.audit import AUDIT_NAME, AuditLog, verify
from edge.testing import FakeClock, RecordingPublisher

DAY = 86400.0


class _NoSource:
    state = "ended"

    def frames(self):  # type: ignore[no-untyped-def]
        return iter(())

    def close(self) -> None:
        pass


def make_node(tmp_path: Path, clock: FakeClock, retention_days: int) -> Node:
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path)},
            "source": {"uri": "x.mp4"},
            "policy": {"purposes": ["footfall"], "retention_days": retention_days},
        }
    )
    return Node(
        settings,
        source=_NoSource(),
        analyser=None,  # type: ignore[arg-type]  # purge never analyses
        outbox=Outbox(tmp_path / "kazoe.db"),
        publisher=RecordingPublisher(),
        models=ModelIds(detector="d@1"),
        wall_clock=clock.time,
        audit=AuditLog(tmp_path),
    )


def test_purge_deletes_everything_past_retention_and_audits_it(tmp_path: Path) -> None:
    clock = FakeClock()
    node = make_node(tmp_path, clock, retention_days=7)
    now = clock.time()
    # Windows that ended 10, 8, 6 and 1 days ago; the 8-day one was never delivered.
    for age_days, delivered in ((10, True), (8, False), (6, True), (1, False)):
        end = now - age_days * DAY
        seq = node.outbox.append(end - 60, end, lambda s: json.dumps({"seq": s}).encode())
        if delivered:
            node.outbox.mark_delivered([seq], now)
    node.purge()
    rows = node.outbox._db.execute("SELECT window_end FROM outbox").fetchall()
    assert all(end >= now - 7 * DAY for (end,) in rows)
    assert len(rows) == 2
    entry = json.loads((tmp_path / AUDIT_NAME).read_text().splitlines()[-1])
    assert entry["event"] == "purge"
    assert (entry["rows"], entry["undelivered"], entry["retention_days"]) == (2, 1, 7)
    assert entry["oldest_end"] < entry["newest_end"]
    assert "seq" not in entry  # what was purged is described, never copied


def test_a_later_cycle_purges_what_has_aged_since(tmp_path: Path) -> None:
    clock = FakeClock()
    node = make_node(tmp_path, clock, retention_days=1)
    end = clock.time() - 0.5 * DAY
    node.outbox.append(end - 60, end, lambda s: b"{}")
    node.purge()
    assert node.outbox.depth() == 1
    clock.advance(DAY)
    node.purge()
    assert node.outbox.depth() == 0
    events = [json.loads(line)["rows"] for line in (tmp_path / AUDIT_NAME).read_text().splitlines()]
    assert events == [0, 1]


def test_purge_also_rotates_the_audit_log_to_the_same_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    node = make_node(tmp_path, clock, retention_days=7)
    node.audit = AuditLog(tmp_path, clock=clock.now)
    for seq in range(1, 11):  # ten days of windows, audited as they close
        node.audit.append("window", seq=seq, suppressed_cells=0)
        clock.advance(DAY)
    node.purge()
    entries = [json.loads(line) for line in (tmp_path / AUDIT_NAME).read_text().splitlines()]
    # Entries 1-3 were written more than 7 days ago; the purge and the checkpoint are new.
    assert [e["entry"] for e in entries] == list(range(4, 13))
    assert [e["event"] for e in entries[-2:]] == ["purge", "rotate"]
    assert entries[-1]["retention_days"] == 7
    verdict = verify(tmp_path)
    assert verdict.ok, verdict.message
