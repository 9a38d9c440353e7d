"""``kazoe calibrate --recording`` end to end, with the real models and the node's tracker.

A labelled recording: the 100-person FairFace crowd (``kazoe-sim scene --faces``, the scene
of ``test_e2e_fairface.py``) with a ``people.csv`` of each person's exit time, gender and age
group from its truth. The calibration must be one the node accepts, per person, and its
figures must stay within the committed ones (``expected_calibrate_recording.json``). The
recorded clips in ``../shared/data/real`` show the other side: everyone leaves at the end of
each short clip, so no label can be attributed and the calibration is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.config import NodeSettings
from edge.counting.calibration import check_identity, load_calibration
from edge.vision.models_info import model_ids
from simulator.scenes.scene import scene_main
from simulator.scenes.truth import SceneTruth

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODELS = REPO / "models" / "build"
SHARED = REPO.parent / "shared" / "data"
EXPECTED: dict[str, Any] = json.loads(
    (HERE / "expected_calibrate_recording.json").read_text(encoding="utf-8")
)


def _config(tmp_path: Path) -> Path:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    config = tmp_path / "node.toml"
    config.write_text(
        f"""[node]\nid = "node-a"\n[source]\nuri = "x.mp4"\n"""
        f"""[policy]\npurposes = ["footfall", "demographics"]\n[models]\ndir = "{MODELS}"\n""",
        encoding="utf-8",
    )
    return config


def _labelled_crowd(folder: Path) -> None:
    scene = EXPECTED["scene"]
    folder.mkdir()
    truth_path = folder.parent / "truth.json"
    args = ["--faces", str(SHARED / "fairface"), "--labels", "fairface"]
    args += ["--people", str(scene["people"]), "--fps", str(scene["fps"])]
    args += ["--seed", str(scene["seed"]), "--out", str(folder / "crowd.mp4")]
    assert scene_main([*args, "--truth", str(truth_path)]) == 0
    rows = ["exit_s,gender,age"] + [
        f"{p.exit_s},{p.gender or ''},{p.age_group or ''}"
        for p in SceneTruth.load(truth_path).people
    ]
    (folder / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _near(got: float, expected: dict[str, float], what: str) -> None:
    value, tolerance = expected["value"], expected["tolerance"]
    assert abs(got - value) <= tolerance, (
        f"{what} {got:g} drifted from the committed {value:g} by more than {tolerance:g}; if "
        "the change is intended, update tests/e2e/expected_calibrate_recording.json"
    )


@pytest.mark.timeout(900)
def test_a_labelled_crowd_recording_calibrates_per_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (SHARED / "fairface" / "ground_truth.json").is_file():
        pytest.skip(f"FairFace subset not found at {SHARED / 'fairface'} (see its SOURCE.md)")
    config = _config(tmp_path)
    folder = tmp_path / "crowd"
    _labelled_crowd(folder)
    capsys.readouterr()  # the scene generator's own line
    before = sorted(p.name for p in folder.iterdir())
    out = tmp_path / "site.json"
    args = ["calibrate", "--config", str(config), "--recording", str(folder), "--out", str(out)]
    args += ["--min-people", str(EXPECTED["min_people"])]
    assert main(args) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    print(said)
    assert said.startswith(f"wrote {out}: calibration site@")
    cal = load_calibration(out)
    assert cal.faces == EXPECTED["scene"]["people"]
    assert "per person (fused track estimates)" in cal.measured_on
    _near(cal.found, EXPECTED["found"], "people measured")
    _near(sum(cal.gender.female), EXPECTED["women"], "women measured")
    _near(sum(cal.gender.male), EXPECTED["men"], "men measured")
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a"},
            "source": {"uri": "x.mp4"},
            "policy": {"purposes": ["footfall", "demographics"]},
        }
    )
    rates = cal.gender_rates(settings.attributes.gender_margin)
    assert rates is not None
    _near(rates.women[0], EXPECTED["women_counted_female"], "women counted female")
    _near(rates.men[1], EXPECTED["men_counted_male"], "men counted male")
    check_identity(
        cal, model_ids(MODELS, "yunet", True, settings.attributes), settings.attributes, out
    )
    # Numbers only: nothing was written but the calibration itself.
    assert sorted(p.name for p in folder.iterdir()) == before
    made = {"crowd", "node.toml", "site.json", "truth.json", "truth.boxes.csv"}
    assert {p.name for p in tmp_path.iterdir()} == made
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert "crowd.mp4" not in json.dumps(doc)
    # Histograms of 0.01 p(male) bins and of years, nothing per person.
    assert set(doc) == {"schema", "name", "measured_on", "created", "models", "recipe"} | {
        "faces",
        "found",
        "gender",
        "age",
    }


def test_recorded_clips_where_everyone_leaves_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = SHARED / "real"
    if not (real / "fd-walking" / "people.csv").is_file():
        pytest.skip(f"recorded clips not found at {real} (see its SOURCE.md)")
    config = _config(tmp_path)
    out = tmp_path / "site.json"
    args = ["calibrate", "--config", str(config), "--recording", str(real), "--out", str(out)]
    assert main([*args, "--min-people", "1"]) == 1
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1
    assert said.startswith("kazoe: only 0 women and 0 men were estimated with a gender label")
    assert "of 10 labelled people matched to a track" in said
    assert "gender and" in said
    assert not out.exists()
