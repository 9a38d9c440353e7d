"""Hypothesis strategies for the fuzz tests: TOML config documents and MQTT payloads."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from edge.config import NodeSettings
from edge.testing import sample_counts, sample_status

# -- a small TOML writer (the project has no TOML-writing dependency) ---------------------

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_string(text: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML, except that DEL must be escaped)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else toml_string(key)


def _toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = _toml_float(value)
    elif isinstance(value, str):
        text = toml_string(value)
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "[" + ", ".join(toml_value(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    else:
        raise TypeError(f"no TOML form for {type(value).__name__}")
    return text


def to_toml(doc: dict[str, Any]) -> str:
    """Top-level tables as [sections], everything else inline."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for section, body in doc.items():
        if isinstance(body, dict):
            lines.append(f"\n[{toml_key(section)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


# -- config documents ---------------------------------------------------------------------

REQUIRED: dict[str, dict[str, Any]] = {
    "node": {"id": "node-a"},
    "source": {"uri": "street.mp4"},
    "policy": {"purposes": ["footfall"]},
}


def _fields(model: type[BaseModel]) -> dict[str, list[str]]:
    """Section name -> its field names, from the config models themselves."""
    sections: dict[str, list[str]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = list(annotation.model_fields)
    return sections


SECTIONS = _fields(NodeSettings)

safe_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
_printable_names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
)
# Now and then a name with control characters (line breaks, tabs) too.
name_text = st.one_of(
    _printable_names,
    _printable_names,
    _printable_names,
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12),
)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-3, max_value=2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2, max_value=400),
    safe_text,
    st.sampled_from(["footfall", "demographics", "full_range", "short_range", "node-b", "0"]),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(name_text, inner, max_size=3)
    ),
    max_leaves=8,
)


# A complete valid config (every default spelled out), in JSON types: the source
# of values that pass validation, so the fuzzer also explores accepted files.
FULL = NodeSettings.model_validate(REQUIRED).model_dump(mode="json")


def near(value: Any) -> st.SearchStrategy[Any]:
    """``value`` itself or a neighbour of it: valid, or invalid by a boundary."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return st.just(value)
    if isinstance(value, int):
        return st.one_of(st.just(value), st.integers(min_value=value - 3, max_value=value * 2 + 3))
    return st.one_of(st.just(value), st.floats(min_value=-1.0, max_value=value * 2 + 1.0))


def field_value(section: str, key: str) -> st.SearchStrategy[Any]:
    """A value for ``[section] key``: its default (or a neighbour), else anything."""
    known = FULL.get(section, {}).get(key)
    if known is None:  # TOML has no null
        return values
    return st.one_of(near(known), near(known), values)


@st.composite
def config_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A config as a dict: the required minimum with a few keys set, removed or invented."""
    doc: dict[str, Any] = {section: dict(body) for section, body in REQUIRED.items()}
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        action = draw(st.sampled_from(["set", "set", "set", "drop", "invent", "scalar"]))
        section = draw(st.sampled_from(sorted(SECTIONS)))
        if action in ("set", "invent") and not isinstance(doc.get(section), dict):
            doc[section] = {}
        if action == "set":
            key = draw(st.sampled_from(SECTIONS[section]))
            doc.setdefault(section, {})[key] = draw(field_value(section, key))
        elif action == "drop":
            body = doc.get(section)
            if isinstance(body, dict) and body:
                body.pop(draw(st.sampled_from(sorted(body))))
            else:
                doc.pop(section, None)
        elif action == "invent":
            doc.setdefault(section, {})[draw(name_text)] = draw(values)
        else:  # a section that is not a table, or an unknown top-level key
            doc[draw(st.sampled_from([section, *draw(st.lists(name_text, max_size=1))]))] = draw(
                scalars
            )
    return doc


def deep_arrays(depth: int) -> str:
    """A config whose extra key holds arrays nested ``depth`` deep (TOML allows any depth)."""
    return to_toml(REQUIRED) + f"[models]\nextra = {'[' * depth}{']' * depth}\n"


def toml_garbage() -> st.SearchStrategy[str]:
    """Text that is mostly not TOML, built from TOML's own punctuation."""
    alphabet = st.sampled_from(list("[]{}=\"'.,#\n =-_:+0123456789abcnodeidtruefalse\\\t"))
    return st.text(alphabet, max_size=80)


# -- MQTT payloads ------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(safe_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def valid_documents(node_id: str = "node-a") -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A valid counts or status message body, as (topic leaf, JSON object)."""
    return st.one_of(
        st.integers(min_value=1, max_value=10**6).map(
            lambda seq: ("counts", json.loads(sample_counts(node_id, seq).to_json()))
        ),
        st.sampled_from(["online", "offline", "degraded"]).map(
            lambda state: ("status", json.loads(sample_status(node_id, state).to_json()))  # type: ignore[arg-type]
        ),
    )


def _same_type(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, bool) or value is None:
        return json_scalars
    if isinstance(value, int):
        return st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70))
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(value, str):
        return st.one_of(
            safe_text,
            st.sampled_from(["", "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z", "0-0", "+"]),
        )
    if isinstance(value, list):
        return st.lists(json_scalars, max_size=4)
    return st.dictionaries(safe_text, json_scalars, max_size=4)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn, node_id: str = "node-a") -> tuple[str, bytes]:
    """A valid message with a few fields replaced, removed or added: (leaf, body)."""
    leaf, doc = draw(valid_documents(node_id))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["same-type", "same-type", "replace", "delete", "add"]))
        if action == "same-type":
            # Another value of the same JSON type gets past the schema's type checks
            # and reaches the code behind it (dates, counts, names).
            parent[path[-1]] = draw(_same_type(parent[path[-1]]))
        elif action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1])
        elif isinstance(parent, dict):
            parent[draw(safe_text)] = draw(json_values)
    return leaf, json.dumps(doc).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


topics = st.one_of(
    st.sampled_from(["counts", "status"]).map(lambda leaf: f"kazoe/v1/node-a/{leaf}"),
    st.sampled_from(["counts", "status", "notice", "x"]).map(
        lambda leaf: f"kazoe/v1/node-b/{leaf}"
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(["kazoe/v1//counts", "kazoe/v1/node-a/counts/extra", "kazoe/v2/node-a/counts"]),
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes]:
    """(topic, payload) as a subscriber may see them: valid, mutated, garbage, empty, huge."""
    kind = draw(st.sampled_from(["valid", "mutated", "mutated", "json", "bytes", "empty"]))
    if kind == "valid":
        leaf, doc = draw(valid_documents())
        return f"kazoe/v1/node-a/{leaf}", json.dumps(doc).encode()
    if kind == "mutated":
        leaf, body = draw(mutated_documents())
        return f"kazoe/v1/node-a/{leaf}", body
    topic = draw(topics)
    if kind == "json":
        return topic, json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return topic, draw(st.binary(max_size=200))
    return topic, b""
