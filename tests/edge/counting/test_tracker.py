"""The tracker on scripted detections: one person is one track, counted once, with no pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pytest

from edge.boxes import iou_matrix
from edge.config import CountingLine, CountingZone, TrackerConfig
from edge.counting.tracker import FULL_QUALITY_PX, Tracker, _Track, quality
from edge.types import AnalysedFrame, Detections, FaceAttributes, FinishedTrack

T0 = 1_767_258_000.0
FPS = 10.0
CFG = TrackerConfig()  # max_missed_s 3.0, min_hits 5
LINE = CountingLine(name="door", start=(0.5, 0.0), end=(0.5, 1.0))


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
        np.array([f.score for f in faces], dtype=np.float32).reshape(n),
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


QUIET = int((CFG.max_missed_s + 0.5) * FPS)


def run(
    script: list[list[Face]], tracker: Tracker, quiet_frames: int = QUIET
) -> list[FinishedTrack]:
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
    missing = range(12, 17)  # 5 frames = 0.5 s
    script = [[] if i in missing else [walker(i)] for i in range(30)]
    done = run(script, Tracker(CFG))
    assert len(done) == 1
    assert done[0].hits == 30 - len(missing)


def test_long_gap_starts_a_new_track() -> None:
    missing = range(10, 42)  # 3.2 s > max_missed_s
    script = [[] if i in missing else [Face(x=300, y=300)] for i in range(50)]
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
        "id",
        "mean",
        "cov",
        "aspect",
        "size",
        "box",
        "first_seen",
        "last_seen",
        "hits",
        "evidence",
        "estimates",
        "best",
        "age_sum",
        "p_male_sum",
        "lines",
        "in_zone",
        "cut",
    }
    assert "__dict__" not in dir(_Track), "slots: no attribute can be added later"
    tracker = Tracker(CFG, (LINE,))
    for i in range(12):
        tracker.update(frame(i, [walker(i), Face(x=900, y=100 + i)]))
    state = tracker._tracks
    assert len(state) == 2
    shapes = {"mean": (3, 2), "cov": (3, 2, 2), "box": (4,)}
    for track in state:
        for name in names:
            value = getattr(track, name)
            if isinstance(value, np.ndarray):
                assert value.shape == shapes[name], name
            elif name == "lines":
                assert all(
                    isinstance(v, int | float) for s in value for v in dataclasses.astuple(s)
                )
            else:
                assert isinstance(value, int | float), name
    arrays = [v for v in vars(tracker).values() if isinstance(v, np.ndarray)]
    assert arrays == [], "the tracker keeps no frame-sized arrays of its own"


def test_finished_track_is_numbers_only() -> None:
    (track,) = run([[walker(i)] for i in range(10)], Tracker(CFG, (LINE,)))
    for field in dataclasses.fields(FinishedTrack):
        value = getattr(track, field.name)
        if field.name == "crossings":
            assert value == ((0, 0),)
        else:
            assert value is None or isinstance(value, int | float), field.name


def pace(i: int, x0: float, speed_px_s: float) -> float:
    return x0 + speed_px_s * i / FPS


@pytest.mark.parametrize("hidden_s", [0.5, 1.0, 1.8, 2.5])
def test_walker_hidden_behind_a_pillar_is_counted_once(hidden_s: float) -> None:
    """Walking at 150 px/s behind a pillar: it re-appears where its motion says, same track."""
    gap = range(20, 20 + round(hidden_s * FPS))
    script = [
        [] if i in gap else [Face(x=pace(i, 50, 150), y=300, size=70, age=40)]
        for i in range(gap.stop + 20)
    ]
    done = run(script, Tracker(CFG))
    assert len(done) == 1
    assert done[0].hits == len(script) - len(gap)


def test_person_who_stops_while_hidden_is_counted_once() -> None:
    """Walks, is hidden 2 s, is found again standing near where they were last seen."""
    script = [[Face(x=pace(i, 100, 120), y=300, size=80)] for i in range(20)]
    script += [[] for _ in range(20)]
    script += [[Face(x=pace(19, 100, 120) + 10, y=302, size=80)] for _ in range(20)]
    done = run(script, Tracker(CFG))
    assert len(done) == 1


def test_big_face_track_does_not_jump_onto_a_small_face_behind_it() -> None:
    """The reported bug: a 150 px face missed for a few frames; a 50 px face 130 px away."""
    script: list[list[Face]] = []
    for i in range(40):
        small = Face(x=520, y=200, size=50, age=70, p_male=0.1)
        big = Face(x=pace(i, 200, 60), y=260, size=150, age=20, p_male=0.9)
        # The big face is missed between frames 15 and 22 (turned away).
        script.append([small] if 15 <= i < 22 else [big, small])
    tracker = Tracker(CFG)
    done = run(script, tracker)
    assert len(done) == 2
    by_age = {t.mean_age: t for t in done}
    assert set(by_age) == {20.0, 70.0}, "each track kept one person's attributes"
    assert by_age[70.0].hits == 40
    assert by_age[20.0].hits == 40 - 7


def test_crossing_with_occlusion_keeps_identities() -> None:
    """A near person walks past a far one; the far face is hidden for 0.7 s while behind."""
    script = []
    for i in range(50):
        near = Face(x=pace(i, 100, 200), y=300, size=110, age=25, p_male=0.9)
        far = Face(x=pace(i, 700, -120), y=270, size=60, age=65, p_male=0.1)
        behind = abs((near.x + 55) - (far.x + 30)) < 120
        script.append([near] if behind else [near, far])
    assert sum(len(f) == 1 for f in script) >= 7, "the script hides the far face"
    done = run(script, Tracker(CFG))
    assert len(done) == 2
    by_age = {t.mean_age: t.mean_p_male for t in done}
    assert by_age == {25.0: pytest.approx(0.9), 65.0: pytest.approx(0.1)}


def test_a_second_box_on_a_face_starts_no_track() -> None:
    """Two pyramid scales can report one face twice: a 100 px box round a 60 px one."""
    script = []
    for i in range(30):
        x = pace(i, 100, 80)
        small = Face(x=x, y=300, size=60)
        script.append([small, Face(x=x - 20, y=280, size=100)] if i >= 10 else [small])
    done = run(script, Tracker(CFG))
    assert [t.hits for t in done] == [30]


def test_a_second_track_on_a_briefly_missed_face_is_merged() -> None:
    """Missed for 0.3 s, then found at another scale (too different to pass the size gate):
    the new track covers the old one's predicted box, so they are one person."""
    script: list[list[Face]] = [[Face(x=pace(i, 100, 80), y=300, size=60)] for i in range(10)]
    script += [[] for _ in range(3)]
    script += [[Face(x=pace(i, 100, 80) - 20, y=280, size=100)] for i in range(13, 30)]
    tracker = Tracker(CFG)
    done = run(script, tracker)
    assert len(done) == 1
    assert done[0].hits == 27
    assert done[0].first_seen == T0


def test_weak_detections_continue_tracks_but_never_start_them() -> None:
    weak = CFG.high_score - 0.2
    script = [[Face(x=pace(i, 100, 100), y=300, score=0.9 if i < 10 else weak)] for i in range(30)]
    script = [[*faces, Face(x=900, y=100, score=weak)] for faces in script]
    done = run(script, Tracker(CFG))
    assert [t.hits for t in done] == [30]


def test_latest_boxes_are_the_tracks_seen_in_the_last_frame() -> None:
    tracker = Tracker(CFG)
    tracker.update(frame(0, [Face(x=100, y=100), Face(x=500, y=100)]))
    first = tracker.latest
    assert len(first.ids) == 2
    np.testing.assert_allclose(first.boxes[:, 0], [100, 500])
    tracker.update(frame(1, [Face(x=502, y=100)]))
    assert tracker.latest.ids == (first.ids[1],)


@pytest.mark.parametrize(
    ("speed", "in_side", "expected"),
    [
        # The line runs down the screen; looking along it, its left is the screen's right.
        (150, "left", (1, 0)),
        (150, "right", (0, 1)),
        (-150, "right", (1, 0)),
        (-150, "left", (0, 1)),
    ],
)
def test_line_crossing_counts_direction(
    speed: float, in_side: str, expected: tuple[int, int]
) -> None:
    line = CountingLine(name="door", start=(0.5, 0.0), end=(0.5, 1.0), in_side=in_side)  # type: ignore[arg-type]
    x0 = 400 if speed > 0 else 800
    script = [[Face(x=pace(i, x0, speed), y=300)] for i in range(30)]
    (track,) = run(script, Tracker(CFG, (line,)))
    assert track.crossings == (expected,)


def test_jitter_on_a_line_counts_nothing_and_walking_round_its_end_neither() -> None:
    line = CountingLine(name="door", start=(0.5, 0.5), end=(0.5, 1.0))
    # Face centre jitters 1 px either side of x = 640.
    jitter = [[Face(x=610 + (1 if i % 2 else -1), y=500)] for i in range(30)]
    (track,) = run(jitter, Tracker(CFG, (line,)))
    assert track.crossings == ((0, 0),)
    # Walks across x = 640 above the line's upper end (y < 0.5 of 720 px).
    above = [[Face(x=pace(i, 400, 150), y=100)] for i in range(30)]
    (track,) = run(above, Tracker(CFG, (line,)))
    assert track.crossings == ((0, 0),)


def test_line_crossed_while_hidden_is_counted_on_reappearance() -> None:
    line = CountingLine(name="door", start=(0.5, 0.0), end=(0.5, 1.0), in_side="left")
    script = [[] if 12 <= i < 30 else [Face(x=pace(i, 400, 150), y=300)] for i in range(45)]
    (track,) = run(script, Tracker(CFG, (line,)))
    assert track.crossings == ((1, 0),)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], dtype=np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]], dtype=np.float32)
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(iou[1], [0, 0, 0])
    assert iou_matrix(a[:0], b).shape == (0, 3)


def test_with_zones_only_paths_that_enter_one_are_counted() -> None:
    # The crossing zone is the middle third of the frame, in its lower half.
    zone = CountingZone(
        name="crossing", polygon=((0.33, 0.5), (0.66, 0.5), (0.66, 1.0), (0.33, 1.0))
    )
    through = [Face(x=pace(i, 100, 200), y=500) for i in range(40)]  # walks through it
    above = [Face(x=pace(i, 100, 200), y=100, size=50) for i in range(40)]  # passes above it
    done = run([[a, b] for a, b in zip(through, above, strict=True)], Tracker(CFG, (), (zone,)))
    assert sorted((t.in_zone, t.hits) for t in done) == [(False, 40), (True, 40)]
    # Without zones everyone is in.
    done = run([[a, b] for a, b in zip(through, above, strict=True)], Tracker(CFG))
    assert all(t.in_zone for t in done)


def test_poor_faces_count_but_feed_no_attributes() -> None:
    # NaN is what the estimator gives a poor face (edge.vision.quality): still a person.
    nan = float("nan")
    tracker = Tracker(CFG)
    for i in range(8):
        good = i in (3, 5)
        face = walker(i)._replace(age=40.0 + i if good else nan, p_male=0.8 if good else nan)
        tracker.update(frame(i, [face]))
    (track,) = tracker.flush()
    assert track.hits == 8
    assert track.mean_age == pytest.approx((43.0 + 45.0) / 2)
    assert track.mean_p_male == pytest.approx(0.8)

    tracker = Tracker(CFG)
    for i in range(8):  # every face poor: counted, with no guessed gender or age
        tracker.update(frame(i, [walker(i)._replace(age=nan, p_male=nan)]))
    (track,) = tracker.flush()
    assert track.hits == 8
    assert track.mean_age is None
    assert track.mean_p_male is None


def _cut_frame(index: int, boxes: list[list[float]], scores: list[float]) -> AnalysedFrame:
    n = len(boxes)
    det = Detections(
        np.array(boxes, dtype=np.float32).reshape(n, 4),
        np.array(scores, dtype=np.float32).reshape(n),
        np.zeros((n, 6, 2), np.float32),
    )
    return AnalysedFrame(index, T0 + index / FPS, 1280, 720, det, FaceAttributes())


@pytest.mark.parametrize("speed", [150.0, -150.0, 90.0, 220.0])
def test_face_cut_by_a_pillar_is_one_track(speed: float) -> None:
    """A face slides behind a pillar and out again, as a real detector sees it: the box
    narrows (one edge stays the face's, the other is the pillar's) and gets a little shorter,
    the detector still finds a third of the face, then nothing, then a sliver on the far
    side that widens. The cut boxes' centres lag, then lead, the face; a sliver is too
    narrow for the size gate. It must stay one track, counted once."""
    size, left, right = 70.0, 600.0, 720.0
    x0 = 300.0 if speed > 0 else 1000.0
    tracker = Tracker(CFG)
    done: list[FinishedTrack] = []
    hidden = 0
    frames = int(700 / abs(speed) * FPS)
    for i in range(frames):
        x = pace(i, x0, speed)
        a, b = x, x + size
        if b > left and a < right:  # overlaps the pillar: keep the part in view
            a, b = (a, left) if a < left else (max(a, right), b)
        shown = max(0.0, b - a) / size
        if shown < 0.3:
            hidden += 1
            done += tracker.update(_cut_frame(i, [], []))
            continue
        h = size * (0.8 + 0.2 * shown)
        box = [a, 300 + (size - h) / 2, b, 300 + (size + h) / 2]
        done += tracker.update(_cut_frame(i, [box], [0.9 if shown > 0.6 else 0.7]))
    done += tracker.flush()
    assert hidden >= 3, "the script hides the face for a while"
    assert len(done) == 1
    assert done[0].hits == frames - hidden, "every box, slivers included, is the one track's"


@pytest.mark.parametrize("speed", [150.0, -150.0])
def test_face_walking_in_at_the_frame_edge_is_one_track(speed: float) -> None:
    """Walking in, the face is first a sliver against the frame's side and its box widens
    faster than any face grows (an entering sliver, then the whole face): one track."""
    size = 70.0
    tracker = Tracker(CFG)
    done: list[FinishedTrack] = []
    frames = 30
    for i in range(frames):
        shown = min(size, 15.0 + abs(speed) * i / FPS)
        a, b = (0.0, shown) if speed > 0 else (1280 - shown, 1280.0)
        if shown >= size:
            a, b = (
                (pace(i, -55, speed), pace(i, 15, speed))
                if speed > 0
                else (
                    pace(i, 1265, speed),
                    pace(i, 1335, speed),
                )
            )
        h = size * (0.6 + 0.4 * (b - a) / size)
        box = [a, 300 + (size - h) / 2, b, 300 + (size + h) / 2]
        done += tracker.update(_cut_frame(i, [box], [0.9]))
    done += tracker.flush()
    assert [t.hits for t in done] == [frames]


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


def test_faces_marked_poor_feed_nothing_even_with_attributes() -> None:
    # Detections.good False (edge.vision.quality): the face is a person, its age and p(male)
    # count for nothing, even if some estimator filled them in.
    tracker = Tracker(CFG)
    for i in range(8):
        f = frame(i, [walker(i)._replace(age=60.0, p_male=0.9)])
        good = np.array([i in (2, 4)], dtype=bool)
        det = dataclasses.replace(f.detections, good=good)
        tracker.update(dataclasses.replace(f, detections=det))
    (track,) = tracker.flush()
    assert track.hits == 8
    assert track.evidence == pytest.approx(
        2 * quality(0.9, frame(0, [walker(0)]).detections.boxes[0])
    )
    assert track.mean_age == pytest.approx(60.0)
