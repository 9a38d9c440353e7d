"""``kazoe-sim faults``: a fault-injecting proxy in the foreground, optionally with its own broker.

    kazoe-sim faults --target-port 1883 --schedule "10:cut, 30:stall=5, 60:drop=10" --repeat 90
    kazoe-sim faults --dev-broker --nodes cam-1 --broker-schedule "45:kill=5, 120:restart"

Point the nodes' ``[mqtt] port`` at the printed proxy port. Runs until ``--seconds`` pass or
Ctrl-C, logging every fault, then prints what the proxy saw.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from edge.errors import KazoeError
from simulator.brokers.dev import DevBroker
from simulator.faults.proxy import FaultProxy
from simulator.faults.schedule import (
    BROKER_ACTIONS,
    PROXY_ACTIONS,
    BrokerRestarts,
    Fault,
    ProxySchedule,
    parse_schedule,
)
from simulator.scenes.args import OneLineParser, typed


def _parser() -> OneLineParser:
    p = OneLineParser(prog="kazoe-sim faults", description=__doc__.split("\n\n")[0])
    p.add_argument("--target-host", default="127.0.0.1", help="the broker behind the proxy")
    p.add_argument("--target-port", type=int, default=None, help="the broker's port")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=0, help="0: a free port (printed)")
    p.add_argument(
        "--schedule",
        type=typed(lambda t: parse_schedule(t, PROXY_ACTIONS)),
        default=None,
        help="proxy faults, e.g. '10:cut, 30:stall=5, 60:drop=10' (seconds from start)",
    )
    p.add_argument("--repeat", type=float, default=None, help="repeat the schedules every S s")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--dev-broker", action="store_true", help="start a development broker")
    p.add_argument("--nodes", default="node-a", help="with --dev-broker: node ids, comma-separated")
    p.add_argument("--state", type=Path, default=None, help="with --dev-broker: its state folder")
    p.add_argument(
        "--broker-schedule",
        type=typed(lambda t: parse_schedule(t, BROKER_ACTIONS)),
        default=None,
        help="with --dev-broker: e.g. '45:kill=5, 120:restart, 200:stop=10'",
    )
    return p


def faults_main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    if a.dev_broker == (a.target_port is not None):
        p.error("give either --target-port (an existing broker) or --dev-broker")
    if a.broker_schedule is not None and not a.dev_broker:
        p.error("--broker-schedule needs --dev-broker (only a broker we started can be restarted)")
    if a.seconds is not None and a.seconds <= 0:
        p.error("--seconds must be positive")
    schedules: list[list[Fault]] = [s for s in (a.schedule, a.broker_schedule) if s]
    if a.repeat is not None and any(a.repeat <= s[-1].at_s for s in schedules):
        p.error("--repeat must be longer than the last scheduled time")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            proxy = _start(stack, a)
            host, port = proxy.target
            print(f"proxy listening on {proxy.listen_host}:{proxy.port} -> {host}:{port}")
            sys.stdout.flush()
            stop.wait(a.seconds)
        st = proxy.stats
        print(
            f"accepted {st.accepted}, refused {st.refused}, cut {st.cut}, "
            f"bytes up {st.bytes_up}, down {st.bytes_down}"
        )
    except KazoeError as exc:
        print(f"kazoe-sim faults: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _start(stack: ExitStack, a: argparse.Namespace) -> FaultProxy:
    """Start the dev broker (if asked), the proxy and the schedules; ``stack`` stops them."""
    target_host, target_port = a.target_host, a.target_port
    if a.dev_broker:
        nodes = [n.strip() for n in str(a.nodes).split(",") if n.strip()]
        broker = stack.enter_context(DevBroker(nodes, state_dir=a.state))
        print(f"broker on {broker.host}:{broker.port} (state: {broker.state_dir})")
        for user in broker.users:
            print(f"  user {user}: password file {broker.password_file(user)}")
        target_host, target_port = broker.host, broker.port
        if a.broker_schedule:
            stack.enter_context(BrokerRestarts(broker, a.broker_schedule, a.repeat))
    proxy = FaultProxy(
        target_host, target_port, listen_host=a.listen_host, listen_port=a.listen_port
    )
    stack.enter_context(proxy)
    if a.schedule:
        stack.enter_context(ProxySchedule(proxy, a.schedule, a.repeat))
    return proxy
