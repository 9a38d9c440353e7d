"""``make bench`` suppression figures: windows laid out as the node's, losses by rule."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edge.config import NodeSettings
from edge.types import WindowCounts
from simulator.bench import settings
from simulator.bench_suppression import measure, truth_windows
from simulator.scenes.truth import PersonTruth, SceneTruth

GENDERS = ("female", "male", "unknown")
BANDS = ("0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+", "unknown")
ROWS_101 = [  # the labelled 101-person window of issue 14
    [1, 4, 14, 11, 7, 7, 5, 0, 1],
    [2, 3, 12, 10, 3, 6, 5, 0, 2],
    [0, 0, 2, 1, 1, 1, 2, 1, 0],
]


def cfg() -> NodeSettings:
    return settings(Path("models/build"))


def window_101() -> WindowCounts:
    joint = {
        g: dict(zip(BANDS, row, strict=True)) for g, row in zip(GENDERS, ROWS_101, strict=True)
    }
    return WindowCounts(
        window_start=0.0,
        window_end=60.0,
        people=101,
        gender={g: sum(joint[g].values()) for g in GENDERS},
        age_bands={b: sum(joint[g][b] for g in GENDERS) for b in BANDS},
        joint=joint,
    )


def test_the_optimal_rule_loses_less_than_the_greedy_one_on_the_issue_window() -> None:
    loss = measure([window_101()], cfg(), k=2)
    assert loss.people == 101
    assert loss.entries == 4 * 101, "people, gender, bands and joint each count everyone"
    assert loss.held["P=k"] < loss.held["before"]
    assert loss.bands["before"] >= 40, "the greedy rule hid the middle of the histogram"
    assert loss.bands["P=k"] <= 5
    assert len(loss.seal_ms) == 1


def person(
    i: int, exit_s: float, gender: Literal["female", "male"] | None, band: str | None
) -> PersonTruth:
    return PersonTruth(
        id=i, portrait=f"p{i}", enter_s=0.0, exit_s=exit_s, gender=gender, age_band=band
    )


def test_truth_windows_bin_people_by_exit_with_unknown_cells() -> None:
    truth = SceneTruth(
        width=640,
        height=480,
        fps=10,
        seconds=50,
        frames=500,
        seed=0,
        window_seconds=30,
        faces="test",
        age_band_edges=[13, 20, 30, 40, 50, 60, 70],
        people=[
            person(0, 5.0, "female", "20-29"),
            person(1, 29.9, None, "70+"),
            person(2, 31.0, "male", None),
        ],
        windows=[],
    )
    first, second = truth_windows(truth, 30.0)
    assert (first.people, second.people) == (2, 1)
    assert first.joint is not None
    assert second.joint is not None
    assert first.joint["female"]["20-29"] == 1
    assert first.joint["unknown"]["70+"] == 1
    assert second.joint["male"]["unknown"] == 1
    assert first.age_bands is not None
    assert sum(first.age_bands.values()) == first.people
