"""How sure a counted share is: intervals from the models' measured errors (Neyman).

Two forms: the female share (:func:`gender_share_interval`, from per-face rates of counted
female / male / unknown for each true gender) and the share of one class among ``n`` people
(:func:`share_interval`, from P(counted in | in) and P(counted in | out); used per age band).
The older two-outcome :func:`female_share_interval` is kept for a model without unknowns.

A node that counted ``f`` women and ``m`` men did not see the true split: each woman is
counted as a woman with probability ``female_recall`` and each man as a woman with
probability ``1 - male_recall`` (both measured per face on a labelled set). For every
possible true number of women among the ``n = f + m`` people, the counted number of women
has a known distribution (the sum of two binomials); the interval holds every true share
under which the observed count is not in either tail beyond ``(1 - level) / 2`` (a
Neyman construction, exact for the model). It widens when the models are weak or the
window small, and says nothing about people counted as ``unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import lgamma
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class GenderErrors:
    """Per-face rates measured on a labelled set (for one model recipe)."""

    female_recall: float  # P(counted female | female)
    male_recall: float  # P(counted male | male)

    def __post_init__(self) -> None:
        for name in ("female_recall", "male_recall"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.female_recall + self.male_recall <= 1.0:
            raise ValueError("a gender model no better than chance gives no interval")


EXACT_UP_TO = 300  # people counted in a window; above, a normal approximation (fast, close)
MIXTURE_EXACT_UP_TO = 80  # the same with uncertain rates (each rate draw costs one more pass)


@dataclass(frozen=True)
class ShareErrors:
    """A two-class error model: P(counted in | truly in) and P(counted in | truly out)."""

    hit: float
    false_alarm: float

    def __post_init__(self) -> None:
        for name in ("hit", "false_alarm"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def _binomial(n: int, p: float) -> NDArray[np.float64]:
    if p <= 0.0 or p >= 1.0 or n == 0:
        out = np.zeros(n + 1)
        out[n if p >= 1.0 else 0] = 1.0
        return out
    k = np.arange(n + 1)
    # log k! for k = 0..n without scipy (not a base dependency of the node)
    log_fact = np.array([lgamma(i + 1) for i in range(n + 1)])
    log = log_fact[n] - log_fact - log_fact[::-1]
    result: NDArray[np.float64] = np.exp(log + k * np.log(p) + (n - k) * np.log1p(-p))
    return result


def counted_pmf(inside: int, outside: int, errors: ShareErrors) -> NDArray[np.float64]:
    """P(counted in = c), c = 0..inside + outside, for a known true split."""
    pmf: NDArray[np.float64] = np.convolve(
        _binomial(inside, errors.hit), _binomial(outside, errors.false_alarm)
    )
    return pmf


def counted_female_pmf(women: int, men: int, errors: GenderErrors) -> NDArray[np.float64]:
    """P(counted women = k), k = 0..women + men, for a known true split."""
    return counted_pmf(women, men, _as_share(errors))


def _as_share(errors: GenderErrors) -> ShareErrors:
    return ShareErrors(hit=errors.female_recall, false_alarm=1.0 - errors.male_recall)


def _accepted_exact(counted: int, n: int, errors: ShareErrors, tail: float) -> list[int]:
    accepted = []
    for inside in range(n + 1):
        pmf = counted_pmf(inside, n - inside, errors)
        below, above = float(pmf[: counted + 1].sum()), float(pmf[counted:].sum())
        if below > tail and above > tail:
            accepted.append(inside)
    return accepted


def _accepted_normal(counted: int, n: int, errors: ShareErrors, tail: float) -> list[int]:
    inside = np.arange(n + 1, dtype=np.float64)
    h, f = errors.hit, errors.false_alarm
    mean = inside * h + (n - inside) * f
    sd = np.sqrt(inside * h * (1 - h) + (n - inside) * f * (1 - f))
    sd = np.maximum(sd, 0.5)  # continuity: a count is never more precise than half a person
    z = NormalDist().inv_cdf(1.0 - tail)
    ok = np.abs(counted - mean) <= z * sd + 0.5
    return [int(i) for i in np.flatnonzero(ok)]


def share_interval(
    counted: int, n: int, errors: ShareErrors, level: float = 0.9
) -> tuple[float, float] | None:
    """The ``level`` interval (percent of ``n``) for the true share of the class counted
    ``counted`` times among ``n`` people, or None when ``n`` is 0.

    Neyman: every true number inside under which the observed count is not in either tail
    beyond ``(1 - level) / 2``. When the class is no easier to count among its members than
    among the others (``hit <= false_alarm``) the count says nothing: 0 to 100 %.
    """
    if n == 0:
        return None
    if not 0 <= counted <= n or not 0.0 < level < 1.0:
        raise ValueError("need 0 <= counted <= n and level in (0, 1)")
    if errors.hit <= errors.false_alarm:
        return (0.0, 100.0)
    tail = (1.0 - level) / 2.0
    find = _accepted_exact if n <= EXACT_UP_TO else _accepted_normal
    accepted = find(counted, n, errors, tail)
    if not accepted:  # the observation is improbable under every split: widest honest answer
        return (0.0, 100.0)
    return (100.0 * accepted[0] / n, 100.0 * accepted[-1] / n)


def female_share_interval(
    female: int, male: int, errors: GenderErrors, level: float = 0.9
) -> tuple[float, float] | None:
    """The ``level`` interval (percent) for the true female share, or None with nobody counted."""
    if female < 0 or male < 0:
        raise ValueError("counts must be >= 0 and level in (0, 1)")
    return share_interval(female, female + male, _as_share(errors), level)


@dataclass(frozen=True)
class GenderRates:
    """Per-face outcome rates for each true gender: counted female, male or unknown.

    ``women = (P(f | woman), P(m | woman))`` and the same for men; the rest of each is the
    probability of ``unknown`` (p(male) within the margin).
    """

    women: tuple[float, float]
    men: tuple[float, float]
    # How many labelled women / men the rates were measured on; 0 takes the rates as exact.
    # With counts, the interval also allows for the rates' own sampling error.
    women_faces: int = 0
    men_faces: int = 0

    def __post_init__(self) -> None:
        for name in ("women", "men"):
            f, m = getattr(self, name)
            if f < 0 or m < 0 or f + m > 1.0 + 1e-9:
                raise ValueError(f"{name}: rates must be >= 0 and sum to at most 1")
        if self.women_faces < 0 or self.men_faces < 0:
            raise ValueError("face counts must be >= 0")
        if (self.women_faces == 0) != (self.men_faces == 0):
            raise ValueError("give the face counts of both genders or of neither")

    def kernel(self, woman: bool) -> NDArray[np.float64]:
        """P(female minus male count changes by -1, 0, +1) for one person."""
        f, m = self.women if woman else self.men
        return np.array([m, max(0.0, 1.0 - f - m), f])

    def kernel_draws(self, woman: bool) -> list[NDArray[np.float64]]:
        """The kernel, or with a face count ``RATE_DRAWS`` kernels drawn from the rates'
        posterior (Dirichlet of the measured counts + 1/2), the same draws on every call."""
        faces = self.women_faces if woman else self.men_faces
        point = self.kernel(woman)
        if faces == 0:
            return [point]
        rng = np.random.default_rng(RATE_SEED + int(woman))
        return list(rng.dirichlet(self._alpha(woman), RATE_DRAWS))

    def step_variance(self, woman: bool) -> float:
        """The posterior variance of one person's mean step (P(female) - P(male)); 0 when
        the rates are taken as exact. Dirichlet: Var(f - m) = (a_f (A - a_f) + a_m (A - a_m)
        + 2 a_f a_m) / (A^2 (A + 1)), A the sum of the alphas."""
        faces = self.women_faces if woman else self.men_faces
        if faces == 0:
            return 0.0
        a_m, _, a_f = self._alpha(woman)
        total = float(self._alpha(woman).sum())
        spread = a_f * (total - a_f) + a_m * (total - a_m) + 2 * a_f * a_m
        return float(spread / (total**2 * (total + 1)))

    def _alpha(self, woman: bool) -> NDArray[np.float64]:
        faces = self.women_faces if woman else self.men_faces
        alpha: NDArray[np.float64] = self.kernel(woman) * faces + 0.5
        return alpha


def mix_rates(rates: Sequence[GenderRates], weights: Sequence[float]) -> GenderRates:
    """The rates of a crowd mixing groups (e.g. age bands) in the given proportions: each
    outcome's rate is the weighted mean of the groups'. The face counts (for the rates' own
    uncertainty) are the effective number of a weighted mean of independent measurements,
    1 / sum(w_i^2 / n_i): a crowd of one group is as uncertain as that group, a crowd
    spread over many is measured on all their faces."""
    w = np.asarray(weights, dtype=np.float64)
    if len(rates) != len(w) or len(w) == 0 or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("need one non-negative weight per rate set, not all zero")
    w = w / w.sum()
    women = w @ np.array([r.women for r in rates], dtype=np.float64)
    men = w @ np.array([r.men for r in rates], dtype=np.float64)
    faces = np.array([(r.women_faces, r.men_faces) for r in rates], dtype=np.float64)
    if np.any(faces == 0):  # some rates taken as exact: so is the mix
        counts = (0, 0)
    else:
        effective = 1.0 / ((w**2)[:, None] / faces).sum(axis=0)
        counts = (max(1, round(float(effective[0]))), max(1, round(float(effective[1]))))
    return GenderRates(
        women=(float(women[0]), float(women[1])),
        men=(float(men[0]), float(men[1])),
        women_faces=counts[0],
        men_faces=counts[1],
    )


RATE_DRAWS = 16  # posterior draws of the calibration rates (deterministic: fixed seeds)
RATE_SEED = 20261206


def _power(kernel: NDArray[np.float64], n: int) -> list[NDArray[np.float64]]:
    """The pmf of a sum of 0..n draws from ``kernel`` (values -1, 0, +1), offset -i."""
    out = [np.ones(1)]
    for _ in range(n):
        out.append(np.convolve(out[-1], kernel))
    return out


def gender_share_interval(
    female: int, male: int, unknown: int, rates: GenderRates, level: float = 0.9
) -> tuple[float, float] | None:
    """The ``level`` interval (percent) for the true female share of ALL ``female + male +
    unknown`` people, or None with nobody counted.

    The statistic is counted women minus counted men: under each true number of women it is
    a sum of per-person steps (+1 counted female, -1 counted male, 0 unknown), so people the
    models left ``unknown`` weigh as much as their measured rate says, not as missing at
    random (they are more often women in FairFace). Neyman, exact up to ``EXACT_UP_TO``
    people, a normal approximation above. With face counts in ``rates`` (every calibration
    file has them) the rates' own sampling error is allowed for: the exact pmf is averaged
    over ``RATE_DRAWS`` posterior draws up to ``MIXTURE_EXACT_UP_TO`` people, and above that
    the normal approximation adds the posterior variance of the rates.
    """
    n = female + male + unknown
    if n == 0:
        return None
    if min(female, male, unknown) < 0 or not 0.0 < level < 1.0:
        raise ValueError("counts must be >= 0 and level in (0, 1)")
    kw, km = rates.kernel(True), rates.kernel(False)
    steps = np.array([-1.0, 0.0, 1.0])
    if float(np.dot(kw, steps)) <= float(np.dot(km, steps)):
        return (0.0, 100.0)  # counted women are no likelier among women: no information
    tail = (1.0 - level) / 2.0
    d = female - male
    accepted: list[int] = []
    if n <= (MIXTURE_EXACT_UP_TO if rates.women_faces else EXACT_UP_TO):
        # Under each true number of women: the pmf of d, averaged over the rate draws.
        draws = zip(rates.kernel_draws(True), rates.kernel_draws(False), strict=True)
        powers = [(_power(w, n), _power(m, n)) for w, m in draws]
        for women in range(n + 1):
            pmf = np.mean([np.convolve(pw[women], pm[n - women]) for pw, pm in powers], axis=0)
            below, above = float(pmf[: d + n + 1].sum()), float(pmf[d + n :].sum())
            if below > tail and above > tail:
                accepted.append(women)
    else:
        mw, mm = float(np.dot(kw, steps)), float(np.dot(km, steps))
        vw = float(np.dot(kw, steps**2)) - mw**2
        vm = float(np.dot(km, steps**2)) - mm**2
        # The rates' own uncertainty: the posterior variance of each mean step.
        uw, um = rates.step_variance(True), rates.step_variance(False)
        z = NormalDist().inv_cdf(1.0 - tail)
        for women in range(n + 1):
            mean = women * mw + (n - women) * mm
            men = n - women
            var = women * vw + men * vm + women**2 * uw + men**2 * um
            if abs(d - mean) <= z * max(0.5, var**0.5) + 0.5:
                accepted.append(women)
    if not accepted:
        return (0.0, 100.0)
    return (100.0 * accepted[0] / n, 100.0 * accepted[-1] / n)
