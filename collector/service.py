"""The collector as one object: database, writer, MQTT session, metrics, push, dashboard.

``start()`` migrates the schema and starts every thread; ``serve_http()``
runs the dashboard until ``stop()``. Tests run two of these in one process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn

from collector.auth import Credentials
from collector.config import CollectorSettings
from collector.db import Database, describe
from collector.errors import CollectorError
from collector.metrics import Metrics
from collector.migrations import migrate
from collector.ngsi import Pusher
from collector.queries import StoredWindow, windows_by_keys
from collector.snapshot import SnapshotCache
from collector.store import WriteResult
from collector.subscription import Subscription
from collector.web import create_app
from collector.writer import Writer

log = logging.getLogger("kazoe.collector")


class Collector:
    def __init__(self, settings: CollectorSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.db = Database(settings.database.url)
        self.credentials = Credentials.from_config(settings.http)
        self.stopping = threading.Event()
        self.pusher: Pusher | None = None
        if settings.ngsi_ld.push_url is not None:
            self.pusher = Pusher(settings.ngsi_ld, self.metrics, self._lookup)
        self.writer = Writer(self.db, settings, self.metrics, ack=self._ack, on_stored=self._stored)
        self.subscription = Subscription(
            settings.mqtt, on_message=self.writer.submit, on_connected=self._connected
        )
        self.snapshots = SnapshotCache(
            self.db, k=settings.rollup.k, stale_after_s=settings.http.stale_after_s
        )
        self.http_port: int | None = None
        self._server: uvicorn.Server | None = None
        self._started = False

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Migrate; start metrics, writer, push and the MQTT session (raises CollectorError)."""
        conn = self.db.connect()
        try:
            applied = migrate(conn)
        finally:
            conn.close()
        log.info(
            "database %s ready%s",
            describe(self.db.url),
            f" (applied migrations {applied})" if applied else "",
        )
        if self.settings.metrics.enabled:
            self.metrics.serve(self.settings.metrics.host, self.settings.metrics.port)
        self.writer.start()
        if self.pusher is not None:
            self.pusher.start()
        self.subscription.start()
        self._started = True

    def stop(self) -> None:
        """Stop taking messages, finish the batch in hand, close everything."""
        self.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._started:
            self.writer.stop()
            self.subscription.stop()
            if self.pusher is not None:
                self.pusher.stop()
        self.metrics.close()
        self.db.close()
        self._started = False

    # -- dashboard ------------------------------------------------------------------------

    def app(self) -> Any:
        return create_app(
            self.db,
            self.snapshots,
            k=self.settings.rollup.k,
            refresh_s=self.settings.http.refresh_s,
            credentials=self.credentials,
            stopping=self.stopping,
            health=self.health,
        )

    def bind(self) -> socket.socket:
        """Bind the dashboard socket now, so a busy port is an error before anything runs."""
        http = self.settings.http
        family = socket.AF_INET6 if ":" in http.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((http.host, http.port))
        except OSError as exc:
            sock.close()
            raise CollectorError(
                f"cannot serve the dashboard on {http.host}:{http.port}: {exc.strerror}; "
                "change [http].port"
            ) from None
        sock.listen(128)
        self.http_port = int(sock.getsockname()[1])
        return sock

    def serve_http(self, sock: socket.socket) -> None:
        """Run the dashboard on a bound socket until ``stop()`` (blocks)."""
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            lifespan="off",
            ws="none",  # the dashboard uses server-sent events only
            http="h11",
        )
        self._server = uvicorn.Server(config)
        host = self.settings.http.host
        log.info("dashboard on http://%s:%d/", f"[{host}]" if ":" in host else host, self.http_port)
        asyncio.run(self._server.serve(sockets=[sock]))

    def health(self) -> dict[str, Any]:
        return {
            "mqtt_connected": self.subscription.connected,
            "stored": int(self.metrics.value("kazoe_collector_windows_stored_total")),
            "client_id": self.settings.mqtt.client_id,
        }

    # -- callbacks ------------------------------------------------------------------------

    def _ack(self, item: Any) -> None:
        self.subscription.ack(item)

    def _connected(self, up: bool) -> None:
        self.metrics.connected.set(1 if up else 0)

    def _stored(self, result: WriteResult) -> None:
        if self.pusher is not None and result.stored:
            self.pusher.offer([(w.node_id, w.seq) for w in result.stored])

    def _lookup(self, keys: Sequence[tuple[str, int]]) -> list[StoredWindow]:
        with self.db.reader() as conn:
            return windows_by_keys(conn, keys)

    def wait_connected(self, timeout_s: float) -> bool:
        """True once subscribed (for tests and the CLI's start-up message)."""
        deadline = time.monotonic() + timeout_s
        return self.subscription.subscribed.wait(max(0.0, deadline - time.monotonic()))
