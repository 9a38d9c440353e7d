"""Regions: padded around faces, at the scale the face needs, merged, aligned to 32."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge.vision.regions import (
    BAND_OVERLAP,
    Region,
    align,
    bands,
    face_regions,
    face_scale,
    full_cost,
    merge,
    pad_regions,
)


@pytest.mark.parametrize(
    ("width", "scale"),
    [(40, 1.0), (64, 1.0), (100, 1.5), (130, 2.0), (200, 3.0), (400, 4.0), (1000, 4.0)],
)
def test_a_face_is_downscaled_only_as_far_as_it_stays_64_px(width: float, scale: float) -> None:
    assert face_scale(width, 64, 1.0) == scale
    assert width / scale >= min(width, 64)


def test_face_region_is_padded_by_face_widths() -> None:
    (region,) = face_regions(np.array([[100, 100, 164, 164]], np.float32), 1.0, 64, 1.0)
    assert (region.x0, region.y0, region.x1, region.y1) == (36, 36, 228, 228)
    assert region.scale == 1.0


@pytest.mark.parametrize(
    "region",
    [Region(36, 36, 228, 228, 1.0), Region(0, 0, 50, 70, 1.0), Region(1200, 650, 1280, 720, 1.5),
     Region(500, 300, 811, 517, 2.0)],
)  # fmt: skip
def test_aligned_regions_stay_in_the_frame_and_cover_the_original(region: Region) -> None:
    out = align(region, 1280, 720)
    assert 0 <= out.x0 <= region.x0
    assert region.x1 <= out.x1 <= 1280
    assert 0 <= out.y0 <= region.y0
    assert region.y1 <= out.y1 <= 720
    mw, mh = out.model_size
    assert mw % 32 == 0
    assert mh % 32 == 0
    # Grown with real pixels to the model's multiple of 32 (unless the frame ends first).
    assert (out.x1 - out.x0) / out.scale > mw - 32 or out.x1 - out.x0 == 1280


def test_overlapping_regions_of_one_scale_merge() -> None:
    a, b = Region(100, 100, 300, 300, 1.0), Region(250, 120, 400, 280, 1.0)
    (merged,) = merge([a, b], 1280, 720)
    assert merged.scale == 1.0
    assert merged.x0 <= 100
    assert merged.y0 <= 100
    assert merged.x1 >= 400
    assert merged.y1 >= 300


def test_regions_of_different_scales_keep_their_own_scale() -> None:
    small_face, big_face = Region(100, 100, 300, 300, 1.0), Region(250, 120, 600, 500, 2.0)
    regions = merge([small_face, big_face], 1280, 720)
    assert sorted(r.scale for r in regions) == [1.0, 2.0]
    assert sum(r.cost for r in regions) < Region(100, 100, 600, 500, 1.0).cost


def test_far_apart_regions_stay_apart() -> None:
    regions = merge([Region(0, 0, 100, 100, 1.0), Region(900, 500, 1000, 600, 1.0)], 1280, 720)
    assert len(regions) == 2
    assert sum(r.cost for r in regions) < full_cost(1280, 720, (1.0,)) / 10


def test_regions_outside_the_frame_are_dropped_and_edges_clipped() -> None:
    regions = merge(pad_regions(np.array([[-300, -300, -200, -200], [1250, 700, 1300, 760]],
                                         np.float32), 16, 1.0), 1280, 720)  # fmt: skip
    assert len(regions) == 1
    (r,) = regions
    assert r.x1 == 1280
    assert r.y1 == 720
    assert r.x0 >= 0
    assert r.y0 >= 0


def test_an_empty_region_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty region"):
        Region(10, 10, 10, 20, 1.0)


def test_a_region_within_the_budget_is_one_pass() -> None:
    region = Region(0, 0, 1280, 720, 1.0)  # 1280x736 model pixels
    assert bands(region, 1_300_000) == [region]


@pytest.mark.parametrize(
    ("width", "height", "scale", "budget"),
    [(1920, 1080, 1.0, 1_300_000), (1920, 1080, 1.0, 900_000), (3840, 2160, 1.0, 1_300_000),
     (3840, 2160, 1.5, 1_300_000), (1920, 1081, 1.0, 1_000_000), (1000, 4000, 1.0, 1_300_000),
     (2592, 1944, 1.0, 2_000_000)],
)  # fmt: skip
def test_bands_cover_the_region_overlap_and_stay_within_the_budget(
    width: int, height: int, scale: float, budget: int
) -> None:
    region = Region(0, 0, width, height, scale)
    passes = bands(region, budget)
    fine = sorted((p for p in passes if p.scale == scale), key=lambda p: p.y0)
    assert len(fine) >= 2
    assert all(p.cost <= budget for p in passes)
    assert all((p.x0, p.x1) == (0, width) for p in passes)  # full width
    assert fine[0].y0 == 0
    assert fine[-1].y1 == height
    for upper, lower in itertools.pairwise(fine):
        assert upper.y1 - lower.y0 >= BAND_OVERLAP * scale - 1  # a tall face is whole in one
    # The faces too tall for a band: the region again at twice the scale, itself banded.
    coarse = [p for p in passes if p.scale != scale]
    assert min(p.scale for p in coarse) == 2 * scale
    assert min(p.y0 for p in coarse) == 0
    assert max(p.y1 for p in coarse) == height


def test_a_region_too_wide_for_useful_bands_stays_one_pass() -> None:
    region = Region(0, 0, 8000, 600, 1.0)  # bands of a 262k budget would be 32 px tall
    assert bands(region, 262_144) == [region]
