"""Per-face attribute accuracy on a labelled face folder (``kazoe-sim accuracy``).

Each photo is shown alone, on a grey canvas twice its size (as ``facecheck`` does), to
BlazeFace full range (pyramid scales 1, 2 and 4 so that large and small faces are both
found; named explicitly, since the node's default detector is now YuNet: the committed
figures were measured with BlazeFace detections and chips on its template); the
highest-scoring face goes through the node's own ``AttributeEstimator`` with the
configured ``[attributes]``. A face counts as right on gender when p(male) is on the
right side of 0.5, and on age when the estimated age falls in the labelled group
(exact) or in a neighbouring one (within one group). Photos the detector misses are
reported, not scored. Only numbers are kept: no image, crop or estimate leaves the
process.
"""

from __future__ import annotations

import json
import sys
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import AttributeModel, AttributesConfig, DetectorConfig
from edge.counting.intervals import GenderErrors, female_share_interval
from edge.errors import KazoeError
from edge.types import ImageArray
from edge.vision.attributes import AttributeEstimator
from edge.vision.detector import Detector
from simulator.errors import SceneError
from simulator.scenes.args import OneLineParser
from simulator.scenes.faces import LabelledFile, read_labels
from simulator.scenes.labels import AgeGroup

REPO = Path(__file__).resolve().parents[2]
FAIRFACE = REPO.parent / "shared" / "data" / "fairface"
DETECTOR = DetectorConfig(model="full_range", scales=(1.0, 2.0, 4.0))
CREDIT = "FairFace (Karkkainen & Joo, WACV 2021), CC BY 4.0"


@dataclass(frozen=True)
class FaceResult:
    """One photo: its labels and, when a face was found, the estimates (numbers only)."""

    group: int  # index into the report's groups
    male: bool
    found: bool
    p_male: float = 0.5
    age: float = 0.0


@dataclass(frozen=True)
class Row:
    """Accuracy over one slice of the photos."""

    label: str
    photos: int
    found: int
    gender_right: int
    age_exact: int
    age_within_one: int

    def rate(self, count: int) -> float | None:
        return count / self.found if self.found else None

    def as_dict(self) -> dict[str, object]:
        return {
            "photos": self.photos,
            "found": self.found,
            "gender": self.rate(self.gender_right),
            "age_exact": self.rate(self.age_exact),
            "age_within_one": self.rate(self.age_within_one),
        }


def group_of(age: float, groups: Sequence[AgeGroup]) -> int:
    """Index of the group an estimated age falls in (groups ascending, contiguous)."""
    lows = [g.lo for g in groups]
    return max(0, bisect_right(lows, age) - 1)


def summarise(label: str, results: Iterable[FaceResult], groups: Sequence[AgeGroup]) -> Row:
    items = list(results)
    found = [r for r in items if r.found]
    predicted = [group_of(r.age, groups) for r in found]
    return Row(
        label=label,
        photos=len(items),
        found=len(found),
        gender_right=sum((r.p_male > 0.5) == r.male for r in found),
        age_exact=sum(p == r.group for p, r in zip(predicted, found, strict=True)),
        age_within_one=sum(abs(p - r.group) <= 1 for p, r in zip(predicted, found, strict=True)),
    )


@dataclass(frozen=True)
class Report:
    """Rows by age group, by gender and overall."""

    groups: tuple[AgeGroup, ...]
    by_group: tuple[Row, ...]
    by_gender: tuple[Row, ...]
    overall: Row
    ms_per_face: float | None = None

    @classmethod
    def build(
        cls, results: Sequence[FaceResult], groups: Sequence[AgeGroup], ms: float | None = None
    ) -> Report:
        by_group = tuple(
            summarise(g.name, (r for r in results if r.group == i), groups)
            for i, g in enumerate(groups)
        )
        by_gender = tuple(
            summarise(name, (r for r in results if r.male is male), groups)
            for name, male in (("female", False), ("male", True))
        )
        return cls(tuple(groups), by_group, by_gender, summarise("all", results, groups), ms)

    def as_dict(self) -> dict[str, object]:
        return {
            "by_age_group": {r.label: r.as_dict() for r in self.by_group},
            "by_gender": {r.label: r.as_dict() for r in self.by_gender},
            "all": self.overall.as_dict(),
        }

    def text(self) -> str:
        def pct(value: float | None) -> str:
            return "   n/a" if value is None else f"{value:6.3f}"

        header = f"{'':8} {'photos':>6} {'found':>5} {'gender':>6} {'exact':>6} {'±1':>6}"
        lines = [header]
        for title, rows in (
            ("age group", self.by_group),
            ("gender", self.by_gender),
            ("", (self.overall,)),
        ):
            if title:
                lines.append(f"-- by {title}")
            for r in rows:
                lines.append(
                    f"{r.label:8} {r.photos:6d} {r.found:5d} {pct(r.rate(r.gender_right))} "
                    f"{pct(r.rate(r.age_exact))} {pct(r.rate(r.age_within_one))}"
                )
        if self.ms_per_face is not None:
            lines.append(
                f"attributes: {self.ms_per_face:.1f} CPU ms per face (onnxruntime, 1 thread)"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class Coverage:
    """How often a female-share interval held the truth, over simulated windows."""

    windows: int
    covered: int
    mean_width_pp: float
    window_size: int
    level: float

    def text(self) -> str:
        return (
            f"female share {self.level:.0%} interval (errors measured on one half of the photos, "
            f"windows of {self.window_size} faces drawn from the other): truth inside in "
            f"{self.covered} of {self.windows} windows ({self.covered / self.windows:.1%}), "
            f"mean width {self.mean_width_pp:.1f} pp"
        )


def gender_errors(results: Sequence[FaceResult]) -> GenderErrors:
    """Per-face female and male recall (p(male) against 0.5) of the found faces."""
    women = [r for r in results if r.found and not r.male]
    men = [r for r in results if r.found and r.male]
    if not women or not men:
        raise SceneError("interval coverage needs found faces of both genders")
    return GenderErrors(
        female_recall=sum(r.p_male < 0.5 for r in women) / len(women),
        male_recall=sum(r.p_male > 0.5 for r in men) / len(men),
    )


def interval_coverage(
    results: Sequence[FaceResult],
    window_size: int = 30,
    windows: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> Coverage:
    """Errors from every other photo; windows of faces from the rest, with random true shares.

    Both ways round (even -> odd, odd -> even), half the windows each, so no window is
    scored with errors measured on its own faces.
    """
    rng = np.random.default_rng(seed)
    halves = (list(results[0::2]), list(results[1::2]))
    covered, widths = 0, []
    for calibrate, test in (halves, halves[::-1]):
        errors = gender_errors(calibrate)
        pools = {
            male: [r.p_male for r in test if r.found and r.male is male] for male in (False, True)
        }
        for _ in range(windows // 2):
            women = int(rng.binomial(window_size, rng.uniform(0.2, 0.8)))
            drawn_f = rng.choice(pools[False], women) if women else np.zeros(0)
            drawn_m = rng.choice(pools[True], window_size - women)
            counted_f = int((drawn_f < 0.5).sum() + (drawn_m < 0.5).sum())
            interval = female_share_interval(counted_f, window_size - counted_f, errors, level)
            if interval is None:
                continue
            truth = 100.0 * women / window_size
            covered += interval[0] <= truth <= interval[1]
            widths.append(interval[1] - interval[0])
    return Coverage(len(widths), covered, float(np.mean(widths)), window_size, level)


def on_canvas(image: ImageArray) -> ImageArray:
    """The photo in the middle of a grey square twice its size."""
    h, w = image.shape[:2]
    side = 2 * max(h, w)
    canvas = np.full((side, side, 3), 127, np.uint8)
    y0, x0 = (side - h) // 2, (side - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = image
    return canvas


def evaluate(
    files: Sequence[LabelledFile],
    groups: Sequence[AgeGroup],
    detector: Detector,
    estimator: AttributeEstimator,
) -> tuple[list[FaceResult], float | None]:
    """Every photo through detector and estimator; also the mean attribute CPU time per face."""
    results: list[FaceResult] = []
    spent, faces = 0.0, 0
    index = {g: i for i, g in enumerate(groups)}
    for item in files:
        label = item.label
        if label.age_group not in index or label.gender is None:
            raise SceneError(
                f"{item.path.name}: needs an age group among the report's and a gender"
            )
        image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SceneError(f"cannot decode {item.path}")
        canvas = on_canvas(np.asarray(image, np.uint8))
        image.fill(0)
        try:
            found = detector.detect(canvas)
            result = FaceResult(index[label.age_group], label.gender == "male", found=False)
            if len(found):
                best = found.select(np.array([int(np.argmax(found.scores))]))
                # CPU time, not wall time: on a shared machine it is still one core's work.
                t0 = time.process_time()
                attributes = estimator.estimate(canvas, best)
                spent += time.process_time() - t0
                faces += 1
                p_male, age = attributes.p_male, attributes.age
                if p_male is None or age is None:
                    raise SceneError("the attribute estimator returned no estimates")
                result = FaceResult(
                    result.group,
                    result.male,
                    found=True,
                    p_male=float(p_male[0]),
                    age=float(age[0]),
                )
        finally:
            canvas.fill(0)
        results.append(result)
    return results, (1000 * spent / faces if faces else None)


def fairface_groups(files: Sequence[LabelledFile]) -> list[AgeGroup]:
    """The distinct age groups of the labels, ascending."""
    groups = {f.label.age_group for f in files if f.label.age_group is not None}
    return sorted(groups, key=lambda g: g.lo)


def _models(text: str) -> tuple[AttributeModel, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    allowed: tuple[AttributeModel, ...] = ("cydral", "faceres", "faceapi", "faceres-deep")
    out = tuple(m for a in names for m in allowed if m == a)
    if len(out) != len(names) or not out:
        raise ValueError(f"{text!r}: use a comma-separated list of cydral, faceres, faceapi")
    return out


def accuracy_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="kazoe-sim accuracy", description=__doc__)
    p.add_argument(
        "--faces", type=Path, default=FAIRFACE, help="FairFace folder (ground_truth.json)"
    )
    p.add_argument("--models", type=Path, default=REPO / "models" / "build")
    p.add_argument(
        "--gender-models",
        default=",".join(AttributesConfig().gender_models),
        help="networks averaged for gender (default: the node's default)",
    )
    p.add_argument("--age-model", default=AttributesConfig().age_model)
    p.add_argument(
        "--age-alone",
        action="store_true",
        help="age from --age-model alone (no [attributes] age_blend)",
    )
    p.add_argument("--no-flip", action="store_true", help="no mirrored-crop averaging")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--limit", type=int, default=0, help="only the first N photos (a quick look; 0: all)"
    )
    args = p.parse_args(argv)
    try:
        cfg = AttributesConfig(
            gender_models=_models(args.gender_models),
            age_model=_models(args.age_model)[0],
            flip_average=not args.no_flip,
        )
        if args.age_alone:
            cfg = cfg.model_copy(update={"age_blend": {}})
    except ValueError as exc:
        p.error(str(exc).splitlines()[0])
    try:
        files, _ = read_labels(args.faces, "fairface", None)
        groups = fairface_groups(files)
        files = files[: args.limit] if args.limit > 0 else files
        detector = Detector.from_dir(args.models, DETECTOR)
        estimator = AttributeEstimator.from_dir(args.models, cfg, template=detector.template)
        results, ms = evaluate(files, groups, detector, estimator)
    except (SceneError, KazoeError, OSError, cv2.error) as exc:
        print(f"kazoe-sim accuracy: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    report = Report.build(results, groups, ms)
    weights = ", ".join(f"{m} {cfg.gender_weights.get(m, 1.0):g}" for m in cfg.gender_models)
    blend = "".join(f" + {m} {w:g}" for m, w in cfg.age_blend.items() if m != cfg.age_model)
    recipe = f"gender = weighted mean({weights}), age = {cfg.age_model}{blend}"
    box_nets = {"faceres", "faceapi", "faceres-deep"} & {*cfg.gender_models, *cfg.age_models}
    recipe += ", flip averaging" if cfg.flip_average and box_nets else ""
    coverage: Coverage | None = None
    why = ""
    try:
        coverage = interval_coverage(results)
    except (SceneError, ValueError) as exc:  # e.g. --limit left too few faces
        why = str(exc).splitlines()[0]
    if args.json:
        cover: dict[str, float] | None = None
        if coverage is not None:
            cover = {"windows": coverage.windows, "covered": coverage.covered}
            cover["mean_width_pp"] = round(coverage.mean_width_pp, 2)
        print(json.dumps({"recipe": recipe, **report.as_dict(), "coverage": cover}, indent=2))
    else:
        print(f"{len(files)} photos from {args.faces} ({CREDIT}); {recipe}")
        print(report.text())
        print(coverage.text() if coverage else f"female share interval coverage: n/a ({why})")
    return 0
