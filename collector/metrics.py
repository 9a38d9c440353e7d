"""Prometheus metrics of one collector (own registry, so two collectors fit in one process).

Served on ``[metrics] host:port`` (loopback by default). Labels never carry a
node id, a payload or anything about a person.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from collector.errors import CollectorError

log = logging.getLogger("kazoe.collector.metrics")

REJECT_REASONS = ("oversized", "topic", "malformed", "mismatch", "expired", "store")
LEAVES = ("counts", "status", "notice")
# Around the 2 s publish-to-commit goal: "under 2 s" is read off the 2 bucket directly.
_LATENCY_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter(
            "kazoe_collector_messages", "MQTT messages received", ["topic"], registry=r
        )
        self.rejects = Counter(
            "kazoe_collector_rejects",
            "Messages dropped: invalid, oversized or unstorable",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "kazoe_collector_duplicates", "Windows received again and not stored twice", registry=r
        )
        self.stored = Counter("kazoe_collector_windows_stored", "Windows stored", registry=r)
        self.store_latency = Histogram(
            "kazoe_collector_store_latency_seconds",
            "From receipt of a message to the commit that stored it",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "kazoe_collector_store_errors", "Failed store attempts (retried)", registry=r
        )
        self.queue_depth = Gauge(
            "kazoe_collector_queue_depth", "Messages received but not yet stored", registry=r
        )
        self.connected = Gauge(
            "kazoe_collector_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.purged = Counter(
            "kazoe_collector_purged_windows", "Windows deleted by retention", registry=r
        )
        self.ngsi_pushed = Counter(
            "kazoe_collector_ngsi_pushed", "Windows pushed to the NGSI-LD broker", registry=r
        )
        self.ngsi_failures = Counter(
            "kazoe_collector_ngsi_push_failures", "Failed NGSI-LD push attempts", registry=r
        )
        self.ngsi_dropped = Counter(
            "kazoe_collector_ngsi_dropped",
            "Windows not pushed because the queue was full",
            registry=r,
        )
        for leaf in LEAVES:
            self.messages.labels(leaf)
        for reason in REJECT_REASONS:
            self.rejects.labels(reason)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def value(self, name: str, **labels: str) -> float:
        """A sample's value, 0 when absent: ``value("kazoe_collector_rejects_total", reason=r)``."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP server; returns the bound port."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise CollectorError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror}; change [metrics].port"
            ) from None
        self._server, self._thread = server, thread
        self.port = int(server.server_port)
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
