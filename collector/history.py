"""History over a chosen time range, and its export: roll-ups per bucket, suppression re-applied.

A range is a whole number of buckets (hours or UTC days; the 7-day view uses
six-hour buckets) because hours are what the collector stores. The dashboard's
ranges are ``24h``, ``7d``, ``30d`` and ``day`` (one UTC day); an export takes
the same names or an explicit ``from``/``until``. Every figure is a roll-up of
the stored hourly sums through ``collector.rollup.roll_up``, so a bucket is
suppressed exactly like the dashboard's other roll-ups. Parsing is a pure
function of the query and a clock; a bad range raises ``RangeError`` with one
line that says what to send instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from collector.db import Connection
from collector.errors import CollectorError
from collector.queries import bucket_sums
from collector.rollup import GENDERS, CellSum, Rollup, band_key, roll_up
from collector.snapshot import iso

HOUR = 3600
DAY = 86400
BUCKETS = {"hour": HOUR, "6h": 6 * HOUR, "day": DAY}
BUCKET_NAMES = {v: k for k, v in BUCKETS.items()}
# name -> (bucket, how many buckets up to and including the current one)
RELATIVE = {"24h": ("hour", 24), "7d": ("6h", 28), "30d": ("day", 30)}
RANGE_NAMES = (*RELATIVE, "day")
LABELS = {"24h": "last 24 h", "7d": "last 7 days", "30d": "last 30 days"}
MAX_SPAN_S = {HOUR: 31 * DAY, 6 * HOUR: 92 * DAY, DAY: 400 * DAY}
MAX_EXPORT_ROWS = 50_000
Group = Literal["site", "node"]


class RangeError(CollectorError):
    """A history or export request named a range that is malformed or too large."""


@dataclass(frozen=True)
class TimeRange:
    """``[start_s, end_s)`` in whole buckets of ``bucket_s`` seconds (UTC)."""

    start_s: int
    end_s: int
    bucket_s: int
    label: str

    @property
    def buckets(self) -> range:
        return range(self.start_s, self.end_s, self.bucket_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": iso(self.start_s),
            "until": iso(self.end_s),
            "bucket": BUCKET_NAMES[self.bucket_s],
            "bucket_s": self.bucket_s,
            "label": self.label,
        }


def _checked(start_s: int, end_s: int, bucket_s: int, label: str) -> TimeRange:
    if end_s <= start_s:
        raise RangeError(
            f"the range is empty: 'until' ({iso(end_s)}) must be after 'from' ({iso(start_s)})"
        )
    limit = MAX_SPAN_S[bucket_s]
    if end_s - start_s > limit:
        days = (end_s - start_s + DAY - 1) // DAY
        raise RangeError(
            f"the range is too large: {days} days in {BUCKET_NAMES[bucket_s]} buckets"
            f" (at most {limit // DAY} days); shorten it or use bucket=day"
        )
    return TimeRange(start_s, end_s, bucket_s, label)


def _day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RangeError(f"{name} must be a date such as 2026-03-01, not {raw!r}") from None


def _instant(raw: str, name: str) -> int:
    """An RFC 3339 time or a plain date (its UTC midnight), as epoch seconds."""
    if len(raw) == 10:
        d = _day(raw, name)
        return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise RangeError(
            f"{name} must be an RFC 3339 time such as 2026-03-01T09:00:00Z or a date such as"
            f" 2026-03-01, not {raw!r}"
        ) from None
    if when.tzinfo is None:
        raise RangeError(f"{name} needs a time zone (Z or +09:00): {raw!r}")
    return int(when.timestamp())


def _floor(seconds: int, bucket_s: int) -> int:
    return seconds // bucket_s * bucket_s


def parse_range(query: Mapping[str, str], now_s: float, *, explicit: bool = False) -> TimeRange:
    """The range a request asks for: ``range=24h|7d|30d``, ``range=day&day=YYYY-MM-DD``,
    or (when ``explicit``, for exports) ``from=&until=[&bucket=hour|day]``.

    Explicit bounds are widened to whole buckets: the collector stores hours.
    """
    name = query.get("range")
    has_bounds = "from" in query or "until" in query
    if name is not None and has_bounds:
        raise RangeError("give either range=... or from=/until=, not both")
    if explicit and has_bounds:
        if "from" not in query or "until" not in query:
            raise RangeError("an export range needs both 'from' and 'until'")
        bucket_s = _bucket(query, "hour")
        start = _floor(_instant(query["from"], "from"), bucket_s)
        end = -(-_instant(query["until"], "until") // bucket_s) * bucket_s
        return _checked(start, end, bucket_s, f"{iso(start)} to {iso(end)}")
    name = name or "24h"
    if name in RELATIVE:
        default, count = RELATIVE[name]
        bucket_s = _bucket(query, default)
        end = _floor(int(now_s), bucket_s) + bucket_s
        span = count * BUCKETS[default]
        start = end - -(-span // bucket_s) * bucket_s
        return _checked(start, end, bucket_s, LABELS[name])
    if name == "day":
        raw = query.get("day")
        if raw is None:
            raise RangeError("range=day needs day=YYYY-MM-DD (a UTC day)")
        d = _day(raw, "day")
        start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())
        return _checked(start, start + DAY, _bucket(query, "hour"), f"{d.isoformat()} (UTC)")
    raise RangeError(f"range must be one of {', '.join(RANGE_NAMES)}, not {name!r}")


def _bucket(query: Mapping[str, str], default: str) -> int:
    name = query.get("bucket", default)
    if name not in BUCKETS:
        raise RangeError(f"bucket must be one of {', '.join(BUCKETS)}, not {name!r}")
    return BUCKETS[name]


@dataclass(frozen=True)
class ExportRequest:
    span: TimeRange
    by: Group
    format: Literal["csv", "json"]
    site: str | None
    node_id: str | None


def parse_export(query: Mapping[str, str], now_s: float) -> ExportRequest:
    """An export request: a range (``parse_range``), ``by=site|node``, ``format=csv|json``."""
    span = parse_range(query, now_s, explicit=True)
    by, fmt = query.get("by", "site"), query.get("format", "json")
    if by not in ("site", "node"):
        raise RangeError(f"by must be 'site' or 'node', not {by!r}")
    if fmt not in ("csv", "json"):
        raise RangeError(f"format must be 'csv' or 'json', not {fmt!r}")
    return ExportRequest(
        span,
        "site" if by == "site" else "node",
        "csv" if fmt == "csv" else "json",
        query.get("site"),
        query.get("node"),
    )


@dataclass(frozen=True)
class Series:
    """One site's or node's roll-ups over a range: the whole range and each bucket."""

    key: str
    site: str
    total: Rollup
    buckets: list[tuple[int, Rollup]]


def _add(into: dict[str, CellSum], more: Mapping[str, CellSum]) -> None:
    for cell, s in more.items():
        had = into.get(cell)
        into[cell] = (
            s if had is None else CellSum(had.n + s.n, had.nulls + s.nulls, had.total + s.total)
        )


def series(
    conn: Connection,
    span: TimeRange,
    *,
    group: Group,
    k: int,
    site: str | None = None,
    node_id: str | None = None,
    with_buckets: bool = True,
) -> list[Series]:
    """Roll-ups per site (or node) over ``span``, optionally filtered to one site or node."""
    sums, sites = _sums(conn, span, group, site, node_id)
    return _rolled(sums, sites, span, k, with_buckets=with_buckets)


Sums = dict[tuple[str, int], dict[str, CellSum]]


def _sums(
    conn: Connection, span: TimeRange, group: Group, site: str | None, node_id: str | None
) -> tuple[Sums, dict[str, str]]:
    return bucket_sums(
        conn, span.start_s, span.end_s, span.bucket_s, group=group, site=site, node_id=node_id
    )


def _rolled(
    sums: Sums, sites: Mapping[str, str], span: TimeRange, k: int, *, with_buckets: bool
) -> list[Series]:
    keys = sorted({key for key, _ in sums} | set(sites))
    out = []
    for key in keys:
        total: dict[str, CellSum] = {}
        per_bucket = []
        for index, start in enumerate(span.buckets):
            cells = sums.get((key, index), {})
            _add(total, cells)
            if with_buckets:
                per_bucket.append((start, roll_up(cells, k)))
        out.append(Series(key, sites.get(key, key), roll_up(total, k), per_bucket))
    return out


def history_doc(
    conn: Connection, span: TimeRange, *, k: int, node_id: str | None = None
) -> dict[str, Any]:
    """The dashboard's range view: every site with its buckets, every node's total
    (and, for ``node_id``, that node's buckets)."""

    def buckets(s: Series) -> list[dict[str, Any]]:
        return [
            {"start": iso(start), "windows": r.windows, "people": r.people}
            for start, r in s.buckets
        ]

    sites = series(conn, span, group="site", k=k)
    nodes = series(conn, span, group="node", k=k, with_buckets=False)
    doc: dict[str, Any] = {
        "range": span.to_json(),
        "k": k,
        "sites": [
            {"site": s.key, "total": s.total.to_json(), "buckets": buckets(s)} for s in sites
        ],
        "nodes": [{"node_id": s.key, "site": s.site, "total": s.total.to_json()} for s in nodes],
    }
    if node_id is not None:
        found = series(conn, span, group="node", k=k, node_id=node_id)
        doc["node"] = (
            {"node_id": node_id, "site": found[0].site, "total": found[0].total.to_json(),
             "buckets": buckets(found[0])}
            if found
            else None
        )  # fmt: skip
    return doc


@dataclass(frozen=True)
class ExportRow:
    group: Group
    key: str
    site: str
    start_s: int
    end_s: int
    rollup: Rollup

    def to_json(self) -> dict[str, Any]:
        where = (
            {"site": self.site}
            if self.group == "site"
            else {"node_id": self.key, "site": self.site}
        )
        return {
            **where,
            "from": iso(self.start_s),
            "until": iso(self.end_s),
            **self.rollup.to_json(),
        }


def export_rows(
    conn: Connection,
    span: TimeRange,
    *,
    group: Group,
    k: int,
    site: str | None = None,
    node_id: str | None = None,
) -> list[ExportRow]:
    """One row per (site or node, bucket) that had windows, oldest first.

    The size is checked before anything is rolled up: a refused export costs one query.
    """
    sums, sites = _sums(conn, span, group, site, node_id)
    groups = len({key for key, _ in sums} | set(sites))
    if groups * len(span.buckets) > MAX_EXPORT_ROWS:
        raise RangeError(
            f"the export is too large: {groups} {group}s x {len(span.buckets)} buckets"
            f" (at most {MAX_EXPORT_ROWS} rows); use bucket=day, a shorter range,"
            " or filter with site= or node="
        )
    found = _rolled(sums, sites, span, k, with_buckets=True)
    rows = [
        ExportRow(group, s.key, s.site, start, start + span.bucket_s, r)
        for s in found
        for start, r in s.buckets
        if r.windows > 0
    ]
    return sorted(rows, key=lambda r: (r.start_s, r.key))


def _columns(rows: Iterable[ExportRow]) -> list[str]:
    genders: set[str] = set()
    bands: set[str] = set()
    joint: set[tuple[str, str]] = set()
    for row in rows:
        r = row.rollup
        genders |= set(r.gender or {})
        bands |= set(r.age_bands or {})
        joint |= {(g, b) for g, cells in (r.joint or {}).items() for b in cells}

    def gkey(g: str) -> tuple[int, str]:
        return (GENDERS.index(g) if g in GENDERS else len(GENDERS), g)

    ordered_g = sorted(genders, key=gkey)
    ordered_b = sorted(bands, key=band_key)
    return (
        ["people"]
        + [f"gender.{g}" for g in ordered_g]
        + [f"age_bands.{b}" for b in ordered_b]
        + [f"joint.{g}.{b}" for g in ordered_g for b in ordered_b if (g, b) in joint]
    )


def _cell(r: Rollup, name: str) -> str:
    if name == "people":
        value = r.people
    else:
        kind, _, rest = name.partition(".")
        if kind == "gender":
            value = (r.gender or {}).get(rest)
        elif kind == "age_bands":
            value = (r.age_bands or {}).get(rest)
        else:
            g, _, b = rest.partition(".")
            value = ((r.joint or {}).get(g) or {}).get(b)
    return "" if value is None else str(value)


def _text(value: str) -> str:
    # A site name from a notice reaches spreadsheets: never let it start a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(rows: list[ExportRow], group: Group) -> str:
    """CSV with one column per cell; a withheld cell is empty and named in ``withheld``."""
    cells = _columns(rows)
    head = ["site"] if group == "site" else ["node_id", "site"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*head, "from", "until", "windows", *cells, "withheld", "k"])
    for row in rows:
        where = [_text(row.site)] if group == "site" else [_text(row.key), _text(row.site)]
        r = row.rollup
        writer.writerow(
            [
                *where,
                iso(row.start_s),
                iso(row.end_s),
                r.windows,
                *(_cell(r, c) for c in cells),
                ";".join(r.withheld),
                r.k,
            ]
        )
    return out.getvalue()
