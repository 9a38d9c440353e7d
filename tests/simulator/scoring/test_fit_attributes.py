"""``kazoe-sim fit-attributes``: the fitted gender fusion and age line, held out and in sample."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import (
    DEFAULT_AGE_BLEND,
    DEFAULT_AGE_MAP,
    DEFAULT_AGE_OFFSET,
    DEFAULT_AGE_SCALE,
    DEFAULT_GENDER_INTERCEPT,
    DEFAULT_GENDER_LOGISTIC,
    AttributesConfig,
)
from edge.vision.attributes import Results
from simulator.errors import SceneError
from simulator.scenes.faces import LabelledFile
from simulator.scenes.labels import AgeGroup, FaceLabel, parse_group
from simulator.scoring.accuracy import FAIRFACE
from simulator.scoring.crowds import band_distance
from simulator.scoring.fit_attributes import (
    Outputs,
    figures,
    fit,
    fit_age_map,
    fit_attributes_main,
    group_index,
    halves,
    middle,
    report,
    spread_ages,
)

GROUPS = tuple(parse_group(g) for g in ("0-2", "3-9", "10-19", "20-29", "70+"))
EXPECTED = Path(__file__).with_name("fit_expected.json")
MODELS = Path(__file__).resolve().parents[3] / "models" / "build"
CFG = AttributesConfig()  # gender: faceres-deep; age: faceapi + faceres-deep


def _synthetic(n: int = 400, seed: int = 3) -> Outputs:
    """Networks whose p(male) is biased towards male and whose ages shrink to the middle."""
    rng = np.random.default_rng(seed)
    male = rng.random(n) < 0.5
    group = rng.integers(0, len(GROUPS), n)
    mid = np.array([middle(GROUPS[g]) for g in group])
    z = np.where(male, 1.0, -1.0) * 2.0 + 1.5 + rng.normal(0, 1.0, n)  # +1.5: biased male
    p = (1 / (1 + np.exp(-z))).astype(np.float32)
    faceapi = (0.6 * mid + 10 + rng.normal(0, 2, n)).astype(np.float32)
    deep = (0.4 * mid + 15 + rng.normal(0, 2, n)).astype(np.float32)
    nan = np.full(n, np.nan, np.float32)
    return _outputs(male, group, {"faceapi": (nan, faceapi), "faceres-deep": (p, deep)}, GROUPS)


def _outputs(
    male: np.ndarray, group: np.ndarray, results: Results, groups: tuple[AgeGroup, ...]
) -> Outputs:
    """Every face found, in alternate halves."""
    n = len(male)
    return Outputs(male, group.astype(np.int64), np.arange(n) % 2 == 0, results, groups, n)


def test_halves_alternate_within_each_gender_and_age_cell() -> None:
    def item(name: str, gender: str, group: str) -> LabelledFile:
        label = FaceLabel(age_group=parse_group(group), gender=gender)  # type: ignore[arg-type]
        return LabelledFile(Path(name), label)

    files = [
        item("1", "female", "0-2"),
        item("2", "male", "0-2"),
        item("3", "female", "0-2"),
        item("4", "female", "3-9"),
        item("5", "female", "0-2"),
        item("6", "male", "0-2"),
    ]
    assert halves(files) == [True, True, False, True, True, False]


def test_a_label_falls_in_the_group_that_holds_its_years_or_its_group() -> None:
    assert group_index(FaceLabel(age_years=34.0)) == 4
    assert group_index(FaceLabel(age_years=85.0)) == 8
    assert group_index(FaceLabel(age_group=parse_group("10-19"))) == 2
    assert group_index(FaceLabel(age_group=parse_group("75+"))) == 8
    assert group_index(FaceLabel(age_group=parse_group("12-15"))) == 2
    with pytest.raises(SceneError, match="not within one of 0-2, 3-9"):
        group_index(FaceLabel(age_group=parse_group("20-39")))
    with pytest.raises(SceneError, match="no age"):
        group_index(FaceLabel(gender="male"))


def test_a_csv_folder_without_faces_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "labels.csv").write_text("file,age,gender\nnone.jpg,34,female\n")
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    assert fit_attributes_main(["--faces", str(tmp_path), "--labels", "csv"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"kazoe-sim fit-attributes: cannot decode {tmp_path / 'none.jpg'}"


def test_the_middle_of_a_group_and_of_an_open_one() -> None:
    assert [middle(g) for g in GROUPS] == [1.5, 6.5, 15.0, 25.0, 75.0]


def test_the_fit_removes_a_gender_bias_and_stretches_shrunk_ages() -> None:
    out = _synthetic()
    everyone = np.ones(len(out.male), bool)
    plain = AttributesConfig(gender_logistic={}, age_blend={"faceres-deep": 0.5}, age_scale=1.0)
    before = figures(out, everyone, plain)
    fitted = fit(out, everyone, CFG)
    after = figures(out, everyone, fitted.config(CFG))
    assert before.female < 0.8 < before.male  # the bias the fit must remove
    assert after.gender > before.gender
    assert abs(after.female - after.male) < 0.1
    assert fitted.intercept < 0 < fitted.logistic["faceres-deep"]
    assert after.age_exact > before.age_exact
    # 0.6 x mid + 10 and 0.4 x mid + 15 blend back to mid: sum of coefficients 1 / 0.5 = 2
    assert fitted.age_scale == pytest.approx(2.0, rel=0.1)
    assert after.age_within_one > 0.95


@pytest.mark.parametrize(
    "cfg",
    [
        CFG,
        # other networks: the snippet must name them, or a node would fuse its defaults
        AttributesConfig(gender_models=("faceapi",), age_blend={}),
        AttributesConfig(
            gender_models=("faceapi", "faceres-deep"),
            age_model="faceres-deep",
            age_blend={"faceapi": 0.5},
        ),
    ],
    ids=["default", "one-network-each", "swapped"],
)
def test_the_snippet_is_the_fitted_recipe_as_an_attributes_section(
    cfg: AttributesConfig,
) -> None:
    out = _synthetic()
    nets = {**out.results, "faceapi": (out.results["faceres-deep"][0], out.results["faceapi"][1])}
    out = Outputs(out.male, out.group, out.half_a, nets, out.groups, out.photos)
    result = report(out, cfg)
    snippet = result.text().split("fitted on all photos:\n", 1)[1]
    node = AttributesConfig.model_validate(tomllib.loads(snippet)["attributes"])
    assert node.gender_models == cfg.gender_models
    assert node.age_models == cfg.age_models
    everyone = np.ones(len(out.male), bool)
    # the pasted (rounded) recipe scores as the fitted one, within a face or two
    pasted, fitted = figures(out, everyone, node), result.fitted_all
    assert pasted.gender == pytest.approx(fitted.gender, abs=2.01 / len(out.male))
    assert pasted.age_exact == pytest.approx(fitted.age_exact, abs=2.01 / len(out.male))


def _bent(n: int = 600, seed: int = 4) -> Outputs:
    """Right gender; ages bent by a curve a line cannot undo (young faces look older)."""
    rng = np.random.default_rng(seed)
    groups = tuple(parse_group(g) for g in ("0-2", "3-9", "10-19", "20-29", "30-39", "70+"))
    group = rng.integers(0, len(groups), n)
    years = spread_ages(group.astype(np.int64), groups)
    bent = (80 * np.sqrt(years / 80) + rng.normal(0, 0.5, n)).astype(np.float32)
    male = rng.random(n) < 0.5
    p = np.where(male, 0.9, 0.1).astype(np.float32)
    return _outputs(male, group, {"faceapi": (p, bent), "faceres-deep": (p, bent)}, groups)


def test_the_age_map_undoes_a_bend_the_line_leaves_and_fixes_the_band_shares() -> None:
    out = _bent()
    a = out.half_a
    line = fit(out, a, CFG, age_map=False)
    mapped = fit(out, a, CFG)
    assert line.age_map == ()
    assert len(mapped.age_map) > 10  # 21 quantiles, the ages clamped at 0 tie
    # fitted on half A, scored on half B
    before, after = figures(out, ~a, line.config(CFG)), figures(out, ~a, mapped.config(CFG))
    assert before.band_distance > 0.15
    assert after.band_distance < before.band_distance / 2
    assert after.age_exact > before.age_exact
    # the snippet carries the map, and a node reads it back
    result = report(out, CFG)
    mapped_all = result.fitted
    snippet = result.text().split("fitted on all photos:\n", 1)[1]
    node = AttributesConfig.model_validate(tomllib.loads(snippet)["attributes"])
    assert node.age_map == mapped_all.age_map
    assert figures(out, ~a, node).band_distance < before.band_distance / 2


def test_map_knots_ascend_even_when_quantiles_tie() -> None:
    line = np.array([5.0] * 50 + [40.0] * 50)  # most quantiles are 5 or 40
    knots = fit_age_map(line, np.linspace(0, 80, 100))
    xs, ys = [x for x, _ in knots], [y for _, y in knots]
    assert xs == [5.0, 22.5, 40.0]  # the 50 % quantile lies between the two ages
    assert ys == sorted(ys)
    AttributesConfig(age_map=knots)  # a node takes it
    assert fit_age_map(np.full(10, 7.0), np.linspace(0, 80, 10)) == ()


def test_band_distance_is_half_the_summed_share_differences() -> None:
    assert band_distance(np.array([5.0, 25.0]), [3, 20]) == 0.0
    # truth: one in 0-19, one in 20-29; estimated: both in 20-29
    assert band_distance(np.array([25.0, 25.0]), [3, 20]) == pytest.approx(0.5)


def test_a_fit_outside_what_the_config_takes_is_a_clear_error() -> None:
    out = _synthetic()
    p, deep = out.results["faceres-deep"]
    far: Results = {**out.results, "faceres-deep": (p, deep - 200)}  # an offset of ~+200 years
    bad = Outputs(out.male, out.group, out.half_a, far, out.groups, out.photos)
    with pytest.raises(SceneError, match=r"the fit gave age_offset = .* outside what"):
        fit(bad, np.ones(len(out.male), bool), CFG)


def test_one_gender_only_or_a_negative_age_weight_is_a_clear_error() -> None:
    out = _synthetic()
    with pytest.raises(SceneError, match="both genders"):
        fit(out, out.male, CFG)
    p, deep = out.results["faceres-deep"]
    flipped: Results = {
        **out.results,
        "faceres-deep": (p, 80 - deep),
    }  # ages that fall as people age
    bad = Outputs(out.male, out.group, out.half_a, flipped, out.groups, out.photos)
    with pytest.raises(SceneError, match="not a blend"):
        fit(bad, np.ones(len(out.male), bool), CFG)


def test_missing_face_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fit_attributes_main(["--faces", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kazoe-sim fit-attributes: ")
    assert str(tmp_path / "none") in err


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1200)  # 540 photos, two networks: ~35 s here, more on a loaded box
def test_fairface_fit_is_the_shipped_default_and_holds_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The node's default fusion is what the tool fits on FairFace, and its held-out figures
    (fitted on one half, scored on the other) match the committed ones."""
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"the FairFace evaluation set is not at {FAIRFACE} (see its SOURCE.md)")
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    assert fit_attributes_main(["--json"]) == 0
    got: dict[str, Any] = json.loads(capsys.readouterr().out)
    fitted = got["fitted_on_all"]
    assert fitted["gender_logistic"] == pytest.approx(DEFAULT_GENDER_LOGISTIC, abs=0.01)
    assert fitted["gender_intercept"] == pytest.approx(DEFAULT_GENDER_INTERCEPT, abs=0.01)
    assert fitted["age_blend"] == pytest.approx(DEFAULT_AGE_BLEND, abs=0.005)
    assert fitted["age_scale"] == pytest.approx(DEFAULT_AGE_SCALE, abs=0.005)
    assert fitted["age_offset"] == pytest.approx(DEFAULT_AGE_OFFSET, abs=0.05)
    want: dict[str, Any] = json.loads(EXPECTED.read_text(encoding="utf-8"))
    _held_out_as_committed(got, want)
    # The per-face goals, on photos the fit never saw (mean of the two halves).
    assert got["held_out"]["gender"] >= 0.85
    assert got["held_out"]["age_within_one"] >= 0.90
    assert fitted["age_map"] == [list(k) for k in DEFAULT_AGE_MAP]
    # With --no-age-map: the line alone, the same ±1 and worse age-band shares held out.
    assert fit_attributes_main(["--json", "--no-age-map"]) == 0
    line: dict[str, Any] = json.loads(capsys.readouterr().out)
    _held_out_as_committed(line, want["without_age_map"])
    assert line["fitted_on_all"]["age_map"] == []
    assert got["held_out"]["band_distance"] < line["held_out"]["band_distance"]


def _held_out_as_committed(got: dict[str, Any], want: dict[str, Any]) -> None:
    for part in ("fitted_on_a_scored_on_b", "fitted_on_b_scored_on_a"):
        for key in ("gender", "female", "male", "age_exact", "age_within_one", "band_distance"):
            # one face either way of 270 (135 per gender) is float noise across CPUs
            tolerance = 1.01 / (135 if key in ("female", "male") else 270)
            assert got[part][key] == pytest.approx(want[part][key], abs=tolerance), (part, key)
