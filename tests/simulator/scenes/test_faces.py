"""Labelled face folders (FairFace, UTKFace, CSV) and the scenes built from them.

Folders of drawn faces are made in tmp_path; the real FairFace subset in
``../shared/data/fairface`` is used when present and the tests say so when it is not.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator.errors import SceneError
from simulator.scenes.faces import LabelFormat, choose, crop_head, read_labels
from simulator.scenes.labelled import LabelledSource, load_labelled
from simulator.scenes.scene import SceneSpec, plan_scene, scene_main
from simulator.scenes.truth import SceneTruth

REPO = Path(__file__).resolve().parents[3]
FAIRFACE = REPO.parent / "shared" / "data" / "fairface"
GROUPS = ["0-2", "10-19", "20-29", "30-39", "70+", "50-59"]


def _face(path: Path, tone: int) -> None:
    img = np.full((120, 120, 3), 180, np.uint8)
    cv2.ellipse(img, (60, 62), (42, 52), 0, 0, 360, (tone, tone + 30, tone + 60), -1)
    cv2.imwrite(str(path), img)


def fairface_folder(root: Path, n: int = 6) -> Path:
    folder = root / "ff"
    folder.mkdir()
    rows = []
    for i in range(n):
        name = f"face_{i:02d}.jpg"
        _face(folder / name, 60 + 20 * i)
        rows.append({"filename": name, "age": GROUPS[i % 6], "gender": ("Male", "Female")[i % 2]})
    (folder / "ground_truth.json").write_text(json.dumps(rows), encoding="utf-8")
    return folder


def test_fairface_layout_gives_groups_and_genders(tmp_path: Path) -> None:
    files, note = read_labels(fairface_folder(tmp_path), "fairface")
    assert note == ""
    assert [f.label.age_group.name for f in files if f.label.age_group] == GROUPS
    assert [f.label.gender for f in files[:2]] == ["male", "female"]


def test_utk_names_give_years_and_gender_and_odd_names_are_skipped(tmp_path: Path) -> None:
    for name in ("34_1_2_20170109.jpg.chip.jpg", "7_0_0_2017.jpg", "61_1_3.jpg", "notes.txt"):
        _face(tmp_path / name, 90) if name.endswith(".jpg") else (tmp_path / name).write_text("x")
    files, note = read_labels(tmp_path, "utk")
    labels = {f.path.name: (f.label.age_years, f.label.gender) for f in files}
    assert labels == {"34_1_2_20170109.jpg.chip.jpg": (34, "female"), "7_0_0_2017.jpg": (7, "male")}
    assert note == "skipped 1 files not named <age>_<gender>_<race>_<datetime>.jpg"


def test_csv_takes_years_or_groups(tmp_path: Path) -> None:
    _face(tmp_path / "a.png", 80)
    _face(tmp_path / "b.png", 120)
    (tmp_path / "labels.csv").write_text("file,age,gender\na.png,34,F\nb.png,10-19,male\n\n")
    files, _ = read_labels(tmp_path, "csv")
    assert [(f.label.age_years, f.label.gender) for f in files] == [(34, "female"), (None, "male")]
    assert files[1].label.age_group is not None
    assert files[1].label.age_group.name == "10-19"


@pytest.mark.parametrize(
    ("fmt", "files", "message"),
    [
        ("fairface", {}, "has no ground_truth.json"),
        ("fairface", {"ground_truth.json": "{}"}, "expected a JSON list"),
        ("fairface", {"ground_truth.json": "[1"}, "cannot read"),
        (
            "fairface",
            {"ground_truth.json": '[{"filename": "a.jpg", "age": "x", "gender": "Male"}]'},
            "entry 0: age group 'x' is not like",
        ),
        ("fairface", {"ground_truth.json": '[{"filename": "a.jpg"}]'}, "entry 0: missing 'age'"),
        ("csv", {}, "labels.csv not found"),
        ("csv", {"labels.csv": "name,years\n"}, "must be 'file,age,gender'"),
        ("csv", {"labels.csv": "file,age,gender\na.jpg,40,x\n"}, "line 2: gender 'x'"),
        ("utk", {}, "holds no labelled face photos"),
    ],
)
def test_bad_label_folders_are_one_clear_error(
    tmp_path: Path, fmt: LabelFormat, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(SceneError, match=message) as info:
        read_labels(tmp_path, fmt)
    assert "\n" not in str(info.value)


def test_one_photo_per_person_while_photos_last_and_same_seed_same_choice() -> None:
    first = choose(10, 10, np.random.default_rng([3, 4]))
    assert sorted(first) == list(range(10))
    assert first == choose(10, 10, np.random.default_rng([3, 4]))
    more = choose(4, 10, np.random.default_rng(1))
    assert sorted(more[:4]) == [0, 1, 2, 3]
    assert max(more.count(i) for i in range(4)) == 3


def test_crop_is_shrunk_to_at_most_256_px() -> None:
    photo = np.zeros((448, 448, 3), np.uint8)
    assert crop_head(photo, (0.2, 0.1, 0.8, 0.8)).shape == (256, 219, 3)
    with pytest.raises(SceneError, match="leaves almost nothing"):
        crop_head(photo, (0.5, 0.5, 0.51, 0.51))


def test_labelled_scene_truth_has_labels_bands_and_straddling(tmp_path: Path) -> None:
    folder = fairface_folder(tmp_path)
    faces, note = load_labelled(LabelledSource(folder, "fairface"), 6, seed=2)
    assert note == ""
    assert sorted(f.label for f in faces) == [f"face_{i:02d}.jpg" for i in range(6)]
    spec = SceneSpec(people=6, width=640, height=360, fps=5, seed=2, window_s=10)
    truth = plan_scene(spec, faces).truth
    assert truth.labelled
    by_group = {p.age_group: p.age_band for p in truth.people}
    assert by_group == {
        "0-2": "0-12",
        "10-19": None,
        "20-29": "20-29",
        "30-39": "30-39",
        "70+": "70+",
        "50-59": "50-59",
    }
    total_straddling = sum((w.straddling or {}).get("10-19", 0) for w in truth.windows)
    assert total_straddling == 1
    for w in truth.windows:
        assert w.gender is not None
        assert w.age_bands is not None
        assert sum(w.gender.values()) == w.people
        assert sum(w.age_bands.values()) + sum((w.straddling or {}).values()) == w.people
    assert sum(w.gender["female"] for w in truth.windows if w.gender) == 3


def test_scene_cli_with_faces_writes_labelled_truth_deterministically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fairface_folder(tmp_path, n=3)
    args = ["--faces", str(folder), "--labels", "fairface", "--people", "5", "--seed", "4"]
    args += ["--width", "640", "--height", "360", "--fps", "4"]
    for name in ("a", "b"):
        out = ["--out", str(tmp_path / f"{name}.mp4"), "--truth", str(tmp_path / f"{name}.json")]
        assert scene_main([*args, *out]) == 0
    printed = capsys.readouterr().out
    assert "note: 5 people from 3 photos: some photos are used more than once" in printed
    a, b = (tmp_path / "a.json").read_bytes(), (tmp_path / "b.json").read_bytes()
    assert a == b
    truth = SceneTruth.load(tmp_path / "a.json")
    assert truth.faces is not None
    assert truth.faces.startswith("fairface:")
    assert truth.age_band_edges == [13, 20, 30, 40, 50, 60, 70]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--faces", "x"], "--faces and --labels go together"),
        (["--labels", "utk"], "--faces and --labels go together"),
        (["--faces", "x", "--labels", "bogus"], "invalid choice: 'bogus'"),
        (["--faces", "x", "--labels", "utk", "--crop", "1,2"], "give four fractions"),
        (["--age-bands", "13,20"], "--crop and --age-bands need --faces"),
        (["--faces", "x", "--labels", "utk", "--labels-file", "l.csv"], "only for --labels csv"),
    ],
)
def test_bad_face_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = ["--out", str(tmp_path / "s.mp4"), "--truth", str(tmp_path / "t.json")]
    with pytest.raises(SystemExit) as info:
        scene_main(["--people", "2", *extra, *out])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_missing_face_folder_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "s.mp4"), "--truth", str(tmp_path / "t.json")]
    code = scene_main(["--people", "2", "--faces", str(tmp_path / "no"), "--labels", "utk", *out])
    assert code == 1
    assert (
        capsys.readouterr().err
        == f"kazoe-sim scene: face folder {tmp_path / 'no'} does not exist\n"
    )


@pytest.fixture
def fairface() -> Path:
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"FairFace subset not found at {FAIRFACE} (see its SOURCE.md)")
    return FAIRFACE


def test_real_fairface_scene_uses_distinct_photos_and_records_straddling(fairface: Path) -> None:
    faces, note = load_labelled(LabelledSource(fairface, "fairface"), 60, seed=1)
    assert note == ""
    assert len({f.label for f in faces}) == 60
    assert all(max(f.image.shape[:2]) <= 256 for f in faces)
    truth = plan_scene(SceneSpec(people=60, fps=5, seed=1, window_s=30), faces).truth
    teens = [p for p in truth.people if p.age_group == "10-19"]
    assert teens
    assert all(p.age_band is None for p in teens)
    assert sum(sum((w.straddling or {}).values()) for w in truth.windows) == len(teens)
    assert all(p.gender in {"female", "male"} for p in truth.people)
