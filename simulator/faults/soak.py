"""``kazoe-sim soak``: a real node for a long run while the broker and the node are SIGKILLed.

    kazoe-sim soak --minutes 15 --broker-kills 10 --node-kills 5 --seed 1

A development broker, a recorder with a persistent session (every window to
``windows.jsonl``), a collector on SQLite and a ``kazoe run`` child replaying a
looped scene in real time. Kills fall at random moments, one in each of
``broker-kills + node-kills`` equal slots of the run (so two never overlap); a
killed broker comes back after a random 0.5-3 s, a killed node after 0.5-2 s on
the same state directory. At the end the node gets time to deliver its backlog,
then stops cleanly. Printed: per kill, the windows closed and delivered by then,
the duplicates it caused on the wire and the windows of its segment that were
lost; the totals (closed, delivered, duplicates, lost, stored twice at the
collector); node RSS and outbox size sampled over the run. Exit status 1 if a
window was lost or stored twice.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from edge.errors import KazoeError
from simulator.brokers.dev import DevBroker
from simulator.faults.chaos import Wire, closed_seqs, outbox_size, recording, rss_kib, start_node
from simulator.scenes.args import OneLineParser

NODE_ID = "soak-node"
Target = Literal["broker", "node"]


@dataclass(frozen=True)
class Kill:
    at_s: float
    target: Target
    down_s: float


def plan(duration_s: float, broker_kills: int, node_kills: int, rng: random.Random) -> list[Kill]:
    """Kills at random moments, one per equal slot of the first 85 % of the run (the rest
    lets the last recovery show), targets in random order; pure, given the generator."""
    brokers: list[Target] = ["broker"] * broker_kills
    nodes: list[Target] = ["node"] * node_kills
    targets = brokers + nodes
    rng.shuffle(targets)
    if not targets:
        return []
    start, end = 0.1 * duration_s, 0.85 * duration_s
    slot = (end - start) / len(targets)
    kills = []
    for i, target in enumerate(targets):
        down = rng.uniform(0.5, 3.0) if target == "broker" else rng.uniform(0.5, 2.0)
        # Leave room in the slot for the outage itself.
        at = start + i * slot + rng.uniform(0, max(0.0, slot - down))
        kills.append(Kill(round(at, 2), target, round(down, 2)))
    return kills


@dataclass
class KillResult:
    kill: Kill
    closed_before: int  # windows the node had closed when it struck
    delivered_before: int
    duplicates_before: int  # duplicates seen on the wire by then
    duplicates_after: int = 0  # duplicates on the wire until the next kill (or the end)
    lost_in_segment: int = 0  # windows closed since the previous kill that never arrived
    # Broker kills: windows closed by the time the collector had subscribed again. Mosquitto
    # does not queue for a restored shared subscription (tests/broker/test_session_restore.py),
    # so windows the node sends in (closed_before, resubscribed_at] can miss the collector.
    resubscribed_at: int = 0


@dataclass(frozen=True)
class Sample:
    t_s: float
    node_up_s: float | None
    rss_kib: int | None
    outbox_rows: int | None
    outbox_pending: int | None
    outbox_bytes: int | None


@dataclass
class SoakResult:
    duration_s: float
    closed: int = 0
    delivered: int = 0
    duplicates: int = 0
    lost: list[int] = field(default_factory=list)
    pending_at_stop: int = 0
    collector_rows: int = 0
    collector_distinct: int = 0
    collector_missing: list[int] = field(default_factory=list)
    kills: list[KillResult] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    @property
    def stored_twice(self) -> int:
        return self.collector_rows - self.collector_distinct

    @property
    def missing_outside_restart_gaps(self) -> list[int]:
        """Windows the collector lacks that the known broker-restart gap does not explain."""
        gaps = [
            range(k.closed_before + 1, k.resubscribed_at + 1)
            for k in self.kills
            if k.kill.target == "broker"
        ]
        return [s for s in self.collector_missing if not any(s in g for g in gaps)]

    @property
    def ok(self) -> bool:
        return not self.lost and self.stored_twice == 0 and not self.collector_missing

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "stored_twice": self.stored_twice,
            "missing_outside_restart_gaps": self.missing_outside_restart_gaps,
            "ok": self.ok,
        }


def _node_config(path: Path, broker: DevBroker, video: Path, state: Path, args: Any) -> None:
    """A fresh media-clock anchor at every start: a restarted node's windows are recent."""
    start = datetime.now(tz=UTC).replace(microsecond=0).isoformat()
    path.write_text(
        f"""\
[node]
id = "{NODE_ID}"
state_dir = "{state}"

[source]
uri = "{video}"
start_time = "{start}"
loop = true

[mqtt]
host = "{broker.host}"
port = {broker.port}
password_file = "{broker.password_file(NODE_ID)}"
keepalive_s = 5
reconnect_min_s = 0.2
reconnect_max_s = 1.0

[aggregate]
window_seconds = {args.window_s}

[policy]
purposes = ["footfall", "demographics"]
k = 2

[metrics]
port = 0

[models]
dir = "{args.models}"
""",
        encoding="utf-8",
    )


class _Run:
    """The moving parts of one soak: broker, recorder, collector, node."""

    def __init__(
        self,
        args: Any,
        work: Path,
        broker: DevBroker,
        wire: Wire,
        log: IO[str],
        *,
        collector_connected: Callable[[], bool],
    ) -> None:
        self.args = args
        self.collector_connected = collector_connected
        self.work = work
        self.broker = broker
        self.wire = wire
        self.log = log
        self.state = work / "node-state"
        self.config = work / "node.toml"
        self.node: subprocess.Popen[str] | None = None
        self.node_started = 0.0
        self.t0 = time.monotonic()
        self.samples: list[Sample] = []
        self._next_sample = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def start_node(self) -> None:
        _node_config(self.config, self.broker, self.args.video, self.state, self.args)
        self.node = start_node(self.config, "--realtime", output=self.log)
        self.node_started = time.monotonic()

    def sample(self) -> None:
        if self.elapsed() < self._next_sample:
            return
        self._next_sample = self.elapsed() + self.args.sample_s
        pid = self.node.pid if self.node is not None and self.node.poll() is None else None
        rss = rss_kib(pid) if pid is not None else None
        box = outbox_size(self.state)
        up = round(time.monotonic() - self.node_started, 1) if pid is not None else None
        self.samples.append(
            Sample(
                round(self.elapsed(), 1),
                up,
                rss,
                box.rows if box else None,
                box.pending if box else None,
                box.bytes if box else None,
            )
        )

    def wait_until(self, t_s: float) -> None:
        while self.elapsed() < t_s:
            self.check_node()
            self.sample()
            time.sleep(min(0.2, max(0.0, t_s - self.elapsed())))

    def check_node(self) -> None:
        if self.node is not None and self.node.poll() is not None:
            raise KazoeError(
                f"the node exited by itself (status {self.node.returncode}); "
                f"see {self.work / 'node.log'}"
            )

    def strike(self, kill: Kill, result: KillResult) -> None:
        if kill.target == "broker":
            self.broker.kill()
            time.sleep(kill.down_s)
            self.broker.restart()
            deadline = time.monotonic() + 30
            while not self.collector_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # its SUBSCRIBE follows the CONNACK
            result.resubscribed_at = len(closed_seqs(self.state))
            return
        if self.node is None:
            raise KazoeError("no node is running to kill")
        self.node.send_signal(signal.SIGKILL)
        self.node.wait(10)
        time.sleep(kill.down_s)
        self.start_node()

    def drain(self, timeout_s: float) -> None:
        """Let the node deliver what it closed (still recording), then stop it cleanly."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            closed = set(closed_seqs(self.state))
            if closed and closed <= set(self.wire.seen()):
                break
            self.sample()
            time.sleep(0.2)
        if self.node is not None and self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            try:
                self.node.wait(30)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait(10)


def _account(
    result: SoakResult, kills: list[KillResult], closed: list[int], seen: list[int]
) -> None:
    delivered = set(seen)
    lost = sorted(set(closed) - delivered)
    result.closed, result.delivered = len(closed), len(delivered)
    result.duplicates = len(seen) - len(delivered)
    result.lost = lost
    for i, k in enumerate(kills):
        low = kills[i - 1].closed_before if i else 0
        k.lost_in_segment = sum(1 for s in lost if low < s <= k.closed_before)
        then = kills[i + 1].duplicates_before if i + 1 < len(kills) else result.duplicates
        k.duplicates_after = then - k.duplicates_before
    result.kills = kills


def soak(args: Any, *, say: Callable[[str], None] = print) -> SoakResult:
    """Run one soak; see the module docstring."""
    from collector.db import Database
    from simulator.fleet.collector_harness import collector_settings, running

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    duration = args.seconds if args.seconds is not None else args.minutes * 60
    kills = plan(duration, args.broker_kills, args.node_kills, random.Random(args.seed))  # noqa: S311 - a reproducible schedule, not a secret
    result = SoakResult(duration)
    say(f"soak: {duration:.0f} s, {len(kills)} kills, work dir {work}")
    for k in kills:
        say(f"  planned: {k.target} SIGKILL at {k.at_s:.1f} s, down {k.down_s:.1f} s")
    db_url = str(work / "collector.db")
    with (
        DevBroker([NODE_ID], state_dir=work / "broker") as broker,
        (work / "windows.jsonl").open("w", encoding="utf-8") as out,
        (work / "node.log").open("a", encoding="utf-8") as log,
        recording(broker, out, client_id="soak-recorder") as wire,
        running(
            collector_settings(
                broker, db_url, client_id="soak-collector", share_group=args.share_group
            )
        ) as collector,
    ):
        run = _Run(
            args,
            work,
            broker,
            wire,
            log,
            collector_connected=lambda: collector.subscription.connected,
        )
        done: list[KillResult] = []
        try:
            run.start_node()
            for kill in kills:
                run.wait_until(kill.at_s)
                done.append(
                    KillResult(kill, len(closed_seqs(run.state)), wire.delivered, wire.duplicates)
                )
                say(
                    f"  {run.elapsed():7.1f} s  SIGKILL {kill.target}: closed "
                    f"{done[-1].closed_before}, delivered {done[-1].delivered_before}"
                )
                run.strike(kill, done[-1])
            run.wait_until(duration)
            run.drain(args.drain_s)
        finally:
            if run.node is not None and run.node.poll() is None:
                run.node.kill()
                run.node.wait(10)
        closed = closed_seqs(run.state)
        box = outbox_size(run.state)
        result.pending_at_stop = box.pending if box else 0
        _wait_collector(db_url, len(set(wire.seen())), timeout_s=20)
        _account(result, done, closed, wire.seen())
        result.samples = run.samples
    db = Database(db_url)
    with db.reader() as conn:
        rows, distinct = conn.query(
            "SELECT COUNT(*), COUNT(DISTINCT seq) FROM windows WHERE node_id = ?", (NODE_ID,)
        )[0]
        stored = {
            int(r[0]) for r in conn.query("SELECT seq FROM windows WHERE node_id = ?", (NODE_ID,))
        }
    db.close()
    result.collector_rows, result.collector_distinct = int(rows), int(distinct)
    result.collector_missing = sorted(set(closed) - stored)
    return result


def _wait_collector(url: str, wanted: int, timeout_s: float) -> None:
    from collector.db import Database
    from collector.queries import count_windows

    db = Database(url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with db.reader() as conn:
                if count_windows(conn) >= wanted:
                    return
            time.sleep(0.2)
    finally:
        db.close()


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def describe(result: SoakResult) -> list[str]:
    """The printed report: per kill, totals, RSS and outbox over the run."""
    lines = [
        "",
        "kill  at (s)  target  down (s)  closed  delivered  dup after  lost in segment",
    ]
    for i, k in enumerate(result.kills, 1):
        lines.append(
            f"{i:>4}  {k.kill.at_s:6.1f}  {k.kill.target:<6}  {k.kill.down_s:8.1f}  "
            f"{k.closed_before:6d}  {k.delivered_before:9d}  {k.duplicates_after:9d}  "
            f"{k.lost_in_segment:15d}"
        )
    lines.append(
        f"total: windows closed {result.closed}, delivered {result.delivered}, duplicates on "
        f"the wire {result.duplicates}, lost {len(result.lost)} {result.lost or ''}".rstrip()
    )
    missing = result.collector_missing
    outside = result.missing_outside_restart_gaps
    lines.append(
        f"collector: stored {result.collector_distinct} windows in {result.collector_rows} rows "
        f"(stored twice {result.stored_twice}), missing {len(missing)}"
        + (f" {missing}" if missing else "")
        + (
            f" ({len(missing) - len(outside)} sent while it was resubscribing after a broker"
            f" restart, {len(outside)} otherwise)"
            if missing
            else ""
        )
    )
    lines.append(f"outbox undelivered at stop: {result.pending_at_stop}")
    # Warm-up excluded: a node just started is still loading its models.
    rss = [
        s.rss_kib
        for s in result.samples
        if s.rss_kib is not None and s.node_up_s is not None and s.node_up_s >= 10
    ]
    if rss:
        quarter = max(1, len(rss) // 4)
        early, late = statistics.mean(rss[quarter : 2 * quarter]), statistics.mean(rss[-quarter:])
        lines.append(
            f"node RSS MiB over {len(rss)} samples: min {_mib(min(rss))}, median "
            f"{_mib(statistics.median(rss))}, max {_mib(max(rss))}; second quarter mean "
            f"{_mib(early)} -> last quarter {_mib(late)} ({100 * (late - early) / early:+.1f} %)"
        )
    rows = [s for s in result.samples if s.outbox_rows is not None]
    if rows:
        lines.append(
            f"outbox: rows {rows[0].outbox_rows} -> {rows[-1].outbox_rows} (all within "
            f"retention: one per closed window), undelivered max "
            f"{max(s.outbox_pending or 0 for s in rows)}, file "
            f"{_mib((rows[-1].outbox_bytes or 0) / 1024)} MiB"
        )
    lines.append("OK: no window lost, none stored twice" if result.ok else "FAILED")
    return lines


def _parser() -> OneLineParser:
    p = OneLineParser(prog="kazoe-sim soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15.0, help="how long (default 15)")
    p.add_argument("--seconds", type=float, default=None, help="instead of --minutes")
    p.add_argument("--broker-kills", type=int, default=10)
    p.add_argument("--node-kills", type=int, default=5)
    p.add_argument("--seed", type=int, default=1, help="the kill schedule's random seed")
    p.add_argument("--window-s", type=int, default=2, help="the node's window length")
    p.add_argument("--video", type=Path, default=None, help="default: a generated 30 s scene")
    p.add_argument("--models", type=Path, default=Path("models/build"))
    p.add_argument("--work", type=Path, default=None, help="default: a new temporary folder")
    p.add_argument("--sample-s", type=float, default=5.0, help="RSS and outbox sampling period")
    p.add_argument("--drain-s", type=float, default=90.0, help="time to deliver the backlog")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    p.add_argument(
        "--share-group",
        default="",
        help="the collector's share group (default: none, a plain subscription)",
    )
    return p


def _check(args: argparse.Namespace, parser: OneLineParser) -> None:
    duration = args.seconds if args.seconds is not None else args.minutes * 60
    if duration < 10:
        parser.error("the run must last at least 10 s")
    if args.broker_kills < 0 or args.node_kills < 0:
        parser.error("kill counts cannot be negative")
    slots = args.broker_kills + args.node_kills
    if slots and 0.75 * duration / slots < 4:
        parser.error(f"{slots} kills in {duration:.0f} s leave under 4 s between them; run longer")
    if not (args.models / "models.json").is_file():
        parser.error(f"no built models in {args.models}: run 'make models'")
    if args.video is not None and not args.video.is_file():
        parser.error(f"--video {args.video}: no such file")


def soak_main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    args.work = args.work or Path(tempfile.mkdtemp(prefix="kazoe-soak-"))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.video is None:
        from simulator.scenes.scene import scene_main

        args.video = args.work / "street.mp4"
        scene = ["--people", "8", "--fps", "10", "--seconds", "30", "--width", "640"]
        scene += ["--height", "360", "--seed", "17", "--out", str(args.video)]
        scene += ["--truth", str(args.work / "street.json")]
        if scene_main(scene) != 0:
            return 2
    try:
        result = soak(args)
    except KazoeError as exc:
        print(f"kazoe-sim soak: {exc}")
        return 2
    for line in describe(result):
        print(line)
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return 0 if result.ok else 1
