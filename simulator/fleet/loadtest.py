"""Many simulated nodes through one Mosquitto into collectors on one database; measured.

    python -m simulator.fleet.loadtest --nodes 1000 --windows 5 \\
        --pg-admin postgresql://postgres@127.0.0.1:5432/postgres

starts a development Mosquitto with a user per node, N collectors
(``kazoe-collector serve`` subprocesses, one share group), connects every node
(paho, MQTT v5, as itself), publishes ``--windows`` rounds of one window per
node (plus some redelivered copies), waits until everything is stored and
prints stored %, throughput and publish-to-stored latency percentiles.
Latency is ``stored_ms`` (the collector's commit transaction, from the database)
minus the moment the node handed the window to its MQTT client.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from collector.db import Database
from simulator.brokers.dev import BROKER_CONFIG_DIR, DevBroker, free_port
from simulator.fleet.collector_harness import health, recent_counts, recent_start
from simulator.fleet.loadfleet import LoadFleet, wait_for


@dataclass(frozen=True)
class LoadPlan:
    nodes: int
    windows: int
    database_url: str
    collectors: int = 2
    interval_s: float = 1.0  # between rounds; a round is one window from every node
    duplicate_every: int = 50  # every n-th window is sent twice, as after a reconnect
    broker_queue: int | None = None  # Mosquitto max_queued_messages; None: project config
    outage_s: float = 0.0  # backlog mode: collectors stopped while the rounds are published


@dataclass
class LoadResult:
    nodes: int
    windows: int
    expected: int
    stored: int
    distinct: int
    duplicates_sent: int
    per_collector: list[int]
    publish_s: float
    drain_s: float
    throughput: float
    peak_rate: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    outage_s: float = 0.0
    restart_to_drained_s: float = 0.0  # backlog mode: collectors back -> last window stored

    @property
    def stored_pct(self) -> float:
        return 100.0 * self.stored / self.expected if self.expected else 0.0

    def table(self) -> str:
        rows = [
            ("nodes x windows", f"{self.nodes} x {self.windows} = {self.expected}"),
            ("redelivered copies sent", str(self.duplicates_sent)),
            (
                "windows stored",
                f"{self.stored} ({self.stored_pct:.2f} %), {self.distinct} distinct",
            ),
            ("stored per collector", " + ".join(str(n) for n in self.per_collector)),
            ("publish phase", f"{self.publish_s:.2f} s"),
            ("first publish -> last stored", f"{self.drain_s:.2f} s"),
            ("throughput (stored / elapsed)", f"{self.throughput:.0f} windows/s"),
            ("peak stored in one second", f"{self.peak_rate} windows"),
            (
                "publish-to-stored p50/p95/p99",
                f"{self.p50_ms:.0f} / {self.p95_ms:.0f} / {self.p99_ms:.0f} ms",
            ),
            ("publish-to-stored max", f"{self.max_ms:.0f} ms"),
        ]
        if self.outage_s:
            rows.insert(0, ("collector outage", f"{self.outage_s:g} s (backlog mode)"))
            rows.append(("collectors back -> drained", f"{self.restart_to_drained_s:.2f} s"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _collector_config(broker: DevBroker, path: Path, url: str, index: int) -> tuple[Path, int]:
    port = free_port()
    watcher = broker.password_file("watcher")
    path.write_text(
        f'[mqtt]\nport = {broker.port}\npassword_file = "{watcher}"\n'
        f'client_id = "load-collector-{index}"\nshare_group = "load"\n'
        f'[database]\nurl = "{url}"\nbatch_max = 1000\n'
        f"[http]\nport = {port}\nrefresh_s = 5\n[metrics]\nport = 0\n",
        encoding="utf-8",
    )
    return path, port


@dataclass
class _Published:
    sent_at: dict[tuple[str, int], float]
    duplicates: int
    started: float
    seconds: float


def _publish(fleet: LoadFleet, windows: int, interval_s: float, every: int) -> _Published:
    """``windows`` rounds of one window per node; every ``every``-th is sent twice."""
    base = recent_start(windows + 5)
    ids = fleet.node_ids
    payloads = {(n, s): recent_counts(n, s, base) for n in ids for s in range(1, windows + 1)}
    sent_at: dict[tuple[str, int], float] = {}
    duplicates = 0
    started = time.time()
    for seq in range(1, windows + 1):
        round_start = time.monotonic()
        for i, node_id in enumerate(ids):
            sent_at[(node_id, seq)] = time.time()
            fleet.publish(node_id, "counts", payloads[(node_id, seq)])
            if every and (i + seq) % every == 0:
                fleet.publish(node_id, "counts", payloads[(node_id, seq)])  # redelivered copy
                duplicates += 1
        time.sleep(max(0.0, interval_s - (time.monotonic() - round_start)))
    fleet.wait(lambda: fleet.unacked == 0, 60, "the broker to acknowledge every window")
    return _Published(sent_at, duplicates, started, time.time() - started)


def _measure(
    database_url: str,
    sent: _Published,
    plan: LoadPlan,
    ports: list[int],
    restarted: float | None = None,
) -> LoadResult:
    nodes, windows = plan.nodes, plan.windows
    expected = nodes * windows
    db = Database(database_url)
    try:

        def stored_count() -> int:
            with db.reader() as conn:
                return int(conn.query("SELECT COUNT(*) FROM windows")[0][0])

        with suppress(TimeoutError):
            wait_for(
                lambda: stored_count() >= expected,
                120 + plan.nodes * plan.windows / 50,
                "every window to be stored",
            )
        with db.reader() as conn:
            rows = conn.query("SELECT node_id, seq, stored_ms FROM windows")
    finally:
        db.close()
    keys = {(str(n), int(s)) for n, s, _ in rows}
    latencies = [int(ms) - sent.sent_at[(str(n), int(s))] * 1000 for n, s, ms in rows]
    last_ms = max((int(r[2]) for r in rows), default=int(sent.started * 1000))
    drain_s = max(1e-3, last_ms / 1000 - sent.started)
    return LoadResult(
        nodes=nodes,
        windows=windows,
        expected=expected,
        stored=len(rows),
        distinct=len(keys),
        duplicates_sent=sent.duplicates,
        per_collector=[int(str(health(p).get("stored", 0))) for p in ports],
        publish_s=sent.seconds,
        drain_s=drain_s,
        throughput=len(rows) / drain_s,
        peak_rate=max(Counter(int(r[2]) // 1000 for r in rows).values(), default=0),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies, default=float("nan")),
        outage_s=plan.outage_s,
        restart_to_drained_s=0.0 if restarted is None else last_ms / 1000 - restarted,
    )


def run_load(plan: LoadPlan, say: Callable[[str], None] = print) -> LoadResult:
    """Run the whole measurement; the database must be empty (the collectors migrate it).

    With the project's broker config Mosquitto queues at most 1000 messages per
    client (``max_queued_messages``): a collector's share of one burst beyond
    that is dropped by the broker after the nodes got their PUBACK.
    """
    node_ids = [f"load-{i:04d}" for i in range(plan.nodes)]
    with tempfile.TemporaryDirectory(prefix="kazoe-load-") as name:
        tmp = Path(name)
        config_dir = _broker_config(tmp, plan.broker_queue)
        with DevBroker(
            node_ids, state_dir=tmp / "broker", startup_timeout_s=120, config_dir=config_dir
        ) as broker:
            say(f"broker on port {broker.port} with {plan.nodes} node users")
            return _run(broker, tmp, plan, say)


def _broker_config(tmp: Path, max_queued: int | None) -> Path:
    """The project's broker config, or a copy with ``max_queued_messages`` set."""
    if max_queued is None:
        return BROKER_CONFIG_DIR
    copy = tmp / "broker_config"
    shutil.copytree(BROKER_CONFIG_DIR, copy)
    with (copy / "dev" / "mosquitto.conf.in").open("a", encoding="utf-8") as out:
        out.write(f"\nmax_queued_messages {max_queued}\n")
    return copy


def _start_collectors(
    broker: DevBroker, tmp: Path, plan: LoadPlan, ports: list[int]
) -> list[subprocess.Popen[bytes]]:
    """Start the collectors (same client ids and ports on a restart: same broker sessions)."""
    procs = []
    for i in range(plan.collectors):
        path = tmp / f"c{i}.toml"
        if len(ports) <= i:
            _, port = _collector_config(broker, path, plan.database_url, i)
            ports.append(port)
        with (tmp / f"c{i}.log").open("a") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "collector.cli", "serve", "--config", str(path)],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    wait_for(
        lambda: all(health(p).get("mqtt_connected") is True for p in ports),
        60,
        "the collectors to subscribe",
    )
    return procs


def _stop_collectors(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    procs.clear()


def _run(broker: DevBroker, tmp: Path, plan: LoadPlan, say: Callable[[str], None]) -> LoadResult:
    ports: list[int] = []
    procs = _start_collectors(broker, tmp, plan, ports)
    fleet: LoadFleet | None = None
    try:
        say(f"{plan.collectors} collectors subscribed; connecting {plan.nodes} nodes")
        sites = [f"site-{i % 10}" for i in range(len(broker.nodes))]
        fleet = LoadFleet(broker, broker.nodes, sites)
        restarted: float | None = None
        interval = plan.interval_s
        if plan.outage_s > 0:
            # Backlog: the collectors' persistent sessions queue every window meanwhile.
            _stop_collectors(procs)
            interval = plan.outage_s / max(1, plan.windows)
            say(f"collectors stopped; publishing {plan.windows} rounds over {plan.outage_s:g} s")
        else:
            say(f"publishing {plan.windows} rounds, {interval:g} s apart")
        sent = _publish(fleet, plan.windows, interval, plan.duplicate_every)
        if plan.outage_s > 0:
            say("restarting the collectors to drain the backlog")
            restarted = time.time()
            procs = _start_collectors(broker, tmp, plan, ports)
        return _measure(plan.database_url, sent, plan, ports, restarted)
    finally:
        if fleet is not None:
            fleet.close()
        _stop_collectors(procs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.fleet.loadtest", description=__doc__)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--windows", type=int, default=5, help="windows per node")
    parser.add_argument("--collectors", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--broker-queue", type=int, help="Mosquitto max_queued_messages to use")
    parser.add_argument(
        "--outage",
        type=float,
        default=0.0,
        help="backlog mode: stop the collectors, publish the rounds over this many seconds, "
        "then restart them and measure the drain (the documented run uses 300)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--database", help="an empty database URL (SQLite path or postgresql://)")
    target.add_argument("--pg-admin", help="PostgreSQL admin URL: a temporary database is made")
    args = parser.parse_args(argv)
    # A plain SIGTERM would skip the clean-up below (collectors, temporary database).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    url, admin, name = args.database, None, ""
    if args.pg_admin:
        admin = psycopg.connect(args.pg_admin, autocommit=True)
        name = f"kazoe_load_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        url = args.pg_admin.rsplit("/", 1)[0] + "/" + name
    plan = LoadPlan(
        nodes=args.nodes,
        windows=args.windows,
        database_url=url,
        collectors=args.collectors,
        interval_s=args.interval,
        broker_queue=args.broker_queue,
        outage_s=args.outage,
    )
    try:
        result = run_load(plan)
    finally:
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    print(result.table())
    return 0 if result.stored == result.expected == result.distinct else 1


if __name__ == "__main__":
    sys.exit(main())
