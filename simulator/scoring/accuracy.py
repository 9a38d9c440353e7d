"""Attribute accuracy and interval coverage on a labelled face folder (``kazoe-sim accuracy``).

Each photo is shown alone, on a grey canvas twice its size, to the node's DEFAULT detector
(``[detector]`` defaults: YuNet; ``--detector`` picks another); the highest-scoring face goes
through the node's own ``AttributeEstimator`` with the configured ``[attributes]``
(``edge.ops.calibrate``, the code ``kazoe calibrate`` runs). A face counts as right on
gender when p(male) is on the right side of 0.5, and on age when the estimated age falls in
the labelled group (exact) or in a neighbouring one (within one group). Photos the
detector misses are reported, not scored.

Interval coverage: the photos are split in two (even / odd); a calibration is built from
one half, and windows of faces drawn from the other half (random female share and random
age-band mix) get the node's own intervals (``edge.privacy.shares``) for the female share and
for each age band (bands 0-9, 10-19, ..., 70+, which every FairFace group fits in); a window
is covered when the true share of the window's people lies inside. Both ways round.

Crowds: the per-photo estimates drawn into 1000 crowds of 100 as a scene draws its people
and scored as ``kazoe-sim score`` scores a scene (``simulator.scoring.crowds``). Scene
draws: the same counting over the very photos ``kazoe-sim scene --faces --people 100 --seed
S`` takes from this folder, for each of ``--scene-seeds``: how far each of those scenes'
people are off when estimated on their plain photos.

``--write-calibration PATH`` writes the calibration of all the photos (the shipped default
is ``kazoe-sim accuracy --write-calibration edge/counting/calibrations/fairface-default.json``).
Only numbers are kept: no image, crop or estimate leaves the process.
"""

from __future__ import annotations

import argparse
import json
import sys
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.config import AggregateConfig, AttributeModel, AttributesConfig, DetectorConfig
from edge.counting.aggregator import gender_of
from edge.counting.calibration import Calibration, attribute_recipe
from edge.counting.intervals import GenderErrors
from edge.errors import KazoeError
from edge.ops.calibrate import (
    Estimate,
    LabelledPhoto,
    build_calibration,
    estimate_all,
)
from edge.payload import Interval, ModelIds
from edge.privacy.shares import IntervalMaker
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import FaceDetector, open_detector
from edge.vision.models_info import model_ids
from simulator.errors import SceneError
from simulator.scenes.args import OneLineParser, typed
from simulator.scenes.faces import LabelledFile, read_labels
from simulator.scenes.labels import AgeGroup
from simulator.scoring.crowds import CrowdSpread, SceneDraw, crowd_spread, draws_text, scene_draws

REPO = Path(__file__).resolve().parents[2]
FAIRFACE = REPO.parent / "shared" / "data" / "fairface"
# Bands every FairFace group fits in (0-2 and 3-9 in 0-9): the truth of a window is exact.
COVERAGE_BANDS = AggregateConfig(age_bands=(10, 20, 30, 40, 50, 60, 70))
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
    """How often the node's intervals held the truth, over simulated windows."""

    windows: int
    female_covered: int
    female_windows: int  # windows with a female-share interval
    female_width_pp: float
    band_covered: dict[str, int]
    band_windows: dict[str, int]
    band_width_pp: float
    window_size: int
    level: float
    # Female share in windows where 80 % of the people come from one age range:
    # name -> (covered, windows with an interval).
    skewed: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def bands_covered(self) -> int:
        return sum(self.band_covered.values())

    @property
    def bands_total(self) -> int:
        return sum(self.band_windows.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "windows": self.windows,
            "window_size": self.window_size,
            "level": self.level,
            "female_share": {
                "windows": self.female_windows,
                "covered": self.female_covered,
                "mean_width_pp": round(self.female_width_pp, 2),
            },
            "age_bands": {
                "intervals": self.bands_total,
                "covered": self.bands_covered,
                "mean_width_pp": round(self.band_width_pp, 2),
                "by_band": {
                    b: {"intervals": n, "covered": self.band_covered[b]}
                    for b, n in self.band_windows.items()
                },
            },
            "female_share_skewed": {
                name: {"windows": n, "covered": c} for name, (c, n) in self.skewed.items()
            },
        }

    def text(self) -> str:
        def share(covered: int, total: int) -> str:
            return f"{covered} of {total} ({covered / total:.1%})" if total else "n/a"

        head = (
            f"{self.level:.0%} intervals on {self.windows} simulated windows of "
            f"{self.window_size} faces (calibrated on one half of the photos, windows drawn "
            "from the other): truth inside"
        )
        bands = ", ".join(
            f"{b} {self.band_covered[b] / n:.0%}" for b, n in self.band_windows.items() if n
        )
        skewed = "; ".join(f"{name} {share(c, n)}" for name, (c, n) in self.skewed.items())
        return (
            f"{head}\n  female share: {share(self.female_covered, self.female_windows)}, "
            f"mean width {self.female_width_pp:.1f} pp\n"
            f"  age bands: {share(self.bands_covered, self.bands_total)} of band intervals, "
            f"mean width {self.band_width_pp:.1f} pp ({bands})"
            + (f"\n  female share, 80 % of a window from one age range: {skewed}" if skewed else "")
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


def maker_for(cal: Calibration, margin: float, level: float) -> IntervalMaker:
    """The node's interval code over a calibration, with the coverage bands."""
    rates = cal.gender_rates(margin)
    if rates is None:
        raise SceneError("interval coverage needs found faces of both genders in each half")
    return IntervalMaker(
        calibration_id=cal.id,
        measured_on=cal.measured_on,
        level=level,
        gender=rates,
        bands=tuple(COVERAGE_BANDS.band_labels()),
        confusion=cal.band_confusion(COVERAGE_BANDS),
        band_gender=cal.band_gender_rates(COVERAGE_BANDS, margin),
    )


def _band_index(age: float) -> int:
    return bisect_right(COVERAGE_BANDS.age_bands, int(age))


def interval_coverage(
    estimates: Sequence[Estimate],
    *,
    margin: float,
    window_size: int = 30,
    windows: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> Coverage:
    """Calibrate on every other photo; windows of faces from the rest (see module docstring)."""
    rng = np.random.default_rng(seed)
    labels = COVERAGE_BANDS.band_labels()
    found = [e for e in estimates if e.p_male is not None and e.age is not None]
    halves = (found[0::2], found[1::2])
    f_cov = f_n = 0
    f_widths: list[float] = []
    b_cov, b_n = dict.fromkeys(labels, 0), dict.fromkeys(labels, 0)
    b_widths: list[float] = []
    skewed: dict[str, tuple[int, int]] = {}
    models = ModelIds(detector="coverage-half")
    for calibrate, test in (halves, halves[::-1]):
        cal = build_calibration(calibrate, name="half", measured_on="", models=models, recipe={})
        maker = maker_for(cal, margin, level)
        if maker.confusion is None:
            raise SceneError("interval coverage needs found faces of every age band in each half")
        pools: dict[tuple[bool, int], list[Estimate]] = {}
        for e in test:
            pools.setdefault((e.photo.gender == "female", _band_index(e.photo.lo)), []).append(e)
        for _ in range(windows // 2):
            drawn = _draw(rng, pools, window_size)
            if not drawn:
                continue
            gender, counted = _counted(drawn, margin)
            interval = maker.female_share(gender, len(drawn), counted)
            if interval is not None:
                f_n += 1
                f_cov += _holds(interval, drawn)
                f_widths.append(interval.high - interval.low)
            truth_b = dict.fromkeys(labels, 0)
            for e in drawn:
                truth_b[labels[_band_index(e.photo.lo)]] += 1
            for name, band_iv in maker.band_shares(len(drawn), counted).items():
                truth = 100.0 * truth_b[name] / len(drawn)
                b_n[name] += 1
                b_cov[name] += band_iv.low - 0.05 <= truth <= band_iv.high + 0.05
                b_widths.append(band_iv.high - band_iv.low)
        for name, ages in SKEWS.items():
            mix = np.array([0.8 / len(ages) if b in ages else 0.0 for b in range(len(labels))])
            mix[mix == 0] = 0.2 / (len(labels) - len(ages))
            for _ in range(windows // 2):
                drawn = _draw(rng, pools, window_size, mix)
                gender, counted = _counted(drawn, margin)
                interval = maker.female_share(gender, len(drawn), counted) if drawn else None
                if interval is not None:
                    c, n = skewed.get(name, (0, 0))
                    skewed[name] = (c + _holds(interval, drawn), n + 1)
    return Coverage(
        windows=2 * (windows // 2),
        female_covered=f_cov,
        female_windows=f_n,
        female_width_pp=float(np.mean(f_widths)) if f_widths else 0.0,
        band_covered=b_cov,
        band_windows=b_n,
        band_width_pp=float(np.mean(b_widths)) if b_widths else 0.0,
        window_size=window_size,
        level=level,
        skewed=skewed,
    )


# Windows where 80 % of the people come from one age range (indices of COVERAGE_BANDS'
# bands 0-9, 10-19, ..., 70+): a street by a school, an office district, a care home.
SKEWS: dict[str, tuple[int, ...]] = {
    "under 20": (0, 1),
    "20-59": (2, 3, 4, 5),
    "60 and over": (6, 7),
}


def _draw(
    rng: np.random.Generator,
    pools: dict[tuple[bool, int], list[Estimate]],
    size: int,
    mix: npt.NDArray[np.float64] | None = None,
) -> list[Estimate]:
    """A window of ``size`` photos: a random female share in 0.2-0.8, bands drawn by ``mix``
    (default: a random mix, Dirichlet(1, ..., 1))."""
    share = rng.uniform(0.2, 0.8)
    if mix is None:
        mix = rng.dirichlet(np.ones(len(COVERAGE_BANDS.band_labels())))
    drawn: list[Estimate] = []
    for _person in range(size):
        female = bool(rng.random() < share)
        band = int(rng.choice(len(mix), p=mix))
        pool = pools.get((female, band)) or pools.get((not female, band))
        if pool:
            drawn.append(pool[int(rng.integers(len(pool)))])
    return drawn


def _counted(drawn: Sequence[Estimate], margin: float) -> tuple[dict[str, int], dict[str, int]]:
    """The window's counted gender and age-band cells, as the node would count them."""
    labels = COVERAGE_BANDS.band_labels()
    gender = {"female": 0, "male": 0, "unknown": 0}
    counted = dict.fromkeys([*labels, "unknown"], 0)
    for e in drawn:
        gender[gender_of(e.p_male, margin)] += 1
        counted[labels[_band_index(float(e.age or 0.0))]] += 1
    return gender, counted


def _holds(interval: Interval, drawn: Sequence[Estimate]) -> bool:
    """Whether the window's true female share lies inside the (rounded) interval."""
    truth = 100.0 * sum(e.photo.gender == "female" for e in drawn) / len(drawn)
    return interval.low - 0.05 <= truth <= interval.high + 0.05


def to_photos(files: Sequence[LabelledFile], groups: Sequence[AgeGroup]) -> list[LabelledPhoto]:
    """The simulator's labelled files as the calibration code's labelled photos."""
    photos = []
    for item in files:
        label = item.label
        group = label.age_group
        if group is None or group not in groups or label.gender is None:
            raise SceneError(
                f"{item.path.name}: needs an age group among the report's and a gender"
            )
        photos.append(LabelledPhoto(item.path, label.gender, group.lo, group.hi))
    return photos


def evaluate(
    files: Sequence[LabelledFile],
    groups: Sequence[AgeGroup],
    detector: FaceDetector,
    estimator: AttributeEstimator,
) -> tuple[list[FaceResult], list[Estimate], float | None]:
    """Every photo through detector and estimator; also the mean attribute CPU time per face."""
    try:
        estimates, timer = estimate_all(to_photos(files, groups), detector, estimator)
    except KazoeError as exc:
        raise SceneError(str(exc)) from None
    index = {(g.lo, g.hi): i for i, g in enumerate(groups)}
    results = [
        FaceResult(
            index[(e.photo.lo, e.photo.hi)],
            e.photo.gender == "male",
            found=e.p_male is not None,
            p_male=e.p_male if e.p_male is not None else 0.5,
            age=e.age if e.age is not None else 0.0,
        )
        for e in estimates
    ]
    return results, estimates, timer.ms_per_face


def fairface_groups(files: Sequence[LabelledFile]) -> list[AgeGroup]:
    """The distinct age groups of the labels, ascending."""
    groups = {f.label.age_group for f in files if f.label.age_group is not None}
    return sorted(groups, key=lambda g: g.lo)


def parse_models(text: str) -> tuple[AttributeModel, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    allowed: tuple[AttributeModel, ...] = ("cydral", "faceres", "faceapi", "faceres-deep")
    out = tuple(m for a in names for m in allowed if m == a)
    if len(out) != len(names) or not out:
        raise ValueError(
            f"{text!r}: use a comma-separated list of cydral, faceres, faceapi, faceres-deep"
        )
    return out


def _write_calibration(
    path: Path,
    estimates: Sequence[Estimate],
    photos: int,
    models: ModelIds,
    cfg: AttributesConfig,
) -> bool:
    cal = build_calibration(
        estimates,
        name="fairface-default",
        measured_on=f"{photos} FairFace photos ({CREDIT}), one face each on a grey "
        "canvas twice its size",
        models=models,
        recipe=attribute_recipe(cfg),
    )
    try:
        path.write_text(cal.to_json(), encoding="utf-8")
    except OSError as exc:
        print(f"kazoe-sim accuracy: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return False
    print(f"wrote {path}: calibration {cal.id}", file=sys.stderr)
    return True


def describe_recipe(cfg: AttributesConfig, detector: DetectorConfig) -> str:
    """The report's recipe line: which networks, weights, blend, flip and detector."""
    if cfg.gender_logistic:
        terms = "".join(
            f" {'-' if c < 0 else '+'} {abs(c):.3f} x logit({m})"
            for m, c in cfg.gender_logistic.items()
        )
        recipe = f"gender = sigmoid({cfg.gender_intercept:.3f}{terms})"
    else:
        weights = ", ".join(f"{m} {cfg.gender_weights.get(m, 1.0):g}" for m in cfg.gender_models)
        recipe = f"gender = weighted mean({weights})"
    blend = "".join(f" + {m} {w:g}" for m, w in cfg.age_blend.items() if m != cfg.age_model)
    age = f"{cfg.age_model}{blend}"
    if (cfg.age_scale, cfg.age_offset) != (1.0, 0.0):
        age = f"{cfg.age_offset:g} + {cfg.age_scale:g} x ({age})"
    if cfg.age_map:
        age += f" through age_map ({len(cfg.age_map)} knots)"
    recipe += f", age = {age}"
    box_nets = {"faceres", "faceapi", "faceres-deep"} & {*cfg.gender_models, *cfg.age_models}
    recipe += ", flip averaging" if cfg.flip_average and box_nets else ""
    return recipe + f"; detector {detector.model}"


def add_model_arguments(p: argparse.ArgumentParser, gender_help: str) -> None:
    """``--models``, ``--detector`` and ``--gender-models``, as the attribute reports take them."""
    p.add_argument("--models", type=Path, default=REPO / "models" / "build")
    p.add_argument(
        "--detector",
        choices=["yunet", "full_range", "short_range"],
        default=DetectorConfig().model,
        help="face detector, whose boxes the box networks crop (default: the node's default)",
    )
    p.add_argument(
        "--gender-models", default=",".join(AttributesConfig().gender_models), help=gender_help
    )


def window_figures(
    estimates: Sequence[Estimate], margin: float
) -> tuple[Coverage | None, str, CrowdSpread | None, str]:
    """Interval coverage and the crowd spread, each with why it is n/a (e.g. ``--limit``)."""
    coverage: Coverage | None = None
    why = ""
    try:
        coverage = interval_coverage(estimates, margin=margin)
    except (SceneError, ValueError) as exc:  # e.g. --limit left too few faces
        why = str(exc).splitlines()[0]
    spread: CrowdSpread | None = None
    why_crowds = ""
    try:
        spread = crowd_spread(estimates, margin=margin)
    except SceneError as exc:  # --limit left fewer photos than a crowd
        why_crowds = str(exc).splitlines()[0]
    return coverage, why, spread, why_crowds


SCENE_SEEDS = (1, 2, 3, 4, 7)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1,2,7"`` -> (1, 2, 7); ``""`` -> (); ValueError naming a bad item."""
    seeds = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if not (item.isascii() and item.isdecimal()):
            raise ValueError(f"--scene-seeds {text!r}: {item!r} is not a seed (0, 1, 2, ...)")
        seeds.append(int(item))
    return tuple(seeds)


def _scene_draws(
    estimates: Sequence[Estimate], seeds: Sequence[int], cut: bool, margin: float
) -> tuple[list[SceneDraw] | None, str]:
    """The scene seeds' draws, or None and why (a scene draws from the whole folder, so
    none when ``--limit`` left photos out)."""
    if not seeds:
        return None, "no --scene-seeds"
    if cut:
        return None, "--limit: a scene draws from every photo in the folder"
    try:
        return scene_draws(estimates, seeds, margin=margin), ""
    except SceneError as exc:
        return None, str(exc).splitlines()[0]


def accuracy_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="kazoe-sim accuracy", description=__doc__)
    p.add_argument(
        "--faces", type=Path, default=FAIRFACE, help="FairFace folder (ground_truth.json)"
    )
    add_model_arguments(
        p,
        gender_help="networks fused for gender (default: the node's default); other networks "
        "than the default's are averaged with gender_weights",
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
    p.add_argument(
        "--scene-seeds",
        type=typed(parse_seeds),
        default=SCENE_SEEDS,
        metavar="S,...",
        help="also count per photo the photos these kazoe-sim scene seeds draw (100 people "
        f"each; default {','.join(map(str, SCENE_SEEDS))}: the README's crowd scenes, 7 the e2e "
        "test's; '' for none)",
    )
    p.add_argument(
        "--write-calibration",
        type=Path,
        metavar="PATH",
        help="also write the calibration measured on all the photos (kazoe.calibration/1)",
    )
    args = p.parse_args(argv)
    try:
        defaults = AttributesConfig()
        blend: dict[str, object] = {"age_blend": {}} if args.age_alone else {}
        cfg = AttributesConfig.model_validate(
            {
                "gender_models": parse_models(args.gender_models),
                "age_model": parse_models(args.age_model)[0],
                "flip_average": not args.no_flip,
                **blend,
            }
        )
        detector_cfg = DetectorConfig(model=args.detector)
    except ValueError as exc:
        p.error(str(exc).splitlines()[0])
    try:
        files, _ = read_labels(args.faces, "fairface", None)
        groups = fairface_groups(files)
        cut = 0 < args.limit < len(files)
        files = files[: args.limit] if args.limit > 0 else files
        detector = open_detector(args.models, detector_cfg)
        estimator = AttributeEstimator.from_dir(args.models, cfg, template=detector.template)
        models = model_ids(args.models, detector_cfg.model, True, cfg)
        results, estimates, ms = evaluate(files, groups, detector, estimator)
    except (SceneError, KazoeError, OSError, cv2.error) as exc:
        print(f"kazoe-sim accuracy: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    report = Report.build(results, groups, ms)
    recipe = describe_recipe(cfg, detector_cfg)
    coverage, why, spread, why_crowds = window_figures(estimates, defaults.gender_margin)
    draws, why_draws = _scene_draws(estimates, args.scene_seeds, cut, defaults.gender_margin)
    if args.write_calibration is not None and not _write_calibration(
        args.write_calibration, estimates, len(files), models, cfg
    ):
        return 1
    if args.json:
        cover = coverage.as_dict() if coverage is not None else None
        crowds = spread.as_dict() if spread is not None else None
        figures = {
            "recipe": recipe,
            **report.as_dict(),
            "coverage": cover,
            "crowds": crowds,
            "scene_draws": None if draws is None else [d.as_dict() for d in draws],
        }
        print(json.dumps(figures, indent=2))
    else:
        print(f"{len(files)} photos from {args.faces} ({CREDIT}); {recipe}")
        print(report.text())
        print(coverage.text() if coverage else f"interval coverage: n/a ({why})")
        print(spread.text() if spread else f"crowds: n/a ({why_crowds})")
        if args.scene_seeds:
            print(draws_text(draws) if draws else f"scene draws: n/a ({why_draws})")
    return 0
