"""The writer thread: validate, store in batches, then acknowledge.

Messages queue up from the MQTT thread; the writer takes up to
``[database] batch_max`` at a time, turns each into a record (or a counted,
logged rejection), stores the batch in one transaction and only then
acknowledges every message of the batch, in the order received. If the database
is unreachable the batch is kept and retried with backoff: nothing is acked, so
nothing is lost even if the collector dies meanwhile. Retention runs here too,
at start and every ``purge_interval_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from collector.config import CollectorSettings
from collector.db import Connection, Database, describe
from collector.errors import Rejected, StoreDataError, StoreError, StoreUnavailable
from collector.metrics import LEAVES, Metrics
from collector.records import Record, Window, parse
from collector.store import WriteResult, purge, write_batch
from collector.subscription import Inbound

log = logging.getLogger("kazoe.collector.writer")

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.2, 10.0
_REJECT_LOG_BURST = 20  # reject lines per minute before we only count them


class _RejectLog:
    """Logs every rejection, until a flood: then one summary line a minute."""

    def __init__(self) -> None:
        self._window_start = 0.0
        self._logged = 0
        self._hidden = 0

    def warn(self, exc: Rejected) -> None:
        now = time.monotonic()
        if now - self._window_start >= 60:
            if self._hidden:
                log.warning("%d more messages rejected in the last minute", self._hidden)
            self._window_start, self._logged, self._hidden = now, 0, 0
        if self._logged < _REJECT_LOG_BURST:
            self._logged += 1
            # backslashreplace: a detail can quote a lone surrogate, which stderr cannot encode.
            text = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
            log.warning("dropped a message (%s): %s", exc.reason, text)
        else:
            self._hidden += 1


class Writer:
    def __init__(
        self,
        db: Database,
        settings: CollectorSettings,
        metrics: Metrics,
        *,
        ack: Callable[[Inbound], None],
        on_stored: Callable[[WriteResult], None] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._metrics = metrics
        self._ack = ack
        self._on_stored = on_stored
        self._queue: queue.Queue[tuple[Inbound, Record | Rejected]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._rejects = _RejectLog()
        self._next_purge = 0.0
        self._outage = False

    def submit(self, item: Inbound) -> None:
        """Called from the MQTT thread for every message: validate it here, store it later.

        Validating in the MQTT thread overlaps the JSON Schema work with the
        writer's database round trips; the queue keeps the order for the acks.
        """
        leaf = item.topic.rsplit("/", 1)[-1]
        if leaf in LEAVES:
            self._metrics.messages.labels(leaf).inc()
        self._queue.put((item, self._checked(item)))
        self._metrics.queue_depth.inc()

    def _checked(self, item: Inbound) -> Record | Rejected:
        cutoff_s = time.time() - self._settings.database.retention_days * 86400
        try:
            return self._parse(item, cutoff_s)
        except Rejected as exc:
            return exc
        except Exception as exc:  # a bug in validation must not kill the MQTT thread
            log.exception("could not check a message on %s", item.topic[:120])
            return Rejected("malformed", f"{item.topic[:120]}: {type(exc).__name__}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand, then stop; what is still queued stays unacked."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the thread -----------------------------------------------------------------------

    def _take(self) -> list[tuple[Inbound, Record | Rejected]]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        items = [first]
        while len(items) < self._settings.database.batch_max:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _run(self) -> None:
        backoff = _BACKOFF_MIN_S
        batch: list[tuple[Inbound, Record | Rejected]] = []
        while not self._stop.is_set():
            try:
                self._maybe_purge()
                if not batch:
                    batch = self._take()
                if batch:
                    self._store(batch)
                    self._metrics.queue_depth.dec(len(batch))
                    batch = []
                backoff = _BACKOFF_MIN_S
            except StoreError as exc:
                # Unreachable, or refusing for a reason other than the data (a bug, a
                # broken schema): keep the batch unacknowledged and try again.
                self._metrics.store_errors.inc()
                if not self._outage:
                    log.error(  # noqa: TRY400 - one line for an expected outage, no traceback
                        "%s; keeping %d messages unacknowledged and retrying", exc, len(batch)
                    )
                self._outage = True
                self._drop_connection()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            except Exception:
                # Never let the writer die: a bug here would silently stop storage.
                log.exception("unexpected error in the writer; retrying the batch")
                self._drop_connection()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._db.connect()
            if self._outage:
                log.info("database %s reachable again", describe(self._db.url))
                self._outage = False
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + self._settings.database.purge_interval_s
        try:
            removed = purge(self._connection(), self._settings.database.retention_days)
        except StoreUnavailable:
            self._next_purge = now  # try again with the next batch
            raise
        except StoreError as exc:
            log.error(  # noqa: TRY400 - the message says it all
                "retention purge failed: %s; retrying in %ds",
                exc,
                self._settings.database.purge_interval_s,
            )
            return
        self._metrics.purged.inc(removed)
        if removed:
            log.info(
                "retention: deleted %d windows older than %d days",
                removed,
                self._settings.database.retention_days,
            )

    def _site_for(self, node_id: str) -> str | None:
        return self._settings.sites.get(node_id)

    def process(self, items: Sequence[Inbound]) -> WriteResult:
        """Check, store and acknowledge one batch (raises StoreUnavailable to retry it)."""
        return self._store([(item, self._checked(item)) for item in items])

    def _store(self, batch: Sequence[tuple[Inbound, Record | Rejected]]) -> WriteResult:
        records = [checked for _, checked in batch if not isinstance(checked, Rejected)]
        unstorable: list[Rejected] = []
        result = self._bisect(self._connection(), records, unstorable)
        committed = time.time()
        for item, checked in batch:
            if isinstance(checked, Rejected):
                self._reject(checked)  # counted once, after the batch is settled
            self._ack(item)
        for exc in unstorable:
            self._reject(exc)
        self._account(result, committed)
        return result

    def _bisect(
        self, conn: Connection, records: Sequence[Record], unstorable: list[Rejected]
    ) -> WriteResult:
        """Store ``records``; a value the database refuses drops only the message holding it.

        A batch that fails on its data (StoreDataError) is split in halves until the
        message at fault stands alone: log2(batch) extra transactions per bad
        message, and every good one around it is still stored. Any other error
        (the database unreachable, a full disk, a broken schema) propagates, and the
        whole batch stays unacknowledged to be retried.
        """
        try:
            return write_batch(conn, records, self._site_for)
        except StoreDataError as exc:
            if len(records) == 1:
                record = records[0]
                what = f"seq={record.seq}" if isinstance(record, Window) else "message"
                unstorable.append(Rejected("store", f"kazoe/v1/{record.node_id}: {what}: {exc}"))
                return WriteResult()
            log.debug("a batch of %d failed on a value; bisecting: %s", len(records), exc)
        half = len(records) // 2
        first = self._bisect(conn, records[:half], unstorable)
        second = self._bisect(conn, records[half:], unstorable)
        return WriteResult(
            stored=first.stored + second.stored,
            duplicates=first.duplicates + second.duplicates,
            stored_ms=max(first.stored_ms, second.stored_ms),
        )

    def _parse(self, item: Inbound, cutoff_s: float) -> Record:
        record = parse(
            item.topic,
            item.payload,
            received_ms=item.received_ms,
            max_bytes=self._settings.mqtt.max_payload_bytes,
        )
        if isinstance(record, Window) and record.window_end_s < cutoff_s:
            age_days = (time.time() - record.window_end_s) / 86400
            raise Rejected(
                "expired",
                f"kazoe/v1/{record.node_id}/counts: window seq={record.seq} ended "
                f"{age_days:.0f} days ago, beyond [database].retention_days",
            )
        return record

    def _reject(self, exc: Rejected) -> None:
        self._metrics.rejects.labels(exc.reason).inc()
        self._rejects.warn(exc)

    def _account(self, result: WriteResult, committed_s: float) -> None:
        self._metrics.duplicates.inc(result.duplicates)
        self._metrics.stored.inc(len(result.stored))
        for window in result.stored:
            self._metrics.store_latency.observe(max(0.0, committed_s - window.received_ms / 1000))
        if self._on_stored is not None:
            self._on_stored(result)
