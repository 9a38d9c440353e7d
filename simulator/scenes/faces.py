"""Folders of labelled face photos as a face source: FairFace, UTKFace or a CSV.

Each loader only reads the labels; :func:`load_faces` then decodes just the photos a scene
uses, crops the head out of each and shrinks it to at most ``MAX_SIDE`` pixels (a pasted face
is at most 200 px wide), so a 100-person scene holds about 100 small images in memory.

Crop boxes are fractions of the photo (x0, y0, x1, y1). FairFace crops are 448x448 with the
face in the middle: BlazeFace finds the face box at x 0.30-0.69, y 0.29-0.68 (medians over
the 508 of 540 photos where it finds one). The default keeps the head with hair, chin and a
little of the photo around it, (0.2, 0.1, 0.8, 0.8): in a crowd scene the detector found
more of these pasted faces than of tighter crops (84.8 % against 79.5-80 % for
(0.26, 0.14, 0.74, 0.74) or (0.28, 0.18, 0.72, 0.72), 40 people, seed 0). UTKFace "aligned
& cropped" photos and CSV folders are used whole unless ``--crop`` says otherwise.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from simulator.errors import SceneError
from simulator.scenes.labels import FaceLabel, parse_age, parse_gender, parse_group
from simulator.scenes.portraits import FaceItem

LabelFormat = Literal["fairface", "utk", "csv"]
LABEL_FORMATS: tuple[LabelFormat, ...] = ("fairface", "utk", "csv")
Crop = tuple[float, float, float, float]
DEFAULT_CROPS: dict[LabelFormat, Crop] = {
    "fairface": (0.2, 0.1, 0.8, 0.8),
    "utk": (0.0, 0.0, 1.0, 1.0),
    "csv": (0.0, 0.0, 1.0, 1.0),
}
MAX_SIDE = 256
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CSV_NAME = "labels.csv"
_UTK = re.compile(r"^(\d{1,3})_([01])_(\d)_")


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    label: FaceLabel


def _fairface(folder: Path) -> list[LabelledFile]:
    index = folder / "ground_truth.json"
    try:
        rows = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SceneError(
            f"{folder} has no ground_truth.json (--labels fairface expects a list of "
            "{filename, age, gender})"
        ) from None
    except (OSError, ValueError) as exc:
        raise SceneError(f"cannot read {index}: {exc}") from None
    if not isinstance(rows, list):
        raise SceneError(f"{index}: expected a JSON list of {{filename, age, gender}}")
    files = []
    for i, row in enumerate(rows):
        try:
            files.append(_fairface_row(folder, row))
        except (KeyError, TypeError, ValueError) as exc:
            raise SceneError(f"{index}: entry {i}: {_why(exc)}") from None
    return files


def _fairface_row(folder: Path, row: object) -> LabelledFile:
    if not isinstance(row, dict):
        raise TypeError("not an object")
    name, age, gender = str(row["filename"]), str(row["age"]), str(row["gender"])
    label = FaceLabel(age_group=parse_group(age), gender=parse_gender(gender))
    return LabelledFile(folder / name, label)


def _utk(folder: Path) -> tuple[list[LabelledFile], int]:
    files, skipped = [], 0
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not _is_image_name(path.name):
            continue
        m = _UTK.match(path.name)
        if m is None or int(m.group(1)) > 130:
            skipped += 1
            continue
        label = FaceLabel(
            age_years=float(m.group(1)), gender=parse_gender(m.group(2), numeric=True)
        )
        files.append(LabelledFile(path, label))
    return files, skipped


def _csv(folder: Path, table: Path | None) -> list[LabelledFile]:
    table = table or folder / CSV_NAME
    try:
        text = table.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SceneError(
            f"{table} not found (--labels csv reads file,age,gender rows; "
            "name another file with --labels-file)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"cannot read {table}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if header[:3] != ["file", "age", "gender"]:
        raise SceneError(f"{table}: the first line must be 'file,age,gender', got {header}")
    files = []
    for line, row in enumerate(reader, start=2):
        values = [(v or "").strip() for v in row.values() if isinstance(v, str | None)]
        if not any(values):
            continue
        try:
            files.append(_csv_row(folder, values))
        except ValueError as exc:
            raise SceneError(f"{table}: line {line}: {exc}") from None
    return files


def _csv_row(folder: Path, values: list[str]) -> LabelledFile:
    name = values[0]
    if not name:
        raise ValueError("empty file name")
    years, group = parse_age(values[1] if len(values) > 1 else "")
    gender = parse_gender(values[2] if len(values) > 2 else "")
    path = Path(name) if Path(name).is_absolute() else folder / name
    return LabelledFile(path, FaceLabel(years, group, gender))


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    return str(exc)


def _is_image_name(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(s) or f"{s}." in lower for s in IMAGE_SUFFIXES)


def read_labels(
    folder: Path, fmt: LabelFormat, table: Path | None = None
) -> tuple[list[LabelledFile], str]:
    """Every labelled photo in ``folder`` and a note for the user (e.g. skipped files)."""
    if not folder.is_dir():
        raise SceneError(f"face folder {folder} does not exist")
    note = ""
    if fmt == "fairface":
        files = _fairface(folder)
    elif fmt == "utk":
        files, skipped = _utk(folder)
        if skipped:
            note = f"skipped {skipped} files not named <age>_<gender>_<race>_<datetime>.jpg"
    else:
        files = _csv(folder, table)
    if not files:
        raise SceneError(f"{folder} holds no labelled face photos for --labels {fmt}")
    return files, note


def choose(files: int, people: int, rng: np.random.Generator) -> list[int]:
    """One photo per person: without replacement while photos last, then another round."""
    order: list[int] = []
    while len(order) < people:
        order.extend(int(i) for i in rng.permutation(files))
    return order[:people]


def crop_head(image: np.ndarray, crop: Crop) -> np.ndarray:
    """Cut the crop box (fractions) out of a photo and shrink it to at most MAX_SIDE."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = crop
    box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
    part = image[box[1] : box[3], box[0] : box[2]]
    if part.shape[0] < 8 or part.shape[1] < 8:
        raise SceneError(f"the crop {crop} leaves almost nothing of a {w}x{h} photo")
    scale = MAX_SIDE / max(part.shape[:2])
    if scale < 1:
        size = (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale)))
        part = cv2.resize(part, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(part, dtype=np.uint8)


def load_faces(files: Sequence[LabelledFile], crop: Crop) -> list[FaceItem]:
    """Decode and crop the given photos; SceneError naming the first unreadable one."""
    items = []
    for f in files:
        image = cv2.imread(str(f.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SceneError(f"cannot read face photo {f.path} (missing or not an image)")
        items.append(FaceItem(image=crop_head(image, crop), label=f.path.name, truth=f.label))
    return items


def parse_crop(text: str) -> Crop:
    """``"0.2,0.1,0.8,0.9"`` -> a crop box; ValueError with the reason."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--crop {text!r}: give four fractions x0,y0,x1,y1") from None
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"--crop {text!r}: need 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return x0, y0, x1, y1
