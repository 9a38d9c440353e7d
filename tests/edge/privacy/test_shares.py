"""Intervals on sealed windows: schema /3, computed from published cells only, never leaking."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from edge.config import NodeSettings
from edge.counting.calibration import default_path, load_calibration
from edge.errors import ConfigError
from edge.payload import validate
from edge.privacy.policy import seal
from edge.privacy.shares import IntervalMaker, resolve_intervals
from edge.types import WindowCounts
from tests.edge.privacy.test_policy import (
    BOOT_ID,
    FULL_MODELS,
    demographic_counts,
    settings_for,
)

CAL = load_calibration(default_path())


def maker(settings: NodeSettings) -> IntervalMaker:
    return IntervalMaker.from_calibration(CAL, settings)


def sealed(counts: WindowCounts, settings: NodeSettings) -> dict[str, Any]:
    out = seal(
        counts,
        settings=settings,
        boot_id=BOOT_ID,
        seq=1,
        models=FULL_MODELS,
        intervals=maker(settings),
    )
    return validate("counts.schema.json", out.payload.to_json())


def test_a_window_carries_intervals_under_schema_3() -> None:
    settings = settings_for("footfall", "demographics")
    doc = sealed(
        demographic_counts(
            {"female": {"20-29": 12, "30-39": 8}, "male": {"20-29": 10, "40-49": 10}}
        ),
        settings,
    )
    assert doc["schema"] == "kazoe.counts/3"
    intervals = doc["intervals"]
    assert intervals["level"] == 0.9
    assert intervals["calibration"] == CAL.id
    lo, hi = intervals["female_share"]["low"], intervals["female_share"]["high"]
    # 20 of 40 counted female; the shipped calibration says the models take men for women
    # more often than the reverse, so the truth is more likely below 50 % than above.
    rates = CAL.gender_rates(settings.attributes.gender_margin)
    assert rates is not None
    assert rates.men[0] > rates.women[1]
    assert 0 <= lo < hi <= 100
    assert (lo + hi) / 2 < 50.0
    assert set(intervals["age_bands"]) == {
        "0-12",
        "13-19",
        "20-29",
        "30-39",
        "40-49",
        "50-59",
        "60-69",
        "70+",
    }
    for bounds in intervals["age_bands"].values():
        assert 0 <= bounds["low"] <= bounds["high"] <= 100
    # Nobody counted 0-12 (a band the models find well): its truth is near zero.
    assert intervals["age_bands"]["0-12"]["low"] == 0.0
    assert intervals["age_bands"]["0-12"]["high"] < 20
    # The counts stay the point estimates.
    assert doc["gender"] == {"female": 20, "male": 20, "unknown": 0}


def test_level_is_configurable() -> None:
    wide = settings_for("footfall", "demographics").model_copy(
        update={"intervals": settings_for("footfall").intervals.model_copy(update={"level": 0.99})}
    )
    narrow = settings_for("footfall", "demographics")
    counts = demographic_counts({"female": {"20-29": 15}, "male": {"20-29": 15}})
    a, b = sealed(counts, wide)["intervals"], sealed(counts, narrow)["intervals"]
    assert a["level"] == 0.99

    def width(iv: dict[str, float]) -> float:
        return iv["high"] - iv["low"]

    assert width(a["female_share"]) > width(b["female_share"])


def test_a_withheld_gender_cell_gets_no_female_share_interval() -> None:
    settings = settings_for("footfall", "demographics", k=5)
    doc = sealed(demographic_counts({"female": {"20-29": 2}, "male": {"20-29": 30}}), settings)
    assert doc["gender"]["female"] is None
    assert doc["intervals"]["female_share"] is None


def test_a_withheld_band_gets_no_interval_and_published_ones_do() -> None:
    settings = settings_for("footfall", "demographics", k=5)
    doc = sealed(
        demographic_counts({"female": {"20-29": 10, "70+": 2}, "male": {"30-39": 10, "40-49": 8}}),
        settings,
    )
    withheld = {b for b, v in doc["age_bands"].items() if v is None}
    assert "70+" in withheld
    assert set(doc["intervals"]["age_bands"]) == set(doc["age_bands"]) - withheld


def test_intervals_depend_on_published_cells_only() -> None:
    """Two windows that publish the same cells publish the same intervals, whatever the
    withheld cells held: an interval cannot reveal a withheld count."""
    settings = settings_for("footfall", "demographics", k=5)
    base = {"female": {"20-29": 10}, "male": {"30-39": 10, "40-49": 8}}
    one = sealed(demographic_counts({**base, "unknown": {"70+": 1, "60-69": 3}}), settings)
    two = sealed(demographic_counts({**base, "unknown": {"70+": 3, "60-69": 1}}), settings)
    published = ("people", "gender", "age_bands", "joint", "suppressed")
    assert {k: one[k] for k in published} == {k: two[k] for k in published}
    assert one["intervals"] == two["intervals"]


def test_without_demographics_or_when_disabled_there_are_no_intervals() -> None:
    assert resolve_intervals(settings_for("footfall"), FULL_MODELS) is None
    off = settings_for("footfall", "demographics")
    off = off.model_copy(update={"intervals": off.intervals.model_copy(update={"enabled": False})})
    assert resolve_intervals(off, FULL_MODELS) is None


def test_the_shipped_calibration_of_other_models_turns_intervals_off_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for("footfall", "demographics")
    with caplog.at_level(logging.WARNING, "kazoe.privacy.shares"):
        assert resolve_intervals(settings, FULL_MODELS) is None  # Cydral ids: not the default
    assert "no intervals" in caplog.text
    assert "kazoe calibrate" in caplog.text


def test_a_configured_calibration_of_other_models_stops_the_node(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    path.write_text(CAL.to_json(), encoding="utf-8")
    settings = settings_for("footfall", "demographics")
    settings = settings.model_copy(
        update={"intervals": settings.intervals.model_copy(update={"calibration": path})}
    )
    with pytest.raises(ConfigError) as err:
        resolve_intervals(settings, FULL_MODELS)
    assert str(err.value).startswith(f"{path}: calibration fairface-default was measured with")
    assert "\n" not in str(err.value)
    same = FULL_MODELS.model_copy(update=CAL.models.model_dump())
    assert resolve_intervals(settings, same) is not None


def test_the_female_share_interval_uses_the_windows_own_age_mix() -> None:
    """The shipped calibration holds each age group's gender histograms: a window of
    children (read worse) gets a wider interval than the same counts among adults, and one
    centred elsewhere; without the bands the interval uses the rates of all ages."""
    settings = settings_for("footfall", "demographics")
    iv = maker(settings)
    assert iv.band_gender is not None
    assert len(iv.band_gender) == len(iv.bands)
    gender = {"female": 12, "male": 8, "unknown": 0}
    children = iv.female_share(gender, 20, {"0-12": 20, "unknown": 0})
    adults = iv.female_share(gender, 20, {"30-39": 20, "unknown": 0})
    all_ages = iv.female_share(gender)
    assert children is not None
    assert adults is not None
    assert all_ages is not None
    assert children.high - children.low > adults.high - adults.low
    assert children != all_ages != adults
    # Bands not given (or an older calibration without per-group histograms): all ages.
    assert iv.female_share(gender, 20, None) == all_ages
    old = IntervalMaker.from_calibration(
        CAL.model_copy(update={"age": [r.model_copy(update={"gender": None}) for r in CAL.age]}),
        settings,
    )
    assert old.band_gender is None
    assert old.female_share(gender, 20, {"0-12": 20, "unknown": 0}) == all_ages


def test_a_withheld_band_weighs_the_age_mix_by_the_published_total_only() -> None:
    """A withheld band's people (the known total less the published bands) are spread evenly
    over the withheld bands, so the interval is the same whatever the hidden split was."""
    iv = maker(settings_for("footfall", "demographics"))
    gender = {"female": 10, "male": 10, "unknown": 0}

    def bands(cells: dict[str, int | None]) -> dict[str, int | None]:
        return {**dict.fromkeys(iv.bands, 0), **cells, "unknown": 0}

    hidden = iv.female_share(gender, 20, bands({"30-39": 16, "0-12": None, "70+": None}))
    even = iv.female_share(gender, 20, bands({"30-39": 16, "0-12": 2, "70+": 2}))
    assert hidden is not None
    assert hidden == even
    # ... and a different published mix gives a different interval.
    assert iv.female_share(gender, 20, bands({"30-39": 12, "0-12": 8})) != hidden
