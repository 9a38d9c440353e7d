"""BlazeFace anchors and decoding, tile planning, NMS and the inner-border rule (no model)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.vision import anchors
from edge.vision.detector import View, _touches_inner_border, plan_views
from edge.vision.nms import nms


def test_full_range_anchors() -> None:
    spec = anchors.full_range()
    assert spec.size == 192
    assert spec.anchors.shape == (2304, 2)
    assert spec.anchors.dtype == np.float32
    np.testing.assert_allclose(spec.anchors[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(spec.anchors[1], [1.5 / 48, 0.5 / 48])  # x varies fastest
    np.testing.assert_allclose(spec.anchors[48], [0.5 / 48, 1.5 / 48])
    np.testing.assert_allclose(spec.anchors[-1], [47.5 / 48, 47.5 / 48])


def test_short_range_anchors() -> None:
    spec = anchors.short_range()
    assert spec.size == 128
    assert spec.anchors.shape == (896, 2)
    # stride 8: 16x16 cells x 2 anchors, then stride 16: 8x8 cells x 6 anchors.
    np.testing.assert_allclose(spec.anchors[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(spec.anchors[1], spec.anchors[0])
    np.testing.assert_allclose(spec.anchors[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(spec.anchors[511], [15.5 / 16, 15.5 / 16])
    np.testing.assert_allclose(spec.anchors[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(spec.anchors[-1], [7.5 / 8, 7.5 / 8])
    assert float(spec.anchors.min()) > 0
    assert float(spec.anchors.max()) < 1


@pytest.mark.parametrize("make", [anchors.full_range, anchors.short_range])
def test_decode_maps_a_regressor_row_to_box_and_keypoints(
    make: Callable[[], anchors.BlazeFaceSpec],
) -> None:
    spec = make()
    n = len(spec.anchors)
    regressors = np.zeros((n, 16), dtype=np.float32)
    logits = np.full(n, -10.0, dtype=np.float32)
    idx = n // 3
    cx, cy = spec.anchors[idx] * spec.size
    kps = np.arange(12, dtype=np.float32).reshape(6, 2) - 5  # offsets from the anchor
    regressors[idx] = [3.0, -2.0, 20.0, 24.0, *kps.ravel()]
    logits[idx] = 1000.0  # clipped to 100: a score of 1, no overflow warning
    boxes, scores, keypoints = anchors.decode(spec, regressors, logits, threshold=0.5)
    assert boxes.shape == (1, 4)
    np.testing.assert_allclose(
        boxes[0], [cx + 3 - 10, cy - 2 - 12, cx + 3 + 10, cy - 2 + 12], atol=1e-4
    )
    assert scores[0] == pytest.approx(1.0)
    np.testing.assert_allclose(keypoints[0], kps + np.array([cx, cy]), atol=1e-4)
    assert keypoints.shape == (1, 6, 2)
    assert boxes.dtype == scores.dtype == keypoints.dtype == np.float32


def test_decode_applies_the_score_threshold() -> None:
    spec = anchors.full_range()
    n = len(spec.anchors)
    logits = np.full(n, -20.0, dtype=np.float32)
    logits[[5, 7]] = [0.0, 2.0]  # sigmoid 0.5 and 0.88
    regressors = np.zeros((n, 16), dtype=np.float32)
    boxes, scores, _ = anchors.decode(spec, regressors, logits, threshold=0.6)
    assert len(boxes) == 1
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    _, scores, _ = anchors.decode(spec, regressors, logits, threshold=0.5)
    assert len(scores) == 2


@pytest.mark.parametrize("logit", [-100.0, -1e6])
def test_very_negative_logits_decode_without_overflow(logit: float) -> None:
    spec = anchors.full_range()
    n = len(spec.anchors)
    logits = np.full(n, logit, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boxes, scores, _ = anchors.decode(spec, np.zeros((n, 16), np.float32), logits, 0.5)
    assert len(boxes) == len(scores) == 0


def tiles(views: list[View], width: int, height: int) -> list[View]:
    whole = [v for v in views if (v.x0, v.y0, v.side) == (0, 0, max(width, height))]
    assert len(whole) == 1, "exactly one whole-frame view"
    assert views[-1] == whole[0], "the whole frame comes last"
    return views[:-1]


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 480), (1920, 1080)])
def test_tiles_cover_every_pixel_with_overlap(width: int, height: int) -> None:
    cfg = DetectorConfig()
    views = plan_views(width, height, cfg)
    grid = tiles(views, width, height)
    covered = np.zeros((height, width), dtype=bool)
    for v in grid:
        assert v.side == cfg.tile_size
        assert 0 <= v.x0 <= width - v.side
        assert 0 <= v.y0 <= height - v.side
        covered[v.y0 : v.y0 + v.side, v.x0 : v.x0 + v.side] = True
    assert covered.all()
    xs = sorted({v.x0 for v in grid})
    ys = sorted({v.y0 for v in grid})
    assert len(grid) == len(xs) * len(ys)
    for starts in (xs, ys):
        for a, b in itertools.pairwise(starts):
            assert a + cfg.tile_size - b >= 48, f"tiles at {a} and {b} overlap too little"


def test_plan_for_1280x720_with_default_config() -> None:
    grid = tiles(plan_views(1280, 720, DetectorConfig()), 1280, 720)
    # Evenly spread: 5 x 3 tiles of 384 px, neighbours overlapping by 160 / 216 px.
    assert sorted({v.x0 for v in grid}) == [0, 224, 448, 672, 896]
    assert sorted({v.y0 for v in grid}) == [0, 168, 336]


def test_inner_border_flags() -> None:
    grid = tiles(plan_views(1280, 720, DetectorConfig()), 1280, 720)
    for v in grid:
        assert v.inner_left == (v.x0 > 0)
        assert v.inner_top == (v.y0 > 0)
        assert v.inner_right == (v.x0 + v.side < 1280)
        assert v.inner_bottom == (v.y0 + v.side < 720)
    whole = plan_views(1280, 720, DetectorConfig())[-1]
    flags = (whole.inner_left, whole.inner_top, whole.inner_right, whole.inner_bottom)
    assert flags == (False, False, False, False)


def test_small_frame_is_one_whole_view() -> None:
    assert plan_views(320, 240, DetectorConfig()) == [View(0, 0, 320)]
    no_whole = DetectorConfig(whole_frame=False)
    assert plan_views(320, 240, no_whole) == [View(0, 0, 320)]
    assert all(v.side == 384 for v in plan_views(1280, 720, no_whole))


def test_nms_keeps_the_higher_scoring_of_two_overlapping_boxes() -> None:
    boxes = np.array([[100, 100, 160, 160], [104, 102, 164, 162], [400, 400, 450, 450]], np.float32)
    scores = np.array([0.7, 0.9, 0.65], dtype=np.float32)
    kept = nms(boxes, scores, iou=0.3)
    assert sorted(kept.tolist()) == [1, 2]
    assert nms(boxes[:0], scores[:0], iou=0.3).shape == (0,)


def test_nms_keeps_boxes_that_overlap_less_than_the_threshold() -> None:
    boxes = np.array([[0, 0, 100, 100], [80, 0, 180, 100]], dtype=np.float32)  # IoU 0.11
    kept = nms(boxes, np.array([0.8, 0.9], dtype=np.float32), iou=0.3)
    assert sorted(kept.tolist()) == [0, 1]


def test_detection_touching_an_inner_tile_border_is_dropped() -> None:
    view = View(288, 288, 384, inner_left=True, inner_top=True, inner_right=True)
    boxes = np.array(
        [
            [400, 400, 450, 450],  # well inside
            [288.5, 400, 330, 450],  # runs into the left border
            [400, 289, 450, 330],  # runs into the top border
            [630, 400, 671, 450],  # runs into the right border (288 + 384 = 672)
            [400, 630, 450, 671.5],  # bottom edge is the frame's edge, not a tile's
        ],
        dtype=np.float32,
    )
    hit = _touches_inner_border(view, boxes)
    assert hit.tolist() == [False, True, True, True, False]


def test_outer_borders_never_drop_a_detection() -> None:
    whole = View(0, 0, 1280)
    boxes = np.array([[0, 0, 40, 40], [1250, 680, 1280, 720]], dtype=np.float32)
    assert not _touches_inner_border(whole, boxes).any()
