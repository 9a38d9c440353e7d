"""``kazoe watch``: a live terminal table of every node's counts and status.

Subscribes to ``kazoe/v1/+/counts`` and ``kazoe/v1/+/status``. On a terminal
the table is redrawn in place (plain ANSI); piped, one line is printed per
received window or status change. Rendering is a pure function of
``WatchState`` so it is tested without a broker or a terminal.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pydantic import ValidationError

from edge.config import TlsConfig
from edge.delivery.subscriber import Subscriber
from edge.errors import ConfigError, KazoeError, PayloadError
from edge.payload import validate

log = logging.getLogger("kazoe.watch")

TOPICS = ["kazoe/v1/+/counts", "kazoe/v1/+/status"]
CLEAR = "\x1b[H\x1b[2J"
TOP_BANDS = 3


@dataclass
class NodeRow:
    """What we know about one node, from its last window and its retained status."""

    node_id: str
    status: str = "unknown"
    reason: str | None = None
    window_end: datetime | None = None
    people: int | None = None
    people_suppressed: bool = False
    gender: dict[str, int | None] = field(default_factory=dict)
    age_bands: dict[str, int | None] = field(default_factory=dict)
    k: int | None = None
    seq: int | None = None
    windows: int = 0
    last_seen: float | None = None  # wall-clock seconds of the last message of any kind


def _parse(leaf: str, node_id: str, payload: bytes) -> dict[str, Any]:
    doc = validate(f"{leaf}.schema.json", payload)
    if doc["node_id"] != node_id:
        raise PayloadError(f"node_id {doc['node_id']!r} does not match the topic")
    return doc


@dataclass
class WatchState:
    """Every node seen so far, plus counters of what was ignored."""

    nodes: dict[str, NodeRow] = field(default_factory=dict)
    malformed: int = 0
    duplicates: int = 0
    _seen: set[tuple[str, int]] = field(default_factory=set)

    def apply(self, topic: str, payload: bytes, now: float) -> str | None:
        """Fold one message into the state; returns a line for line mode, or None.

        Raises PayloadError for a malformed message (after counting it).
        """
        parts = topic.split("/")
        if len(parts) != 4 or parts[:2] != ["kazoe", "v1"] or parts[3] not in ("counts", "status"):
            self.malformed += 1
            raise PayloadError(f"unexpected topic {topic!r}")
        node_id, leaf = parts[2], parts[3]
        if leaf == "status" and not payload:
            # A cleared retained status: the node was decommissioned.
            self._row(node_id, now).status = "unknown"
            return f"{node_id} status cleared"
        try:
            doc = _parse(leaf, node_id, payload)
        except PayloadError:
            self.malformed += 1
            raise
        if leaf == "status":
            return self._apply_status(node_id, doc, now)
        return self._apply_counts(node_id, doc, now)

    def _row(self, node_id: str, now: float) -> NodeRow:
        row = self.nodes.setdefault(node_id, NodeRow(node_id))
        row.last_seen = now
        return row

    def _apply_status(self, node_id: str, doc: dict[str, Any], now: float) -> str | None:
        row = self._row(node_id, now)
        changed = (row.status, row.reason) != (doc["state"], doc.get("reason"))
        row.status = str(doc["state"])
        row.reason = doc.get("reason")
        if not changed:
            return None
        reason = f" ({row.reason})" if row.reason else ""
        return f"{node_id} status {row.status}{reason}"

    def _apply_counts(self, node_id: str, doc: dict[str, Any], now: float) -> str | None:
        key = (node_id, int(doc["seq"]))
        if key in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(key)
        row = self._row(node_id, now)
        row.windows += 1
        if row.seq is not None and key[1] < row.seq:
            return None  # a late redelivery of an older window: counted, not displayed
        row.seq = key[1]
        row.window_end = datetime.fromisoformat(str(doc["window_end"]))
        row.people = doc["people"]
        row.people_suppressed = doc["people"] is None
        row.gender = dict(doc.get("gender") or {})
        row.age_bands = dict(doc.get("age_bands") or {})
        row.k = int(doc["k"])
        return render_line(row)


WITHHELD = "w"
LEGEND = (
    "w = withheld by small-count suppression: below k, or hidden so that a small cell "
    "cannot be worked out (such a cell may be large)"
)


def _cell(value: int | None) -> str:
    # Not "<k": a complementary cell is withheld to protect another one and may be large.
    return WITHHELD if value is None else str(value)


def _gender(row: NodeRow) -> str:
    if not row.gender:
        return "-"
    return "/".join(_cell(row.gender.get(g)) for g in ("female", "male", "unknown"))


def _top_bands(row: NodeRow) -> str:
    shown = [(band, n) for band, n in row.age_bands.items() if n]
    shown.sort(key=lambda item: (-(item[1] or 0), item[0]))
    return " ".join(f"{band}:{n}" for band, n in shown[:TOP_BANDS]) or "-"


def _ago(last_seen: float | None, now: float) -> str:
    if last_seen is None:
        return "-"
    seconds = max(0, int(now - last_seen))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _window_end(row: NodeRow) -> str:
    if row.window_end is None:
        return "-"
    return row.window_end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


HEADER = ("NODE", "STATUS", "WINDOW END", "PEOPLE", "F/M/U", "TOP AGE BANDS", "SEQ", "LAST SEEN")


def table_rows(state: WatchState, now: float) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for node_id in sorted(state.nodes):
        row = state.nodes[node_id]
        status = row.status if not row.reason else f"{row.status} ({row.reason})"
        rows.append(
            (
                node_id,
                status,
                _window_end(row),
                _cell(row.people) if row.seq is not None else "-",
                _gender(row),
                _top_bands(row),
                str(row.seq) if row.seq is not None else "-",
                _ago(row.last_seen, now),
            )
        )
    return rows


def render_table(state: WatchState, now: float) -> str:
    """The whole screen as text (no escape codes): header, one row per node, a footer."""
    rows = [HEADER, *table_rows(state, now)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    if len(rows) == 1:
        lines.append("(no nodes yet: waiting for retained status or the first window)")
    footer = f"{len(state.nodes)} node(s)"
    if state.malformed:
        footer += f", {state.malformed} malformed message(s) ignored"
    if state.duplicates:
        footer += f", {state.duplicates} duplicate window(s)"
    lines += ["", footer]
    if any(_withholds(row) for row in state.nodes.values()):
        lines.append(LEGEND)
    return "\n".join(lines) + "\n"


def _withholds(row: NodeRow) -> bool:
    return row.people_suppressed or None in row.gender.values()


def render_line(row: NodeRow) -> str:
    """One window as one line, for pipes and logs."""
    return (
        f"{row.node_id} seq={row.seq} end={_window_end(row)} "
        f"people={_cell(row.people)} f/m/u={_gender(row)} top={_top_bands(row)}"
    )


class _Feed:
    """Bridges paho's thread to the display loop."""

    def __init__(self, state: WatchState) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.lines: queue.Queue[str] = queue.Queue()
        self.changed = threading.Event()

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            with self.lock:
                line = self.state.apply(topic, payload, time.time())
        except (PayloadError, ValueError, RecursionError) as exc:
            log.warning("ignored a malformed message on %s: %s", topic, exc)
            return
        if line is not None:
            self.lines.put(line)
        self.changed.set()


def _tls(args: argparse.Namespace) -> TlsConfig | None:
    if args.ca_file is None:
        if args.cert_file or args.key_file:
            raise ConfigError("--cert-file and --key-file need --ca-file")
        return None
    try:
        return TlsConfig(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
    except ValidationError:
        raise ConfigError("--cert-file and --key-file go together") from None


def _read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KazoeError(f"cannot read --password-file {path}: {exc.strerror}") from None


def _display(
    feed: _Feed,
    *,
    sub: Subscriber,
    out: TextIO,
    tty: bool,
    deadline: float | None,
    stop: threading.Event,
) -> None:
    while not stop.is_set() and not sub.done.is_set():
        left = 1.0 if deadline is None else deadline - time.monotonic()
        if left <= 0:
            break
        feed.changed.wait(min(1.0, left))
        feed.changed.clear()
        if tty:
            with feed.lock:
                text = render_table(feed.state, time.time())
            out.write(CLEAR + text)
            out.flush()
            continue
        while True:
            try:
                out.write(feed.lines.get_nowait() + "\n")
            except queue.Empty:
                break
        out.flush()


def watch_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``kazoe watch``: run until Ctrl-C (or ``--once-seconds``); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="kazoe watch", description="Live table of counts and status per node."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", default="watcher")
    parser.add_argument("--password-file", type=Path, default=None)
    parser.add_argument(
        "--ca-file", type=Path, default=None, help="CA certificate: connect with TLS"
    )
    parser.add_argument("--cert-file", type=Path, default=None, help="client certificate (TLS)")
    parser.add_argument("--key-file", type=Path, default=None, help="client key (TLS)")
    parser.add_argument(
        "--once-seconds",
        type=float,
        default=None,
        metavar="N",
        help="watch for N seconds, print the table and exit",
    )
    args = parser.parse_args(argv)
    out = out or sys.stdout
    tty = out.isatty()
    feed = _Feed(WatchState())
    try:
        sub = Subscriber(
            host=args.host,
            port=args.port,
            topics=TOPICS,
            on_message=feed.on_message,
            username=args.username,
            password=_read_password(args.password_file),
            tls=_tls(args),
        )
    except KazoeError as exc:
        print(f"kazoe watch: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    main_thread = threading.current_thread() is threading.main_thread()
    previous = (
        {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if main_thread
        else {}
    )
    deadline = None if args.once_seconds is None else time.monotonic() + args.once_seconds
    sub.start()
    try:
        _display(feed, sub=sub, out=out, tty=tty, deadline=deadline, stop=stop)
    finally:
        sub.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sub.refused is not None:
        print(f"kazoe watch: {sub.refused}", file=sys.stderr)
        return 1
    if sub.connections == 0:
        print(
            f"kazoe watch: could not reach the broker at {args.host}:{args.port}", file=sys.stderr
        )
        return 1
    if not tty:
        # Flush lines that arrived after the last tick, then the final table.
        while not feed.lines.empty():
            out.write(feed.lines.get_nowait() + "\n")
        if args.once_seconds is not None:
            with feed.lock:
                out.write("\n" + render_table(feed.state, time.time()))
        out.flush()
    return 0
