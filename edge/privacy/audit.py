"""A tamper-evident local audit log: append-only JSON lines, each carrying the previous hash.

Entries record what the node did, never what it saw: start (version, config
hash, model ids), suppression counts per window, retention purges, stop. Each
line is ``{"entry": n, "at": ..., "event": ..., ..., "prev": <hash of line n-1>,
"hash": sha256(prev + canonical body)}``; editing, deleting or reordering any
line breaks the chain at that line. The latest hash is published in ``status``.

Retention: ``rotate(cutoff)`` removes the oldest entries (those written before
``cutoff``) and appends a ``rotate`` checkpoint to the chain naming the entries
removed and the hash of the last of them. The file then starts at the first
kept entry, whose ``prev`` is that hash; ``verify`` anchors the chain there, so a
rotated log still verifies, while an edit, a deletion (also of the first kept
lines) or a reorder still breaks it. The checkpoint is itself a chained entry:
its hash is covered by every later entry and by the hash published in status.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.errors import StoreError

AUDIT_NAME = "audit.jsonl"
GENESIS = "0" * 64
RESERVED = frozenset({"entry", "at", "event", "prev", "hash"})
ROTATE = "rotate"


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _digest(prev: str, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    message: str


@dataclass(frozen=True, slots=True)
class Rotation:
    removed: int  # entries removed
    first_kept: int  # entry number the file now starts at
    checkpoint: int  # entry number of the rotate checkpoint


class AuditLog:
    """Appends chained entries to ``<state_dir>/audit.jsonl`` (fsync'd)."""

    def __init__(self, state_dir: Path, clock: Callable[[], datetime] = _now) -> None:
        self.path = state_dir / AUDIT_NAME
        self._clock = clock
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

    def _entry(self, event: str, fields: dict[str, Any]) -> tuple[str, str]:
        """The next entry's line and hash (not yet written)."""
        reserved = RESERVED.intersection(fields)
        if reserved:
            raise ValueError(f"audit fields {sorted(reserved)} are reserved")
        body: dict[str, Any] = {
            "entry": self._seq + 1,
            "at": self._clock().isoformat(timespec="seconds"),
            "event": event,
            **fields,
            "prev": self.last_hash,
        }
        digest = _digest(self.last_hash, body)
        return json.dumps({**body, "hash": digest}, sort_keys=True, ensure_ascii=True), digest

    def append(self, event: str, **fields: Any) -> str:
        """Write one entry; returns its hash."""
        line, digest = self._entry(event, fields)
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write the audit log {self.path}: {exc.strerror}") from None
        self._seq += 1
        self.last_hash = digest
        return digest

    def rotate(self, cutoff: datetime, **fields: Any) -> Rotation | None:
        """Remove the entries written before ``cutoff``, keeping the chain verifiable.

        Only an intact chain is rotated (a damaged one is kept whole as evidence:
        StoreError). The file is rewritten atomically: the kept lines, unchanged,
        then a ``rotate`` checkpoint. Returns None when nothing is old enough.
        """
        if not self.path.is_file():
            return None
        verdict = verify(self.path)
        if not verdict.ok:
            raise StoreError(f"not rotating a damaged audit log: {verdict.message}")
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines() if verdict.entries else []
        except OSError as exc:
            raise StoreError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
        docs = [json.loads(line) for line in lines]
        old = 0
        while old < len(docs) and datetime.fromisoformat(docs[old]["at"]) < cutoff:
            old += 1
        if old == 0:
            return None
        last_removed = docs[old - 1]
        checkpoint, digest = self._entry(
            ROTATE,
            {
                **fields,
                "cutoff": cutoff.isoformat(timespec="seconds"),
                "removed_entries": old,
                "removed_from": int(docs[0]["entry"]),
                "removed_through": int(last_removed["entry"]),
                "removed_through_hash": str(last_removed["hash"]),
                "first_kept": int(last_removed["entry"]) + 1,
            },
        )
        self._replace([*lines[old:], checkpoint])
        self._seq += 1
        self.last_hash = digest
        return Rotation(old, int(last_removed["entry"]) + 1, self._seq)

    def _replace(self, lines: list[str]) -> None:
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            with temp.open("w", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise StoreError(f"cannot rotate the audit log {self.path}: {exc.strerror}") from None


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


def _anchor(lines: list[str]) -> tuple[int, str, str] | str:
    """(first entry number, the hash it follows, a note) for this file, or the problem.

    A log that was never rotated starts at entry 1 after the genesis hash. A
    rotated one starts where its latest ``rotate`` checkpoint says it does.
    """
    try:
        first = json.loads(lines[0])
        number = first["entry"]
    except (ValueError, KeyError, TypeError, IndexError):
        return "not an audit entry"
    if number == 1:
        return 1, GENESIS, ""
    checkpoint: dict[str, Any] | None = None
    at_line = 0
    for index, line in enumerate(lines, start=1):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("event") == ROTATE:
            checkpoint, at_line = doc, index
    if checkpoint is None:
        return f"starts at entry {number} but no rotate checkpoint accounts for the entries before"
    if checkpoint.get("first_kept") != number:
        return (
            f"starts at entry {number} but the rotate checkpoint on line {at_line} kept the log "
            f"from entry {checkpoint.get('first_kept')} (lines deleted or restored)"
        )
    removed = f"{checkpoint.get('removed_from')}..{checkpoint.get('removed_through')}"
    note = f"; entries {removed} removed by retention (checkpoint on line {at_line})"
    return int(number), str(checkpoint.get("removed_through_hash")), note


def verify(path: Path) -> Verdict:
    """Check the whole chain, from genesis or from the latest rotation; names the first bad line."""
    if path.is_dir():
        path = path / AUDIT_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Verdict(False, 0, f"{path}: no audit log here")
    except (OSError, UnicodeDecodeError) as exc:
        return Verdict(False, 0, f"{path}: cannot read: {exc}")
    if not lines:
        return Verdict(True, 0, f"{path}: empty")
    anchor = _anchor(lines)
    if isinstance(anchor, str):
        return Verdict(False, 0, f"{path}:1: {anchor}")
    first, prev, note = anchor
    for offset, line in enumerate(lines):
        problem, prev = _check(line, first + offset, prev)
        if problem is not None:
            return Verdict(False, offset, f"{path}:{offset + 1}: {problem}")
    return Verdict(
        True, len(lines), f"{path}: {len(lines)} entries, chain intact, last {prev[:16]}{note}"
    )
