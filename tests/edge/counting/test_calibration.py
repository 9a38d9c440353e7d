"""Calibration files: validation, derived error rates, identity checks, the shipped default."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config import DEFAULT_AGE_MAP, AggregateConfig, AttributesConfig
from edge.counting.calibration import (
    AGE_BINS,
    GENDER_BINS,
    Calibration,
    attribute_recipe,
    check_identity,
    default_path,
    identity_mismatch,
    load_calibration,
)
from edge.errors import ConfigError
from edge.payload import ModelIds
from edge.vision.models_info import model_ids

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"
IDS = ModelIds(detector="yunet@7fc3c140", age="faceapi@1", gender="cydral@2+faceapi@1")


def hist(bins: int, at: dict[int, int]) -> list[int]:
    out = [0] * bins
    for i, n in at.items():
        out[i] = n
    return out


def calibration(**changes: Any) -> Calibration:
    doc: dict[str, Any] = {
        "schema": "kazoe.calibration/1",
        "name": "test",
        "measured_on": "synthetic",
        "created": datetime(2026, 12, 1, tzinfo=UTC),
        "models": IDS,
        "recipe": attribute_recipe(AttributesConfig()),
        "faces": 100,
        "found": 100,
        # women: 30 at p 0.1 (female), 10 at p 0.45 (unknown), 10 at p 0.9 (male)
        "gender": {
            "female": hist(GENDER_BINS, {10: 30, 45: 10, 90: 10}),
            "male": hist(GENDER_BINS, {10: 5, 50: 5, 90: 40}),
        },
        "age": [
            {"lo": 0, "hi": 9, "predicted": hist(AGE_BINS, {5: 8, 15: 2})},
            {"lo": 10, "hi": 19, "predicted": hist(AGE_BINS, {15: 6, 25: 4})},
            {"lo": 20, "hi": None, "predicted": hist(AGE_BINS, {25: 9, 15: 1})},
        ],
    }
    doc.update(changes)
    return Calibration.model_validate(doc)


def test_gender_rates_follow_the_margin() -> None:
    rates = calibration().gender_rates(margin=0.1)
    assert rates is not None
    assert rates.women == pytest.approx((0.6, 0.2))  # 30 and 10 of 50; 10 unknown
    assert rates.men == pytest.approx((0.1, 0.8))
    wide = calibration().gender_rates(margin=0.45)  # only p < 0.05 or p >= 0.95 counts
    assert wide is not None
    assert wide.women == (0.0, 0.0)


def test_band_confusion_splits_a_straddling_group_by_its_years() -> None:
    cal = calibration()
    same = cal.band_confusion(AggregateConfig(age_bands=(10, 20)))
    assert same is not None
    assert np.allclose(same, [[0.8, 0.2, 0], [0, 0.6, 0.4], [0, 0.1, 0.9]])
    # Bands 0-12 / 13+: group 10-19 gives 3 of its 10 years to 0-12 and 7 to 13+.
    split = cal.band_confusion(AggregateConfig(age_bands=(13,)))
    assert split is not None
    row_young = (1.0 * np.array([0.8, 0.2]) + 0.3 * np.array([0.0, 1.0])) / 1.3
    assert split[0].tolist() == pytest.approx(row_young.tolist())
    assert np.allclose(split.sum(axis=1), 1.0)


def test_a_band_without_labelled_faces_has_no_confusion() -> None:
    cal = calibration(age=[{"lo": 20, "hi": 29, "predicted": hist(AGE_BINS, {25: 3})}])
    assert cal.band_confusion(AggregateConfig(age_bands=(20, 30))) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gender": {"female": [0] * 5, "male": [0] * GENDER_BINS}}, "100 bins"),
        ({"found": 101}, "found must be <= faces"),
        ({"schema": "kazoe.calibration/9"}, "schema"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_file_is_refused_in_one_line(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    doc = json.loads(calibration().to_json())
    doc.update(change)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_calibration(path)
    assert "not a kazoe calibration" in str(err.value)
    assert reason in str(err.value) or reason in str(err.value).lower()
    assert "\n" not in str(err.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="calibration file not found"):
        load_calibration(tmp_path / "none.json")


def test_file_round_trips_and_its_id_names_its_content(tmp_path: Path) -> None:
    cal = calibration()
    path = tmp_path / "cal.json"
    path.write_text(cal.to_json(), encoding="utf-8")
    again = load_calibration(path)
    assert again == cal
    assert again.id == cal.id
    assert cal.id.startswith("test@")
    assert calibration(name="test", faces=101).id != cal.id


@pytest.mark.parametrize(
    ("models", "attributes", "named"),
    [
        (IDS.model_copy(update={"age": "age-v1@4f9f0075"}), AttributesConfig(), "age model"),
        (IDS.model_copy(update={"detector": "face_detection_full_range@99bf"}), None, "detector"),
        (IDS, AttributesConfig(flip_average=False), "flip_average"),
        (IDS, AttributesConfig(gender_intercept=-0.5), "gender_intercept"),
        (IDS, AttributesConfig(age_scale=1.2, age_map=DEFAULT_AGE_MAP), "age_scale"),
        (IDS, AttributesConfig(age_map=()), "age_map"),
        (IDS, AttributesConfig(gender_weights={"faceres-deep": 1.0}), "gender_intercept"),
    ],
)
def test_a_calibration_of_other_models_or_another_recipe_is_refused(
    models: ModelIds, attributes: AttributesConfig | None, named: str
) -> None:
    with pytest.raises(ConfigError) as err:
        check_identity(calibration(), models, attributes or AttributesConfig(), Path("c.json"))
    assert named in str(err.value)
    assert "kazoe calibrate" in str(err.value)
    assert "\n" not in str(err.value)


PREVIOUS = {  # a weighted-mean recipe as a version before the logistic fusion stored it
    "gender_models": ["cydral", "faceapi", "faceres-deep"],
    "gender_weights": {"cydral": 0.5, "faceapi": 1.0, "faceres-deep": 0.5},
    "age_model": "faceapi",
    "age_blend": {"faceres-deep": 0.2},
    "flip_average": True,
}


def test_a_calibration_stored_before_the_fused_recipe_keys_still_matches_its_recipe() -> None:
    old = calibration(recipe=PREVIOUS)
    node = AttributesConfig.model_validate(PREVIOUS)
    assert identity_mismatch(old, IDS, node) == ""
    assert "age_blend" in identity_mismatch(old, IDS, AttributesConfig())  # the first to differ


def test_a_calibration_from_before_the_age_map_is_refused_by_the_default_node_in_one_line() -> None:
    line_only = {k: v for k, v in attribute_recipe(AttributesConfig()).items() if k != "age_map"}
    old = calibration(recipe=line_only)  # as kazoe calibrate stored it before age_map existed
    restated = AttributesConfig.model_validate({**line_only, "age_map": []})
    assert identity_mismatch(old, IDS, restated) == ""  # the recipe it was made with
    why = identity_mismatch(old, IDS, AttributesConfig())
    assert why.startswith("[attributes] age_map = [] (the node has [[0.2, 0.0], [2.5, 1.7]")
    assert why.endswith("...])")  # 21 knots, elided to one short line
    assert len(why) < 120


def test_keys_the_fusion_in_use_ignores_do_not_invalidate_a_calibration() -> None:
    mean = {"gender_models": ["cydral", "faceapi"], "age_blend": {}}
    cal = calibration(recipe=attribute_recipe(AttributesConfig.model_validate(mean)))
    with_intercept = AttributesConfig.model_validate({**mean, "gender_intercept": 0.3})
    assert identity_mismatch(cal, IDS, with_intercept) == ""
    fused = calibration()  # the default: logistic fusion, which reads no gender_weights
    assert "gender_weights" not in fused.recipe
    assert "gender_intercept" not in cal.recipe


def test_scheduling_keys_are_not_part_of_the_recipe() -> None:
    # How often faces are estimated, and how tracks are fused, change no per-face estimate.
    changed = AttributesConfig(
        every_n_frames=5, estimates_per_track=8, reestimate_better=2.0, min_evidence=2.0
    )
    check_identity(calibration(), IDS, changed, Path("c.json"))


def test_the_shipped_default_describes_the_default_models() -> None:
    """Fails when the default ensemble or the models change: regenerate the calibration with
    ``kazoe-sim accuracy --write-calibration edge/counting/calibrations/fairface-default.json``."""
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    cal = load_calibration(default_path())
    ids = model_ids(MODELS, "yunet", True, AttributesConfig())
    check_identity(cal, ids, AttributesConfig(), default_path())
    assert cal.found >= 0.95 * cal.faces


def _by_group(female: dict[int, int], male: dict[int, int]) -> dict[str, list[int]]:
    return {"female": hist(GENDER_BINS, female), "male": hist(GENDER_BINS, male)}


def test_band_gender_rates_pool_each_bands_groups_and_split_a_straddling_one() -> None:
    # Children are read worse than adults: 0-9 women half right, adults all right.
    age = [
        {
            "lo": 0,
            "hi": 9,
            "predicted": hist(AGE_BINS, {5: 10}),
            "gender": _by_group({10: 5, 90: 5}, {90: 10}),
        },
        {
            "lo": 10,
            "hi": 19,
            "predicted": hist(AGE_BINS, {15: 10}),
            "gender": _by_group({10: 10}, {90: 10}),
        },
        {
            "lo": 20,
            "hi": None,
            "predicted": hist(AGE_BINS, {25: 10}),
            "gender": _by_group({10: 10}, {90: 10}),
        },
    ]
    cal = calibration(age=age)
    rates = cal.band_gender_rates(AggregateConfig(age_bands=(10, 20)), margin=0.1)
    assert rates is not None
    assert [r.women for r in rates] == [(0.5, 0.5), (1.0, 0.0), (1.0, 0.0)]
    assert [r.women_faces for r in rates] == [10, 10, 10]
    # Bands 0-12 / 13+: 0-12 holds all of 0-9 and 3 of the 10 years of 10-19.
    split = cal.band_gender_rates(AggregateConfig(age_bands=(13,)), margin=0.1)
    assert split is not None
    assert split[0].women[0] == pytest.approx((5 + 0.3 * 10) / (10 + 0.3 * 10))
    assert split[0].women_faces == 13


def test_a_calibration_without_per_group_gender_gives_no_band_rates() -> None:
    """Files written before the per-group histograms existed still load; the node then uses
    the rates of all ages."""
    cal = calibration()
    assert all(row.gender is None for row in cal.age)
    assert cal.band_gender_rates(AggregateConfig(age_bands=(10, 20)), margin=0.1) is None
    assert cal.gender_rates(margin=0.1) is not None


def test_a_band_with_no_women_has_no_band_rates() -> None:
    age = [
        {
            "lo": 0,
            "hi": 19,
            "predicted": hist(AGE_BINS, {5: 10}),
            "gender": _by_group({}, {90: 10}),
        },
        {
            "lo": 20,
            "hi": None,
            "predicted": hist(AGE_BINS, {25: 10}),
            "gender": _by_group({10: 10}, {90: 10}),
        },
    ]
    assert calibration(age=age).band_gender_rates(AggregateConfig(age_bands=(20,)), 0.1) is None
