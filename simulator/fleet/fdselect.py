"""Let paho-mqtt's network loop watch sockets numbered 1024 and above.

paho-mqtt 2.2 waits for network events with ``select.select()``, which cannot watch a file
descriptor >= 1024 (FD_SETSIZE) and raises ValueError, which paho takes as "connection
lost". A node has one client and never gets there; ``kazoe-sim fleet`` runs 1,000 clients in
one process, each with a socket and a wake-up socket pair, and measured only 338 of 1,000
ever connecting. :func:`paho_on_poll` points paho's module-level ``select`` at a stand-in
whose ``select()`` gives the same answers using ``poll(2)``, which has no such limit. It
changes nothing else and is in force only while a fleet runs.
"""

from __future__ import annotations

import math
import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho_client

_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITE = select.POLLOUT | select.POLLHUP | select.POLLERR


def _fileno(obj: Any) -> int:
    fd = obj if isinstance(obj, int) else obj.fileno()
    if fd < 0:
        raise ValueError("file descriptor cannot be a negative integer")  # what select says
    return int(fd)


def poll_select(
    rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any], timeout: float | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """``select.select`` semantics on ``poll(2)``: ready objects from each list (xlist unused)."""
    interest: dict[int, int] = {}
    for obj in rlist:
        fd = _fileno(obj)
        interest[fd] = interest.get(fd, 0) | select.POLLIN | select.POLLPRI
    for obj in wlist:
        fd = _fileno(obj)
        interest[fd] = interest.get(fd, 0) | select.POLLOUT
    poller = select.poll()
    for fd, mask in interest.items():
        poller.register(fd, mask)
    ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
    events = dict(poller.poll(ms))
    if any(ev & select.POLLNVAL for ev in events.values()):
        raise ValueError("a watched socket was closed")
    readable = [o for o in rlist if events.get(_fileno(o), 0) & _READ]
    writable = [o for o in wlist if events.get(_fileno(o), 0) & _WRITE]
    return readable, writable, []


class _PollSelect:
    """Stands in for the ``select`` module inside paho (it only calls ``select.select``)."""

    select = staticmethod(poll_select)


@contextmanager
def paho_on_poll() -> Iterator[None]:
    """While inside, every paho client in this process waits with poll(2), not select(2)."""
    before = getattr(paho_client, "select")  # noqa: B009 - not re-exported, for mypy
    setattr(paho_client, "select", _PollSelect)  # noqa: B010 - mypy: a module attribute
    try:
        yield
    finally:
        setattr(paho_client, "select", before)  # noqa: B010
