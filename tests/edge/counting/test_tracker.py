"""The tracker on scripted detections: one person is one track, counted once, with no pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.counting.tracker import FULL_QUALITY_PX, Tracker, _Track, iou_matrix, quality
from edge.types import AnalysedFrame, Detections, FaceAttributes, FinishedTrack

T0 = 1_767_258_000.0
FPS = 10.0
CFG = TrackerConfig()  # max_missed_s 1.0, min_hits 5


class Face(NamedTuple):
    x: float
    y: float
    size: float = 60.0
    age: float = 30.0
    p_male: float = 0.5
    score: float = 0.9


def frame(index: int, faces: Sequence[Face], with_attributes: bool = True) -> AnalysedFrame:
    n = len(faces)
    boxes = np.array([[f.x, f.y, f.x + f.size, f.y + f.size] for f in faces], dtype=np.float32)
    detections = Detections(
        boxes.reshape(n, 4),
        np.array([f.score for f in faces], dtype=np.float32),
        np.zeros((n, 6, 2), np.float32),
    )
    attributes = (
        FaceAttributes(
            age=np.array([f.age for f in faces], dtype=np.float32),
            p_male=np.array([f.p_male for f in faces], dtype=np.float32),
        )
        if with_attributes
        else FaceAttributes()
    )
    return AnalysedFrame(index, T0 + index / FPS, 1280, 720, detections, attributes)


def run(script: list[list[Face]], tracker: Tracker, quiet_frames: int = 15) -> list[FinishedTrack]:
    """Feed the scripted frames, then empty frames long enough for every track to expire."""
    done: list[FinishedTrack] = []
    for i, faces in enumerate(script):
        done += tracker.update(frame(i, faces))
    for j in range(len(script), len(script) + quiet_frames):
        done += tracker.update(frame(j, []))
    return done


def walker(i: int) -> Face:
    return Face(x=100 + 8 * i, y=300, age=20 + i, p_male=0.1 + 0.02 * i)


def test_steady_face_is_one_track_with_mean_attributes() -> None:
    tracker = Tracker(CFG)
    script = [[walker(i)] for i in range(30)]
    done: list[FinishedTrack] = []
    for i, faces in enumerate(script):
        done += tracker.update(frame(i, faces))
    assert done == []
    assert tracker.active == 1
    # Unseen for a little less than max_missed_s: not yet ended; a little more: ended.
    assert tracker.advance(T0 + 2.9 + CFG.max_missed_s - 0.05) == []
    (track,) = tracker.advance(T0 + 2.9 + CFG.max_missed_s + 0.05)
    assert tracker.active == 0
    assert track.hits == 30
    assert track.first_seen == T0
    assert track.ended_at == pytest.approx(T0 + 2.9)
    ages = [walker(i).age for i in range(30)]
    p_males = np.array([walker(i).p_male for i in range(30)], dtype=np.float32)
    assert track.mean_age == pytest.approx(np.mean(ages))
    assert track.mean_p_male == pytest.approx(float(p_males.astype(np.float64).mean()))


def test_crossing_faces_stay_two_tracks() -> None:
    script = [
        [
            Face(x=100 + 20 * i, y=300, age=30, p_male=0.9),
            Face(x=680 - 20 * i, y=320, age=60, p_male=0.1),
        ]
        for i in range(30)
    ]
    done = run(script, Tracker(CFG))
    assert len(done) == 2
    assert sorted((t.mean_age, t.hits) for t in done) == [(30.0, 30), (60.0, 30)]
    # Identities did not swap at the crossing: each track kept one person's attributes.
    by_age = {t.mean_age: t.mean_p_male for t in done}
    assert by_age[30.0] == pytest.approx(0.9)
    assert by_age[60.0] == pytest.approx(0.1)


def test_short_gap_does_not_split_a_track() -> None:
    missing = range(12, 17)  # 5 frames = 0.5 s < max_missed_s
    script = [[] if i in missing else [walker(i)] for i in range(30)]
    done = run(script, Tracker(CFG))
    assert len(done) == 1
    assert done[0].hits == 30 - len(missing)


def test_long_gap_starts_a_new_track() -> None:
    missing = range(10, 22)  # 1.2 s > max_missed_s
    script = [[] if i in missing else [Face(x=300, y=300)] for i in range(30)]
    done = run(script, Tracker(CFG))
    assert [t.hits for t in done] == [10, 8]


@pytest.mark.parametrize(("frames", "counted"), [(CFG.min_hits - 1, 0), (CFG.min_hits, 1)])
def test_blip_shorter_than_min_hits_is_not_counted(frames: int, counted: int) -> None:
    done = run([[Face(x=500, y=200)] for _ in range(frames)], Tracker(CFG))
    assert len(done) == counted


def test_flush_ends_every_track() -> None:
    tracker = Tracker(CFG)
    for i in range(10):
        tracker.update(frame(i, [walker(i), Face(x=900, y=100)]))
    tracker.update(frame(10, [Face(x=50, y=600)]))  # a new face, one hit so far
    assert tracker.active == 3
    done = tracker.flush()
    assert tracker.active == 0
    assert sorted(t.hits for t in done) == [10, 10], "the one-hit blip is not counted"
    assert tracker.flush() == []


def test_frames_without_attributes_leave_means_empty() -> None:
    tracker = Tracker(CFG)
    for i in range(8):
        tracker.update(frame(i, [walker(i)], with_attributes=(i % 2 == 0)))
    (track,) = tracker.flush()
    assert track.hits == 8
    assert track.mean_age == pytest.approx(np.mean([walker(i).age for i in (0, 2, 4, 6)]))

    tracker = Tracker(CFG)
    for i in range(8):
        tracker.update(frame(i, [walker(i)], with_attributes=False))
    (track,) = tracker.flush()
    assert track.mean_age is None
    assert track.mean_p_male is None


def test_track_state_holds_no_pixels() -> None:
    names = {f.name for f in dataclasses.fields(_Track)}
    assert names == {
        "box",
        "velocity",
        "first_seen",
        "last_seen",
        "hits",
        "evidence",
        "age_sum",
        "p_male_sum",
    }
    assert "__dict__" not in dir(_Track), "slots: no attribute can be added later"
    tracker = Tracker(CFG)
    for i in range(12):
        tracker.update(frame(i, [walker(i), Face(x=900, y=100 + i)]))
    state = tracker._tracks
    assert len(state) == 2
    for track in state:
        for name in names:
            value = getattr(track, name)
            if isinstance(value, np.ndarray):
                assert name in {"box", "velocity"}
                assert value.shape == (4,)
            else:
                assert isinstance(value, int | float)
    arrays = [v for v in vars(tracker).values() if isinstance(v, np.ndarray)]
    assert arrays == [], "the tracker keeps no frame-sized arrays of its own"


def test_finished_track_is_numbers_only() -> None:
    (track,) = run([[walker(i)] for i in range(10)], Tracker(CFG))
    for field in dataclasses.fields(FinishedTrack):
        value = getattr(track, field.name)
        assert value is None or isinstance(value, int | float), field.name


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], dtype=np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]], dtype=np.float32)
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(iou[1], [0, 0, 0])
    assert iou_matrix(a[:0], b).shape == (0, 3)


@pytest.mark.parametrize(
    ("score", "width", "expected"),
    [(0.9, 64.0, 0.9), (0.9, 128.0, 0.9), (0.8, 32.0, 0.4), (1.0, 0.0, 0.0)],
)
def test_quality_is_score_times_a_size_factor(score: float, width: float, expected: float) -> None:
    assert FULL_QUALITY_PX == 64.0
    box = np.array([10.0, 10.0, 10.0 + width, 10.0 + width], np.float32)
    assert quality(score, box) == pytest.approx(expected)


def test_good_observations_outweigh_poor_ones() -> None:
    # A steady face: sharp frames say male (0.9), blurry low-score frames say female (0.1).
    script = [
        [Face(x=500, y=200, size=80, p_male=0.9, age=40, score=0.95)]
        if i % 2 == 0
        else [Face(x=500, y=200, size=80, p_male=0.1, age=20, score=0.6)]
        for i in range(10)
    ]
    (track,) = run(script, Tracker(CFG))
    w_good, w_poor = 5 * 0.95, 5 * 0.6
    assert track.evidence == pytest.approx(w_good + w_poor, rel=1e-6)
    assert track.mean_p_male == pytest.approx((0.9 * w_good + 0.1 * w_poor) / (w_good + w_poor))
    assert track.mean_age == pytest.approx((40 * w_good + 20 * w_poor) / (w_good + w_poor))
    assert (track.mean_p_male or 0.0) > 0.5, "a plain mean would have said 0.5 (unknown)"


@pytest.mark.parametrize(("min_evidence", "known"), [(1.0, True), (2.0, False)])
def test_weak_evidence_finishes_without_attributes(min_evidence: float, known: bool) -> None:
    # Six sightings of a 16 px face: quality 0.9 * 16/64 = 0.225 each, 1.35 in all.
    script = [[Face(x=500, y=200, size=16, p_male=0.95, age=35)] for _ in range(6)]
    (track,) = run(script, Tracker(CFG, min_evidence=min_evidence))
    assert track.hits == 6  # counted either way
    assert track.evidence == pytest.approx(1.35, rel=1e-5)
    assert (track.mean_p_male is not None) is known
    assert (track.mean_age is not None) is known
