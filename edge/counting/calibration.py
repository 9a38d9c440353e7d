"""A calibration: how often the attribute models are wrong, measured on a labelled set.

The file (JSON, schema ``kazoe.calibration/1``) holds numbers only: for each true gender a
histogram of the per-face p(male) in 100 bins of 0.01, and for each labelled age group a
histogram of the estimated age in whole years (0 ... 99, then 100+). Nothing in it names a
photo or a person. It is stamped with the model ids the node publishes in ``status`` and
with the attribute recipe (the ``[attributes]`` keys that change a per-face estimate), so a
node refuses a calibration measured on other models (:func:`check_identity`).

From the histograms the node derives, for its own ``gender_margin`` and age bands, the error
rates behind the published intervals (:mod:`edge.counting.intervals`):

- gender: P(counted female | woman) and P(counted male | man) among faces outside the
  margin (a face inside it is ``unknown`` and is not in the female share), over all faces
  and, from a file that holds each age group's p(male) histograms (built since
  2026-12-07), per node age band: children's and older people's gender is read worse;
- age: P(counted in band b | truly in band b) and P(counted in b | truly in band j). A
  labelled group that straddles a node band edge (FairFace ``10-19`` against ``0-12`` /
  ``13-19``) is split between the bands by the years it spans in each (an assumption:
  ages spread evenly within the group).

The default calibration (``calibrations/fairface-default.json``, measured per face on the
FairFace subset with the default models) is written by ``kazoe-sim accuracy
--write-calibration``; a site's own by ``kazoe calibrate``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import AggregateConfig, AttributesConfig
from edge.counting.intervals import GenderRates
from edge.errors import ConfigError
from edge.payload import Label, ModelIds, Text

CALIBRATION_SCHEMA: Literal["kazoe.calibration/1"] = "kazoe.calibration/1"
GENDER_BINS = 100  # p(male) in steps of 0.01
AGE_BINS = 101  # 0 ... 99 years, then 100+
DEFAULT_NAME = "fairface-default.json"
# [attributes] keys that change when or how often a face is estimated, or how a track's
# estimates are fused, but not a single face's estimate: not part of the recipe. Every
# other key (a new one too) is, so a calibration never silently outlives a recipe change.
NOT_RECIPE = frozenset(
    {
        "batch_size",
        "every_n_frames",
        "estimates_per_track",
        "reestimate_better",
        "gender_margin",
        "min_evidence",
    }
)
OPEN_END = 99  # last year of an open group such as "70+" when splitting it between bands

Histogram = Annotated[list[Annotated[int, Field(strict=True, ge=0)]], Field()]


def attribute_recipe(cfg: AttributesConfig) -> dict[str, Any]:
    """The ``[attributes]`` keys that decide a per-face estimate, as JSON values."""
    data = cfg.model_dump(mode="json")
    recipe = {k: v for k, v in data.items() if k not in NOT_RECIPE}
    # Only what the fusion in use reads: the logistic fusion ignores the weights, the
    # weighted mean ignores the intercept, and only the models in use weigh anything.
    if cfg.gender_logistic:
        recipe.pop("gender_weights", None)
    else:
        recipe.pop("gender_intercept", None)
        used = set(cfg.gender_models)
        recipe["gender_weights"] = {
            m: w for m, w in sorted(cfg.gender_weights.items()) if m in used
        }
    return recipe


def normalised_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """A stored recipe as this version's ``attribute_recipe`` would write it: keys an older
    version did not know take the value that reproduces its estimates (a recipe that does
    not validate is compared as it is)."""
    try:
        return attribute_recipe(AttributesConfig.model_validate(recipe))
    except ValidationError:
        return dict(recipe)


class GenderRows(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    female: Histogram = Field(description="women per p(male) bin of 0.01")
    male: Histogram = Field(description="men per p(male) bin of 0.01")

    @model_validator(mode="after")
    def _shape(self) -> GenderRows:
        if len(self.female) != GENDER_BINS or len(self.male) != GENDER_BINS:
            raise ValueError(f"female and male must have {GENDER_BINS} bins each")
        return self

    def rates(self, margin: float) -> GenderRates | None:
        """Per true gender, P(counted female) and P(counted male) for the node's margin
        (p(male) below ``0.5 - margin``: female; above ``0.5 + margin``: male; the bins are
        0.01 wide, so the margin is rounded to 0.01); None without faces of both genders."""
        return _rates(np.array(self.female), np.array(self.male), margin)


def _rates(
    female: NDArray[np.float64], male: NDArray[np.float64], margin: float
) -> GenderRates | None:
    cut_f = round(100 * (0.5 - margin))  # bins below: counted female
    cut_m = round(100 * (0.5 + margin))  # bins from here: counted male
    rates, faces = [], []
    for hist in (female, male):
        total = float(hist.sum())
        if total <= 0:
            return None
        rates.append((float(hist[:cut_f].sum() / total), float(hist[cut_m:].sum() / total)))
        faces.append(max(1, round(total)))
    return GenderRates(women=rates[0], men=rates[1], women_faces=faces[0], men_faces=faces[1])


class AgeRow(BaseModel):
    """Estimated ages of the faces labelled with one age group, and (from calibrations
    built since 2026-12-07) their p(male) by true gender."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lo: int = Field(strict=True, ge=0, le=120)
    hi: int | None = Field(None, strict=True, ge=0, le=120, description="null: open ended")
    predicted: Histogram = Field(description="faces per estimated year 0..99, then 100+")
    gender: GenderRows | None = Field(
        None, description="this group's faces per p(male) bin, by true gender (null: older file)"
    )

    @model_validator(mode="after")
    def _shape(self) -> AgeRow:
        if len(self.predicted) != AGE_BINS:
            raise ValueError(f"predicted must have {AGE_BINS} bins")
        if self.hi is not None and self.hi < self.lo:
            raise ValueError("hi must be >= lo")
        return self

    @property
    def name(self) -> str:
        return f"{self.lo}+" if self.hi is None else f"{self.lo}-{self.hi}"


class Calibration(BaseModel):
    """One calibration file (validated; see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["kazoe.calibration/1"] = Field(CALIBRATION_SCHEMA, alias="schema")
    name: Label = Field(description="short name, e.g. fairface-default or the site's")
    measured_on: Text = Field(max_length=500, description="what labelled set, and how")
    created: datetime
    models: ModelIds = Field(description="the model ids the node publishes in status")
    recipe: dict[str, Any] = Field(description="the [attributes] keys behind each estimate")
    faces: int = Field(strict=True, ge=0, description="labelled faces shown")
    found: int = Field(strict=True, ge=0, description="faces the detector found (measured)")
    gender: GenderRows
    age: list[AgeRow] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _sane(self) -> Calibration:
        if self.found > self.faces:
            raise ValueError("found must be <= faces")
        lows = [row.lo for row in self.age]
        if lows != sorted(set(lows)):
            raise ValueError("age rows must be ascending by lo, each group once")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1) + "\n"

    @property
    def id(self) -> str:
        """``name@sha256 prefix`` of the file's canonical JSON (published with intervals)."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return f"{self.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"

    # -- derived error rates ---------------------------------------------------
    def gender_rates(self, margin: float) -> GenderRates | None:
        """The gender rates over all faces (see :meth:`GenderRows.rates`)."""
        return self.gender.rates(margin)

    def band_gender_rates(
        self, bands: AggregateConfig, margin: float
    ) -> tuple[GenderRates, ...] | None:
        """The gender rates of the faces in each of the node's bands (a group straddling a
        band edge shares its faces by years, as in :meth:`band_confusion`); None when the
        file has no per-group gender histograms or a band lacks women or men."""
        n = len(bands.age_bands) + 1
        female, male = np.zeros((n, GENDER_BINS)), np.zeros((n, GENDER_BINS))
        for row in self.age:
            if row.gender is None:
                return None
            for b, share in _band_shares(row, bands):
                female[b] += share * np.array(row.gender.female, dtype=np.float64)
                male[b] += share * np.array(row.gender.male, dtype=np.float64)
        out = [_rates(female[b], male[b], margin) for b in range(n)]
        if any(r is None for r in out):
            return None
        return tuple(r for r in out if r is not None)

    def band_confusion(self, bands: AggregateConfig) -> NDArray[np.float64] | None:
        """P(counted band | true band) for the node's bands (rows: true, columns: counted).

        None when a band has no labelled face to measure it on.
        """
        edges = [0, *bands.age_bands, AGE_BINS]
        n = len(edges) - 1
        rows = np.zeros((n, n))
        weights = np.zeros(n)
        for row in self.age:
            hist = np.array(row.predicted, dtype=np.float64)
            if hist.sum() == 0:
                continue
            counted = np.array([hist[edges[b] : edges[b + 1]].sum() for b in range(n)])
            counted /= counted.sum()
            for b, share in _band_shares(row, bands):
                rows[b] += share * counted
                weights[b] += share
        if np.any(weights == 0):
            return None
        result: NDArray[np.float64] = rows / weights[:, None]
        return result


def _band_shares(row: AgeRow, bands: AggregateConfig) -> list[tuple[int, float]]:
    """The node bands a labelled group falls in, with the share of its years in each."""
    edges = [0, *bands.age_bands, AGE_BINS]
    hi = OPEN_END if row.hi is None else row.hi
    span = hi - row.lo + 1
    out = []
    for b in range(len(edges) - 1):
        years = min(hi, edges[b + 1] - 1) - max(row.lo, edges[b]) + 1
        if years > 0:
            out.append((b, years / span))
    return out


def default_path() -> Path:
    return Path(str(resources.files("edge").joinpath("counting", "calibrations", DEFAULT_NAME)))


def load_calibration(path: Path) -> Calibration:
    """Read and validate a calibration file, or raise ConfigError with one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: calibration file not found ([intervals] calibration)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read calibration: {exc}") from None
    try:
        return Calibration.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ConfigError(f"{path}: not a kazoe calibration: {where}: {first['msg']}") from None


def identity_mismatch(cal: Calibration, models: ModelIds, attributes: AttributesConfig) -> str:
    """Why ``cal`` does not describe these models and recipe ('' when it does)."""
    for key in ("detector", "age", "gender"):
        theirs, ours = getattr(cal.models, key), getattr(models, key)
        if theirs != ours:
            return f"{key} model {theirs} (the node runs {ours})"
    ours_recipe = attribute_recipe(attributes)
    theirs_recipe = normalised_recipe(cal.recipe)
    for key in sorted(set(theirs_recipe) | set(ours_recipe)):
        if theirs_recipe.get(key) != ours_recipe.get(key):
            theirs_value, ours_value = theirs_recipe.get(key), ours_recipe.get(key)
            return (
                f"[attributes] {key} = {_short(theirs_value)} (the node has {_short(ours_value)})"
            )
    return ""


def _short(value: object, limit: int = 60) -> str:
    """A recipe value for a one-line message (an age map's 21 knots are elided)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"


def check_identity(
    cal: Calibration, models: ModelIds, attributes: AttributesConfig, path: Path
) -> None:
    """Refuse a calibration measured on other models or another recipe (one line)."""
    why = identity_mismatch(cal, models, attributes)
    if why:
        raise ConfigError(
            f"{path}: calibration {cal.name} was measured with {why}; build one for these "
            "models with 'kazoe calibrate' or set [intervals] calibration to a matching file"
        )
