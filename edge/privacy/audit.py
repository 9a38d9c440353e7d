"""A tamper-evident local audit log: append-only JSON lines, each carrying the previous hash.

Entries record what the node did, never what it saw: start (version, config
hash, model ids), suppression counts per window, retention purges, stop. Each
line is ``{"entry": n, "at": ..., "event": ..., ..., "prev": <hash of line n-1>,
"hash": sha256(prev + canonical body)}``; editing, deleting or reordering any
line breaks the chain at that line. The latest hash is published in ``status``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.errors import StoreError

AUDIT_NAME = "audit.jsonl"
GENESIS = "0" * 64
RESERVED = frozenset({"entry", "at", "event", "prev", "hash"})


def _digest(prev: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    message: str


class AuditLog:
    """Appends chained entries to ``<state_dir>/audit.jsonl`` (fsync'd)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / AUDIT_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._seq, self.last_hash = self._tail()
        except OSError as exc:
            raise StoreError(f"cannot open the audit log {self.path}: {exc.strerror}") from None

    def _tail(self) -> tuple[int, str]:
        if not self.path.is_file():
            return 0, GENESIS
        last = ""
        with self.path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    last = line.decode("utf-8", "replace")
        if not last:
            return 0, GENESIS
        try:
            doc = json.loads(last)
            return int(doc["entry"]), str(doc["hash"])
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"the audit log {self.path} ends in a damaged line; "
                f"run 'kazoe audit verify {self.path.parent}' to see where"
            ) from None

    def append(self, event: str, **fields: Any) -> str:
        """Write one entry; returns its hash."""
        reserved = RESERVED.intersection(fields)
        if reserved:
            raise ValueError(f"audit fields {sorted(reserved)} are reserved")
        body: dict[str, Any] = {
            "entry": self._seq + 1,
            "at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            "event": event,
            **fields,
            "prev": self.last_hash,
        }
        digest = _digest(self.last_hash, body)
        line = json.dumps({**body, "hash": digest}, sort_keys=True, ensure_ascii=True) + "\n"
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the audit log {self.path}: {exc.strerror}") from None
        self._seq += 1
        self.last_hash = digest
        return digest


def _check(line: str, number: int, prev: str) -> tuple[str | None, str]:
    """(problem or None, this line's hash) for line ``number`` following ``prev``."""
    try:
        doc = json.loads(line)
        claimed = str(doc.pop("hash"))
    except (ValueError, KeyError, AttributeError, TypeError):
        return "not an audit entry", prev
    if doc.get("entry") != number:
        return f"entry {doc.get('entry')} out of order or a line is missing", prev
    if doc.get("prev") != prev:
        return "does not follow the previous entry (deleted or reordered)", prev
    if _digest(prev, doc) != claimed:
        return "content does not match its hash (edited)", prev
    return None, claimed


def verify(path: Path) -> Verdict:
    """Check the whole chain; the message names the first bad line."""
    if path.is_dir():
        path = path / AUDIT_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Verdict(False, 0, f"{path}: no audit log here")
    except (OSError, UnicodeDecodeError) as exc:
        return Verdict(False, 0, f"{path}: cannot read: {exc}")
    prev = GENESIS
    for number, line in enumerate(lines, start=1):
        problem, prev = _check(line, number, prev)
        if problem is not None:
            return Verdict(False, number - 1, f"{path}:{number}: {problem}")
    return Verdict(
        True, len(lines), f"{path}: {len(lines)} entries, chain intact, last {prev[:16]}"
    )
