"""Prometheus metrics for the node (prometheus-client), served on loopback by default.

Labels are fixed stage and state names only — never anything derived from a frame.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from edge.config import MetricsConfig

log = logging.getLogger("kazoe.metrics")
SOURCE_STATES = ("running", "stalled", "reconnecting", "ended")
MS_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000, 2500)


class NodeMetrics:
    """The node's gauges, counters and histograms in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("kazoe_frames_analysed", "Frames analysed", registry=r)
        self.windows = Counter("kazoe_windows_closed", "Windows closed and stored", registry=r)
        self.stage_ms = Histogram(
            "kazoe_stage_ms",
            "Time per frame in each stage (ms)",
            ["stage"],
            buckets=MS_BUCKETS,
            registry=r,
        )
        self.lifetime = Histogram(
            "kazoe_frame_lifetime_seconds",
            "Capture to overwrite of a frame's pixels",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
            registry=r,
        )
        self.fps = Gauge(
            "kazoe_frames_per_second", "Frames analysed per second (recent)", registry=r
        )
        self.outbox = Gauge("kazoe_outbox_depth", "Closed windows not yet acknowledged", registry=r)
        self.connected = Gauge(
            "kazoe_broker_connected", "1 while connected to the broker", registry=r
        )
        self.source = Gauge(
            "kazoe_source_state", "1 for the source's current state", ["state"], registry=r
        )
        self.purged = Counter("kazoe_windows_purged", "Windows deleted by retention", registry=r)

    def set_source(self, state: str) -> None:
        for name in SOURCE_STATES:
            self.source.labels(state=name).set(1.0 if name == state else 0.0)

    def serve(self, cfg: MetricsConfig) -> bool:
        """Start the HTTP endpoint; a busy port is a warning, not a failure."""
        if cfg.port == 0:
            return False
        try:
            start_http_server(cfg.port, addr=cfg.host, registry=self.registry)
        except OSError as exc:
            log.warning(
                "metrics endpoint %s:%d unavailable (%s); continuing without it",
                cfg.host,
                cfg.port,
                exc.strerror,
            )
            return False
        log.info("metrics on http://%s:%d/metrics", cfg.host, cfg.port)
        return True
