"""Crowds drawn from per-photo estimates: the share and band figures a scene would score."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.ops.calibrate import Estimate, LabelledPhoto
from simulator.errors import SceneError
from simulator.scenes.faces import read_labels
from simulator.scenes.labelled import LabelledSource, load_labelled, photo_order
from simulator.scenes.scene import SceneSpec, plan_scene
from simulator.scoring.accuracy import FAIRFACE, fairface_groups, to_photos
from simulator.scoring.crowds import CROWD_BANDS, band_of, crowd_spread, draws_text, scene_draws

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


def test_a_scene_draw_counts_its_photos_with_the_nodes_rule() -> None:
    photos = _photos(per_cell=12)  # 216 photos
    estimates = []
    for i, p in enumerate(photos):
        if p.gender == "male" and i % 3 == 0:
            estimates.append(Estimate(p, 0.5, p.lo + 1.0))  # unknown: inside the margin
        elif p.gender == "male" and i % 3 == 1 and p.lo >= 60:
            estimates.append(Estimate(p))  # the detector found no face
        else:
            estimates.append(_right(p))
    for seed in (7, 8):
        order = photo_order(len(photos), 100, seed)
        women = sum(photos[i].gender == "female" for i in order)
        unknown = sum(photos[i].gender == "male" and i % 3 == 0 for i in order)
        missed = sum(estimates[i].p_male is None for i in order)
        male = 100 - women - unknown - missed
        (draw,) = scene_draws(estimates, [seed], margin=0.1, people=100)
        figures = draw.as_dict()
        # Men of 60+ not found leave their bands short (the ages are otherwise right).
        distance = figures.pop("age_band_distance")
        assert isinstance(distance, float)
        assert 0 < distance < 0.2
        assert figures == {
            "seed": seed,
            "people": 100,
            "truth_female_pct": round(float(women), 1),
            "counted_female_pct": round(100 * women / (women + male), 1),
            "female_share_error_pp": round(100 * (women / (women + male) - women / 100), 1),
            "unknown": unknown,
            "not_found": missed,
        }
        assert unknown > 0
        assert missed > 0
        assert f"seed {seed}: female" in draws_text([draw])
        assert f"{unknown} unknown, {missed} not found" in draw.text()


def test_a_scene_draw_with_nobody_counted_is_n_a() -> None:
    (draw,) = scene_draws([Estimate(p) for p in _photos()], [1], margin=0.1, people=10)
    assert draw.as_dict()["female_share_error_pp"] is None
    assert draw.as_dict()["age_band_distance"] is None
    assert "female share n/a" in draw.text()
    with pytest.raises(SceneError, match=r"^a scene of 100 needs at least as many photos \(72\)$"):
        scene_draws([_right(p) for p in _photos()], [1], margin=0.1)


def test_a_scene_draw_takes_the_photos_the_scene_of_that_seed_shows() -> None:
    """Against the scene generator itself: the 100 people of ``kazoe-sim scene --faces
    FAIRFACE --labels fairface --people 100 --seed 7`` (the e2e scene) are the draw."""
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"FairFace subset not found at {FAIRFACE} (see its SOURCE.md)")
    files, _ = read_labels(FAIRFACE, "fairface")
    faces, _ = load_labelled(LabelledSource(FAIRFACE, "fairface"), 100, 7)
    plan = plan_scene(SceneSpec(people=100, fps=10, seed=7, window_s=30), faces)
    shown = {p.portrait for p in plan.truth.people}
    assert len(shown) == 100
    # p(male) 0.9 for a photo the scene shows, 0.1 for the others: a draw of exactly those
    # photos counts nobody female.
    estimates = [
        Estimate(photo, 0.9 if photo.path.name in shown else 0.1, photo.lo + 1.0)
        for photo in to_photos(files, fairface_groups(files))
    ]
    (draw,) = scene_draws(estimates, [7], margin=0.1)
    assert (draw.counted.female, draw.counted.male) == (0, 100)
    women = sum(p.gender == "female" for p in plan.truth.people)
    assert draw.counted.women == women
