"""Fault schedules: proxy faults and broker restarts at set times, in a background thread.

A schedule is text such as ``"10:cut, 30:stall=5, 60:drop=10"`` (proxy) or
``"45:kill=5, 120:restart"`` (broker): each item is ``SECONDS:ACTION[=DURATION]``, seconds
counted from the start of the schedule, optionally repeated every ``repeat_s``.

Broker actions (``simulator.brokers.dev.DevBroker``): ``kill=N`` SIGKILLs it (a crash; state since
the last autosave is lost) and starts it again N s later; ``stop=N`` stops it cleanly for N s;
``restart`` stops and starts it at once. The broker comes back on the same port.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType

from simulator.brokers.dev import DevBroker
from simulator.faults.proxy import FaultProxy

log = logging.getLogger("kazoe.faults")
PROXY_ACTIONS = {"cut": False, "stall": True, "drop": True}  # action -> needs a duration
BROKER_ACTIONS = {"kill": True, "stop": True, "restart": False}
_ITEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*([a-z]+)\s*(?:=\s*(\d+(?:\.\d+)?))?\s*$")


@dataclass(frozen=True)
class Fault:
    at_s: float
    action: str
    seconds: float = 0.0


def parse_schedule(text: str, actions: dict[str, bool]) -> list[Fault]:
    """Faults sorted by time; ValueError naming the bad item and what is allowed."""
    faults = []
    for item in (part for part in text.split(",") if part.strip()):
        m = _ITEM.match(item)
        allowed = ", ".join(f"{a}=SECONDS" if d else a for a, d in actions.items())
        if m is None or m.group(2) not in actions:
            raise ValueError(f"schedule item {item.strip()!r}: use SECONDS:ACTION with {allowed}")
        needs = actions[m.group(2)]
        if needs != (m.group(3) is not None):
            raise ValueError(f"schedule item {item.strip()!r}: use SECONDS:ACTION with {allowed}")
        faults.append(Fault(float(m.group(1)), m.group(2), float(m.group(3) or 0)))
    if not faults:
        raise ValueError("the schedule is empty")
    return sorted(faults, key=lambda f: f.at_s)


class _Runner:
    """Run ``apply(fault)`` at each fault's time (repeating), until stopped."""

    def __init__(self, faults: list[Fault], repeat_s: float | None, name: str) -> None:
        if repeat_s is not None and repeat_s <= faults[-1].at_s:
            raise ValueError("--repeat must be longer than the last scheduled time")
        self.faults = faults
        self.repeat_s = repeat_s
        self.done: list[tuple[float, Fault]] = []  # (monotonic time, fault) as applied
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def apply(self, fault: Fault) -> None:
        raise NotImplementedError

    def start(self) -> _Runner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def wait(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` faults have been applied; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while len(self.done) < count and time.monotonic() < deadline:
            self._stop.wait(0.02)
        return len(self.done) >= count

    def _run(self) -> None:
        t0 = time.monotonic()
        cycle = 0
        while not self._stop.is_set():
            for fault in self.faults:
                offset = cycle * (self.repeat_s or 0)
                if self._stop.wait(max(0.0, t0 + offset + fault.at_s - time.monotonic())):
                    return
                try:
                    self.apply(fault)
                except Exception:  # a failed fault is logged; the schedule goes on
                    log.exception("fault %s failed", fault)
                self.done.append((time.monotonic(), fault))
            if self.repeat_s is None:
                return
            cycle += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ProxySchedule(_Runner):
    """Apply proxy faults (cut / stall / drop) on a schedule."""

    def __init__(
        self, proxy: FaultProxy, faults: list[Fault], repeat_s: float | None = None
    ) -> None:
        super().__init__(faults, repeat_s, "kazoe-proxy-schedule")
        self.proxy = proxy

    def apply(self, fault: Fault) -> None:
        actions: dict[str, Callable[[], object]] = {
            "cut": self.proxy.cut,
            "stall": lambda: self.proxy.stall(fault.seconds),
            "drop": lambda: self.proxy.drop(fault.seconds),
        }
        actions[fault.action]()

    def __enter__(self) -> ProxySchedule:
        self.start()
        return self


class _Keeper:
    """One daemon thread that lives as long as the process and runs broker (re)starts.

    ``DevBroker`` ties the broker's life to the thread that starts it (PR_SET_PDEATHSIG), so
    a schedule thread that ends would take the restarted broker down with it.
    """

    _lock = threading.Lock()
    _jobs: queue.Queue[tuple[Callable[[], object], Future[object]]] | None = None

    @classmethod
    def run(cls, job: Callable[[], object], timeout_s: float = 60.0) -> object:
        with cls._lock:
            if cls._jobs is None:
                cls._jobs = queue.Queue()
                threading.Thread(
                    target=cls._serve, args=(cls._jobs,), name="kazoe-broker-keeper", daemon=True
                ).start()
            jobs = cls._jobs
        done: Future[object] = Future()
        jobs.put((job, done))
        return done.result(timeout_s)

    @staticmethod
    def _serve(jobs: queue.Queue[tuple[Callable[[], object], Future[object]]]) -> None:
        while True:
            job, done = jobs.get()
            try:
                done.set_result(job())
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who logs it
                done.set_exception(exc)


class BrokerRestarts(_Runner):
    """Kill, stop or restart a ``DevBroker`` on a schedule (it comes back on the same port)."""

    def __init__(
        self, broker: DevBroker, faults: list[Fault], repeat_s: float | None = None
    ) -> None:
        super().__init__(faults, repeat_s, "kazoe-broker-schedule")
        self.broker = broker

    def apply(self, fault: Fault) -> None:
        log.info("broker: %s%s", fault.action, f" for {fault.seconds:g} s" if fault.seconds else "")
        if fault.action == "restart":
            _Keeper.run(self.broker.restart)
            return
        if fault.action == "kill":
            self.broker.kill()
        else:
            self.broker.stop()
        if not self._stop.wait(fault.seconds):
            _Keeper.run(self.broker.start)

    def __enter__(self) -> BrokerRestarts:
        self.start()
        return self
