"""Writing a node config back as TOML (the standard library only reads TOML).

Enough for what ``NodeSettings.model_dump(mode="json")`` produces: tables of strings,
numbers, booleans, lists of those, and nested tables (``[mqtt.tls]``). ``None`` means "not
set" and is left out. Strings use JSON escapes, which TOML basic strings share.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key} = {value} cannot be written as TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v, key) for v in value) + "]"
    raise ValueError(f"{key}: cannot write a {type(value).__name__} as TOML")


def _table(name: str, table: dict[str, Any], out: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if v is not None and not isinstance(v, dict)}
    if name:
        out.append(f"[{name}]")
    out.extend(f"{k} = {_value(v, f'{name}.{k}' if name else k)}" for k, v in scalars.items())
    if scalars or name:
        out.append("")
    for k, v in table.items():
        if isinstance(v, dict):
            _table(f"{name}.{k}" if name else k, v, out)


def dumps_toml(doc: dict[str, Any]) -> str:
    """A TOML document for ``doc`` (tables first-level keys, scalars inside)."""
    out: list[str] = ["# Derived by kazoe-sim replay; edit the original config instead.", ""]
    _table("", doc, out)
    return "\n".join(out).rstrip() + "\n"
