"""models.json marks a folder as built only while every file still matches it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models.lock import LOCK_NAME, LOCK_SCHEMA, RECIPE, is_up_to_date, read_lock, write_lock

MANIFEST_SHA = "a" * 64


def _folder(tmp_path: Path) -> Path:
    data = b"model bytes"
    (tmp_path / "m.onnx").write_bytes(data)
    write_lock(
        tmp_path,
        {
            "schema": LOCK_SCHEMA,
            "recipe": RECIPE,
            "manifest_sha256": MANIFEST_SHA,
            "models": {"m": {"file": "m.onnx", "sha256": hashlib.sha256(data).hexdigest()}},
            "notices": {},
        },
    )
    return tmp_path


def test_intact_folder_is_up_to_date(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    assert is_up_to_date(out, MANIFEST_SHA)
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, "m.onnx"])  # no temp left


def test_missing_folder_or_lock_is_not_up_to_date(tmp_path: Path) -> None:
    assert not is_up_to_date(tmp_path / "absent", MANIFEST_SHA)
    assert read_lock(tmp_path) is None


def test_changed_manifest_is_not_up_to_date(tmp_path: Path) -> None:
    assert not is_up_to_date(_folder(tmp_path), "b" * 64)


@pytest.mark.parametrize(
    "damage",
    ["edit model", "delete model", "corrupt lock", "empty lock", "escape path", "old recipe"],
)
def test_damaged_folder_is_rebuilt(tmp_path: Path, damage: str) -> None:
    out = _folder(tmp_path)
    lock_path = out / LOCK_NAME
    lock = json.loads(lock_path.read_text(encoding="utf-8"))
    if damage == "edit model":
        (out / "m.onnx").write_bytes(b"model bytez")
    elif damage == "delete model":
        (out / "m.onnx").unlink()
    elif damage == "corrupt lock":
        lock_path.write_text("{not json", encoding="utf-8")
    elif damage == "empty lock":
        lock["models"] = {}
        write_lock(out, lock)
    elif damage == "escape path":
        lock["models"]["m"]["file"] = "../m.onnx"
        write_lock(out, lock)
    else:
        lock["recipe"] = RECIPE - 1
        write_lock(out, lock)
    assert not is_up_to_date(out, MANIFEST_SHA)
