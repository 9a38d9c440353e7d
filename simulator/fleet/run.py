"""Running a fleet of virtual nodes against a broker and measuring what happened."""

from __future__ import annotations

import logging
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from edge.config import MqttConfig
from simulator.fleet.nodes import FleetSpec, Schedule, VirtualNode, make_node, percentiles

log = logging.getLogger("kazoe.fleet")
POLL_S = 0.01  # how often PUBACKs are collected: the latency figures' resolution


@dataclass
class FleetResult:
    nodes: int
    connected: int = 0
    connect_s: float = 0.0
    windows: int = 0  # windows closed (sealed) by the virtual nodes
    sent: int = 0  # handed to the publisher (resends included)
    acked: int = 0
    unacked: int = 0  # sent but not acknowledged when the run ended
    unsent: int = 0  # still queued (never connected, or not yet resent)
    resent: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    threads: int = 0
    received: int | None = None  # unique windows seen by a subscriber, when one was asked for
    notes: list[str] = field(default_factory=list)


class _Poller:
    def __init__(self, nodes: list[VirtualNode], result: FleetResult) -> None:
        self.nodes = nodes
        self.result = result
        self.busy: set[int] = set()
        self.latencies: list[float] = []

    def poll(self) -> None:
        for i in list(self.busy):
            node = self.nodes[i]
            self.result.sent += node.flush(time.monotonic)
            lat = node.take_latencies(time.monotonic())
            self.result.acked += len(lat)
            self.latencies += lat
            if not node.busy:
                self.busy.discard(i)


def _wait_connected(nodes: list[VirtualNode], timeout_s: float, stop: threading.Event) -> int:
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        up = sum(n.publisher.connected for n in nodes)
        if up == len(nodes) or time.monotonic() > deadline:
            return up
        stop.wait(0.05)
    return sum(n.publisher.connected for n in nodes)


def run_fleet(
    spec: FleetSpec,
    mqtt_for: Callable[[str], MqttConfig],
    *,
    stop: threading.Event | None = None,
    connect_timeout_s: float = 120.0,
    drain_s: float = 15.0,
) -> FleetResult:
    """Connect every node, publish for ``spec.seconds``, wait up to ``drain_s`` for PUBACKs."""
    stop = stop or threading.Event()
    result = FleetResult(nodes=spec.nodes)
    cpu0, wall0 = _cpu(), time.monotonic()
    nodes = [make_node(nid, mqtt_for(nid), spec, i) for i, nid in enumerate(spec.node_ids())]
    for node in nodes:
        node.publisher.start()
    result.connected = _wait_connected(nodes, connect_timeout_s, stop)
    result.connect_s = time.monotonic() - wall0
    if result.connected < len(nodes):
        result.notes.append(
            f"only {result.connected} of {len(nodes)} nodes connected within "
            f"{connect_timeout_s:g} s; the others keep retrying"
        )
    result.threads = threading.active_count()
    jitter = np.random.default_rng([spec.seed, 0]).uniform(0, spec.jitter_s, len(nodes))
    schedule = Schedule(spec.window_s, [float(j) for j in jitter])
    schedule.start(time.time())
    poller = _Poller(nodes, result)
    end = time.time() + spec.seconds
    todo: list[tuple[int, float]] = []  # windows to seal ahead, in idle time
    refill = 0.0
    try:
        while not stop.is_set() and time.time() < end:
            for i, start in schedule.due(time.time()):
                nodes[i].close_window(start, start + spec.window_s, spec.people_per_min)
                result.windows += 1
                poller.busy.add(i)
            poller.poll()
            if not todo and time.monotonic() >= refill:
                todo = [(i, s) for i, s in schedule.upcoming() if s not in nodes[i].ready]
                refill = time.monotonic() + 0.5
            while todo and schedule.next_due() - time.time() > 4 * POLL_S:
                i, start = todo.pop()
                nodes[i].prepare(start, start + spec.window_s, spec.people_per_min)
                if len(todo) % 50 == 0:
                    poller.poll()  # keep collecting PUBACKs while sealing
            stop.wait(max(0.0, min(POLL_S, schedule.next_due() - time.time())))
        deadline = time.monotonic() + drain_s
        while poller.busy and time.monotonic() < deadline and not stop.is_set():
            poller.poll()
            stop.wait(POLL_S)
    finally:
        _stop_all(nodes)
    result.unacked = sum(len(n.unacked) for n in nodes)
    result.unsent = sum(len(n.queue) for n in nodes)
    result.resent = sum(n.resent for n in nodes)
    result.latency_ms = {k: 1000 * v for k, v in percentiles(poller.latencies).items()}
    result.seconds = time.monotonic() - wall0
    result.cpu_s = _cpu() - cpu0
    result.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _stop_all(nodes: list[VirtualNode]) -> None:
    """Clean stops (offline status, DISCONNECT) in parallel: 1,000 in series take long."""

    def stop(node: VirtualNode) -> None:
        try:
            node.publisher.stop(node.status("offline"), timeout_s=5.0)
        except Exception:  # one node's failed stop must not keep the others up
            log.warning("node %s did not stop cleanly", node.node_id, exc_info=True)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(stop, nodes))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
