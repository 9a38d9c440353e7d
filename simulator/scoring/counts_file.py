"""Reading what ``kazoe-sim record`` wrote: one node's windows, merged and aligned.

Each line of a counts file is ``{"topic", "received_at", "payload"}``; the payload is checked
against the counts schema again. Windows are keyed by their start; two messages for the same
window (a replay of a folder as one stream closes a window at each file boundary) are added
up, and a withheld (null) cell in either stays unknown, never zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.errors import PayloadError
from edge.payload import validate


class CountsFileError(Exception):
    """The counts file cannot be used; the message says why and where."""


@dataclass
class NodeWindow:
    """What one node published for one window (possibly over several messages)."""

    start: float  # seconds since the epoch
    end: float
    people: int | None
    gender: dict[str, int | None] | None
    age_bands: dict[str, int | None] | None
    suppressed: list[str] = field(default_factory=list)
    messages: int = 1
    # kazoe.counts/3: the window's intervals; dropped when two messages are added up.
    intervals: dict[str, Any] | None = None


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _add_table(
    a: dict[str, int | None] | None, b: dict[str, int | None] | None
) -> dict[str, int | None] | None:
    if a is None or b is None:
        return a or b
    return {key: _add(a.get(key, 0), b.get(key, 0)) for key in {**a, **b}}


def read_counts(path: Path) -> list[dict[str, Any]]:
    """Every counts payload in a ``kazoe-sim record`` file, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CountsFileError(f"{path} not found (write it with 'kazoe-sim record')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CountsFileError(f"cannot read {path}: {exc}") from None
    payloads = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise CountsFileError(f"{path}: line {number}: not JSON ({exc})") from None
        try:
            doc = row["payload"] if isinstance(row, dict) and "payload" in row else row
            payloads.append(validate("counts.schema.json", json.dumps(doc)))
        except (ValueError, PayloadError) as exc:
            raise CountsFileError(f"{path}: line {number}: {exc}") from None
    if not payloads:
        raise CountsFileError(f"{path} holds no counts messages")
    return payloads


def node_windows(
    payloads: list[dict[str, Any]], node_id: str | None
) -> tuple[str, float, list[NodeWindow]]:
    """The chosen node's windows (by start), its window length and its id."""
    nodes = sorted({str(p["node_id"]) for p in payloads})
    if node_id is None:
        if len(nodes) > 1:
            raise CountsFileError(
                f"counts from {len(nodes)} nodes ({', '.join(nodes)}): pick one with --node"
            )
        node_id = nodes[0]
    elif node_id not in nodes:
        raise CountsFileError(f"no counts from node {node_id!r}; the file has {', '.join(nodes)}")
    mine = [p for p in payloads if p["node_id"] == node_id]
    lengths = {round(_ts(p["window_end"]) - _ts(p["window_start"]), 3) for p in mine}
    if len(lengths) > 1:
        shown = ", ".join(f"{v:g} s" for v in sorted(lengths))
        raise CountsFileError(f"node {node_id} published windows of different lengths ({shown})")
    windows: dict[float, NodeWindow] = {}
    seen: set[int] = set()
    for p in mine:
        if int(p["seq"]) in seen:
            continue  # a redelivered window (QoS 1); the recorder usually drops these already
        seen.add(int(p["seq"]))
        w = NodeWindow(
            start=_ts(p["window_start"]),
            end=_ts(p["window_end"]),
            people=p["people"],
            gender=p.get("gender"),
            age_bands=p.get("age_bands"),
            suppressed=list(p.get("suppressed", [])),
            intervals=p.get("intervals"),
        )
        old = windows.get(w.start)
        if old is None:
            windows[w.start] = w
            continue
        old.people = _add(old.people, w.people)
        old.gender = _add_table(old.gender, w.gender)
        old.age_bands = _add_table(old.age_bands, w.age_bands)
        old.suppressed += w.suppressed
        old.messages += 1
        old.intervals = None  # an interval of one part says nothing about the sum
    return node_id, lengths.pop(), [windows[s] for s in sorted(windows)]
