"""YuNet decoding (DESIGN §4b) on hand-made heads, and the model on a drawn-face image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.types import FloatArray
from edge.vision.regions import Region, bands
from edge.vision.yunet import STRIDES, YuNetDetector, decode, six_points

MODELS = Path(__file__).resolve().parents[3] / "models" / "build"
HEIGHT, WIDTH = 64, 96  # padded input: stride-8 grid 8 x 12


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def blank_heads() -> dict[str, FloatArray]:
    heads: dict[str, FloatArray] = {}
    for stride in STRIDES:
        cells = (HEIGHT // stride) * (WIDTH // stride)
        for name, width in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            fill = -10.0 if name in ("cls", "obj") else 0.0
            heads[f"{name}_{stride}"] = np.full((1, cells, width), fill, np.float32)
    return heads


def test_one_cell_decodes_to_the_documented_box_landmarks_and_score() -> None:
    heads = blank_heads()
    row, col = 2, 3
    cell = row * (WIDTH // 8) + col  # row-major over the padded width
    heads["cls_8"][0, cell, 0] = _logit(0.81)
    heads["obj_8"][0, cell, 0] = _logit(0.64)
    heads["bbox_8"][0, cell] = [0.5, 0.25, math.log(4), math.log(5)]
    heads["kps_8"][0, cell] = [1, 1, 2, 1, 1.5, 2, 1, 3, 2, 3]

    boxes, scores, points = decode(heads, WIDTH, threshold=0.6)

    # score = sqrt(0.81 * 0.64) = 0.72; centre ((0.5 + 3) * 8, (0.25 + 2) * 8) = (28, 18);
    # size (4 * 8, 5 * 8); landmarks (k + col) * 8, (k + row) * 8: no half-cell offset.
    np.testing.assert_allclose(scores, [0.72], atol=1e-5)
    np.testing.assert_allclose(boxes, [[12, -2, 44, 38]], atol=1e-4)
    np.testing.assert_allclose(
        points[0], [[32, 24], [40, 24], [36, 32], [32, 40], [40, 40]], atol=1e-4
    )


@pytest.mark.parametrize(("stride", "row", "col"), [(16, 1, 5), (32, 1, 2)])
def test_coarser_strides_use_their_own_grid(stride: int, row: int, col: int) -> None:
    heads = blank_heads()
    cell = row * (WIDTH // stride) + col
    heads[f"cls_{stride}"][0, cell, 0] = 5.0
    heads[f"obj_{stride}"][0, cell, 0] = 5.0
    boxes, _scores, points = decode(heads, WIDTH, threshold=0.6)
    # Zero offsets: the box is one stride wide, centred on the prior (col * s, row * s).
    np.testing.assert_allclose(
        boxes,
        [[col * stride - stride / 2, row * stride - stride / 2, col * stride + stride / 2,
          row * stride + stride / 2]],
        atol=1e-4,
    )  # fmt: skip
    np.testing.assert_allclose(points[0], [[col * stride, row * stride]] * 5, atol=1e-4)


def test_below_threshold_nothing_is_decoded() -> None:
    heads = blank_heads()
    heads["cls_8"][0, 0, 0] = _logit(0.9)
    heads["obj_8"][0, 0, 0] = _logit(0.35)  # sqrt(0.315) = 0.561 < 0.6
    boxes, scores, points = decode(heads, WIDTH, threshold=0.6)
    assert boxes.shape == (0, 4)
    assert scores.shape == (0,)
    assert points.shape == (0, 5, 2)


def test_mouth_is_the_mean_of_the_corners() -> None:
    five = np.array([[[10, 20], [30, 20], [20, 30], [12, 40], [28, 44]]], np.float32)
    six = six_points(five)
    np.testing.assert_array_equal(six[0, :3], five[0, :3])
    np.testing.assert_array_equal(six[0, 3], [20, 42])
    np.testing.assert_array_equal(six[0, 4:], five[0, 3:])


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    if not (MODELS / "yunet.onnx").is_file():
        pytest.skip("models are not built: run 'make models'")
    return YuNetDetector.from_dir(MODELS, DetectorConfig())


def test_the_model_finds_the_four_drawn_faces_in_frame_pixels(yunet: YuNetDetector) -> None:
    from models.yunet_check import parity_image

    image = parity_image()  # 120x180, four drawn faces of 32-64 px; not a multiple of 32
    found = yunet.detect(image.copy())
    assert len(found) == 4
    centres = sorted(((found.boxes[:, :2] + found.boxes[:, 2:]) / 2).round().tolist())
    # Drawn at (40, 50), (110, 60), (145, 92), (160, 40): boxes centre near the drawn heads.
    for (cx, cy), (x, y) in zip(centres, [(40, 50), (110, 60), (145, 92), (160, 40)], strict=True):
        assert abs(cx - x) <= 6
        assert abs(cy - y) <= 12
    assert (found.scores >= 0.6).all()
    # Right eye (subject's right) on the image left, mouth below the eyes.
    assert (found.keypoints[:, 0, 0] < found.keypoints[:, 1, 0]).all()
    assert (found.keypoints[:, 3, 1] > found.keypoints[:, 0, 1]).all()


def test_downscaling_maps_detections_back_to_frame_pixels(yunet: YuNetDetector) -> None:
    from models.yunet_check import parity_image

    image = np.kron(parity_image(), np.ones((2, 2, 1), np.uint8))  # 240x360, faces 64-128 px
    native = yunet.detect(image.copy())
    half = YuNetDetector.from_dir(MODELS, DetectorConfig(scales=(2.0,))).detect(image.copy())
    assert len(native) == len(half) == 4
    order_n, order_h = np.argsort(native.boxes[:, 0]), np.argsort(half.boxes[:, 0])
    np.testing.assert_allclose(native.boxes[order_n], half.boxes[order_h], atol=8)


def test_the_frame_is_not_modified(yunet: YuNetDetector) -> None:
    from models.yunet_check import parity_image

    image = parity_image()
    before = image.copy()
    yunet.detect(image)
    np.testing.assert_array_equal(image, before)


def test_regions_find_the_faces_the_whole_frame_finds_in_frame_pixels(
    yunet: YuNetDetector,
) -> None:
    from models.yunet_check import parity_image

    small = np.kron(parity_image(), np.ones((2, 2, 1), np.uint8))  # 240x360, faces 64-128 px
    image = np.zeros((720, 1280, 3), np.uint8)
    image[300:540, 500:860] = small  # somewhere inside a 720p frame
    whole = yunet.detect(image.copy())
    found = yunet.detect_regions(
        image.copy(), [Region(470, 270, 890, 570, 1.0), Region(460, 260, 900, 580, 2.0)]
    )
    assert len(whole) == len(found) == 4
    order_w, order_f = np.argsort(whole.boxes[:, 0]), np.argsort(found.boxes[:, 0])
    np.testing.assert_allclose(whole.boxes[order_w], found.boxes[order_f], atol=8)
    outside = yunet.detect_regions(image.copy(), [Region(0, 0, 320, 256, 1.0)])
    assert len(outside) == 0


def test_the_input_tensor_holds_no_pixels_after_a_call(yunet: YuNetDetector) -> None:
    from models.yunet_check import parity_image

    yunet.detect(parity_image())
    yunet.detect_regions(parity_image(), [Region(0, 0, 100, 100, 1.5)])
    assert yunet._buffer.size > 0
    assert not yunet._buffer.any()


def test_a_face_cut_by_a_region_edge_is_dropped(yunet: YuNetDetector) -> None:
    from models.yunet_check import parity_image

    small = np.kron(parity_image(), np.ones((2, 2, 1), np.uint8))  # faces 64-128 px
    image = np.zeros((720, 1280, 3), np.uint8)
    image[300:540, 500:860] = small
    whole = yunet.detect(image.copy())
    first = whole.boxes[np.argmin(whole.boxes[:, 0])]
    cut_at = int((first[0] + first[2]) / 2)  # through the middle of the leftmost face
    found = yunet.detect_regions(image.copy(), [Region(400, 200, cut_at, 640, 1.0)])
    assert len(found) == 0, "half a face is no face"
    right = int(first[2] + 0.5 * (first[3] - first[1]))  # half a face height of margin
    with_margin = yunet.detect_regions(image.copy(), [Region(400, 200, right, 640, 1.0)])
    assert len(with_margin) >= 1


def test_a_1080p_frame_in_bands_finds_each_face_once_as_one_pass_does(
    yunet: YuNetDetector,
) -> None:
    from models.yunet_check import parity_image

    image = np.zeros((1080, 1920, 3), np.uint8)
    # 1920x1080 at the default budget: three bands plus a pass at twice the scale.
    budget = DetectorConfig().max_pass_pixels
    assert [(p.y0, p.y1, p.scale) for p in bands(Region(0, 0, 1920, 1080, 1.0), budget)] == [
        (0, 510, 1.0), (286, 796, 1.0), (572, 1080, 1.0), (0, 1080, 2.0)
    ]  # fmt: skip
    two = np.kron(parity_image(), np.ones((2, 2, 1), np.uint8))  # 240x360, faces 64-128 px
    # Faces across the first band's end (y 510) and the third's start (572) ...
    image[389:629, 100:460] = two
    # ... and across the second band's end (796): each is whole only in the next band.
    image[611:851, 600:960] = two
    four = np.kron(parity_image(), np.ones((4, 4, 1), np.uint8))  # 480x720, faces 128-256 px
    image[300:780, 1100:1820] = four  # faces taller than the overlap: the 2x pass
    banded = yunet.detect(image.copy())
    one_pass = YuNetDetector.from_dir(MODELS, DetectorConfig(max_pass_pixels=33_554_432))
    single = one_pass.detect(image.copy())
    assert len(single) == 12
    assert len(banded) == 12, "no face lost at a seam and none found twice"
    order_b, order_s = np.argsort(banded.boxes[:, 0]), np.argsort(single.boxes[:, 0])
    np.testing.assert_allclose(banded.boxes[order_b], single.boxes[order_s], atol=12)
