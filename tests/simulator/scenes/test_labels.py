"""Age/gender labels and how they fall into the node's age bands (no files, no models)."""

from __future__ import annotations

import re

import pytest

from simulator.scenes.labels import AgeGroup, Bands, FaceLabel, parse_age, parse_edges, parse_gender

NODE = Bands()  # the node's default edges 13, 20, ..., 70


@pytest.mark.parametrize(
    ("group", "band"),
    [
        ("0-2", "0-12"),
        ("3-9", "0-12"),
        ("10-19", None),  # straddles 0-12 / 13-19: never guessed
        ("13-19", "13-19"),
        ("20-29", "20-29"),
        ("60-69", "60-69"),
        ("70+", "70+"),
        ("65+", None),
    ],
)
def test_a_group_maps_to_a_band_only_when_it_fits_inside_one(group: str, band: str | None) -> None:
    _, parsed = parse_age(group)
    assert parsed is not None
    assert NODE.of_group(parsed) == band


@pytest.mark.parametrize(
    ("years", "band"), [(0, "0-12"), (12.9, "0-12"), (13, "13-19"), (69.5, "60-69"), (101, "70+")]
)
def test_years_map_like_the_node_does(years: float, band: str) -> None:
    assert NODE.of_years(years) == band


def test_straddling_group_lists_the_bands_it_spans() -> None:
    assert NODE.spanned(AgeGroup(10, 19)) == ["0-12", "13-19"]
    assert NODE.spanned(AgeGroup(65, None)) == ["60-69", "70+"]


def test_custom_bands_change_what_straddles() -> None:
    bands = Bands((10, 20, 65))
    assert bands.labels == ["0-9", "10-19", "20-64", "65+"]
    assert bands.of_label(FaceLabel(age_group=AgeGroup(10, 19))) == "10-19"
    assert bands.of_label(FaceLabel(age_group=AgeGroup(60, 69))) is None
    assert bands.of_label(FaceLabel()) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("F", "female"), ("Female", "female"), ("woman", "female"), ("m", "male"), ("", None)],
)
def test_gender_words(text: str, expected: str | None) -> None:
    assert parse_gender(text) == expected


def test_gender_digits_only_for_utk() -> None:
    assert parse_gender("1", numeric=True) == "female"
    assert parse_gender("0", numeric=True) == "male"
    with pytest.raises(ValueError, match="should be a word"):
        parse_gender("1")
    with pytest.raises(ValueError, match="is not female / male"):
        parse_gender("x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("twenty", "is not like '20-29' or '70+'"),
        ("29-20", "ends before it starts"),
        ("150", "is not between 0 and 130 years"),
    ],
)
def test_bad_ages_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_age(text)


def test_age_band_edges_are_checked_like_the_node_config() -> None:
    assert parse_edges("13,20,30") == (13, 20, 30)
    with pytest.raises(ValueError, match="strictly ascending"):
        parse_edges("20,13")
    with pytest.raises(ValueError, match="comma-separated whole years"):
        parse_edges("a,b")
