"""``kazoe-sim fleet``: N virtual nodes publishing synthetic counts, and what the broker did.

    kazoe-sim fleet --nodes 1000 --window 10 --seconds 60 --dev-broker
    kazoe-sim fleet --nodes 50 --window 60 --seconds 600 --host broker.lan --port 8883 \\
        --ca-file ca.crt --cert-dir certs/        # certs/<node>.crt and certs/<node>.key

Node ids are ``<prefix>-0001`` ... (``--prefix``, default ``fleet``); each needs its own
credentials on the broker: ``--password-dir DIR`` holds ``DIR/<node>.password`` (the layout
of ``make-dev-passwords.sh`` and ``python -m simulator.brokers.passwords DIR fleet-0001 ...``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from edge.config import MqttConfig
from edge.delivery.subscriber import Subscriber
from edge.errors import KazoeError
from simulator.brokers.dev import DevBroker
from simulator.brokers.passwords import NODE_ID
from simulator.fleet.broker import FastDevBroker, raise_open_files
from simulator.fleet.fdselect import paho_on_poll
from simulator.fleet.nodes import FleetSpec
from simulator.fleet.run import FleetResult, run_fleet
from simulator.scenes.args import OneLineParser


def _parser() -> OneLineParser:
    p = OneLineParser(prog="kazoe-sim fleet", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, required=True, help="virtual nodes (1-5000)")
    p.add_argument("--window", type=int, default=60, help="window length in seconds")
    p.add_argument("--seconds", type=float, required=True, help="how long to publish")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--password-dir", type=Path, help="holds <node>.password for every node")
    p.add_argument("--ca-file", type=Path, help="TLS: the broker's CA certificate")
    p.add_argument("--cert-dir", type=Path, help="TLS client certs: <node>.crt and <node>.key")
    p.add_argument(
        "--dev-broker", action="store_true", help="start a development broker for the fleet"
    )
    p.add_argument(
        "--prod-autosave",
        action="store_true",
        help="with --dev-broker: save every 60 s like broker_config/prod, not on every change",
    )
    p.add_argument(
        "--no-watch", action="store_true", help="with --dev-broker: no subscriber in the process"
    )
    p.add_argument(
        "--watcher-password-file", type=Path, help="also count what a subscriber receives"
    )
    p.add_argument("--prefix", default="fleet", help="node id prefix (default fleet)")
    p.add_argument(
        "--jitter", type=float, default=1.0, help="publish up to this many s after a window closes"
    )
    p.add_argument("--rate", type=float, default=20.0, help="mean people per minute per node")
    p.add_argument("--k", type=int, default=5, help="suppression threshold, as [policy] k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def _check(p: OneLineParser, a: Any) -> FleetSpec:
    if not 1 <= a.nodes <= 5000:
        p.error("--nodes must be between 1 and 5000")
    if not 0 < a.seconds <= 86400:
        p.error("--seconds must be in (0, 86400]")
    if a.dev_broker and (a.password_dir or a.ca_file or a.cert_dir):
        p.error(
            "--dev-broker makes its own credentials; drop --password-dir / --ca-file / --cert-dir"
        )
    if (a.prod_autosave or a.no_watch) and not a.dev_broker:
        p.error("--prod-autosave and --no-watch are for --dev-broker")
    if (a.cert_dir is not None) and a.ca_file is None:
        p.error("--cert-dir needs --ca-file")
    if not 1 <= a.window <= 86400:
        p.error("--window must be between 1 and 86400 seconds")
    if not 2 <= a.k <= 1000:
        p.error("--k must be between 2 and 1000")
    if a.jitter < 0 or a.rate < 0:
        p.error("--jitter and --rate must not be negative")
    spec = FleetSpec(a.nodes, a.window, a.seconds, a.prefix, a.jitter, a.rate, a.k, a.seed)
    if not all(NODE_ID.match(n) for n in (spec.node_ids()[0], spec.node_ids()[-1])):
        p.error(f"--prefix {a.prefix!r}: node ids must be 1-63 of a-z, 0-9, '_' and '-'")
    if not 1 <= a.port <= 65535:
        p.error("--port must be between 1 and 65535")
    return spec


def _mqtt_for(
    a: Any, host: str, port: int, password_dir: Path | None
) -> Callable[[str], MqttConfig]:
    def make(node_id: str) -> MqttConfig:
        fields: dict[str, Any] = {
            "host": host,
            "port": port,
            "reconnect_min_s": 1,
            "reconnect_max_s": 10,
        }
        if password_dir is not None:
            fields["password_file"] = password_dir / f"{node_id}.password"
        if a.ca_file is not None:
            tls: dict[str, Any] = {"ca_file": a.ca_file}
            if a.cert_dir is not None:
                tls |= {
                    "cert_file": a.cert_dir / f"{node_id}.crt",
                    "key_file": a.cert_dir / f"{node_id}.key",
                }
            fields["tls"] = tls
        return MqttConfig.model_validate(fields)

    return make


def render(r: FleetResult, where: str, broker_cpu_s: float | None) -> str:
    lat = r.latency_ms
    lines = [
        f"fleet: {r.nodes} virtual nodes at {where}, {r.threads} threads",
        f"connected     {r.connected}/{r.nodes} in {r.connect_s:.1f} s",
        f"windows       closed {r.windows}, sent {r.sent}, acknowledged {r.acked}, "
        f"unacknowledged {r.unacked}, not sent {r.unsent}, resent after reconnect {r.resent}",
        "publish->PUBACK "
        + ("  ".join(f"{k} {v:.1f} ms" for k, v in lat.items()) if lat else "n/a")
        + " (collected every 10 ms)",
        f"this process  {r.cpu_s:.1f} s CPU in {r.seconds:.1f} s ({_share(r.cpu_s, r.seconds)}), "
        f"peak RSS {r.peak_rss_mib:.0f} MiB",
    ]
    if broker_cpu_s is not None:
        lines.append(f"broker        {broker_cpu_s:.1f} s CPU ({_share(broker_cpu_s, r.seconds)})")
    if r.received is not None:
        lines.append(f"subscriber    received {r.received} distinct windows")
    return "\n".join(lines + [f"note: {n}" for n in r.notes])


def _share(cpu_s: float, wall_s: float) -> str:
    return f"{100 * cpu_s / max(wall_s, 1e-9):.0f} % of one core"


def _proc_cpu(pid: int | None) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fleet_main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    spec = _check(p, a)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("kazoe.mqtt").setLevel(logging.WARNING)  # not 2 lines per node
    raise_open_files(4 * spec.nodes + 256)  # a socket and a wake-up pair per client
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker: DevBroker | None = None
    try:
        host, port, pw_dir, watcher_pw = a.host, a.port, a.password_dir, a.watcher_password_file
        if a.dev_broker:
            broker = FastDevBroker(spec.node_ids(), prod_autosave=a.prod_autosave).start()
            host, port, pw_dir = broker.host, broker.port, broker.state_dir
            watcher_pw = None if a.no_watch else broker.password_file("watcher")
        cpu0 = _proc_cpu(broker.pid) if broker else None
        mqtt_for = _mqtt_for(a, host, port, pw_dir)
        with paho_on_poll():  # paho's select() stops at descriptor 1023 (~340 clients)
            result = _run(spec, mqtt_for, watcher_pw=watcher_pw, where=(host, port), stop=stop, a=a)
        cpu1 = _proc_cpu(broker.pid) if broker else None
    except (KazoeError, OSError, ValidationError) as exc:
        print(f"kazoe-sim fleet: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        if broker is not None:
            broker.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    broker_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    if a.json:
        print(json.dumps({**asdict(result), "broker_cpu_s": broker_cpu}, indent=2))
    else:
        print(render(result, f"{host}:{port}", broker_cpu))
    return 0 if result.connected else 1


def _run(
    spec: FleetSpec,
    mqtt_for: Callable[[str], MqttConfig],
    *,
    watcher_pw: Path | None,
    where: tuple[str, int],
    stop: threading.Event,
    a: Any,
) -> FleetResult:
    if watcher_pw is None:
        return run_fleet(spec, mqtt_for, stop=stop, connect_timeout_s=a.connect_timeout)
    counter = WindowCounter(spec.node_ids())
    sub = Subscriber(
        host=where[0],
        port=where[1],
        topics=["kazoe/v1/+/counts"],
        on_message=counter.on_message,
        username="watcher",
        password=watcher_pw.read_text(encoding="utf-8").strip(),
        tls=mqtt_for("watcher").tls,
    )
    sub.start()
    try:
        sub.subscribed.wait(10)
        result = run_fleet(spec, mqtt_for, stop=stop, connect_timeout_s=a.connect_timeout)
        stop.wait(1.0)  # the last windows are still on their way to the subscriber
    finally:
        sub.stop()
    result.received = len(counter.seen)
    if counter.foreign:
        result.notes.append(f"the subscriber also saw {counter.foreign} windows of other nodes")
    return result


class WindowCounter:
    """Distinct (node, seq) windows a subscriber receives; cheap enough for 1,000 nodes (the
    payload schema itself is checked by the node's tests, not here)."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = set(nodes)
        self.seen: set[tuple[str, int]] = set()
        self.foreign = 0
        self._lock = threading.Lock()

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            doc = json.loads(payload)
            key = (str(doc["node_id"]), int(doc["seq"]))
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            if key[0] in self.nodes and topic.split("/")[2] == key[0]:
                self.seen.add(key)
            else:
                self.foreign += 1
