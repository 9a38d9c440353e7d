"""``kazoe-sim truth``: ground truth for a tester's own video from a list of exit times."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenes.truth import SceneTruth
from simulator.scenes.truth_cli import truth_main
from tests.simulator.videos import tiny_video


def _run(tmp_path: Path, rows: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    video = tiny_video(tmp_path / "street.mp4", 40)  # 8 s at 5 fps
    people = tmp_path / "people.csv"
    people.write_text(rows, encoding="utf-8")
    code = truth_main(
        ["--video", str(video), "--people", str(people), "--out", str(tmp_path / "t.json")]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_times_and_labels_become_a_truth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(tmp_path, "exit_s,gender,age\n1.5,female,34\n7.9,M,10-19\n3,,\n", capsys)
    assert code == 0
    assert "3 people in 8 s of video" in out
    truth = SceneTruth.load(tmp_path / "t.json")
    assert (truth.width, truth.height, truth.fps, truth.frames) == (64, 48, 5, 40)
    assert [(p.exit_s, p.gender, p.age_band) for p in truth.people] == [
        (1.5, "female", "30-39"),
        (7.9, "male", None),
        (3.0, None, None),
    ]
    assert truth.people[1].age_group == "10-19"
    window = truth.windows[0]
    assert window.people == 3
    assert window.straddling == {"10-19": 1}
    assert window.age_unknown == 1


@pytest.mark.parametrize("rows", ["exit_s,gender,age\n", "exit_s\n"])
def test_a_header_without_rows_is_a_clip_with_nobody_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str
) -> None:
    code, out, err = _run(tmp_path, rows, capsys)
    assert (code, err) == (0, "")
    assert "0 people in 8 s of video" in out
    truth = SceneTruth.load(tmp_path / "t.json")
    assert truth.people == []
    assert sum(w.people for w in truth.windows) == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("when,who\n1,f\n", "the first line must name the columns"),
        ("", "the first line must name the columns"),
        ("exit_s\nsoon\n", "line 2: exit_s 'soon' is not a number of seconds"),
        ("exit_s\n99\n", "line 2: exit_s 99 is outside the video (0-8 s)"),
        ("exit_s,gender\n1,x\n", "line 2: gender 'x' is not female / male"),
    ],
)
def test_bad_lists_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    code, _, err = _run(tmp_path, rows, capsys)
    assert code == 1
    assert message in err
    assert err.count("\n") == 1
