"""``kazoe calibrate --recording``: people lists, recording folders, and matching tracks to
labelled people (unit level; the real pipeline: tests/e2e/test_e2e_calibrate_recording.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.ops.calibrate import build_calibration, check_enough
from edge.ops.recording import (
    LabelledPerson,
    TrackEnd,
    find_recordings,
    match,
    read_people,
)
from edge.payload import ModelIds


def _people(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_people_list_gives_exit_times_and_labels(tmp_path: Path) -> None:
    path = _people(tmp_path, "exit_s,gender,age\n4.2,female,30-39\n9.0,M,41\n12.5,,\n13,,70+\n")
    people, unlabelled = read_people(path, 20.0)
    assert people == [
        LabelledPerson(4.2, "female", (30, 39)),
        LabelledPerson(9.0, "male", (41, 41)),
        LabelledPerson(13.0, None, (70, None)),
    ]
    assert unlabelled == 1


def test_a_header_without_rows_is_a_recording_with_nobody(tmp_path: Path) -> None:
    assert read_people(_people(tmp_path, "exit_s,gender,age\n"), 5.0) == ([], 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the first line must name the columns"),
        ("gender,age\nfemale,30\n", "the first line must name the columns"),
        ("exit_s,gender,age\nsoon,female,30\n", "line 2: exit_s 'soon' is not a number"),
        ("exit_s,gender,age\n1,female,30\n99,male,30\n", r"line 3: exit_s 99 is outside the video"),
        ("exit_s,gender,age\n1,woman,30\n", "line 2: gender 'woman' is not female"),
        ("exit_s,gender,age\n1,female,thirty\n", "line 2: age 'thirty'"),
    ],
)
def test_a_bad_people_list_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        read_people(_people(tmp_path, text), 10.0)
    assert "\n" not in str(err.value)


def _recording(folder: Path, *videos: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "people.csv").write_text("exit_s,gender,age\n", encoding="utf-8")
    for name in videos:
        (folder / name).write_bytes(b"")
    return folder


def test_a_recording_is_one_video_beside_people_csv_or_a_folder_of_them(tmp_path: Path) -> None:
    one = _recording(tmp_path / "street", "clip.mp4", "notes.txt")
    (rec,) = find_recordings([one])
    assert (rec.video.name, rec.people.name) == ("clip.mp4", "people.csv")
    _recording(tmp_path / "all" / "b", "b.mkv")
    _recording(tmp_path / "all" / "a", "a.MP4")
    (tmp_path / "all" / "empty").mkdir()
    assert [r.video.name for r in find_recordings([tmp_path / "all"])] == ["a.MP4", "b.mkv"]


def test_recording_folders_that_cannot_be_used_are_one_line(tmp_path: Path) -> None:
    two = _recording(tmp_path / "two", "a.mp4", "b.avi")
    with pytest.raises(
        ConfigError, match=r"holds one video beside people\.csv, found a\.mp4, b\.avi"
    ):
        find_recordings([two])
    (tmp_path / "bare").mkdir()
    with pytest.raises(ConfigError, match=r"no people\.csv in it or in its sub-folders"):
        find_recordings([tmp_path / "bare"])
    with pytest.raises(ConfigError, match="not a folder"):
        find_recordings([tmp_path / "missing"])


def _track(end_s: float, p_male: float | None = 0.8, age: float | None = 35.0) -> TrackEnd:
    return TrackEnd(end_s, p_male, age)


def test_tracks_are_matched_by_exit_time_less_their_lag() -> None:
    people = [
        LabelledPerson(2.0, "female", (20, 29)),
        LabelledPerson(4.0, "male", (40, 49)),
        LabelledPerson(6.0, "female", (60, 69)),
    ]
    # Every track ends 0.7 s after its labelled exit: beyond 0.5 s, inside it once the
    # median lag is removed. A stray track (a false detection) at 9 s matches nobody.
    tracks = [_track(2.7, 0.1, 24.0), _track(4.7, 0.9, 44.0), _track(6.7, 0.3, 61.0), _track(9.0)]
    observed, stats = match(people, tracks, 0.5)
    assert [(o.gender, o.group, o.p_male, o.age) for o in observed] == [
        ("female", (20, 29), 0.1, 24.0),
        ("male", (40, 49), 0.9, 44.0),
        ("female", (60, 69), 0.3, 61.0),
    ]
    assert (stats.people, stats.matched, stats.estimated, stats.tracks) == (3, 3, 3, 4)


def test_people_leaving_together_with_different_labels_teach_nothing() -> None:
    people = [
        LabelledPerson(3.0, "female", (30, 39)),
        LabelledPerson(3.2, "male", (30, 39)),  # same age group: the age is still theirs
        LabelledPerson(8.0, "male", (50, 59)),
    ]
    tracks = [_track(3.0, 0.2, 31.0), _track(3.2, 0.7, 38.0), _track(8.0, 0.9, 55.0)]
    observed, stats = match(people, tracks, 0.5)
    assert [(o.gender, o.group) for o in observed] == [
        (None, (30, 39)),
        (None, (30, 39)),
        ("male", (50, 59)),
    ]
    assert (stats.ambiguous_gender, stats.ambiguous_age) == (2, 0)


def test_a_person_too_far_from_any_track_or_without_estimates_is_not_measured() -> None:
    people = [LabelledPerson(1.0, "female", None), LabelledPerson(5.0, "male", None)]
    tracks = [_track(1.0, None, None), _track(30.0)]
    observed, stats = match(people, tracks, 0.5)
    assert observed == []
    assert (stats.matched, stats.estimated) == (1, 0)
    assert "0 of 2 labelled people matched to a track with estimates (1 unmatched" in (
        stats.summary()
    )


def test_too_few_people_of_a_gender_is_refused() -> None:
    people = [LabelledPerson(float(i), "female" if i % 3 else "male", (30, 39)) for i in range(9)]
    tracks = [_track(float(i), 0.2 if i % 3 else 0.8) for i in range(9)]
    observed, _ = match(people, tracks, 0.5)
    cal = build_calibration(
        observed, name="site", measured_on="t", models=ModelIds(detector="d"), recipe={}
    )
    assert (sum(cal.gender.female), sum(cal.gender.male)) == (6, 3)
    check_enough(cal, 3)
    with pytest.raises(ConfigError, match=r"only 6 women and 3 men .* at least 4 of each"):
        check_enough(cal, 4)
