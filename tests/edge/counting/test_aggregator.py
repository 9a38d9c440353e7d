"""Fixed windows on the media clock: alignment, closing, empty windows and attribute bins."""

from __future__ import annotations

import pytest

from edge.config import AggregateConfig
from edge.counting.aggregator import Aggregator, gender_of
from edge.payload import MAX_COUNT
from edge.types import FinishedTrack, WindowCounts

T0 = 1_767_258_000.0  # 2026-01-01T09:00:00Z, a multiple of 60 and 300


def make(window_seconds: int = 60, demographics: bool = True) -> Aggregator:
    cfg = AggregateConfig(window_seconds=window_seconds)
    return Aggregator(cfg, demographics=demographics, gender_margin=0.1)


def person(ended_at: float, age: float | None = 35.0, p_male: float | None = 0.9) -> FinishedTrack:
    return FinishedTrack(
        first_seen=ended_at - 2, ended_at=ended_at, hits=10, mean_age=age, mean_p_male=p_male
    )


def spans(windows: list[WindowCounts]) -> list[tuple[float, float, int]]:
    return [(w.window_start - T0, w.window_end - T0, w.people) for w in windows]


@pytest.mark.parametrize(
    ("window_seconds", "ts", "start"),
    [
        (60, T0, T0),
        (60, T0 + 59.999, T0),
        (60, T0 + 60, T0 + 60),
        (300, T0 + 299, T0),
        (300, T0 + 301, T0 + 300),
        (7, 70.5, 70.0),
        (3600, T0 + 1800, T0),  # 09:00 is an hour boundary
    ],
)
def test_windows_align_to_multiples_of_their_length(
    window_seconds: int, ts: float, start: float
) -> None:
    assert make(window_seconds).window_start(ts) == start


def test_track_counts_in_the_window_of_its_end() -> None:
    agg = make()
    agg.observe_time(T0 + 5)
    agg.add(person(ended_at=T0 + 59.5))  # started in this window, ended in it
    agg.add(person(ended_at=T0 + 60.2))  # started in this window, ended in the next
    closed = agg.advance(T0 + 120)
    assert spans(closed) == [(0, 60, 1), (60, 120, 1)]


def test_window_closes_as_soon_as_the_clock_reaches_its_end() -> None:
    agg = make()
    agg.observe_time(T0 + 1)
    agg.add(person(T0 + 10))
    assert agg.advance(T0 + 59.99) == []
    # Sealed at the boundary, not max_missed_s later: a crash now loses only the new window.
    assert spans(agg.advance(T0 + 60)) == [(0, 60, 1)]
    assert agg.advance(T0 + 60.5) == [], "a window closes once"


def test_track_reported_after_the_boundary_counts_in_the_next_window() -> None:
    agg = make()
    agg.observe_time(T0 + 1)
    assert spans(agg.advance(T0 + 60)) == [(0, 60, 0)]
    # Last seen at 59.9 s, reported by the tracker max_missed_s later: counted, in 60-120.
    agg.add(person(T0 + 59.9))
    agg.observe_time(T0 + 61)
    assert spans(agg.advance(T0 + 120)) == [(60, 120, 1)]


def test_counts_stop_at_the_bound_the_wire_schema_sets() -> None:
    agg = make(window_seconds=3600, demographics=False)
    agg.observe_time(T0)
    for _ in range(MAX_COUNT + 3):
        agg.add(person(T0 + 5))
    (window,) = agg.flush()
    assert window.people == MAX_COUNT


def test_gap_in_time_emits_empty_windows() -> None:
    agg = make()
    agg.observe_time(T0 + 10)
    agg.add(person(T0 + 20))
    agg.observe_time(T0 + 250)  # no frames for windows 60, 120 and 180
    closed = agg.advance(T0 + 250)
    assert spans(closed) == [(0, 60, 1), (60, 120, 0), (120, 180, 0), (180, 240, 0)]
    for empty in closed[1:]:
        assert empty.gender == {"female": 0, "male": 0, "unknown": 0}
        assert empty.age_bands is not None
        assert set(empty.age_bands.values()) == {0}


def test_flush_closes_the_partial_last_window() -> None:
    agg = make()
    agg.observe_time(T0 + 10)
    agg.observe_time(T0 + 70)
    agg.add(person(T0 + 75))
    assert spans(agg.advance(T0 + 75)) == [(0, 60, 0)]
    assert spans(agg.flush()) == [(60, 120, 1)]


def test_second_flush_emits_nothing() -> None:
    agg = make()
    agg.observe_time(T0 + 70)
    assert spans(agg.flush()) == [(60, 120, 0)]
    assert agg.flush() == []


def test_flush_before_any_time_is_empty() -> None:
    assert make().flush() == []


def test_track_added_before_any_observed_time_is_not_lost() -> None:
    agg = make()
    agg.add(person(T0 + 30))
    assert spans(agg.flush()) == [(0, 60, 1)]


def test_late_track_for_a_closed_window_counts_in_the_next_open_one() -> None:
    agg = make()
    agg.observe_time(T0 + 10)
    assert len(agg.advance(T0 + 61.5)) == 1
    agg.add(person(T0 + 59))
    assert spans(agg.flush()) == [(60, 120, 1)]


@pytest.mark.parametrize(
    ("p_male", "expected"),
    [
        (None, "unknown"),
        (0.0, "female"),
        (0.39, "female"),
        (0.4, "unknown"),
        (0.5, "unknown"),
        (0.6, "unknown"),
        (0.61, "male"),
        (1.0, "male"),
    ],
)
def test_gender_of_uses_the_margin(p_male: float | None, expected: str) -> None:
    assert gender_of(p_male, margin=0.1) == expected


@pytest.mark.parametrize(
    ("p_male", "expected"), [(0.49, "female"), (0.5, "unknown"), (0.51, "male")]
)
def test_gender_of_with_zero_margin(p_male: float, expected: str) -> None:
    assert gender_of(p_male, margin=0.0) == expected


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0.25, "0-12"),
        (12.9, "0-12"),
        (13.0, "13-19"),
        (19.99, "13-19"),
        (20.0, "20-29"),
        (69.9, "60-69"),
        (70.0, "70+"),
        (80.0, "70+"),
    ],
)
def test_band_of_at_the_edges(age: float, band: str) -> None:
    assert make().band_of(age) == band


def test_demographic_window_fills_marginals_and_joint_table() -> None:
    agg = make()
    agg.observe_time(T0)
    agg.add(person(T0 + 1, age=25, p_male=0.9))
    agg.add(person(T0 + 2, age=27, p_male=0.95))
    agg.add(person(T0 + 3, age=72, p_male=0.1))
    agg.add(person(T0 + 4, age=15, p_male=0.5))
    (win,) = agg.flush()
    assert win.people == 4
    assert win.gender == {"female": 1, "male": 2, "unknown": 1}
    assert win.age_bands is not None
    assert win.joint is not None
    assert win.age_bands["20-29"] == 2
    assert win.age_bands["70+"] == 1
    assert win.joint["male"]["20-29"] == 2
    assert win.joint["female"]["70+"] == 1
    assert win.joint["unknown"]["13-19"] == 1
    assert sum(win.gender.values()) == win.people == sum(win.age_bands.values())


def test_footfall_mode_counts_people_only() -> None:
    agg = make(demographics=False)
    agg.observe_time(T0)
    agg.add(person(T0 + 1, age=None, p_male=None))
    agg.add(person(T0 + 2))
    (win,) = agg.flush()
    assert win.people == 2
    assert win.gender is None
    assert win.age_bands is None
    assert win.joint is None
