"""Female-share intervals from measured per-face gender errors."""

from __future__ import annotations

import numpy as np
import pytest

from edge.counting.intervals import GenderErrors, counted_female_pmf, female_share_interval

PERFECT = GenderErrors(female_recall=1.0, male_recall=1.0)
FAIRFACE_LIKE = GenderErrors(female_recall=0.73, male_recall=0.92)


def test_counted_women_follow_two_binomials() -> None:
    pmf = counted_female_pmf(2, 1, GenderErrors(female_recall=0.5, male_recall=0.75))
    # women: Bin(2, 0.5) = [.25, .5, .25]; men counted as women: Bin(1, 0.25) = [.75, .25]
    assert pmf.tolist() == pytest.approx([0.1875, 0.4375, 0.3125, 0.0625])
    assert float(pmf.sum()) == pytest.approx(1.0)


def test_perfect_models_give_the_counted_share_exactly() -> None:
    assert female_share_interval(12, 18, PERFECT) == (40.0, 40.0)


def test_weak_models_and_small_windows_widen_the_interval() -> None:
    lo30, hi30 = female_share_interval(12, 18, FAIRFACE_LIKE) or (0, 0)
    lo300, hi300 = female_share_interval(120, 180, FAIRFACE_LIKE) or (0, 0)
    # Men counted as women and women missed: the truth sits above the counted 40 %.
    assert lo30 < 40.0 < hi30
    assert hi30 - lo30 > hi300 - lo300 > 0
    assert lo300 > 40.0, "with 300 people the known under-count of women dominates"


def test_nobody_counted_has_no_interval_and_chance_models_are_refused() -> None:
    assert female_share_interval(0, 0, FAIRFACE_LIKE) is None
    with pytest.raises(ValueError, match="no better than chance"):
        GenderErrors(female_recall=0.5, male_recall=0.5)


def test_the_interval_covers_the_truth_about_as_often_as_promised() -> None:
    rng = np.random.default_rng(3)
    covered, trials = 0, 400
    for _ in range(trials):
        women = int(rng.integers(5, 36))
        men = 40 - women
        counted = int(rng.binomial(women, 0.73) + rng.binomial(men, 1 - 0.92))
        lo, hi = female_share_interval(counted, 40 - counted, FAIRFACE_LIKE) or (0, 0)
        covered += lo <= 100 * women / 40 <= hi
    assert covered / trials >= 0.88  # a 90 % interval (discrete counts make it conservative)
