"""Wire payloads (JSON) and their JSON Schemas.

The schemas in ``edge/schemas/`` are generated from these models
(``python -m edge.payload --write``) and a test keeps them in sync. Receivers
deduplicate counts on ``(node_id, seq)``: a window can arrive more than once
(QoS 1 redelivery after a reconnect) but never carries a different body.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.errors import PayloadError

COUNTS_SCHEMA_ID: Literal["kazoe.counts/1"] = "kazoe.counts/1"
# /2 = /1 plus per-line crossing counts; a node without counting lines still sends /1.
COUNTS_SCHEMA_V2: Literal["kazoe.counts/2"] = "kazoe.counts/2"
LINE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
STATUS_SCHEMA_ID: Literal["kazoe.status/1"] = "kazoe.status/1"
NOTICE_SCHEMA_ID: Literal["kazoe.notice/1"] = "kazoe.notice/1"

NodeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Count = Annotated[int, Field(ge=0)]
# A withheld (suppressed) cell is published as null and named in ``suppressed``.
Cell = Count | None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelIds(_Wire):
    """Which model files produced the counts (file name and sha256 prefix)."""

    detector: str = Field(description="face detector id, e.g. face_detection_full_range@99bf9494")
    age: str | None = Field(None, description="age model id; null when demographics is off")
    gender: str | None = Field(None, description="gender model id; null when demographics is off")


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
                "kazoe.counts/1 messages have no 'lines'."
            ),
        },
    )

    schema_: Literal["kazoe.counts/1", "kazoe.counts/2"] = Field(COUNTS_SCHEMA_ID, alias="schema")
    node_id: NodeId
    boot_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="random id of this run of the node")
    seq: int = Field(ge=1, le=2**63 - 1, description="64-bit sequence, monotonic across restarts")
    window_start: datetime = Field(description="RFC 3339 UTC, inclusive")
    window_end: datetime = Field(description="RFC 3339 UTC, exclusive")
    people: Cell = Field(description="people whose track ended in this window")
    gender: dict[Literal["female", "male", "unknown"], Cell] | None = Field(
        None, description="people by estimated gender; absent without the demographics purpose"
    )
    age_bands: dict[str, Cell] | None = Field(
        None, description="people by estimated age band (labels like '20-29', '70+')"
    )
    joint: dict[Literal["female", "male", "unknown"], dict[str, Cell]] | None = Field(
        None, description="gender x age band table"
    )
    lines: (
        dict[Annotated[str, Field(pattern=LINE_NAME)], dict[Literal["in", "out"], Cell]] | None
    ) = Field(
        None,
        description="kazoe.counts/2 only: crossings per counting line and direction "
        "('in' = into the side the config calls in), counted in the window in which the "
        "person's track ended",
    )
    suppressed: list[str] = Field(
        default_factory=list,
        description="cells withheld as null, e.g. 'people', 'gender.male', "
        "'joint.female.20-29', 'lines.door.in'",
    )
    k: int = Field(ge=1, description="cells with 0 < count < k are withheld")
    policy_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    model: ModelIds

    @model_validator(mode="after")
    def _lines_need_v2(self) -> CountsPayload:
        if (self.lines is not None) != (self.schema_ == COUNTS_SCHEMA_V2):
            raise ValueError("'lines' comes with schema kazoe.counts/2 and only with it")
        return self

    def to_json(self) -> bytes:
        """Compact JSON; withheld cells stay as explicit nulls, absent tables are left out."""
        absent = {
            name
            for name in ("gender", "age_bands", "joint", "lines")
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
    reason: str | None = Field(None, max_length=200, description="why degraded/offline")
    version: str
    boot_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    model: ModelIds | None = None
    uptime_s: float | None = Field(None, ge=0)
    fps: float | None = Field(None, ge=0)
    outbox_depth: int | None = Field(None, ge=0)
    source: Literal["running", "stalled", "reconnecting", "ended"] | None = None
    audit_hash: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="hash of the latest local audit-log entry"
    )
    at: datetime

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class NoticePurpose(_Wire):
    id: Literal["footfall", "demographics"]
    dpv: str = Field(description="W3C DPV purpose concept")
    description: str


class NoticeModel(_Wire):
    id: str
    licence: str


class NoticeRetention(_Wire):
    days: int = Field(ge=1, le=365)
    iso8601: str = Field(description="dpv:StorageDuration as an ISO 8601 duration, e.g. P7D")


class NoticeLine(_Wire):
    name: str
    description: str | None = None


class NoticePayload(_Wire):
    """Retained on ``kazoe/v1/<node_id>/notice``: what this node counts, why, and for how long."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$id": "https://kazoe.example/schemas/notice-1.json"},
    )

    schema_: Literal["kazoe.notice/1"] = Field(NOTICE_SCHEMA_ID, alias="schema")
    node_id: str
    site: str
    location: str
    controller: str
    contact: str
    statement: str
    purposes: list[NoticePurpose]
    data_published: list[str] = Field(description="fields of kazoe/v1/<node_id>/counts")
    data_not_collected: list[str]
    retention: NoticeRetention
    k: int = Field(ge=2, description="cells with 0 < count < k are withheld")
    window_seconds: int
    age_bands: list[str]
    models: list[NoticeModel]
    policy_hash: str
    notice_url: str | None = None
    pia_reference: str | None = None
    not_analysed: list[str] | None = Field(
        None,
        description="regions masked out of every frame before analysis ([[privacy.masks]] "
        "names); absent when there are none",
    )
    counting_lines: list[NoticeLine] | None = Field(
        None,
        description="lines whose crossings are counted per direction ([[counting.lines]]); "
        "absent when there are none",
    )
    counting_zones: list[str] | None = Field(
        None,
        description="with [[counting.zones]], only people whose path enters one of these "
        "zones are counted; absent when there are none",
    )
    at: datetime

    def to_json(self) -> bytes:
        # Absent rather than null, so a node without masks or lines sends the notice as before.
        optional = ("not_analysed", "counting_lines", "counting_zones")
        absent = {n for n in optional if getattr(self, n) is None}
        return self.model_dump_json(by_alias=True, exclude=absent).encode()


SCHEMAS: dict[str, type[_Wire]] = {
    "counts.schema.json": CountsPayload,
    "status.schema.json": StatusPayload,
    "notice.schema.json": NoticePayload,
}


def generated_schema(model: type[_Wire]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("edge").joinpath("schemas", name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    # Built once per schema: consumers validate every message they receive.
    return jsonschema.Draft202012Validator(load_schema(name))


def validate(name: str, data: bytes | str) -> dict[str, Any]:
    """Parse and validate a wire message against a committed schema, or raise PayloadError."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("not JSON we accept: nested too deeply") from None
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(doc))
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
