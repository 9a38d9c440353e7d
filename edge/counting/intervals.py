"""How sure a counted female share is: an interval from the gender model's measured errors.

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

from dataclasses import dataclass
from math import comb

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


def _binomial(n: int, p: float) -> NDArray[np.float64]:
    k = np.arange(n + 1)
    coefficients = np.array([comb(n, int(i)) for i in k], dtype=np.float64)
    result: NDArray[np.float64] = coefficients * p**k * (1.0 - p) ** (n - k)
    return result


def counted_female_pmf(women: int, men: int, errors: GenderErrors) -> NDArray[np.float64]:
    """P(counted women = k), k = 0..women + men, for a known true split."""
    pmf: NDArray[np.float64] = np.convolve(
        _binomial(women, errors.female_recall), _binomial(men, 1.0 - errors.male_recall)
    )
    return pmf


def female_share_interval(
    female: int, male: int, errors: GenderErrors, level: float = 0.9
) -> tuple[float, float] | None:
    """The ``level`` interval (percent) for the true female share, or None with nobody counted."""
    n = female + male
    if n == 0:
        return None
    if female < 0 or male < 0 or not 0.0 < level < 1.0:
        raise ValueError("counts must be >= 0 and level in (0, 1)")
    tail = (1.0 - level) / 2.0
    accepted = []
    for women in range(n + 1):
        pmf = counted_female_pmf(women, n - women, errors)
        below, above = float(pmf[: female + 1].sum()), float(pmf[female:].sum())
        if below > tail and above > tail:
            accepted.append(women)
    if not accepted:  # the observation is improbable under every split: widest honest answer
        return (0.0, 100.0)
    return (100.0 * accepted[0] / n, 100.0 * accepted[-1] / n)
