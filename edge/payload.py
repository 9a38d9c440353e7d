"""Wire payloads (JSON) and their JSON Schemas.

The schemas in ``edge/schemas/`` are generated from these models
(``python -m edge.payload --write``) and a test keeps them in sync. Receivers
deduplicate counts on ``(node_id, seq)``: a window can arrive more than once
(QoS 1 redelivery after a reconnect) but never carries a different body.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.errors import PayloadError

if TYPE_CHECKING:
    import jsonschema

COUNTS_SCHEMA_ID: Literal["kazoe.counts/1"] = "kazoe.counts/1"
# /2 = /1 plus per-line crossing counts; a node without counting lines still sends /1.
COUNTS_SCHEMA_V2: Literal["kazoe.counts/2"] = "kazoe.counts/2"
# /3 = /2 (lines optional) plus 'intervals'; sent by a node that publishes intervals.
COUNTS_SCHEMA_V3: Literal["kazoe.counts/3"] = "kazoe.counts/3"
COUNTS_SCHEMAS = ("kazoe.counts/1", "kazoe.counts/2", "kazoe.counts/3")
LINE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
STATUS_SCHEMA_ID: Literal["kazoe.status/1"] = "kazoe.status/1"
NOTICE_SCHEMA_ID: Literal["kazoe.notice/1"] = "kazoe.notice/1"

# Every value a receiver stores must fit both databases the collector runs on
# (SQLite and PostgreSQL): integers within a signed 64-bit BIGINT, counts far inside
# a PostgreSQL INTEGER (a node-hour's sum of 2,000 such windows still fits), text
# without NUL (which PostgreSQL refuses) or lone surrogates (which no UTF-8 encoder
# writes). A node builds its payloads from these same models, so it cannot publish
# anything else; the collector's writer isolates whatever a database still refuses.
INT64_MAX = 2**63 - 1
MAX_COUNT = 1_000_000  # people in one window: far beyond any camera's view, far below 2**31
MAX_FLOAT = 1e15
# JSON Schema side (ECMA-262 / Python ``re``): no NUL, no lone surrogates. pydantic's
# Rust regex cannot name surrogates, so the model checks the same rule in Python.
TEXT_PATTERN = r"^[^\u0000\ud800-\udfff]*$"
# Labels and ids (age bands, cell names, model ids): printable, no control characters.
LABEL_PATTERN = r"^[^\u0000-\u001f\u007f\ud800-\udfff]*$"


def storable_text(value: str) -> str:
    """The value, if both databases can store it as text (no NUL, no lone surrogate)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL")
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("text must not contain lone surrogates (not valid Unicode)")
    return value


def label_text(value: str) -> str:
    """The value, if it is storable text without control characters."""
    storable_text(value)
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise ValueError("label must not contain control characters")
    return value


Text = Annotated[
    str,
    AfterValidator(storable_text),
    Field(max_length=4000, json_schema_extra={"pattern": TEXT_PATTERN}),
]
Label = Annotated[
    str,
    AfterValidator(label_text),
    Field(min_length=1, max_length=128, json_schema_extra={"pattern": LABEL_PATTERN}),
]
NodeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
# strict: a JSON 5.0 is an "integer" to JSON Schema but must not reach an INTEGER column.
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Int64 = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)]
Real = Annotated[float, Field(ge=0, le=MAX_FLOAT, allow_inf_nan=False)]
# A withheld (suppressed) cell is published as null and named in ``suppressed``.
Cell = Count | None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelIds(_Wire):
    """Which model files produced the counts (file name and sha256 prefix)."""

    detector: Label = Field(description="face detector id, e.g. face_detection_full_range@99bf9494")
    age: Label | None = Field(None, description="age model id; null when demographics is off")
    gender: Label | None = Field(None, description="gender model id; null when demographics is off")


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class Interval(_Wire):
    """A range of percentages, low <= high. An object, not a list: nothing a node publishes
    is a list of numbers (per-person data, such as an embedding, would be one)."""

    low: Percent = Field(description="lower bound, percent")
    high: Percent = Field(description="upper bound, percent")

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.low > self.high:
            raise ValueError("an interval must have low <= high")
        return self


class ShareIntervals(_Wire):
    """How sure the window's shares are: intervals from the models' measured errors."""

    level: float = Field(ge=0.5, le=0.99, description="coverage level, e.g. 0.9 for 90 %")
    calibration: Label = Field(description="the calibration the errors come from (name@sha256)")
    female_share: Interval | None = Field(
        None,
        description="interval (percent) for the true female share among the window's people "
        "(female + male + unknown); null when a gender cell is withheld or nobody was counted",
    )
    age_bands: dict[Label, Interval] = Field(
        default_factory=dict,
        max_length=256,
        description="per published age band: interval (percent) for the true share of that "
        "band among the people with a known band; a band whose cell, or whose total, is "
        "withheld has none",
    )


class CountsPayload(_Wire):
    """One closed window of aggregate counts. Never a per-person record."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "$id": "https://kazoe.example/schemas/counts-1.json",
            "description": (
                "Aggregate counts of one closed window published on "
                "kazoe/v1/<node_id>/counts (QoS 1). Receivers must deduplicate on "
                "(node_id, seq): a window may be delivered more than once. A null "
                "cell was withheld by small-count suppression and is listed in "
                "'suppressed'. Schema kazoe.counts/2 adds 'lines' (crossings per counting "
                "line and direction) and is sent only by nodes with [[counting.lines]]; "
                "kazoe.counts/1 messages have no 'lines'. Schema kazoe.counts/3 adds "
                "'intervals' (how sure the female share and the age-band shares are) to "
                "either, and is sent only by nodes that publish intervals."
            ),
        },
    )

    schema_: Literal["kazoe.counts/1", "kazoe.counts/2", "kazoe.counts/3"] = Field(
        COUNTS_SCHEMA_ID, alias="schema"
    )
    node_id: NodeId
    boot_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="random id of this run of the node")
    seq: int = Field(
        strict=True, ge=1, le=INT64_MAX, description="64-bit sequence, monotonic across restarts"
    )
    window_start: datetime = Field(description="RFC 3339 UTC, inclusive")
    window_end: datetime = Field(description="RFC 3339 UTC, exclusive")
    people: Cell = Field(description="people whose track ended in this window")
    gender: dict[Literal["female", "male", "unknown"], Cell] | None = Field(
        None, description="people by estimated gender; absent without the demographics purpose"
    )
    age_bands: dict[Label, Cell] | None = Field(
        None, description="people by estimated age band (labels like '20-29', '70+')"
    )
    joint: dict[Literal["female", "male", "unknown"], dict[Label, Cell]] | None = Field(
        None, description="gender x age band table"
    )
    lines: (
        dict[Annotated[str, Field(pattern=LINE_NAME)], dict[Literal["in", "out"], Cell]] | None
    ) = Field(
        None,
        max_length=16,
        description="kazoe.counts/2 and /3 only: crossings per counting line and direction "
        "('in' = into the side the config calls in), counted in the window in which the "
        "person's track ended",
    )
    suppressed: list[Label] = Field(
        default_factory=list,
        max_length=1000,
        description="cells withheld as null, e.g. 'people', 'gender.male', "
        "'joint.female.20-29', 'lines.door.in'",
    )
    k: int = Field(
        strict=True, ge=1, le=MAX_COUNT, description="cells with 0 < count < k are withheld"
    )
    policy_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    model: ModelIds
    intervals: ShareIntervals | None = Field(
        None,
        description="kazoe.counts/3 only: intervals for the female share and the age-band "
        "shares; the counts themselves stay the point estimates",
    )

    @model_validator(mode="after")
    def _fields_match_schema(self) -> CountsPayload:
        if self.schema_ == COUNTS_SCHEMA_V3:
            if self.intervals is None:
                raise ValueError("schema kazoe.counts/3 carries 'intervals'")
            return self
        if self.intervals is not None:
            raise ValueError("'intervals' comes with schema kazoe.counts/3 and only with it")
        if (self.lines is not None) != (self.schema_ == COUNTS_SCHEMA_V2):
            raise ValueError("'lines' comes with schema kazoe.counts/2 and only with it")
        return self

    def to_json(self) -> bytes:
        """Compact JSON; withheld cells stay as explicit nulls, absent tables are left out."""
        absent = {
            name
            for name in ("gender", "age_bands", "joint", "lines", "intervals")
            if getattr(self, name) is None
        }
        return self.model_dump_json(by_alias=True, exclude=absent).encode()


class StatusPayload(_Wire):
    """Retained node status: birth ``online``, Will/clean-stop ``offline``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://kazoe.example/schemas/status-1.json"},
    )

    schema_: Literal["kazoe.status/1"] = Field(STATUS_SCHEMA_ID, alias="schema")
    node_id: NodeId
    state: Literal["online", "offline", "degraded"]
    reason: Text | None = Field(None, max_length=200, description="why degraded/offline")
    version: Label
    boot_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    model: ModelIds | None = None
    uptime_s: Real | None = None
    fps: Real | None = None
    outbox_depth: Int64 | None = None
    source: Literal["running", "stalled", "reconnecting", "ended"] | None = None
    audit_hash: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="hash of the latest local audit-log entry"
    )
    at: datetime

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class NoticePurpose(_Wire):
    id: Literal["footfall", "demographics"]
    dpv: Label = Field(description="W3C DPV purpose concept")
    description: Text


class NoticeModel(_Wire):
    id: Label
    licence: Label


class NoticeRetention(_Wire):
    days: int = Field(strict=True, ge=1, le=365)
    iso8601: Label = Field(description="dpv:StorageDuration as an ISO 8601 duration, e.g. P7D")


class NoticeLine(_Wire):
    name: Label
    description: Text | None = None


class NoticeIntervals(_Wire):
    level: float = Field(ge=0.5, le=0.99, description="coverage level of each interval")
    calibration: Label = Field(description="the calibration the error rates come from")
    measured_on: Text = Field(max_length=500, description="the labelled set it was measured on")
    description: Text


class NoticePayload(_Wire):
    """Retained on ``kazoe/v1/<node_id>/notice``: what this node counts, why, and for how long."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://kazoe.example/schemas/notice-1.json"},
    )

    schema_: Literal["kazoe.notice/1"] = Field(NOTICE_SCHEMA_ID, alias="schema")
    node_id: Label
    site: Label
    location: Text
    controller: Text
    contact: Text
    statement: Text
    purposes: list[NoticePurpose] = Field(max_length=16)
    data_published: list[Label] = Field(
        max_length=256, description="fields of kazoe/v1/<node_id>/counts"
    )
    data_not_collected: list[Text] = Field(max_length=256)
    retention: NoticeRetention
    k: int = Field(
        strict=True, ge=2, le=MAX_COUNT, description="cells with 0 < count < k are withheld"
    )
    window_seconds: int = Field(strict=True, ge=1, le=86400)
    age_bands: list[Label] = Field(max_length=256)
    models: list[NoticeModel] = Field(max_length=16)
    policy_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    notice_url: Text | None = None
    pia_reference: Text | None = None
    not_analysed: list[Text] | None = Field(
        None,
        max_length=32,
        description="regions masked out of every frame before analysis ([[privacy.masks]] "
        "names); absent when there are none",
    )
    counting_lines: list[NoticeLine] | None = Field(
        None,
        max_length=16,
        description="lines whose crossings are counted per direction ([[counting.lines]]); "
        "absent when there are none",
    )
    counting_zones: list[Label] | None = Field(
        None,
        max_length=16,
        description="with [[counting.zones]], only people whose path enters one of these "
        "zones are counted; absent when there are none",
    )
    intervals: NoticeIntervals | None = Field(
        None,
        description="how sure the published shares are (counts kazoe.counts/3); absent when "
        "the node publishes no intervals",
    )
    at: datetime

    def to_json(self) -> bytes:
        # Absent rather than null, so a node without masks or lines sends the notice as before.
        optional = ("not_analysed", "counting_lines", "counting_zones", "intervals")
        absent = {n for n in optional if getattr(self, n) is None}
        return self.model_dump_json(by_alias=True, exclude=absent).encode()


SCHEMAS: dict[str, type[_Wire]] = {
    "counts.schema.json": CountsPayload,
    "status.schema.json": StatusPayload,
    "notice.schema.json": NoticePayload,
}


def _keys_by_name(node: Any) -> Any:
    """pydantic writes a constrained dict key as ``patternProperties``, which lets a key that
    does not match through with any value; the rule belongs in ``propertyNames``."""
    if isinstance(node, list):
        return [_keys_by_name(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _keys_by_name(value) for key, value in node.items()}
    patterns = out.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in out:
        ((pattern, values),) = patterns.items()
        del out["patternProperties"]
        out["additionalProperties"] = values
        out["propertyNames"] = {**out.get("propertyNames", {}), "pattern": pattern}
    return out


def generated_schema(model: type[_Wire]) -> dict[str, Any]:
    schema: dict[str, Any] = _keys_by_name(
        model.model_json_schema(by_alias=True, mode="serialization")
    )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("edge").joinpath("schemas", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    # Built once per schema: consumers validate every message they receive. Imported here,
    # not at the top: jsonschema is 60 ms of every node's start, and a node first
    # validates when a window closes (nothing on a frame's path waits for it).
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(name))


def _no_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity; JSON (and every other receiver) does not.
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def validate(name: str, data: bytes | str) -> dict[str, Any]:
    """Parse and validate a wire message against a committed schema, or raise PayloadError."""
    try:
        doc = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("not JSON we accept: nested too deeply") from None
    validator = _validator(name)
    from jsonschema.exceptions import best_match  # loaded by _validator

    error = best_match(validator.iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise PayloadError(f"{name}: {where}: {error.message[:200]}")
    if not isinstance(doc, dict):
        raise PayloadError(f"{name}: expected an object")
    # The schemas say "format: date-time"; jsonschema does not check formats by itself,
    # so the pydantic model (which the schema was generated from) parses the whole message.
    try:
        SCHEMAS[name].model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "/".join(str(p) for p in first["loc"]) or "(root)"
        raise PayloadError(f"{name}: {where}: {first['msg'][:200]}") from None
    return doc


def write_schemas(directory: Path) -> None:
    for name, model in SCHEMAS.items():
        text = json.dumps(generated_schema(model), indent=2, sort_keys=True) + "\n"
        (directory / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - developer tool
    if sys.argv[1:] == ["--write"]:
        write_schemas(Path(__file__).parent / "schemas")
    else:
        sys.exit("usage: python -m edge.payload --write")
