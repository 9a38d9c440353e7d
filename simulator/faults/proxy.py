"""A TCP proxy between nodes and a broker that stalls, drops or cuts connections on demand.

    with FaultProxy(broker.host, broker.port) as proxy:   # nodes connect to proxy.port
        proxy.cut()          # close every connection now (both ends, a reset)
        proxy.stall(5)       # forward nothing for 5 s, then deliver what was held
        proxy.drop(10)       # for 10 s: cut everything and reset every new connection

The proxy runs its own asyncio loop in a background thread, so tests and the CLI call it
from ordinary code; every call returns at once. A stall holds bytes (TCP back-pressure does
the rest), as a frozen network path does; nothing is ever silently discarded mid-stream,
because that would corrupt MQTT framing rather than simulate a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from edge.errors import KazoeError

log = logging.getLogger("kazoe.faults")
T = TypeVar("T")
CHUNK = 65536


class FaultError(KazoeError):
    """The proxy cannot start (address in use, bad target) or was used after stop()."""


@dataclass
class ProxyStats:
    accepted: int = 0  # connections accepted from clients
    refused: int = 0  # reset at once while dropping
    cut: int = 0  # connections closed by cut() or drop()
    active: int = 0
    bytes_up: int = 0  # client -> broker
    bytes_down: int = 0


@dataclass(eq=False)  # compared and hashed by identity: kept in a set
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                w.transport.abort()


class FaultProxy:
    """Listen on ``listen_host:listen_port`` (0: a free port) and forward to the target."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = listen_port
        self.stats = ProxyStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._flowing = asyncio.Event()  # bound to the proxy's loop on first use there
        self._flowing.set()
        self._stall_until = 0.0
        self._drop_until = 0.0
        self._timers: list[asyncio.TimerHandle] = []

    # -- life cycle ----------------------------------------------------------------------

    def start(self, timeout_s: float = 5.0) -> FaultProxy:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except OSError as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="kazoe-fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise FaultError(f"the proxy did not start within {timeout_s:g} s")
        if failure:
            self._thread = None
            where = f"{self.listen_host}:{self.port}"
            raise FaultError(f"cannot listen on {where}: {failure[0]}")
        log.info("proxy %s:%d -> %s:%d", self.listen_host, self.port, *self.target)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults (callable from any thread; each returns at once) --------------------------

    def cut(self) -> int:
        """Reset every open connection now; returns how many. New connections work."""
        return self._call(self._cut())

    def stall(self, seconds: float) -> None:
        """Forward nothing in either direction for ``seconds``, then deliver what was held."""
        self._call(self._stall(seconds))

    def drop(self, seconds: float) -> None:
        """For ``seconds``: reset every connection and every new one (the broker 'vanishes')."""
        self._call(self._drop(seconds))

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until

    @property
    def dropping(self) -> bool:
        return time.monotonic() < self._drop_until

    # -- internals (proxy thread) ---------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._thread is None:
            coro.close()
            raise FaultError("the proxy is not running; call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.listen_host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.close()
        await self._cut()

    async def _cut(self) -> int:
        conns, self._conns = list(self._conns), set()
        for conn in conns:
            conn.abort()
        self.stats.cut += len(conns)
        self.stats.active = 0
        log.info("cut %d connection(s)", len(conns))
        return len(conns)

    async def _stall(self, seconds: float) -> None:
        self._stall_until = max(self._stall_until, time.monotonic() + seconds)
        self._flowing.clear()
        log.info("stalled for %.1f s", seconds)
        self._after(seconds, self._maybe_flow)

    def _maybe_flow(self) -> None:
        if time.monotonic() >= self._stall_until - 1e-3:
            self._flowing.set()
            log.info("flowing again")

    async def _drop(self, seconds: float) -> None:
        self._drop_until = max(self._drop_until, time.monotonic() + seconds)
        log.info("dropping every connection for %.1f s", seconds)
        await self._cut()

    def _after(self, seconds: float, callback: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(seconds, callback))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dropping:
            self.stats.refused += 1
            writer.transport.abort()
            return
        self.stats.accepted += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        self.stats.active = len(self._conns)
        try:
            await self._flowing.wait()
            up_reader, conn.upstream = await asyncio.open_connection(*self.target)
        except OSError as exc:
            log.info("cannot reach %s:%d (%s); closing the client", *self.target, exc)
            conn.abort()
            self._forget(conn)
            return
        if conn not in self._conns:  # cut while connecting
            conn.abort()
            return
        await asyncio.gather(
            self._pump(reader, conn.upstream, conn, up=True),
            self._pump(up_reader, writer, conn, up=False),
        )
        self._forget(conn)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: _Conn, *, up: bool
    ) -> None:
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if conn not in self._conns:
                    break
                dst.write(data)
                await dst.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if conn in self._conns:
                _half_close(dst)  # one side finished: let the other see the end too
            else:
                conn.abort()

    def _forget(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            conn.abort()
        self.stats.active = len(self._conns)


def _half_close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
