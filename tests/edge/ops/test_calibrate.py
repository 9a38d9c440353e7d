"""``kazoe calibrate``: labels, histograms (numbers only), and a file the node accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import NodeSettings
from edge.counting.calibration import check_identity, load_calibration
from edge.errors import ConfigError
from edge.ops.calibrate import (
    Estimate,
    LabelledPhoto,
    Observed,
    build_calibration,
    parse_age,
    read_folder,
)
from edge.payload import ModelIds
from edge.vision.models_info import model_ids

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"
FAIRFACE = REPO.parent / "shared" / "data" / "fairface"


@pytest.mark.parametrize(
    ("text", "group"), [("34", (34, 34)), ("30-39", (30, 39)), ("70+", (70, None))]
)
def test_ages_are_years_or_groups(text: str, group: tuple[int, int | None]) -> None:
    assert parse_age(text) == group


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("name,age,gender\n", "first line must be 'file,age,gender'"),
        ("file,age,gender\na.jpg,thirty,female\n", "labels row 2: age 'thirty'"),
        ("file,age,gender\na.jpg,,female\n", "no photo with both an age and a gender"),
    ],
)
def test_bad_labels_are_one_line(tmp_path: Path, labels: str, message: str) -> None:
    (tmp_path / "labels.csv").write_text(labels, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        read_folder(tmp_path)
    assert "\n" not in str(err.value)


def test_a_folder_without_labels_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no labels.csv \(file,age,gender\) or ground_truth"):
        read_folder(tmp_path)


def test_the_calibration_holds_histograms_not_rows() -> None:
    photo = LabelledPhoto(Path("x.jpg"), "female", 30, 39)
    man = LabelledPhoto(Path("y.jpg"), "male", 30, 39)
    estimates = [
        Estimate(photo, 0.12, 33.4),
        Estimate(photo, 0.47, 41.0),
        Estimate(man, 0.91, 36.0),
    ]
    estimates.append(Estimate(man))  # not found: counted as shown, not measured
    cal = build_calibration(
        estimates, name="site", measured_on="test", models=ModelIds(detector="d@1"), recipe={}
    )
    assert (cal.faces, cal.found) == (4, 3)
    assert cal.gender.female[12] == 1
    assert cal.gender.female[47] == 1
    assert cal.gender.male[91] == 1
    (row,) = cal.age
    assert (row.lo, row.hi, sum(row.predicted)) == (30, 39, 3)
    assert row.predicted[33] == row.predicted[41] == row.predicted[36] == 1
    assert "x.jpg" not in cal.to_json()
    assert "y.jpg" not in cal.to_json()


def test_no_face_found_is_one_line() -> None:
    photo = LabelledPhoto(Path("x.jpg"), "female", 30, 39)
    with pytest.raises(ConfigError, match="no labelled face or person was estimated"):
        build_calibration(
            [Estimate(photo)], name="s", measured_on="t", models=ModelIds(detector="d"), recipe={}
        )


@pytest.mark.integration
def test_kazoe_calibrate_writes_a_file_the_node_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"FairFace subset not found at {FAIRFACE} (see its SOURCE.md)")
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    rows = json.loads((FAIRFACE / "ground_truth.json").read_text(encoding="utf-8"))[:12]
    faces = tmp_path / "faces"
    faces.mkdir()
    lines = ["file,age,gender"] + [
        f"{FAIRFACE / r['filename']},{r['age']},{r['gender']}" for r in rows
    ]
    (faces / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "node.toml"
    config.write_text(
        f"""[node]\nid = "node-a"\n[source]\nuri = "x.mp4"\n"""
        f"""[policy]\npurposes = ["footfall", "demographics"]\n[models]\ndir = "{MODELS}"\n""",
        encoding="utf-8",
    )
    out = tmp_path / "site.json"
    args = ["calibrate", "--config", str(config), "--faces", str(faces), "--out", str(out)]
    # Twelve photos are too few for intervals a committee can rely on: refused by default.
    assert main(args) == 1
    refused = capsys.readouterr().err
    assert "women and" in refused
    assert "a calibration needs at least 30 of each (--min-people)" in refused
    assert len(refused.strip().splitlines()) == 1
    assert not out.exists()
    assert main([*args, "--min-people", "3"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: calibration site@")
    assert "of 12 faces found" in said
    cal = load_calibration(out)
    assert cal.faces == 12
    assert cal.found >= 10
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a"},
            "source": {"uri": "x.mp4"},
            "policy": {"purposes": ["footfall", "demographics"]},
        }
    )
    ids = model_ids(MODELS, "yunet", True, settings.attributes)
    check_identity(cal, ids, settings.attributes, out)  # the node would accept it
    # Numbers only: the folder holds what was there, nothing was written beside the file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces", "node.toml", "site.json"]
    assert [p.name for p in faces.iterdir()] == ["labels.csv"]


def test_a_bad_name_is_one_line() -> None:
    photo = LabelledPhoto(Path("x.jpg"), "female", 30, 39)
    with pytest.raises(ConfigError, match="cannot build the calibration: name"):
        build_calibration(
            [Estimate(photo, 0.2, 30.0)],
            name="bad\nname",
            measured_on="t",
            models=ModelIds(detector="d"),
            recipe={},
        )


def test_each_age_group_keeps_its_own_gender_histograms() -> None:
    """The per-group p(male) histograms (for the intervals' per-band gender rates) add up to
    the overall ones; a group seen only with a gender (no age estimate) still gets a row."""
    people = [
        Observed("female", (0, 9), 0.7, 6.0),
        Observed("male", (0, 9), 0.4, 5.0),
        Observed("female", (30, 39), 0.1, 33.0),
        Observed("male", (30, 39), 0.9, 35.0),
        Observed("male", (60, None), 0.8, None),
        Observed(None, (30, 39), None, 31.0),  # age label only
    ]
    ids = ModelIds(detector="yunet@1")
    cal = build_calibration(people, name="groups", measured_on="test", models=ids, recipe={})
    rows = {(r.lo, r.hi): r for r in cal.age}
    assert set(rows) == {(0, 9), (30, 39), (60, None)}
    young = rows[(0, 9)].gender
    assert young is not None
    assert (young.female[70], young.male[40]) == (1, 1)
    assert sum(rows[(60, None)].predicted) == 0
    for side in ("female", "male"):
        total = [sum(col) for col in zip(*(getattr(r.gender, side) for r in cal.age), strict=True)]
        assert total == getattr(cal.gender, side)
