"""Female-share intervals from measured per-face gender errors."""

from __future__ import annotations

import numpy as np
import pytest

from edge.counting.intervals import (
    GenderErrors,
    GenderRates,
    ShareErrors,
    counted_female_pmf,
    counted_pmf,
    female_share_interval,
    gender_share_interval,
    mix_rates,
    share_interval,
)

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


# -- three outcomes (female / male / unknown) and one class among n (an age band) --------
FAIRFACE_3 = GenderRates(women=(0.62, 0.10), men=(0.04, 0.86))  # the rest: unknown


def test_perfect_three_way_rates_give_the_counted_share_exactly() -> None:
    perfect = GenderRates(women=(1.0, 0.0), men=(0.0, 1.0))
    assert gender_share_interval(12, 18, 0, perfect) == (40.0, 40.0)


def test_unknowns_that_are_mostly_women_move_the_interval_up() -> None:
    # 40 counted female of 100, 20 unknown: women go unknown 28 % of the time, men 10 %.
    lo, hi = gender_share_interval(40, 40, 20, FAIRFACE_3) or (0, 0)
    assert lo > 40.0  # above the 40 % counted female of everyone...
    assert lo <= 55.0 <= hi  # ...and around where the rates put the truth


@pytest.mark.parametrize("people", [20, 60, 400])  # 400: the normal approximation
def test_three_way_interval_covers_the_truth_about_as_often_as_promised(people: int) -> None:
    rng = np.random.default_rng(people)
    covered, trials = 0, 200 if people < 400 else 60
    for _ in range(trials):
        women = int(rng.integers(0, people + 1))
        f_w, m_w, _u = rng.multinomial(women, [0.62, 0.10, 0.28])
        f_m, m_m, _u2 = rng.multinomial(people - women, [0.04, 0.86, 0.10])
        female, male = int(f_w + f_m), int(m_w + m_m)
        lo, hi = gender_share_interval(female, male, people - female - male, FAIRFACE_3) or (0, 0)
        covered += lo <= 100 * women / people <= hi
    assert covered / trials >= 0.85


@pytest.mark.parametrize("people", [30, 80, 400])  # 80: the last exact mixture; 400: normal
def test_rates_measured_on_few_faces_widen_the_interval_around_the_exact_one(people: int) -> None:
    measured = GenderRates(women=(0.62, 0.10), men=(0.04, 0.86), women_faces=60, men_faces=60)
    female, male = int(0.4 * people), int(0.4 * people)
    unknown = people - female - male
    exact = gender_share_interval(female, male, unknown, FAIRFACE_3)
    uncertain = gender_share_interval(female, male, unknown, measured)
    assert exact is not None
    assert uncertain is not None
    assert uncertain[0] <= exact[0]
    assert exact[1] <= uncertain[1]
    assert uncertain[1] - uncertain[0] > exact[1] - exact[0]
    # deterministic: the same posterior draws on every call
    assert gender_share_interval(female, male, unknown, measured) == uncertain


def test_rates_measured_on_many_faces_are_nearly_exact() -> None:
    many = GenderRates(women=(0.62, 0.10), men=(0.04, 0.86), women_faces=10**6, men_faces=10**6)
    assert gender_share_interval(12, 12, 6, many) == gender_share_interval(12, 12, 6, FAIRFACE_3)
    with pytest.raises(ValueError, match="face counts"):
        GenderRates(women=(0.5, 0.5), men=(0.5, 0.5), women_faces=-1)
    with pytest.raises(ValueError, match="both genders or of neither"):
        GenderRates(women=(0.5, 0.5), men=(0.5, 0.5), women_faces=10)


def test_the_rates_posterior_variance_is_the_dirichlet_one() -> None:
    rates = GenderRates(women=(0.6, 0.2), men=(0.1, 0.8), women_faces=100, men_faces=100)
    draws = np.random.default_rng(1).dirichlet(rates.kernel(True) * 100 + 0.5, 200_000)
    steps = draws @ np.array([-1.0, 0.0, 1.0])
    assert rates.step_variance(True) == pytest.approx(float(steps.var()), rel=0.02)
    assert FAIRFACE_3.step_variance(True) == 0.0


def test_a_band_count_is_two_binomials_and_its_interval_covers() -> None:
    errors = ShareErrors(hit=0.5, false_alarm=0.1)
    pmf = counted_pmf(2, 1, errors)
    assert pmf.tolist() == pytest.approx([0.225, 0.475, 0.275, 0.025])
    rng = np.random.default_rng(9)
    covered = 0
    for _ in range(300):
        inside = int(rng.integers(0, 31))
        counted = int(rng.binomial(inside, 0.5) + rng.binomial(30 - inside, 0.1))
        lo, hi = share_interval(counted, 30, errors) or (0, 0)
        covered += lo <= 100 * inside / 30 <= hi
    assert covered / 300 >= 0.88


def test_a_band_the_models_cannot_tell_apart_says_nothing() -> None:
    assert share_interval(3, 30, ShareErrors(hit=0.1, false_alarm=0.2)) == (0.0, 100.0)
    assert share_interval(0, 0, ShareErrors(hit=0.5, false_alarm=0.1)) is None
    with pytest.raises(ValueError, match="counted <= n"):
        share_interval(31, 30, ShareErrors(hit=0.5, false_alarm=0.1))


def test_mixed_rates_are_the_weighted_rates_with_the_effective_face_count() -> None:
    young = GenderRates(women=(0.6, 0.3), men=(0.3, 0.6), women_faces=40, men_faces=40)
    adult = GenderRates(women=(0.9, 0.05), men=(0.05, 0.9), women_faces=160, men_faces=160)
    alone = mix_rates([young, adult], [1.0, 0.0])
    assert alone.women == pytest.approx(young.women)
    assert alone.women_faces == 40
    half = mix_rates([young, adult], [3.0, 3.0])
    assert half.women == pytest.approx((0.75, 0.175))
    assert half.men == pytest.approx((0.175, 0.75))
    # 1 / (0.5^2 / 40 + 0.5^2 / 160) = 128: surer than the young group's 40 alone.
    assert half.women_faces == 128


def test_mixed_exact_rates_stay_exact_and_bad_weights_are_refused() -> None:
    exact = GenderRates(women=(0.8, 0.1), men=(0.1, 0.8))
    assert mix_rates([exact, exact], [1.0, 2.0]).women_faces == 0
    with pytest.raises(ValueError, match="weight"):
        mix_rates([exact], [0.0])
    with pytest.raises(ValueError, match="weight"):
        mix_rates([exact, exact], [1.0])
