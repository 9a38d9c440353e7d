"""models.json: the lock written last, once every output has been built and checked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from models.fetch import sha256_file

LOCK_NAME = "models.json"
LOCK_SCHEMA = 1
# Bump when the build recipe changes how outputs are made, so old folders are rebuilt.
RECIPE = 4  # 2: BlazeFace graphs take any input size; 3: YuNet rebuilt from yuface
# (main) / TF.js models from npm (attr); 4: both


def read_lock(out: Path) -> dict[str, Any] | None:
    """The parsed lock, or None when it is absent or unreadable (then the folder is rebuilt)."""
    try:
        data = json.loads((out / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_up_to_date(out: Path, manifest_sha256: str) -> bool:
    """True when the lock matches this manifest and recipe and every file matches its hash."""
    lock = read_lock(out)
    if lock is None:
        return False
    stamp = (lock.get("schema"), lock.get("recipe"), lock.get("manifest_sha256"))
    if stamp != (LOCK_SCHEMA, RECIPE, manifest_sha256):
        return False
    records = [*_records(lock.get("models")), *_records(lock.get("notices"))]
    return bool(records) and all(_file_matches(out, record) for record in records)


def _file_matches(out: Path, record: object) -> bool:
    if not isinstance(record, dict):
        return False
    name, digest = record.get("file"), record.get("sha256")
    if not isinstance(name, str) or not isinstance(digest, str) or Path(name).name != name:
        return False
    path = out / name
    return path.is_file() and sha256_file(path) == digest


def write_lock(out: Path, lock: dict[str, Any]) -> None:
    """Write the lock atomically (temp name, then rename)."""
    temp = out / f".{LOCK_NAME}.{os.getpid()}.tmp"
    temp.write_text(json.dumps(lock, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    temp.replace(out / LOCK_NAME)


def _records(section: object) -> list[object]:
    return list(section.values()) if isinstance(section, dict) else []
