"""Crowds drawn from per-photo estimates: the share and band figures a scene would score."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.ops.calibrate import Estimate, LabelledPhoto
from simulator.errors import SceneError
from simulator.scoring.crowds import CROWD_BANDS, band_of, crowd_spread

GROUPS = ((0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, None))


def _photos(per_cell: int = 4) -> list[LabelledPhoto]:
    return [
        LabelledPhoto(Path(f"{g}-{lo}-{i}.jpg"), g, lo, hi)
        for g in ("female", "male")
        for lo, hi in GROUPS
        for i in range(per_cell)
    ]


def _right(photo: LabelledPhoto) -> Estimate:
    age = photo.lo + 1.0
    return Estimate(photo, 0.1 if photo.gender == "female" else 0.9, age)


@pytest.mark.parametrize(
    ("age", "band"), [(0.0, "0-19"), (19.9, "0-19"), (20.0, "20-29"), (69.5, "60-69"), (88, "70+")]
)
def test_an_age_falls_in_the_scene_scorers_band(age: float, band: str) -> None:
    assert CROWD_BANDS[band_of(age)] == band


def test_right_estimates_give_no_error_in_any_crowd() -> None:
    spread = crowd_spread([_right(p) for p in _photos()], margin=0.1, people=30, crowds=50)
    assert spread.crowds == 50
    assert len(spread.share_errors) == 50
    assert all(e == 0.0 for e in spread.share_errors)
    assert all(d == 0.0 for d in spread.band_distances)
    figures = spread.as_dict()
    assert figures["female_share_error_pp"] == {
        "mean_signed": 0.0,
        "median": 0.0,
        "p90": 0.0,
        "within_3": 50,
    }
    assert figures["age_band_distance"] == {"median": 0.0, "p90": 0.0, "within_0.1": 50}


def test_men_counted_female_raise_the_share_and_unknowns_leave_it() -> None:
    estimates = []
    for i, photo in enumerate(_photos()):
        e = _right(photo)
        if photo.gender == "male" and i % 2:
            e = Estimate(photo, 0.2, e.age)  # half the men counted female
        elif photo.gender == "female" and i % 3 == 0:
            e = Estimate(photo, 0.5, e.age)  # a third of the women unknown
        estimates.append(e)
    spread = crowd_spread(estimates, margin=0.1, people=72, crowds=1)
    # All 72 photos: 36 women (24 counted, 12 unknown) and 36 men (18 counted female).
    assert spread.share_errors == pytest.approx((100 * (42 / 60 - 36 / 72),))
    assert spread.band_distances == (0.0,)


def test_a_missed_face_stays_in_the_truth_and_is_not_counted() -> None:
    photos = _photos(per_cell=1)
    estimates = [Estimate(p) if p.lo == 70 else _right(p) for p in photos]
    spread = crowd_spread(estimates, margin=0.1, people=len(photos), crowds=1)
    # Nobody of 70+ counted: the other bands each get 1/16 instead of 1/18 of the crowd.
    assert spread.band_distances[0] == pytest.approx(2 / 18)
    assert spread.share_errors == (0.0,)


def test_the_same_seed_draws_the_same_crowds() -> None:
    estimates = [Estimate(p, 0.3 if i % 4 else 0.7, p.lo + 5.0) for i, p in enumerate(_photos())]
    first = crowd_spread(estimates, margin=0.1, people=20, crowds=30, seed=3)
    assert first == crowd_spread(estimates, margin=0.1, people=20, crowds=30, seed=3)
    assert first != crowd_spread(estimates, margin=0.1, people=20, crowds=30, seed=4)
    text = first.text()
    assert "30 crowds of 20 photos" in text
    assert "within 3 pp in" in text
    assert "age-band distance (0-19, 20-29" in text


def test_a_crowd_larger_than_the_photos_is_one_line() -> None:
    with pytest.raises(SceneError, match=r"^a crowd of 100 needs at least as many photos \(72\)$"):
        crowd_spread([_right(p) for p in _photos()], margin=0.1, people=100)


def test_crowds_where_nobody_was_counted_are_n_a_not_a_crash() -> None:
    unseen = [Estimate(p) for p in _photos()]
    spread = crowd_spread(unseen, margin=0.1, people=10, crowds=5)
    assert spread.as_dict() == {
        "crowds": 5,
        "people": 10,
        "female_share_error_pp": None,
        "age_band_distance": None,
    }
    assert "female-share error: n/a" in spread.text()
    assert "age-band distance (0-19" in spread.text()
