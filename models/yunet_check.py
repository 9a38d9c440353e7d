"""Verify the rebuilt YuNet graph: raw heads against a committed expectation (any host) and
decoded faces against the wheel's own ``facedetect_cnn`` through ctypes (x86-64 hosts)."""

from __future__ import annotations

import json
import os
import platform
import struct
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.checks import SEED, run_onnx
from models.errors import ModelBuildError
from models.quiet import silenced
from models.yunet_graph import HEADS, STRIDES

EXPECTED_PATH = Path(__file__).resolve().parent / "yunet_expected.npz"
RAW_TOLERANCE = 1e-3  # relative to max(1, |expected|): float32 sums in another order
# What the library reports (it truncates to int and scores to percent): DESIGN §4b.
BOX_PX, LANDMARK_PX, SCORE = 2, 1, 0.01
LIB_THRESHOLD, LIB_NMS, LIB_TOP_K, LIB_KEEP = 0.2, 0.45, 1000, 512
REFERENCE_TIMEOUT_S = 120
Array = NDArray[np.float32]


def parity_image(height: int = 120, width: int = 180, seed: int = SEED) -> NDArray[np.uint8]:
    """A fixed BGR image with four drawn faces (32-64 px) on seeded noise; numpy only, so it is
    the same on every host. 120x180 is not a multiple of 32: the padding is exercised too."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(seed).uniform(0.0, 1.0, (height, width, 3))
    ramp = np.stack([cols / width, rows / height, (rows + cols) / (height + width)], axis=-1)
    image = 80 + 85 * (0.6 * ramp + 0.4 * noise)
    for cx, cy, size in ((40, 50, 64), (110, 60, 48), (160, 40, 32), (145, 92, 36)):
        _draw_face(image, (rows, cols), (cx, cy, size))
    for axis in (0, 1):  # soften the edges a little: [1, 2, 1] / 4
        image = (np.roll(image, 1, axis) + 2 * image + np.roll(image, -1, axis)) / 4
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _draw_face(
    image: NDArray[np.float64], grid: tuple[Array, Array], face: tuple[float, float, float]
) -> None:
    rows, cols = grid
    cx, cy, s = face

    def fill(
        ellipse: tuple[float, float, float, float], bgr: tuple[int, ...], half: int = 0
    ) -> None:
        x, y, rx, ry = ellipse
        mask = ((cols - x) / rx) ** 2 + ((rows - y) / ry) ** 2 <= 1
        if half:  # -1: upper half only, 1: lower half only
            mask &= (rows - y) * half >= 0
        image[mask] = bgr

    fill((cx, cy - 0.05 * s, 0.5 * s, 0.62 * s), (40, 50, 60), -1)  # hair
    fill((cx, cy, 0.40 * s, 0.52 * s), (120, 150, 200))  # skin
    for side in (-1, 1):
        ex, ey = cx + side * 0.17 * s, cy - 0.08 * s
        fill((ex, ey, 0.08 * s, 0.04 * s), (235, 235, 235))
        fill((ex, ey, 0.035 * s, 0.035 * s), (30, 30, 40))
        fill((ex, ey - 0.1 * s, 0.09 * s, 0.02 * s), (40, 50, 60))  # brow
    fill((cx, cy + 0.12 * s, 0.06 * s, 0.04 * s), (80, 100, 150), 1)  # nose
    fill((cx, cy + 0.27 * s, 0.13 * s, 0.04 * s), (70, 70, 160))  # mouth


def to_tensor(image: NDArray[np.uint8]) -> Array:
    """BGR HWC uint8 -> 1x3xHxW float32, zero-padded to multiples of 32 as the library does."""
    height, width = image.shape[:2]
    padded = np.zeros((-(-height // 32) * 32, -(-width // 32) * 32, 3), np.float32)
    padded[:height, :width] = image
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[np.newaxis])


def run_heads(onnx_path: Path, image: NDArray[np.uint8]) -> dict[str, Array]:
    """The graph's twelve raw outputs for one image."""
    try:
        with silenced():
            return run_onnx(onnx_path, to_tensor(image))
    except ModelBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party runtime: any failure is one line
        raise ModelBuildError(f"{onnx_path.name}: onnxruntime cannot run it: {exc}") from None


def check_shapes(label: str, heads: Mapping[str, Array], height: int, width: int) -> None:
    """Every head present, with [1, cells, C] for the padded input size."""
    for stride in STRIDES:
        cells = (-(-height // 32) * 32 // stride) * (-(-width // 32) * 32 // stride)
        for head, channels in HEADS:
            name = f"{head}_{stride}"
            got = tuple(heads[name].shape) if name in heads else None
            if got != (1, cells, channels):
                raise ModelBuildError(
                    f"{label}: output {name} is {got}, expected {(1, cells, channels)}; "
                    "the graph is wrong, do not use it"
                )


def expected_check(
    label: str,
    onnx_path: Path,
    shapes: tuple[tuple[int, ...], ...],
    expected_path: Path = EXPECTED_PATH,
) -> float:
    """Compare raw heads and decoded faces with the committed expectation; return max diff."""
    image = parity_image()
    heads = run_heads(onnx_path, image)
    check_shapes(label, heads, *image.shape[:2])
    if tuple(tuple(a.shape) for a in heads.values()) != shapes:
        raise ModelBuildError(
            f"{label}: output shapes are {[a.shape for a in heads.values()]}, the manifest "
            f"says {list(shapes)}; the manifest or the graph is wrong"
        )
    try:
        with np.load(expected_path) as stored:
            expected = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as exc:
        raise ModelBuildError(
            f"cannot read the expected YuNet output {expected_path.name} ({exc}); "
            "restore it from git"
        ) from None
    worst = 0.0
    for name, actual in heads.items():
        want = expected.get(name, np.zeros(0, np.float32)).astype(np.float64)
        if want.shape != actual.shape:
            raise ModelBuildError(
                f"{label}: output {name} is {actual.shape}, the expectation "
                f"{want.shape}; restore {expected_path.name} from git"
            )
        diff = float(np.max(np.abs(actual - want) / np.maximum(1.0, np.abs(want))))
        if not diff <= RAW_TOLERANCE:  # also catches NaN
            raise ModelBuildError(
                f"{label}: parity check failed: output {name} differs from the committed "
                f"expectation by {diff:.3g} (limit {RAW_TOLERANCE:g}); the rebuild is wrong, "
                "do not use it"
            )
        worst = max(worst, diff)
    faces = decode(heads, _padded(image.shape[1]), LIB_THRESHOLD, LIB_NMS)
    compare_faces(label, "the committed expectation", expected["faces"].tolist(), faces)
    return worst


def write_expectation(onnx_path: Path, expected_path: Path = EXPECTED_PATH) -> None:
    """Make the file `expected_check` reads (run once by hand, then committed)."""
    image = parity_image()
    heads = run_heads(onnx_path, image)
    faces = decode(heads, _padded(image.shape[1]), LIB_THRESHOLD, LIB_NMS)
    arrays: dict[str, Any] = {"faces": np.asarray(library_rounding(faces)), **heads}
    np.savez_compressed(expected_path, **arrays)


def library_rounding(faces: list[list[float]]) -> list[list[int]]:
    """Faces as facedetect_cnn reports them: score*100, x, y, w, h, landmarks, all truncated."""
    out = []
    for score, x0, y0, x1, y1, *points in faces:
        x, y = int(x0), int(y0)
        out.append([int(score * 100), x, y, int(x1 - x0), int(y1 - y0), *map(int, points)])
    return out


def compare_faces(
    label: str, what: str, reference: list[list[int]], faces: list[list[float]]
) -> None:
    """Each reference face has one decoded face within 2 px (box), 1 px (landmarks), 0.01."""
    problem = ""
    if not reference:
        problem = "the reference found no face in the parity image"
    elif len(reference) != len(faces):
        problem = f"{len(faces)} faces against {len(reference)}"
    unmatched = list(faces)
    for ref in [] if problem else reference:
        match = next((f for f in unmatched if _close(ref, f)), None)
        if match is None:
            problem = f"no face matches {ref[1:5]} (score {ref[0] / 100:.2f})"
            break
        unmatched.remove(match)
    if problem:
        raise ModelBuildError(
            f"{label}: parity check against {what} failed: {problem}; the rebuild is wrong, "
            "do not use it"
        )


def _close(ref: list[int], face: list[float]) -> bool:
    score, x0, y0, x1, y1, *points = face
    box = np.abs(np.array([x0, y0, x1 - x0, y1 - y0]) - np.array(ref[1:5]))
    marks = np.abs(np.array(points) - np.array(ref[5:15]))
    # The library truncates: its integer is at most 1 below the true value.
    return bool(
        box.max() <= BOX_PX and marks.max() <= LANDMARK_PX and 0 <= score - ref[0] / 100 <= SCORE
    )


def reference_check(label: str, onnx_path: Path, wheel_path: Path, scratch: Path) -> int:
    """Decoded faces against the wheel's own facedetect_cnn; return how many matched."""
    image = parity_image()
    heads = run_heads(onnx_path, image)
    faces = decode(heads, _padded(image.shape[1]), LIB_THRESHOLD, LIB_NMS)
    reference = reference_faces(wheel_path, scratch, image)
    compare_faces(label, "the yuface library", reference, faces)
    return len(reference)


def _padded(size: int) -> int:
    return -(-size // 32) * 32


def decode(
    heads: Mapping[str, Array], padded_width: int, threshold: float, nms: float
) -> list[list[float]]:
    """Faces as [score, x0, y0, x1, y1, 10 landmarks], selected as libfacedetection does."""
    found: list[NDArray[np.float64]] = []
    for stride in STRIDES:
        cls, obj = (heads[f"{h}_{stride}"][0, :, 0].astype(np.float64) for h in ("cls", "obj"))
        bbox = heads[f"bbox_{stride}"][0].astype(np.float64)
        kps = heads[f"kps_{stride}"][0].astype(np.float64)
        index = np.arange(cls.shape[0])
        # Priors at (col*s, row*s), no half-cell offset; offsets and sizes in stride units.
        col, row = (
            (index % (padded_width // stride)) * stride,
            (index // (padded_width // stride)) * stride,
        )
        cx, cy = bbox[:, 0] * stride + col, bbox[:, 1] * stride + row
        w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        points = kps * stride + np.tile(np.column_stack([col, row]), 5)
        score = np.sqrt(_sigmoid(cls) * _sigmoid(obj))
        found.append(
            np.column_stack([score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, points])
        )
    rows = np.concatenate(found)
    rows = rows[rows[:, 0] >= threshold]
    rows = rows[np.argsort(-rows[:, 0], kind="stable")][:LIB_TOP_K]
    kept: list[NDArray[np.float64]] = []
    for candidate in rows:
        if all(_iou(candidate[1:5], other[1:5]) <= nms for other in kept):
            kept.append(candidate)
    return [row.tolist() for row in kept[:LIB_KEEP]]


def _iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -88.3762626647949, 88.3762626647949)))


def reference_available() -> bool:
    """The wheel's library runs only on x86-64 Linux."""
    return sys.platform == "linux" and platform.machine().lower() in ("x86_64", "amd64")


def reference_faces(wheel_path: Path, scratch: Path, image: NDArray[np.uint8]) -> list[list[int]]:
    """Run the wheel's facedetect_cnn on `image` in a child process; raise on any failure."""
    libdir = scratch / "yuface-reference"
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            for member in archive.namelist():
                if member.startswith(("yuface/libfacedetection.so", "yuface.libs/")):
                    archive.extract(member, libdir)
        height, width = image.shape[:2]
        payload = struct.pack("<ii", height, width) + np.ascontiguousarray(image).tobytes()
        result = subprocess.run(
            [sys.executable, "-m", "models.yunet_reference", str(libdir)],
            input=payload,
            capture_output=True,
            timeout=REFERENCE_TIMEOUT_S,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    except (OSError, zipfile.BadZipFile, subprocess.TimeoutExpired) as exc:
        raise ModelBuildError(
            f"cannot run the yuface reference library ({exc}); on a host where it cannot "
            "run, the committed expectation alone is checked"
        ) from None
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise ModelBuildError(
            "the yuface reference library failed: "
            f"{lines[-1] if lines else f'exit status {result.returncode}'}"
        )
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
