"""Record published counts to JSON Lines: ``kazoe-sim record``.

Each valid window becomes one line
``{"topic": ..., "received_at": ..., "payload": {...}}``. Windows are
deduplicated on ``(node_id, seq)`` (QoS 1 may deliver one twice); messages that
are not JSON, fail the counts schema or name another node than their topic are
counted and logged, never stored. The summary line at exit says how many of each.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TextIO

from edge.delivery.subscriber import Subscriber
from edge.errors import KazoeError, PayloadError
from edge.payload import validate

log = logging.getLogger("kazoe.record")

DEFAULT_TOPIC = "kazoe/v1/+/counts"
Outcome = Literal["stored", "duplicate", "invalid"]


def utc_stamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds and a ``Z``."""
    moment = moment or datetime.now(tz=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_counts(topic: str, payload: bytes) -> dict[str, Any]:
    """A schema-valid counts document whose node_id matches its topic, or PayloadError."""
    doc = validate("counts.schema.json", payload)
    parts = topic.split("/")
    if len(parts) != 4 or parts[2] != doc["node_id"]:
        raise PayloadError(f"node_id {doc['node_id']!r} does not match the topic")
    return doc


@dataclass(frozen=True)
class RecordStats:
    received: int
    stored: int
    duplicates: int
    invalid: int

    def summary(self) -> str:
        return (
            f"received {self.received}, stored {self.stored}, "
            f"duplicates {self.duplicates}, invalid {self.invalid}"
        )


class Recorder:
    """Validates, deduplicates and writes counts messages; thread-safe, no I/O but ``out``."""

    def __init__(self, out: TextIO, *, keep_duplicates: bool = False) -> None:
        self._out = out
        self._keep_duplicates = keep_duplicates
        self._seen: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._received = 0
        self._stored = 0
        self._duplicates = 0
        self._invalid = 0

    @property
    def stats(self) -> RecordStats:
        with self._lock:
            return RecordStats(self._received, self._stored, self._duplicates, self._invalid)

    def handle(self, topic: str, payload: bytes, received_at: datetime | None = None) -> Outcome:
        """Process one message; returns what happened to it."""
        with self._lock:
            self._received += 1
            try:
                doc = parse_counts(topic, payload)
            except PayloadError as exc:
                self._invalid += 1
                log.warning("ignored an invalid message on %s: %s", topic, exc)
                return "invalid"
            key = (str(doc["node_id"]), int(doc["seq"]))
            duplicate = key in self._seen
            if duplicate:
                self._duplicates += 1
                if not self._keep_duplicates:
                    return "duplicate"
            self._seen.add(key)
            line = {"topic": topic, "received_at": utc_stamp(received_at), "payload": doc}
            self._out.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._out.flush()
            self._stored += 1
            return "duplicate" if duplicate else "stored"

    def on_message(self, topic: str, payload: bytes) -> None:
        """``edge.delivery.subscriber.Subscriber`` callback."""
        self.handle(topic, payload)


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    username: str | None
    password: str | None
    client_id: str = ""  # "" = a fresh random id per run
    session_expiry_s: int = 0  # > 0 (with client_id): the broker queues windows while away


def record(
    recorder: Recorder,
    conn: Connection,
    *,
    topic: str = DEFAULT_TOPIC,
    seconds: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Subscribe and feed ``recorder`` until ``seconds`` pass or ``stop`` is set; exit status."""
    stop = stop or threading.Event()
    sub = Subscriber(
        host=conn.host,
        port=conn.port,
        topics=[topic],
        on_message=recorder.on_message,
        username=conn.username,
        password=conn.password,
        client_id=conn.client_id,
        session_expiry_s=conn.session_expiry_s,
    )
    sub.start()
    try:
        # Wake on the deadline, a signal (stop) or a refused CONNECT (done).
        deadline = None if seconds is None else time.monotonic() + seconds
        while not stop.is_set() and not sub.done.is_set():
            left = 0.1 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            stop.wait(min(0.1, left))
    finally:
        sub.stop()
    if sub.refused is not None:
        return 1
    if sub.connections == 0:
        log.error("never connected to the broker at %s:%d", conn.host, conn.port)
        return 1
    return 0


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", default="watcher")
    parser.add_argument("--password-file", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, required=True, help="JSON Lines file to write ('-' for stdout)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--topic", default=DEFAULT_TOPIC, help=f"topic filter (default {DEFAULT_TOPIC})"
    )
    parser.add_argument(
        "--client-id",
        default="",
        help="fixed MQTT client id (default: a random one per run); needed for --session-expiry",
    )
    parser.add_argument(
        "--session-expiry",
        type=int,
        default=0,
        metavar="SECONDS",
        help="keep the broker session this long after a disconnect, so windows published "
        "while the recorder is away are delivered when it comes back (default 0: none)",
    )
    parser.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="also store repeated (node_id, seq) windows",
    )


def run_record(args: argparse.Namespace) -> int:
    if args.session_expiry < 0 or args.session_expiry > 0xFFFFFFFF:
        print("kazoe-sim record: --session-expiry must be 0..4294967295 seconds", file=sys.stderr)
        return 2
    if args.session_expiry > 0 and not args.client_id:
        print(
            "kazoe-sim record: --session-expiry needs --client-id (the broker keeps a session "
            "per client id)",
            file=sys.stderr,
        )
        return 2
    password: str | None = None
    if args.password_file is not None:
        try:
            password = args.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            print(
                f"kazoe-sim record: cannot read {args.password_file}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    conn = Connection(
        args.host, args.port, args.username, password, args.client_id, args.session_expiry
    )
    try:
        if str(args.out) == "-":
            recorder = Recorder(sys.stdout, keep_duplicates=args.keep_duplicates)
            status = record(recorder, conn, topic=args.topic, seconds=args.seconds, stop=stop)
        else:
            with args.out.open("w", encoding="utf-8") as out:
                recorder = Recorder(out, keep_duplicates=args.keep_duplicates)
                status = record(recorder, conn, topic=args.topic, seconds=args.seconds, stop=stop)
    except OSError as exc:
        print(f"kazoe-sim record: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    except KazoeError as exc:
        print(f"kazoe-sim record: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(recorder.stats.summary(), file=sys.stderr)
    return status


def record_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kazoe-sim record", description="Record published counts to a JSON Lines file."
    )
    add_record_arguments(parser)
    return run_record(parser.parse_args(argv))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(record_main())
