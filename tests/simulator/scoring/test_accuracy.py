"""``kazoe-sim accuracy``: the report's arithmetic; FairFace figures against committed ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import AttributesConfig, DetectorConfig
from edge.ops.calibrate import Estimate, LabelledPhoto
from simulator.scenes.labels import parse_group
from simulator.scoring.accuracy import (
    FAIRFACE,
    FaceResult,
    Report,
    accuracy_main,
    describe_recipe,
    group_of,
    interval_coverage,
)

GROUPS = [parse_group(g) for g in ("0-2", "3-9", "10-19", "20-29", "30-39", "70+")]
EXPECTED = Path(__file__).with_name("accuracy_expected.json")
REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"


@pytest.mark.parametrize(
    ("age", "group"),
    [
        (0.0, "0-2"),
        (2.99, "0-2"),
        (3.0, "3-9"),
        (19.5, "10-19"),
        (39.9, "30-39"),
        (55.0, "30-39"),
        (88.0, "70+"),
    ],
)
def test_an_estimated_age_falls_in_the_group_whose_range_holds_it(age: float, group: str) -> None:
    # 55 lies in no listed group (40-69 are absent here): it belongs to the last group below it.
    assert GROUPS[group_of(age, GROUPS)].name == group


def test_report_counts_exact_and_neighbouring_groups_and_leaves_misses_out() -> None:
    results = [
        FaceResult(3, male=True, found=True, p_male=0.9, age=25.0),  # right, exact
        FaceResult(3, male=False, found=True, p_male=0.7, age=31.0),  # wrong gender, +1 group
        FaceResult(3, male=False, found=True, p_male=0.2, age=12.0),  # right, -1 group
        FaceResult(3, male=True, found=True, p_male=0.6, age=5.0),  # right, 2 groups off
        FaceResult(0, male=True, found=False),  # missed: counted as a photo, never scored
    ]
    report = Report.build(results, GROUPS)
    row = report.by_group[3]
    assert (row.label, row.photos, row.found) == ("20-29", 4, 4)
    assert (row.rate(row.gender_right), row.rate(row.age_exact), row.rate(row.age_within_one)) == (
        0.75,
        0.25,
        0.75,
    )
    assert report.by_group[0].as_dict() == {
        "photos": 1,
        "found": 0,
        "gender": None,
        "age_exact": None,
        "age_within_one": None,
    }
    female, male = report.by_gender
    assert (female.found, female.gender_right, male.found, male.gender_right) == (2, 1, 2, 2)
    assert (report.overall.photos, report.overall.found) == (5, 4)
    text = report.text()
    assert "20-29         4     4  0.750  0.250  0.750" in text
    assert "0-2           1     0    n/a    n/a    n/a" in text


def test_bad_model_list_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        accuracy_main(["--gender-models", "cydral,dlib"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "use a comma-separated list of cydral, faceres, faceapi" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("bad", ["x", "-1", "1.0", "\u00b2"])
def test_bad_scene_seeds_are_one_line(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        accuracy_main(["--scene-seeds", f"1,{bad}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"--scene-seeds '1,{bad}': '{bad}' is not a seed (0, 1, 2, ...)\n")
    assert err.count("\n") == 1


def test_missing_face_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert accuracy_main(["--faces", str(tmp_path / "nowhere")]) == 1
    assert (
        capsys.readouterr().err
        == f"kazoe-sim accuracy: face folder {tmp_path / 'nowhere'} does not exist\n"
    )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)  # 540 photos, four networks: ~10 min on a loaded 2-core box
def test_fairface_figures_match_the_committed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """An accuracy gate: any drift (model, crop, preprocessing, ensemble) shows up here."""
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"the FairFace evaluation set is not at {FAIRFACE} (see its SOURCE.md)")
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    expected: dict[str, Any] = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert accuracy_main(["--json"]) == 0
    measured: dict[str, Any] = json.loads(capsys.readouterr().out)
    measured["about"] = expected.get("about")  # a note for readers, not a figure
    assert measured["recipe"] == expected["recipe"]
    # One face either way in any 30-photo cell is within tolerance (float noise across CPUs).
    for section in ("by_age_group", "by_gender", "all"):
        rows = {"all": measured["all"]} if section == "all" else measured[section]
        want = {"all": expected["all"]} if section == "all" else expected[section]
        assert rows.keys() == want.keys()
        for name, row in rows.items():
            assert row["photos"] == want[name]["photos"], (section, name)
            assert abs(row["found"] - want[name]["found"]) <= 1, (section, name)
            for key in ("gender", "age_exact", "age_within_one"):
                assert row[key] == pytest.approx(want[name][key], abs=1.01 / row["found"]), (
                    section,
                    name,
                    key,
                )
    cover, want_cover = measured["coverage"], expected["coverage"]
    assert cover["windows"] == want_cover["windows"]
    for part, count in (("female_share", "windows"), ("age_bands", "intervals")):
        got, want = cover[part], want_cover[part]
        assert got[count] == pytest.approx(want[count], rel=0.02), part
        assert got["covered"] / got[count] == pytest.approx(
            want["covered"] / want[count], abs=0.03
        ), part
    # Female share in windows mostly of one age range (the per-band gender rates' purpose).
    skewed, want_skewed = cover["female_share_skewed"], want_cover["female_share_skewed"]
    assert skewed.keys() == want_skewed.keys()
    for name, want in want_skewed.items():
        got = skewed[name]
        assert got["covered"] / got["windows"] == pytest.approx(
            want["covered"] / want["windows"], abs=0.03
        ), name
    # Crowds of 100 drawn from the per-photo estimates: a flip of one face moves a crowd's
    # share by about 1 pp, so the figures get that much room (and 5 % of the crowd counts).
    crowds, want_crowds = measured["crowds"], expected["crowds"]
    assert (crowds["crowds"], crowds["people"]) == (want_crowds["crowds"], want_crowds["people"])
    for part, tolerance in (("female_share_error_pp", 1.0), ("age_band_distance", 0.01)):
        for key, want in want_crowds[part].items():
            room = 0.05 * want_crowds["crowds"] if key.startswith("within") else tolerance
            assert crowds[part][key] == pytest.approx(want, abs=room), (part, key)
    # The photos of the README's crowd scenes (seed 7: the e2e scene), counted per photo:
    # one face either way in a draw of 100 is within tolerance.
    draws, want_draws = measured["scene_draws"], expected["scene_draws"]
    assert [d["seed"] for d in draws] == [d["seed"] for d in want_draws]
    for got, want in zip(draws, want_draws, strict=True):
        assert got["truth_female_pct"] == want["truth_female_pct"], got["seed"]
        assert abs(got["unknown"] - want["unknown"]) <= 1, got["seed"]
        for key, room in (("counted_female_pct", 1.5), ("age_band_distance", 0.015)):
            assert got[key] == pytest.approx(want[key], abs=room), (got["seed"], key)
    # The goal for 90 % intervals, on windows the calibration never saw.
    assert cover["female_share"]["covered"] / cover["female_share"]["windows"] >= 0.85
    assert cover["age_bands"]["covered"] / cover["age_bands"]["intervals"] >= 0.85


def test_interval_coverage_is_measured_on_faces_the_calibration_never_saw() -> None:
    rng = np.random.default_rng(5)
    # 400 synthetic faces: women counted female 75 % of the time, men male 90 %; ages
    # spread over the coverage bands, estimated within a few years.
    estimates = []
    for i in range(400):
        male = i % 4 < 2  # both genders in both halves (even and odd photos)
        right = rng.random() < (0.9 if male else 0.75)
        p_male = (0.8 if right else 0.2) if male else (0.2 if right else 0.8)
        lo = 10 * int(rng.integers(0, 8))
        group = (lo, lo + 9 if lo < 70 else None)
        photo = LabelledPhoto(Path(f"{i}.jpg"), "male" if male else "female", *group)
        estimates.append(Estimate(photo, p_male, float(lo + rng.integers(0, 10))))
    coverage = interval_coverage(estimates, margin=0.1, window_size=30, windows=200, seed=1)
    assert coverage.windows == 200
    assert coverage.female_windows == 200
    assert coverage.female_covered / coverage.female_windows >= 0.85
    assert coverage.bands_covered / coverage.bands_total >= 0.85
    assert 10 < coverage.female_width_pp < 60
    assert "truth inside" in coverage.text()
    assert set(coverage.skewed) == {"under 20", "20-59", "60 and over"}
    assert all(n == 200 for _, n in coverage.skewed.values())
    assert "80 % of a window from one age range: under 20" in coverage.text()


def test_age_alone_drops_the_age_blend(capsys: pytest.CaptureFixture[str]) -> None:
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"the FairFace evaluation set is not at {FAIRFACE} (see its SOURCE.md)")
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    args = ["--json", "--limit", "2", "--gender-models", "cydral", "--age-model", "cydral"]
    assert accuracy_main([*args, "--age-alone"]) == 0
    alone = json.loads(capsys.readouterr().out)["recipe"]
    assert alone == "gender = weighted mean(cydral 0.5), age = cydral; detector yunet"
    assert accuracy_main(args) == 0
    blended = json.loads(capsys.readouterr().out)["recipe"]
    assert blended == (
        "gender = weighted mean(cydral 0.5), age = cydral + faceres-deep 0.485, flip averaging; "
        "detector yunet"
    )
    # face-api alone, as a node with age_blend = {} runs it: no fitted line either
    assert accuracy_main(["--json", "--limit", "2", "--age-alone"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["recipe"].endswith(", age = faceapi, flip averaging; detector yunet")
    # A scene draws from the whole folder: with --limit its draws are n/a, not a guess.
    assert figures["scene_draws"] is None
    assert accuracy_main(["--limit", "2", "--age-alone"]) == 0
    assert "scene draws: n/a (--limit: a scene draws from every photo in the folder)" in (
        capsys.readouterr().out
    )


def test_the_recipe_line_names_the_logistic_fusion_and_the_age_line() -> None:
    cfg = AttributesConfig(
        gender_models=("cydral", "faceres-deep"),
        gender_logistic={"cydral": 0.25, "faceres-deep": -1.5},
        gender_intercept=-1.0,
        age_scale=1.1,
        age_offset=-0.5,
    )
    assert describe_recipe(cfg, DetectorConfig()) == (
        "gender = sigmoid(-1.000 + 0.250 x logit(cydral) - 1.500 x logit(faceres-deep)), "
        "age = -0.5 + 1.1 x (faceapi + faceres-deep 0.485), flip averaging; detector yunet"
    )
