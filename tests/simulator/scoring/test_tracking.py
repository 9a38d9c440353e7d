"""Tracking accuracy: MOT metrics on scripted tracks, and the committed expectation on a
generated scene with occlusion (synthetic detections: the tracker alone, the same on every
machine). The expectation fails on drift either way; update it on purpose with
``python -m tests.simulator.scoring.test_tracking --write``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from edge.counting.tracker import TrackBoxes
from simulator.scenes.boxes import FrameBox, boxes_csv
from simulator.scenes.portraits import FaceItem
from simulator.scenes.scene import SceneSpec, frame_boxes, plan_scene
from simulator.scoring.track_run import default_settings, run_tracker, synthetic_frames
from simulator.scoring.tracking import MotScorer, NoiseModel, TrackScore, synthetic_detections

EXPECTED = Path(__file__).with_name("expected_tracking.json")
# Scenes with a pillar, people passing behind others and lingerers; planned, not rendered.
SCENES = {
    "occlusion-30p-45s-seed11": SceneSpec(people=30, seconds=45, seed=11, occlusion=True),
    "occlusion-40p-60s-seed3": SceneSpec(people=40, seconds=60, seed=3, occlusion=True),
}


def _face() -> FaceItem:
    return FaceItem(image=np.full((130, 100, 3), 128, np.uint8), label="grey")


def score_of(spec: SceneSpec) -> TrackScore:
    plan = plan_scene(spec, [_face()])
    rows = frame_boxes(plan)
    truth = plan.truth
    scorer = MotScorer(rows, truth.width, truth.height)
    dets = synthetic_detections(
        rows, truth.frames, truth.width, truth.height, seed=0, noise=NoiseModel()
    )
    settings = default_settings(Path("unused"))
    run = run_tracker(
        synthetic_frames(dets, truth.fps, truth.width, truth.height), settings, scorer.add
    )
    return scorer.result(run.counted)


def box(frame: int, pid: int, x: int, visible: float = 1.0) -> FrameBox:
    return FrameBox(frame, pid, x, 100, 60, 80, visible)


def tracks(ids: list[int], xs: list[int]) -> TrackBoxes:
    return TrackBoxes(
        tuple(ids), np.array([[x, 100, x + 60, 180] for x in xs], dtype=np.float32).reshape(-1, 4)
    )


def test_perfect_tracks_score_one() -> None:
    truth = [box(f, 1, 10 * f) for f in range(10)] + [box(f, 2, 500 - 10 * f) for f in range(10)]
    scorer = MotScorer(truth, 1280, 720)
    for f in range(10):
        scorer.add(f, tracks([7, 8], [10 * f, 500 - 10 * f]))
    result = scorer.result(counted=2)
    assert (result.mota, result.idf1, result.id_switches, result.fragmentations) == (1, 1, 0, 0)
    assert result.people == 2
    assert result.count_error_pct == 0


def test_swapped_identity_is_one_switch_and_lowers_idf1() -> None:
    truth = [box(f, 1, 100 + 10 * f) for f in range(10)]
    scorer = MotScorer(truth, 1280, 720)
    for f in range(10):
        scorer.add(f, tracks([7 if f < 5 else 9], [100 + 10 * f]))
    result = scorer.result(counted=2)
    assert result.id_switches == 1
    assert result.idf1 == pytest.approx(0.5)
    assert result.count_error_pct == 100


def test_a_track_on_a_hidden_face_is_neither_hit_nor_false_positive() -> None:
    truth = [box(f, 1, 100, visible=0.2 if 3 <= f < 6 else 1.0) for f in range(10)]
    scorer = MotScorer(truth, 1280, 720)
    for f in range(10):
        scorer.add(f, tracks([7], [100]))
    result = scorer.result(counted=1)
    assert result.scored_boxes == 7
    assert (result.mota, result.precision, result.recall) == (1, 1, 1)


def test_boxes_csv_has_a_header_and_one_row_per_box() -> None:
    text = boxes_csv([box(0, 3, 10, 0.5), box(1, 3, 20)])
    assert text.splitlines() == [
        "frame,id,x,y,w,h,visible",
        "0,3,10,100,60,80,0.5",
        "1,3,20,100,60,80,1",
    ]


def test_occlusion_scene_hides_people_briefly_and_never_for_long() -> None:
    spec = SCENES["occlusion-30p-45s-seed11"]
    plan = plan_scene(spec, [_face()])
    assert plan.truth.pillars is not None
    rows = frame_boxes(plan)
    runs: list[int] = []
    by_id: dict[int, list[FrameBox]] = {}
    for r in rows:
        by_id.setdefault(r.id, []).append(r)
    for person in by_id.values():
        run = 0
        for r in person:
            inside = r.x >= 0 and r.x + r.w <= spec.width
            if inside and r.visible < 0.5:
                run += 1
            else:
                runs.append(run)
                run = 0
    hidden_s = [n / spec.fps for n in runs if n]
    assert max(hidden_s) <= 3.0
    assert sum(s >= 0.5 for s in hidden_s) >= 10, "many people pass behind the pillar or others"


def test_tracking_on_an_occlusion_scene_matches_the_committed_figures() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    for name, spec in SCENES.items():
        got = score_of(spec)
        want = expected[name]
        for key in ("people", "counted", "id_switches", "fragmentations", "scored_boxes"):
            assert getattr(got, key) == want[key], f"{name}: {key} drifted"
        for key in ("mota", "idf1", "precision", "recall"):
            assert getattr(got, key) == pytest.approx(want[key], abs=5e-4), f"{name}: {key} drifted"
        # The goals of issue 11, on every committed scene.
        assert got.idf1 >= 0.85, name
        assert got.switches_per_100 <= 2.0, name
        assert abs(got.count_error_pct) <= 3.0, name


if __name__ == "__main__":  # pragma: no cover - rewrites the committed expectation
    if sys.argv[1:] == ["--write"]:
        doc = {name: asdict(score_of(spec)) for name, spec in SCENES.items()}
        EXPECTED.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(json.dumps(doc, indent=2))
