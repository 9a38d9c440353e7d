"""Assemble a node from its settings, run it, and shut it down cleanly."""

from __future__ import annotations

import hashlib
import logging
import signal
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from edge import __version__
from edge.capture.sources import FrameSource, is_live, open_source
from edge.config import NodeSettings
from edge.delivery.outbox import Outbox
from edge.delivery.publisher import Publisher
from edge.errors import ConfigError, KazoeError
from edge.node import Node
from edge.ops.metrics import NodeMetrics
from edge.ops.progress import with_progress
from edge.payload import ModelIds, StatusPayload
from edge.privacy.audit import AuditLog
from edge.privacy.masks import MaskSet
from edge.privacy.notice import build_notice
from edge.privacy.policy import check_purpose_coverage
from edge.privacy.shares import IntervalMaker, resolve_intervals
from edge.vision.analyser import Analyser, percentile
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import open_detector
from edge.vision.models_info import model_ids

log = logging.getLogger("kazoe.run")
DB_NAME = "kazoe.db"


@dataclass(frozen=True, slots=True)
class RunOptions:
    source: str | None = None
    once: bool = False
    realtime: bool | None = None
    loop: bool | None = None
    ack_timeout_s: float = 60.0


def effective_settings(settings: NodeSettings, options: RunOptions) -> NodeSettings:
    """Command-line overrides applied on top of the file (validated the same way)."""
    source = settings.source.model_dump()
    if options.source is not None:
        source["uri"] = options.source
    if options.realtime is not None:
        source["realtime"] = options.realtime
    if options.loop is not None:
        source["loop"] = options.loop
    data = settings.model_dump()
    data["source"] = source
    return NodeSettings.model_validate(data)


def _check_options(settings: NodeSettings, options: RunOptions) -> None:
    if options.once and settings.source.loop:
        raise ConfigError("--once and --loop contradict each other; drop one")
    if options.once and is_live(settings.source.uri):
        raise ConfigError("--once needs a video file source, not a live camera")


def _make_publisher(
    settings: NodeSettings, node_ref: list[Node], boot_id: str, models: ModelIds, notice: bytes
) -> Publisher:
    from edge.delivery.mqtt import MqttPublisher

    def status(link: str) -> StatusPayload:
        if node_ref:
            node = node_ref[0]
            return node.current_status() if link == "online" else node.status("offline")
        # The Will is built before the node exists: a plain offline status.
        return StatusPayload.model_validate(
            {
                "node_id": settings.node.id,
                "state": "offline" if link == "offline" else "online",
                "reason": "connection lost" if link == "offline" else None,
                "version": __version__,
                "boot_id": boot_id,
                "model": models,
                "at": datetime.now(tz=UTC),
            }
        )

    return MqttPublisher.from_settings(settings, status, notice=notice)


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a node needs, built and checked before anything runs."""

    settings: NodeSettings
    models: ModelIds
    analyser: Analyser
    source: FrameSource
    outbox: Outbox
    audit: AuditLog
    notice: bytes
    intervals: IntervalMaker | None = None


def assemble(settings: NodeSettings, options: RunOptions) -> Parts:
    """Validate options and purposes, load the models, open source, outbox and audit log."""
    settings = effective_settings(settings, options)
    check_purpose_coverage(settings)
    _check_options(settings, options)
    models = model_ids(
        settings.models.dir,
        settings.detector.model,
        settings.policy.demographics,
        settings.attributes,
    )
    # A calibration measured on other models is refused before anything else loads.
    intervals = resolve_intervals(settings, models)
    detector = open_detector(settings.models.dir, settings.detector)
    # Minimum acquisition: without the demographics purpose the attribute models never load.
    estimator = (
        AttributeEstimator.from_dir(
            settings.models.dir, settings.attributes, settings.detector.threads, detector.template
        )
        if settings.policy.demographics
        else None
    )
    notice = build_notice(settings, datetime.now(tz=UTC), intervals).to_json()
    anchor = settings.source.start_time or datetime.now(tz=UTC)
    source = with_progress(open_source(settings.source.uri, settings.source, anchor))
    try:
        outbox = Outbox(settings.node.state_dir / DB_NAME)
        audit = AuditLog(settings.node.state_dir)
    except KazoeError:
        source.close()
        raise
    masks = MaskSet(settings.privacy.masks) if settings.privacy.masks else None
    analyser = Analyser.from_settings(settings, detector, estimator, masks)
    return Parts(settings, models, analyser, source, outbox, audit, notice, intervals)


def _install_signals(node: Node) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if node.stop_event.is_set():
            log.info("received %s again; not waiting for acknowledgements", name)
            node.abort_event.set()
            return
        node.notifier.stopping("publishing the open window and offline status")
        log.info("received %s; closing the open window and stopping", name)
        node.stop_event.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _run(node: Node, parts: Parts, options: RunOptions) -> int:
    """The node's life between start and stop; returns the exit code."""
    node.purge()
    node.publisher.start()
    node.run_frames()
    stopped = node.stop_event.is_set()
    # A clean stop (SIGINT/SIGTERM) closes the window in progress like the end of a file:
    # the people it counted were real. It is in the outbox before it is sent, and stays
    # there, to go out on the next start, if the broker does not acknowledge it in time.
    node.finish_source()
    drained = node.drain(options.ack_timeout_s if options.once or stopped else 10.0)
    if stopped:
        if not drained:
            log.warning(
                "%d closed windows not acknowledged within %.0f s; they stay in %s "
                "and are sent on the next start",
                node.outbox.depth(),
                options.ack_timeout_s,
                parts.outbox.path,
            )
        return 0
    if options.once and not drained:
        print(
            f"kazoe: {node.outbox.depth()} closed windows were not acknowledged within "
            f"{options.ack_timeout_s:.0f} s; they stay in {parts.outbox.path} "
            "and are sent on the next run",
            file=sys.stderr,
        )
        return 1
    return 0


def run_node(
    settings: NodeSettings,
    options: RunOptions,
    *,
    install_signals: bool = False,
    publisher: Publisher | None = None,
) -> int:
    """Run until the source ends (``--once``) or a signal; returns the process exit code."""
    try:
        parts = assemble(settings, options)
    except KazoeError as exc:
        print(f"kazoe: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    settings = parts.settings
    node_ref: list[Node] = []
    boot_id = uuid.uuid4().hex
    pub = publisher or _make_publisher(settings, node_ref, boot_id, parts.models, parts.notice)
    metrics = NodeMetrics()
    metrics.serve(settings.metrics)
    node = Node(
        settings,
        source=parts.source,
        analyser=parts.analyser,
        outbox=parts.outbox,
        publisher=pub,
        models=parts.models,
        boot_id=boot_id,
        audit=parts.audit,
        metrics=metrics,
        intervals=parts.intervals,
    )
    node_ref.append(node)
    if install_signals:
        _install_signals(node)
    log.info(
        "node %s starting: source %s, purposes %s, boot %s",
        settings.node.id,
        settings.source.uri,
        ",".join(settings.policy.purposes),
        boot_id,
    )
    parts.audit.append(
        "start",
        version=__version__,
        boot_id=boot_id,
        node_id=settings.node.id,
        config_sha256=hashlib.sha256(settings.model_dump_json().encode()).hexdigest(),
        policy_hash=settings.policy_hash(),
        models=parts.models.model_dump(),
    )
    code = 1
    try:
        code = _run(node, parts, options)
    except KazoeError as exc:
        print(f"kazoe: {exc}", file=sys.stderr)
    finally:
        parts.source.close()
        parts.analyser.reset()
        pub.stop(node.status("offline", "clean shutdown"), timeout_s=5.0)
        stats = node.stats
        lifetime = percentile(parts.analyser.times.lifetime, 99)
        p99 = round(lifetime, 1) if lifetime is not None else None
        log.info(
            "node %s stopped: %d frames, %d windows closed, %d acknowledged, %d people, "
            "frame lifetime p99 %s ms",
            settings.node.id,
            stats.frames,
            stats.windows_closed,
            stats.windows_acked,
            stats.people,
            p99,
        )
        parts.audit.append(
            "stop",
            frames=stats.frames,
            windows_closed=stats.windows_closed,
            windows_acknowledged=stats.windows_acked,
            frame_lifetime_p99_ms=p99,
            exit_code=code,
        )
        parts.outbox.close()
        node.notifier.close()
    return code
