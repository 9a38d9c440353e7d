"""Inbound MQTT messages turned into typed records, or rejected (pure functions).

Every payload is validated against the node's committed JSON Schema
(``edge.payload.validate``) before anything is stored; the topic's node id must
match the payload's. A rejected message raises ``Rejected`` with a short reason
used as a metric label: ``oversized``, ``topic``, ``malformed`` or ``mismatch``
(the writer adds ``expired`` for windows older than the retention period).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from collector.errors import Rejected
from edge.config import NODE_ID_PATTERN
from edge.errors import PayloadError
from edge.payload import validate

LEAVES = ("counts", "status", "notice")
_NODE_ID = re.compile(NODE_ID_PATTERN)
Cells = dict[str, int | None]


@dataclass(frozen=True, slots=True)
class Window:
    """One stored window: identity, time span, flattened cells and the original body."""

    node_id: str
    seq: int
    boot_id: str
    window_start_s: int
    window_end_s: int
    cells: Cells  # "people", "gender.female", "age_bands.20-29", "joint.male.20-29", "lines.g.in"
    body: str
    received_ms: int

    @property
    def people(self) -> int | None:
        return self.cells.get("people")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A node's retained status; ``body`` None means the retained message was cleared."""

    node_id: str
    state: str
    at_ms: int
    body: str | None
    received_ms: int


@dataclass(frozen=True, slots=True)
class NoticeUpdate:
    """A node's retained privacy notice; ``body`` None means it was withdrawn."""

    node_id: str
    site: str | None
    body: str | None
    received_ms: int


Record = Window | StatusUpdate | NoticeUpdate


def split_topic(topic: str) -> tuple[str, str]:
    """``kazoe/v1/<node_id>/<leaf>`` -> (node_id, leaf), or Rejected("topic")."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["kazoe", "v1"] or parts[3] not in LEAVES:
        raise Rejected("topic", f"unexpected topic {topic[:120]!r}")
    if not _NODE_ID.match(parts[2]):
        raise Rejected("topic", f"invalid node id in topic {topic[:120]!r}")
    return parts[2], parts[3]


def parse(topic: str, payload: bytes, *, received_ms: int, max_bytes: int) -> Record:
    """Validate one message and turn it into a record (raises Rejected)."""
    node_id, leaf = split_topic(topic)
    if len(payload) > max_bytes:
        raise Rejected("oversized", f"{topic}: {len(payload)} bytes > limit {max_bytes}")
    if leaf == "counts":
        return _window(node_id, payload, received_ms)
    if leaf == "status":
        return _status(node_id, payload, received_ms)
    return _notice(node_id, payload, received_ms)


def _checked(schema: str, node_id: str, payload: bytes) -> dict[str, Any]:
    try:
        doc = validate(schema, payload)
    except PayloadError as exc:
        raise Rejected("malformed", f"kazoe/v1/{node_id}: {exc}") from None
    if doc.get("node_id", node_id) != node_id:
        raise Rejected(
            "mismatch", f"kazoe/v1/{node_id}: payload node_id {doc['node_id']!r} != topic"
        )
    return doc


def _seconds(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


def flatten_cells(doc: dict[str, Any]) -> Cells:
    """The window's cells under the names ``edge.privacy.suppression`` uses."""
    cells: Cells = {"people": doc["people"]}
    for g, v in (doc.get("gender") or {}).items():
        cells[f"gender.{g}"] = v
    for b, v in (doc.get("age_bands") or {}).items():
        cells[f"age_bands.{b}"] = v
    for g, row in (doc.get("joint") or {}).items():
        for b, v in row.items():
            cells[f"joint.{g}.{b}"] = v
    for name, row in (doc.get("lines") or {}).items():  # kazoe.counts/2
        for direction, v in row.items():
            cells[f"lines.{name}.{direction}"] = v
    return cells


def _window(node_id: str, payload: bytes, received_ms: int) -> Window:
    doc = _checked("counts.schema.json", node_id, payload)
    try:
        start, end = _seconds(doc["window_start"]), _seconds(doc["window_end"])
    except ValueError as exc:
        raise Rejected("malformed", f"kazoe/v1/{node_id}/counts: bad time: {exc}") from None
    if end <= start:
        raise Rejected("malformed", f"kazoe/v1/{node_id}/counts: window_end <= window_start")
    return Window(
        node_id=node_id,
        seq=int(doc["seq"]),
        boot_id=str(doc["boot_id"]),
        window_start_s=start,
        window_end_s=end,
        cells=flatten_cells(doc),
        body=json.dumps(doc, separators=(",", ":"), sort_keys=True),
        received_ms=received_ms,
    )


def _status(node_id: str, payload: bytes, received_ms: int) -> StatusUpdate:
    if not payload:
        return StatusUpdate(node_id, "unknown", received_ms, None, received_ms)
    doc = _checked("status.schema.json", node_id, payload)
    try:
        at_ms = int(datetime.fromisoformat(doc["at"]).timestamp() * 1000)
    except ValueError as exc:
        raise Rejected("malformed", f"kazoe/v1/{node_id}/status: bad time: {exc}") from None
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    return StatusUpdate(node_id, str(doc["state"]), at_ms, body, received_ms)


def _notice_schema_exists() -> bool:
    return resources.files("edge").joinpath("schemas", "notice.schema.json").is_file()


def notice_site(doc: dict[str, Any]) -> str | None:
    """The site a notice names, at top level or under ``node``; None when it names none."""
    for holder in (doc, doc.get("node")):
        if isinstance(holder, dict):
            site = holder.get("site")
            if isinstance(site, str) and 0 < len(site) <= 64:
                return site
    return None


def _notice(node_id: str, payload: bytes, received_ms: int) -> NoticeUpdate:
    if not payload:
        return NoticeUpdate(node_id, None, None, received_ms)
    if _notice_schema_exists():
        doc = _checked("notice.schema.json", node_id, payload)
    else:
        # No committed notice schema yet: accept any JSON object naming this node or none.
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected("malformed", f"kazoe/v1/{node_id}/notice: not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Rejected("malformed", f"kazoe/v1/{node_id}/notice: expected an object")
        if doc.get("node_id", node_id) != node_id:
            raise Rejected("mismatch", f"kazoe/v1/{node_id}/notice: node_id does not match")
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return NoticeUpdate(node_id, notice_site(doc), body, received_ms)
