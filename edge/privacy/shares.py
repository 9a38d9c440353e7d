"""Intervals for a window's published shares, computed from published cells only.

The interval for the female share (of all the window's people, ``unknown`` included: the
calibration says how often a woman or a man is left ``unknown``) uses the published
``gender.female``, ``gender.male`` and ``gender.unknown``, and, when the calibration holds
per-age-group gender histograms, the published age bands: the gender error rates are
those of the window's own age mix (children and older people are read worse: with the
rates of all ages, windows of mostly under-20s or mostly over-60s were covered far less
often than the level says; README "Honest shares");
the one for an age band uses that band's published count and the published total of people
with a known band. Each is a function of published cells and of the calibration (a public
file) alone, so it cannot tell anything about a withheld cell that the published cells do
not already tell: when an input is withheld, the interval is left out rather than computed
from the hidden value (a female share interval from a withheld ``gender.female = 2`` would
show that it is small). For an age band, how often people of the *other* bands are counted
in it depends on how many there are of each: the published other bands weigh their own
error rates, and the people in withheld bands (their sum is published implicitly: total
minus published bands) are spread evenly over them.

The counts stay the point estimates (DESIGN §4b: correcting them with another set's
confusion made the female share worse); an interval is centred where the models' errors
put the truth, so it need not contain the published share.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge.config import NodeSettings
from edge.counting.calibration import (
    Calibration,
    check_identity,
    default_path,
    identity_mismatch,
    load_calibration,
)
from edge.counting.intervals import (
    GenderRates,
    ShareErrors,
    gender_share_interval,
    mix_rates,
    share_interval,
)
from edge.payload import Interval, ModelIds, ShareIntervals

log = logging.getLogger("kazoe.privacy.shares")

Cells = Mapping[str, int | None]


@dataclass(frozen=True)
class IntervalMaker:
    """Everything needed to attach intervals to a window, derived once at start."""

    calibration_id: str
    measured_on: str
    level: float
    gender: GenderRates | None
    bands: tuple[str, ...]  # the node's known bands, in order (no "unknown")
    confusion: NDArray[np.float64] | None  # P(counted band | true band)
    band_gender: tuple[GenderRates, ...] | None = None  # per band in ``bands``

    @classmethod
    def from_calibration(cls, cal: Calibration, settings: NodeSettings) -> IntervalMaker:
        margin = settings.attributes.gender_margin
        return cls(
            calibration_id=cal.id,
            measured_on=cal.measured_on,
            level=settings.intervals.level,
            gender=cal.gender_rates(margin),
            bands=tuple(settings.aggregate.band_labels()),
            confusion=cal.band_confusion(settings.aggregate),
            band_gender=cal.band_gender_rates(settings.aggregate, margin),
        )

    def female_share(
        self, gender: Cells | None, people: int | None = None, bands: Cells | None = None
    ) -> Interval | None:
        """With ``bands`` (the window's published age-band cells) and per-band rates in the
        calibration, the rates are mixed by the window's age mix; otherwise all ages'."""
        if gender is None or self.gender is None:
            return None
        female, male, unknown = (gender.get(g, 0) for g in ("female", "male", "unknown"))
        if female is None or male is None or unknown is None:
            return None  # withheld: the interval would show what the cell hides
        rates = self._age_mix_rates(people, bands) or self.gender
        interval = gender_share_interval(female, male, unknown, rates, self.level)
        return _rounded(interval)

    def _age_mix_rates(self, people: int | None, bands: Cells | None) -> GenderRates | None:
        """The per-band gender rates mixed by the window's published bands, or None."""
        if bands is None or self.band_gender is None:
            return None
        known = [bands.get(b) for b in self.bands]
        total = _known_total(people, bands, known)
        weights = _weights(known, total, range(len(known))) if total else None
        if weights is None or weights.sum() <= 0:
            return None
        return mix_rates(self.band_gender, [float(w) for w in weights])

    def band_shares(self, people: int | None, bands: Cells | None) -> dict[str, Interval]:
        if bands is None or self.confusion is None:
            return {}
        known = [bands.get(b) for b in self.bands]
        total = _known_total(people, bands, known)
        if total is None or total == 0:
            return {}
        out: dict[str, Interval] = {}
        for b, count in enumerate(known):
            if count is None:
                continue
            false_alarm = _false_alarm(self.confusion, b, known, total)
            errors = ShareErrors(float(self.confusion[b, b]), false_alarm)
            interval = _rounded(share_interval(count, total, errors, self.level))
            if interval is not None:
                out[self.bands[b]] = interval
        return out

    def intervals(
        self, people: int | None, gender: Cells | None, bands: Cells | None
    ) -> ShareIntervals:
        return ShareIntervals(
            level=self.level,
            calibration=self.calibration_id,
            female_share=self.female_share(gender, people, bands),
            age_bands=self.band_shares(people, bands),
        )


def _false_alarm(
    confusion: NDArray[np.float64], b: int, known: list[int | None], total: int
) -> float:
    """P(counted in band b | truly in another band), weighted by the published counts."""
    others = [j for j in range(len(known)) if j != b]
    if not others:
        return 0.0
    weights = _weights(known, total, others)
    if weights.sum() <= 0:
        weights = np.ones(len(others))
    return float(np.dot(weights, confusion[others, b]) / weights.sum())


def _weights(known: list[int | None], total: int, which: Iterable[int]) -> NDArray[np.float64]:
    """People per band among ``which``: the published counts, and the people of withheld
    bands (the known total less the published bands) spread evenly over those bands."""
    hidden = [j for j, c in enumerate(known) if c is None]
    rest = total - sum(c or 0 for c in known)
    return np.array(
        [max(rest, 0) / len(hidden) if (c := known[j]) is None else float(c) for j in which],
        dtype=np.float64,
    )


def _known_total(people: int | None, bands: Cells, known: list[int | None]) -> int | None:
    """People with a known band, if the published cells give it."""
    if all(c is not None for c in known):
        return sum(c or 0 for c in known)
    unknown = bands.get("unknown", 0)
    if people is None or unknown is None:
        return None
    return people - unknown


def _rounded(interval: tuple[float, float] | None) -> Interval | None:
    """The published form: percent to one decimal."""
    if interval is None:
        return None
    return Interval(low=round(interval[0], 1), high=round(interval[1], 1))


def resolve_intervals(settings: NodeSettings, models: ModelIds) -> IntervalMaker | None:
    """The node's intervals, or None; a configured calibration that does not match the
    models stops the node (ConfigError, one line).

    Without ``[intervals] calibration`` the shipped FairFace calibration is used if it was
    measured on these models and this recipe; otherwise intervals are off (logged once).
    """
    cfg = settings.intervals
    if not (cfg.enabled and settings.policy.demographics):
        return None
    if cfg.calibration is not None:
        cal = load_calibration(cfg.calibration)
        check_identity(cal, models, settings.attributes, cfg.calibration)
        return IntervalMaker.from_calibration(cal, settings)
    cal = load_calibration(default_path())
    why = identity_mismatch(cal, models, settings.attributes)
    if why:
        log.warning(
            "no intervals: the shipped calibration was measured with %s; build one with "
            "'kazoe calibrate' and set [intervals] calibration",
            why,
        )
        return None
    return IntervalMaker.from_calibration(cal, settings)
