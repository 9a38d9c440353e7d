"""Scene planning, truth and rendering with a synthetic face source (no network)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pydantic
import pytest

from simulator.errors import SceneError
from simulator.scenes.paths import MAX_OCCLUDED, face_range, worst_occlusion
from simulator.scenes.portraits import FaceItem
from simulator.scenes.render import make_look
from simulator.scenes.scene import SceneSpec, iter_frames, plan_scene, write_scene
from simulator.scenes.truth import VISIBLE_FRACTION, SceneTruth, count_windows


def _drawn_face(label: str, tone: int) -> FaceItem:
    img = np.full((130, 100, 3), 200, np.uint8)
    cv2.ellipse(img, (50, 65), (40, 55), 0, 0, 360, (tone, tone + 30, tone + 60), -1)
    for x in (35, 65):
        cv2.circle(img, (x, 55), 6, (40, 40, 40), -1)
    cv2.line(img, (38, 95), (62, 95), (60, 60, 150), 4)
    return FaceItem(image=img, label=label)


FACES = [_drawn_face("drawn_a", 90), _drawn_face("drawn_b", 140)]


def _frame_hashes(spec: SceneSpec) -> list[str]:
    plan = plan_scene(spec, FACES)
    return [hashlib.sha256(f.tobytes()).hexdigest() for f in iter_frames(plan, FACES)]


def test_same_seed_gives_identical_truth_and_frames() -> None:
    spec = SceneSpec(people=3, width=640, height=360, fps=8, seconds=3, seed=5)
    assert plan_scene(spec, FACES).truth.to_json() == plan_scene(spec, FACES).truth.to_json()
    assert _frame_hashes(spec) == _frame_hashes(spec)


def test_different_seeds_differ() -> None:
    a = plan_scene(SceneSpec(people=6, seed=1), FACES).truth
    b = plan_scene(SceneSpec(people=6, seed=2), FACES).truth
    assert a.people != b.people


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 360)])
def test_face_sizes_and_visibility_follow_the_truth(width: int, height: int) -> None:
    plan = plan_scene(SceneSpec(people=25, width=width, height=height, seed=3), FACES)
    lo, hi = face_range(height)
    assert (lo, hi) == (48, 200 if height == 720 else 108)
    for person, track in zip(plan.truth.people, plan.tracks, strict=True):
        assert person.face_px_min is not None
        assert person.face_px_max is not None
        assert lo <= person.face_px_min <= person.face_px_max <= hi
        assert int(track.w.min()) >= 48
        assert int(track.w.max()) <= 200
        vis = track.visible_fraction(width, height)
        first = round(person.enter_s * plan.spec.fps) - track.k0
        last = round(person.exit_s * plan.spec.fps) - track.k0
        assert vis[first] >= VISIBLE_FRACTION
        assert vis[last] >= VISIBLE_FRACTION
        assert first == 0 or vis[first - 1] < VISIBLE_FRACTION
        assert last == len(vis) - 1 or vis[last + 1] < VISIBLE_FRACTION
        assert person.portrait in {"drawn_a", "drawn_b"}


def test_people_are_spread_over_time_and_several_are_in_view() -> None:
    plan = plan_scene(SceneSpec(people=20, seed=4), FACES)
    enters = sorted(p.enter_s for p in plan.truth.people)
    assert enters[-1] - enters[0] > 10
    in_view = [sum(p.enter_s <= t <= p.exit_s for p in plan.truth.people) for t in range(30)]
    assert max(in_view) >= 3


def test_no_face_is_covered_more_than_allowed() -> None:
    plan = plan_scene(SceneSpec(people=30, seconds=40, seed=6), FACES)
    for a, b in itertools.combinations(plan.tracks, 2):
        assert worst_occlusion(a, b) <= MAX_OCCLUDED


def test_windows_count_everyone_once_where_they_exit() -> None:
    truth = plan_scene(SceneSpec(people=12, seed=7, window_s=5), FACES).truth
    assert sum(w.people for w in truth.windows) == 12
    assert truth.windows[0].start_s == 0
    assert truth.windows[-1].end_s == truth.seconds
    for w in truth.windows:
        assert w.people == sum(w.start_s <= p.exit_s < w.end_s for p in truth.people)


def test_count_windows_puts_a_boundary_exit_in_the_next_window() -> None:
    windows = count_windows([0.0, 9.99, 10.0, 25.0], seconds=25.0, window_s=10)
    assert [(w.start_s, w.end_s, w.people) for w in windows] == [
        (0, 10, 2),
        (10, 20, 1),
        (20, 25, 1),
    ]


def test_lingerer_stays_in_view_at_least_ten_seconds() -> None:
    truth = plan_scene(SceneSpec(people=5, seed=8), FACES).truth
    lingerers = [p for p in truth.people if p.lingers]
    assert len(lingerers) == 1
    assert lingerers[0].exit_s - lingerers[0].enter_s >= 10
    walkers = [p.exit_s - p.enter_s for p in truth.people if not p.lingers]
    assert max(walkers) < 12


def test_default_length_lets_everyone_leave() -> None:
    plan = plan_scene(SceneSpec(people=4, seed=9), FACES)
    assert plan.frames >= max(t.k1 for t in plan.tracks)
    assert plan.truth.seconds == pytest.approx(plan.frames / plan.spec.fps, abs=1e-3)


def test_truth_rejects_unknown_fields() -> None:
    doc = json.loads(plan_scene(SceneSpec(people=1, seed=0), FACES).truth.to_json())
    assert doc["schema"] == "kazoe.truth/1"
    assert set(doc) == {
        "schema", "width", "height", "fps", "seconds", "frames", "seed",
        "window_seconds", "people", "windows",
    }  # fmt: skip
    assert doc["people"][0]["age"] is None
    assert doc["people"][0]["gender"] is None
    SceneTruth.model_validate(doc)
    with pytest.raises(pydantic.ValidationError):
        SceneTruth.model_validate({**doc, "extra": 1})


def test_too_many_people_for_the_time_is_a_clear_error() -> None:
    with pytest.raises(SceneError, match="use fewer --people or more --seconds"):
        plan_scene(SceneSpec(people=60, width=640, height=360, seconds=6, seed=0), FACES)


def test_unwritable_video_is_a_scene_error(tmp_path: Path) -> None:
    spec = SceneSpec(people=1, width=640, height=360, fps=5, seconds=2)
    out = tmp_path / "missing" / "scene.mp4"
    with pytest.raises(SceneError, match="cannot write video"):
        write_scene(spec, out, tmp_path / "truth.json", FACES)
    assert not (tmp_path / "truth.json").exists()


def test_a_labelled_photo_is_cut_out_sharp_and_a_portrait_blended_soft() -> None:
    """A blurred vignette round a labelled face moves the gender networks (README "Crowd
    scenes"): labelled photos (``vary=False``) get a sharp-edged ellipse, alpha 0 or 1."""
    face = FACES[0]
    sharp = make_look(np.random.default_rng(1), face, vary=False).alpha
    soft = make_look(np.random.default_rng(1), face, vary=True).alpha
    assert sharp.shape == soft.shape == face.image.shape[:2]
    assert set(np.unique(sharp).tolist()) == {0.0, 1.0}
    assert sharp[65, 50] == 1.0
    assert sharp[0, 0] == 0.0
    assert np.count_nonzero((soft > 0.05) & (soft < 0.95)) > 0.1 * soft.size
