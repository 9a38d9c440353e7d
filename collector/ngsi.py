"""FIWARE NGSI-LD export: each stored window as a ``CrowdFlowObserved`` entity.

Served at ``GET /ngsi-ld/v1/entities?type=CrowdFlowObserved`` and pushed, when
``[ngsi_ld] push_url`` is set, to ``<push_url>/ngsi-ld/v1/entityOperations/upsert``.
The node's retained notice gives ``areaServed`` (its ``location`` text) and, if
it ever carries a GeoJSON geometry (``location``/``geo``), the ``location``
GeoProperty; today's notice (``kazoe.notice/1``) has text only.
NGSI-LD property values cannot be null, so a withheld cell is left out of its
breakdown and named in ``withheldCells``; a withheld total drops ``peopleCount``.

A window with counting lines (``kazoe.counts/2``) adds one more ``CrowdFlowObserved`` per
line (id ``...:<seq>:line:<name>``), as the data model describes a flow across one place:
``peopleCountTowards`` = crossings into the line's "in" side, ``peopleCountAway`` = out of
it, ``peopleCount`` their sum, and ``direction`` ``inbound`` or ``outbound`` for the
dominant one (left out on a tie or when a cell is withheld). ``refDevice`` names the node.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from collector.config import NgsiLdSection
from collector.metrics import Metrics
from collector.queries import StoredWindow

log = logging.getLogger("kazoe.collector.ngsi")

CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
ENTITY_TYPE = "CrowdFlowObserved"
UPSERT_PATH = "/ngsi-ld/v1/entityOperations/upsert"


def _prop(value: object) -> dict[str, object]:
    return {"type": "Property", "value": value}


def _datetime(value: str) -> dict[str, object]:
    return _prop({"@type": "DateTime", "@value": value})


def geo_of(notice: dict[str, Any] | None) -> dict[str, Any] | None:
    """A GeoJSON geometry from the notice (``location`` or ``geo``), if it carries one."""
    if not notice:
        return None
    for key in ("location", "geo"):
        candidate = notice.get(key)
        if isinstance(candidate, dict) and "type" in candidate and "coordinates" in candidate:
            return candidate
        if isinstance(candidate, dict) and {"lat", "lon"} <= candidate.keys():
            return {"type": "Point", "coordinates": [candidate["lon"], candidate["lat"]]}
    return None


def _location_text(notice: dict[str, Any] | None) -> str | None:
    """The notice's plain-language location ("North gate, ..."), if any."""
    if notice and isinstance(notice.get("location"), str):
        return str(notice["location"])
    return None


def _known(cells: dict[str, int | None] | None) -> dict[str, int]:
    return {k: v for k, v in (cells or {}).items() if v is not None}


def to_entity(stored: StoredWindow, *, with_context: bool = True) -> dict[str, Any]:
    """One window as an NGSI-LD entity (normalized form)."""
    body, notice = stored.body, stored.notice
    node_id, seq = body["node_id"], body["seq"]
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{ENTITY_TYPE}:kazoe:{node_id}:{seq}",
        "type": ENTITY_TYPE,
        "dateObservedFrom": _datetime(body["window_start"]),
        "dateObservedTo": _datetime(body["window_end"]),
        "dateObserved": _prop(f"{body['window_start']}/{body['window_end']}"),
        "name": _prop(node_id),
        "site": _prop(stored.site),
        "areaServed": _prop(_location_text(notice) or stored.site),
        "dataProvider": _prop(f"kazoe:{node_id}"),
        "sequenceNumber": _prop(seq),
        "suppressionThreshold": _prop(body["k"]),
        "withheldCells": _prop(list(body.get("suppressed", []))),
    }
    if body.get("people") is not None:
        entity["peopleCount"] = _prop(body["people"])
    if body.get("gender") is not None:
        entity["genderBreakdown"] = _prop(_known(body["gender"]))
    if body.get("age_bands") is not None:
        entity["ageBandBreakdown"] = _prop(_known(body["age_bands"]))
    geo = geo_of(notice)
    if geo is not None:
        entity["location"] = {"type": "GeoProperty", "value": geo}
    if with_context:
        entity["@context"] = CONTEXT
    return entity


def _line_entities(stored: StoredWindow, with_context: bool) -> list[dict[str, Any]]:
    body, notice = stored.body, stored.notice
    node_id, seq = body["node_id"], body["seq"]
    about = {
        line.get("name"): line.get("description")
        for line in (notice or {}).get("counting_lines") or []
        if isinstance(line, dict)
    }
    out = []
    for name, row in (body.get("lines") or {}).items():
        towards, away = row.get("in"), row.get("out")
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:{ENTITY_TYPE}:kazoe:{node_id}:{seq}:line:{name}",
            "type": ENTITY_TYPE,
            "dateObservedFrom": _datetime(body["window_start"]),
            "dateObservedTo": _datetime(body["window_end"]),
            "dateObserved": _prop(f"{body['window_start']}/{body['window_end']}"),
            "name": _prop(f"{node_id}/{name}"),
            "site": _prop(stored.site),
            "areaServed": _prop(_location_text(notice) or stored.site),
            "dataProvider": _prop(f"kazoe:{node_id}"),
            "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:kazoe:{node_id}"},
            "sequenceNumber": _prop(seq),
            "suppressionThreshold": _prop(body["k"]),
            "withheldCells": _prop(
                [c for c in body.get("suppressed", []) if c.startswith(f"lines.{name}.")]
            ),
        }
        if about.get(name):
            entity["description"] = _prop(about[name])
        if towards is not None:
            entity["peopleCountTowards"] = _prop(towards)
        if away is not None:
            entity["peopleCountAway"] = _prop(away)
        if towards is not None and away is not None:
            entity["peopleCount"] = _prop(towards + away)
            if towards != away:
                entity["direction"] = _prop("inbound" if towards > away else "outbound")
        geo = geo_of(notice)
        if geo is not None:
            entity["location"] = {"type": "GeoProperty", "value": geo}
        if with_context:
            entity["@context"] = CONTEXT
        out.append(entity)
    return out


def to_entities(stored: StoredWindow, *, with_context: bool = True) -> list[dict[str, Any]]:
    """The window's entity, then one per counting line (kazoe.counts/2 windows)."""
    return [to_entity(stored, with_context=with_context), *_line_entities(stored, with_context)]


class Pusher:
    """Pushes stored windows to a context broker from its own thread, in batches, with retries.

    The queue is bounded (``queue_max``); when the broker stays away that long
    the oldest windows are dropped, counted and logged (they remain in the
    database and in ``GET /ngsi-ld/v1/entities``).
    """

    def __init__(
        self,
        config: NgsiLdSection,
        metrics: Metrics,
        lookup: Callable[[Sequence[tuple[str, int]]], list[StoredWindow]],
    ) -> None:
        self._url = (config.push_url or "").rstrip("/") + UPSERT_PATH
        self._config = config
        self._metrics = metrics
        self._lookup = lookup
        self._pending: deque[tuple[str, int]] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    def offer(self, keys: Sequence[tuple[str, int]]) -> None:
        """Queue (node_id, seq) of windows just stored."""
        with self._cond:
            for key in keys:
                if len(self._pending) >= self._config.queue_max:
                    self._pending.popleft()
                    self._metrics.ngsi_dropped.inc()
                    log.warning("NGSI-LD push queue full; dropped the oldest window")
                self._pending.append(key)
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ngsi-push", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        backoff = 0.5
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or bool(self._pending))
                if self._stop:
                    return
                size = min(len(self._pending), self._config.batch_max)
                batch = [self._pending.popleft() for _ in range(size)]
            try:
                self._push(batch)
            except Exception as exc:  # noqa: BLE001 - any failure is retried, never fatal
                self._metrics.ngsi_failures.inc()
                log.warning(
                    "NGSI-LD push to %s failed: %s; retrying in %.1fs", self._url, exc, backoff
                )
                with self._cond:
                    room = self._config.queue_max - len(self._pending)
                    self._pending.extendleft(reversed(batch[:room]))
                    lost = len(batch) - max(room, 0)
                    if lost > 0:
                        self._metrics.ngsi_dropped.inc(lost)
                    self._cond.wait_for(lambda: self._stop, backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            self._metrics.ngsi_pushed.inc(len(batch))

    def _push(self, keys: Sequence[tuple[str, int]]) -> None:
        entities = [e for w in self._lookup(keys) for e in to_entities(w)]
        if not entities:
            return
        headers = {"Content-Type": "application/ld+json"}
        if self._config.tenant:
            headers["NGSILD-Tenant"] = self._config.tenant
        request = urllib.request.Request(  # noqa: S310 - push_url is validated as http(s)
            self._url, data=json.dumps(entities).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._config.timeout_s) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(str(getattr(exc, "reason", exc))) from None
        if status not in (200, 201, 204, 207):
            raise RuntimeError(f"unexpected HTTP {status}")
