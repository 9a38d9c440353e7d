"""``kazoe calibrate``: a site's own calibration from a folder of labelled face photos.

Each photo is shown alone, in the middle of a grey square twice its size, to the node's
configured detector; the highest-scoring face goes through the node's own attribute
networks (``[detector]``, ``[attributes]``, ``[models]`` of the config), so the calibration
carries exactly the model ids and recipe the node will check at start. Only numbers are
kept: each image buffer is zeroed after use, no crop or estimate is written, and the file
holds histograms (how many women had p(male) in each 0.01 bin, how many people of each
labelled age had each estimated age), never a row per photo.

Labels: ``labels.csv`` with ``file,age,gender`` rows (age in years such as ``34`` or a group
such as ``30-39`` / ``70+``; gender female / male or F / M), or a FairFace-style
``ground_truth.json`` (a list of ``{filename, age, gender}``). A photo without both labels is
skipped and counted.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import ValidationError

from edge.config import NodeSettings
from edge.counting.calibration import (
    AGE_BINS,
    GENDER_BINS,
    AgeRow,
    Calibration,
    GenderRows,
    attribute_recipe,
)
from edge.errors import ConfigError, KazoeError
from edge.payload import ModelIds
from edge.types import Detections, ImageArray
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import FaceDetector, open_detector
from edge.vision.models_info import model_ids

Gender = Literal["female", "male"]
_GROUP = re.compile(r"^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})|(\+))\s*$")
_GENDERS: dict[str, Gender] = {"f": "female", "female": "female", "m": "male", "male": "male"}


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    gender: Gender
    lo: int  # age group (a single year: lo == hi)
    hi: int | None  # None: open ended (``70+``)


@dataclass(frozen=True)
class Observed:
    """One labelled face or person and the node's estimates (in memory only).

    ``gender`` / ``group`` None: not labelled (or, from a recording, not attributable);
    ``p_male`` / ``age`` None: nothing estimated (no face found, or too little evidence).
    """

    gender: Gender | None
    group: tuple[int, int | None] | None
    p_male: float | None = None
    age: float | None = None


@dataclass(frozen=True)
class Estimate:
    """One photo's labels and, when a face was found, its estimates (kept in memory only)."""

    photo: LabelledPhoto
    p_male: float | None = None
    age: float | None = None

    @property
    def observed(self) -> Observed:
        group = (self.photo.lo, self.photo.hi)
        return Observed(self.photo.gender, group, self.p_male, self.age)


def parse_age(text: str) -> tuple[int, int | None]:
    """``34`` -> (34, 34); ``30-39`` -> (30, 39); ``70+`` -> (70, None)."""
    text = text.strip()
    if text.isdigit():
        years = int(text)
        if years > 120:
            raise ValueError(f"age {text!r} is over 120")
        return years, years
    m = _GROUP.match(text)
    if m is None:
        raise ValueError(f"age {text!r} is neither whole years nor a group like 30-39 or 70+")
    lo, hi = int(m.group(1)), None if m.group(3) else int(m.group(2))
    if hi is not None and hi < lo:
        raise ValueError(f"age group {text!r} ends before it starts")
    return lo, hi


def _photo(folder: Path, name: str, age: str, gender: str) -> LabelledPhoto | None:
    word = gender.strip().lower()
    if not name.strip() or not age.strip() or word not in _GENDERS:
        return None
    lo, hi = parse_age(age)
    return LabelledPhoto(folder / name.strip(), _GENDERS[word], lo, hi)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the labels {path}: {exc}") from None


def _rows(folder: Path) -> list[tuple[str, str, str]]:
    """(file, age, gender) rows from labels.csv or ground_truth.json."""
    table, index = folder / "labels.csv", folder / "ground_truth.json"
    if table.is_file():
        reader = csv.reader(_read(table).splitlines())
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:3] != ["file", "age", "gender"]:
            raise ConfigError(f"{table}: the first line must be 'file,age,gender'")
        return [(r[0], r[1], r[2]) for r in reader if len(r) >= 3 and any(r)]
    if not index.is_file():
        raise ConfigError(f"{folder}: no labels.csv (file,age,gender) or ground_truth.json")
    try:
        doc = json.loads(_read(index))
    except ValueError as exc:
        raise ConfigError(f"{index}: not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise ConfigError(f"{index}: expected a list of {{filename, age, gender}}")
    return [
        (str(d.get("filename", "")), str(d.get("age", "")), str(d.get("gender", "")))
        for d in doc
        if isinstance(d, dict)
    ]


def read_folder(folder: Path) -> tuple[list[LabelledPhoto], int]:
    """The labelled photos of a folder and how many rows lacked a label; ConfigError if none."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of labelled face photos")
    photos: list[LabelledPhoto] = []
    skipped = 0
    for line, (name, age, gender) in enumerate(_rows(folder), start=2):
        try:
            photo = _photo(folder, name, age, gender)
        except ValueError as exc:
            raise ConfigError(f"{folder}: labels row {line}: {exc}") from None
        if photo is None:
            skipped += 1
        else:
            photos.append(photo)
    if not photos:
        raise ConfigError(f"{folder}: no photo with both an age and a gender label")
    return photos, skipped


def on_canvas(image: ImageArray) -> ImageArray:
    """The photo in the middle of a grey square twice its size."""
    h, w = image.shape[:2]
    side = 2 * max(h, w)
    canvas = np.full((side, side, 3), 127, np.uint8)
    y0, x0 = (side - h) // 2, (side - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = image
    return canvas


@dataclass
class Timer:
    """CPU seconds spent in the attribute networks and the faces they saw."""

    seconds: float = 0.0
    faces: int = 0

    @property
    def ms_per_face(self) -> float | None:
        return 1000 * self.seconds / self.faces if self.faces else None


@contextmanager
def best_face(path: Path, detector: FaceDetector) -> Iterator[tuple[ImageArray, Detections | None]]:
    """The photo alone on its grey canvas and its highest-scoring face (None: no face);
    the decoded image is zeroed at once and the canvas when the block ends."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"cannot decode {path}")
    canvas = on_canvas(np.asarray(image, np.uint8))
    image.fill(0)
    try:
        found = detector.detect(canvas)
        best = found.select(np.array([int(np.argmax(found.scores))])) if len(found) else None
        yield canvas, best
    finally:
        canvas.fill(0)


def estimate_photo(
    photo: LabelledPhoto, detector: FaceDetector, estimator: AttributeEstimator, timer: Timer
) -> Estimate:
    with best_face(photo.path, detector) as (canvas, best):
        if best is None:
            return Estimate(photo)
        # CPU time, not wall time: on a shared machine it is still one core's work.
        t0 = time.process_time()
        attributes = estimator.estimate(canvas, best)
        timer.seconds += time.process_time() - t0
        timer.faces += 1
        if attributes.p_male is None or attributes.age is None:
            raise ConfigError("the attribute estimator returned no estimates")
        return Estimate(photo, float(attributes.p_male[0]), float(attributes.age[0]))


def estimate_all(
    photos: Sequence[LabelledPhoto],
    detector: FaceDetector,
    estimator: AttributeEstimator,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Estimate], Timer]:
    timer = Timer()
    out = []
    for i, photo in enumerate(photos):
        out.append(estimate_photo(photo, detector, estimator, timer))
        if progress is not None:
            progress(i + 1)
    return out, timer


def build_calibration(
    estimates: Sequence[Estimate | Observed],
    *,
    name: str,
    measured_on: str,
    models: ModelIds,
    recipe: dict[str, object],
    faces: int | None = None,
) -> Calibration:
    """Histograms of the found faces' estimates by true gender and by labelled age.

    ``faces``: how many labelled faces or people were shown (default: ``len(estimates)``).
    """
    female, male = [0] * GENDER_BINS, [0] * GENDER_BINS
    ages: dict[tuple[int, int | None], list[int]] = {}
    # Per labelled age group, p(male) by true gender: the intervals' per-band gender rates.
    by_group: dict[tuple[int, int | None], tuple[list[int], list[int]]] = {}
    found = 0
    for item in estimates:
        e = item.observed if isinstance(item, Estimate) else item
        used = False
        if e.p_male is not None and e.gender is not None:
            g = min(GENDER_BINS - 1, max(0, int(e.p_male * GENDER_BINS)))
            (male if e.gender == "male" else female)[g] += 1
            if e.group is not None:
                pair = by_group.setdefault(e.group, ([0] * GENDER_BINS, [0] * GENDER_BINS))
                pair[1 if e.gender == "male" else 0][g] += 1
            used = True
        if e.age is not None and e.group is not None:
            bins = ages.setdefault(e.group, [0] * AGE_BINS)
            bins[min(AGE_BINS - 1, max(0, int(e.age)))] += 1
            used = True
        found += used
    if not found:
        raise ConfigError("no labelled face or person was estimated: nothing to calibrate on")
    if not ages:
        raise ConfigError("no estimate of a person with an age label: nothing to calibrate ages on")
    empty = ([0] * GENDER_BINS, [0] * GENDER_BINS)
    groups = sorted({*ages, *by_group}, key=_key)
    rows = [
        AgeRow(
            lo=lo,
            hi=hi,
            predicted=ages.get((lo, hi), [0] * AGE_BINS),
            gender=GenderRows(
                female=by_group.get((lo, hi), empty)[0], male=by_group.get((lo, hi), empty)[1]
            ),
        )
        for lo, hi in groups
    ]
    try:
        return _validated(
            rows=rows,
            female=female,
            male=male,
            found=found,
            faces=len(estimates) if faces is None else faces,
            name=name,
            measured_on=measured_on,
            models=models,
            recipe=recipe,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"cannot build the calibration: {where}: {first['msg']}") from None


def _validated(
    *,
    rows: list[AgeRow],
    female: list[int],
    male: list[int],
    found: int,
    faces: int,
    name: str,
    measured_on: str,
    models: ModelIds,
    recipe: dict[str, object],
) -> Calibration:
    return Calibration.model_validate(
        {
            "name": name,
            "measured_on": measured_on,
            "created": datetime.now(tz=UTC).replace(microsecond=0),
            "models": models,
            "recipe": recipe,
            "faces": faces,
            "found": found,
            "gender": GenderRows(female=female, male=male),
            "age": rows,
        }
    )


def _key(group: tuple[int, int | None]) -> tuple[int, int]:
    lo, hi = group
    return lo, 999 if hi is None else hi


@dataclass(frozen=True)
class Pipeline:
    detector: FaceDetector
    estimator: AttributeEstimator
    models: ModelIds
    recipe: dict[str, object]


def open_pipeline(settings: NodeSettings) -> Pipeline:
    """The node's detector and attribute networks, as ``kazoe run`` would load them."""
    models = model_ids(settings.models.dir, settings.detector.model, True, settings.attributes)
    detector = open_detector(settings.models.dir, settings.detector)
    estimator = AttributeEstimator.from_dir(
        settings.models.dir, settings.attributes, settings.detector.threads, detector.template
    )
    return Pipeline(detector, estimator, models, attribute_recipe(settings.attributes))


def check_enough(cal: Calibration, min_people: int) -> None:
    """Refuse a calibration measured on fewer than ``min_people`` women or men (one line).

    The intervals allow for the measured rates' sampling error, but rates from a handful of
    faces are too rough to say anything a window could use.
    """
    women, men = sum(cal.gender.female), sum(cal.gender.male)
    if min(women, men) < min_people:
        raise ConfigError(
            f"only {women} women and {men} men were estimated with a gender label; a "
            f"calibration needs at least {min_people} of each (--min-people), or its "
            "intervals would claim a certainty it does not have"
        )


def rates_text(cal: Calibration, margin: float) -> str:
    rates = cal.gender_rates(margin)
    if rates is None:
        return "gender n/a (needs estimates of both genders)"
    return f"women counted female {rates.women[0]:.3f}, men counted male {rates.men[1]:.3f}"


def write_calibration(cal: Calibration, out: Path) -> None:
    try:
        out.write_text(cal.to_json(), encoding="utf-8")
    except OSError as exc:
        raise KazoeError(f"cannot write {out}: {exc.strerror}") from None


def calibrate(
    settings: NodeSettings, folder: Path, out: Path, name: str, *, min_people: int = 30
) -> str:
    """Write a calibration for the node's models; returns the summary line."""
    photos, skipped = read_folder(folder)
    pipe = open_pipeline(settings)
    estimates, _ = estimate_all(photos, pipe.detector, pipe.estimator)
    cal = build_calibration(
        estimates,
        name=name,
        measured_on=f"{len(photos)} labelled photos ({folder.name}), one face each",
        models=pipe.models,
        recipe=pipe.recipe,
    )
    check_enough(cal, min_people)
    write_calibration(cal, out)
    note = f", {skipped} rows without both labels skipped" if skipped else ""
    return (
        f"wrote {out}: calibration {cal.id}, {cal.found} of {cal.faces} faces found{note}; "
        f"{rates_text(cal, settings.attributes.gender_margin)}; "
        f'set [intervals] calibration = "{out}"'
    )
