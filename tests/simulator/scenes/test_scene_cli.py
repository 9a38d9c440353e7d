"""``kazoe-sim scene`` end to end: arguments, exit codes, the video and the truth file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import pytest

from simulator.errors import PortraitDownloadError
from simulator.scenes import scene
from simulator.scenes.portraits import load_portraits
from simulator.scenes.scene import scene_main
from simulator.scenes.truth import SceneTruth


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--people", "0"], "--people must be at least 1"),
        (["--people", "x"], "argument --people: invalid int value"),
        (["--people", "2", "--width", "641"], "--width must be even"),
        (["--people", "2", "--height", "100"], "--height must be even, 240-4320"),
        (["--people", "2", "--fps", "0"], "--fps must be in (0, 120]"),
        (["--people", "2", "--seconds", "-1"], "--seconds must be in (0, 86400]"),
        (["--people", "2", "--window", "0"], "--window must be in (0, 86400]"),
        (["--people", "2", "--lingerers", "3"], "--lingerers must be between 0 and --people"),
        (["--people", "5", "--lingerers", "1", "--seconds", "10"], "--lingerers needs --seconds"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, truth = tmp_path / "s.mp4", tmp_path / "t.json"
    with pytest.raises(SystemExit) as info:
        scene_main([*args, "--out", str(out), "--truth", str(truth)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("kazoe-sim scene: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()
    assert not truth.exists()


def test_out_must_be_a_video_file_distinct_from_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for out, truth, message in (
        ("s.txt", "t.json", "--out must name a .mp4"),
        ("s.mp4", "s.mp4", "--out and --truth must be different files"),
    ):
        with pytest.raises(SystemExit) as info:
            scene_main(
                ["--people", "1", "--out", str(tmp_path / out), "--truth", str(tmp_path / truth)]
            )
        assert info.value.code == 2
        assert message in capsys.readouterr().err


def test_missing_required_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        scene_main(["--people", "3"])
    assert info.value.code == 2
    assert "the following arguments are required: --out, --truth" in capsys.readouterr().err


def test_download_failure_exits_1_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(cache_dir: Path) -> list[object]:
        raise PortraitDownloadError("cannot download matplotlib==3.10.8 with pip: no network")

    monkeypatch.setattr(scene, "load_portraits", offline)
    code = scene_main(
        ["--people", "2", "--out", str(tmp_path / "s.mp4"), "--truth", str(tmp_path / "t.json")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err == "kazoe-sim scene: cannot download matplotlib==3.10.8 with pip: no network\n"


@pytest.fixture(scope="module")
def portraits_ready() -> None:
    try:
        load_portraits()
    except PortraitDownloadError as exc:
        if exc.unreachable:
            pytest.skip(f"package index unreachable, cannot fetch the portraits: {exc}")
        raise


def _run(tmp_path: Path, name: str, *extra: str) -> tuple[Path, Path]:
    out, truth = tmp_path / f"{name}.mp4", tmp_path / f"{name}.json"
    args = ["--out", str(out), "--truth", str(truth), "--width", "640", "--height", "360"]
    assert scene_main([*args, "--fps", "8", *extra]) == 0
    return out, truth


def _decoded_hashes(video: Path) -> tuple[list[str], tuple[int, int]]:
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened()
    hashes: list[str] = []
    size = (0, 0)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            size = (frame.shape[1], frame.shape[0])
            hashes.append(hashlib.sha256(frame.tobytes()).hexdigest())
    finally:
        cap.release()
    return hashes, size


@pytest.mark.integration
@pytest.mark.usefixtures("portraits_ready")
def test_same_seed_same_truth_bytes_and_frames_other_seed_differs(tmp_path: Path) -> None:
    a_video, a_truth = _run(tmp_path, "a", "--people", "3", "--seconds", "4", "--seed", "11")
    b_video, b_truth = _run(tmp_path, "b", "--people", "3", "--seconds", "4", "--seed", "11")
    c_video, c_truth = _run(tmp_path, "c", "--people", "3", "--seconds", "4", "--seed", "12")
    assert a_truth.read_bytes() == b_truth.read_bytes()
    a_frames, size = _decoded_hashes(a_video)
    assert a_frames == _decoded_hashes(b_video)[0]
    assert c_truth.read_bytes() != a_truth.read_bytes()
    assert _decoded_hashes(c_video)[0] != a_frames
    truth = SceneTruth.load(a_truth)
    assert size == (640, 360)
    assert len(a_frames) == truth.frames == 32
    assert truth.seconds == 4


@pytest.mark.integration
@pytest.mark.usefixtures("portraits_ready")
def test_truth_file_describes_the_scene(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video, truth_path = _run(tmp_path, "s", "--people", "4", "--seed", "3", "--window", "5")
    assert "wrote" in capsys.readouterr().out
    truth = SceneTruth.load(truth_path)
    assert (truth.width, truth.height, truth.fps, truth.seed) == (640, 360, 8, 3)
    assert len(truth.people) == 4
    assert {p.portrait for p in truth.people} <= {"grace_hopper", "astronaut"}
    for p in truth.people:
        assert p.face_px_min is not None
        assert p.face_px_max is not None
        assert 48 <= p.face_px_min <= p.face_px_max <= 200
        assert 0 <= p.enter_s < p.exit_s < truth.seconds
    assert sum(w.people for w in truth.windows) == 4
    frames, _ = _decoded_hashes(video)
    assert len(frames) == truth.frames


@pytest.mark.integration
@pytest.mark.usefixtures("portraits_ready")
def test_lingerer_is_in_view_for_at_least_ten_seconds(tmp_path: Path) -> None:
    _, truth_path = _run(tmp_path, "l", "--people", "2", "--lingerers", "1", "--fps", "4")
    people = SceneTruth.load(truth_path).people
    lingerers = [p for p in people if p.lingers]
    assert len(lingerers) == 1
    assert lingerers[0].exit_s - lingerers[0].enter_s >= 10


@pytest.mark.integration
@pytest.mark.usefixtures("portraits_ready")
def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no-such-dir" / "s.mp4"
    code = scene_main(["--people", "1", "--out", str(out), "--truth", str(tmp_path / "t.json")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kazoe-sim scene: cannot write video {out}: folder")
    assert err.count("\n") == 1
    assert not (tmp_path / "t.json").exists()
