"""Face alignment: the similarity fit is exact for similar shapes and chips land on the template."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from edge.vision.align import TEMPLATE_64, chip, similarity

Matrix = npt.NDArray[np.float64]


def transform(angle_deg: float, scale: float, tx: float, ty: float) -> Matrix:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([rot, [[tx], [ty]]])


def apply(matrix: npt.NDArray[np.floating], points: Matrix) -> Matrix:
    out: Matrix = points @ matrix[:, :2].T.astype(np.float64) + matrix[:, 2].astype(np.float64)
    return out


def inverse(matrix: Matrix) -> Matrix:
    inv = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))
    out: Matrix = inv[:2]
    return out


@pytest.mark.parametrize(
    ("angle", "scale", "tx", "ty"),
    [(0, 1, 0, 0), (20, 1.7, 30, -12), (-35, 3.2, 500, 260), (90, 0.5, 10, 10), (180, 2, 5, 7)],
)
def test_similarity_recovers_a_known_transform(
    angle: float, scale: float, tx: float, ty: float
) -> None:
    known = transform(angle, scale, tx, ty)
    face = apply(known, TEMPLATE_64)  # the template as it appears in a frame
    fitted = similarity(face, TEMPLATE_64)
    assert fitted.shape == (2, 3)
    assert fitted.dtype == np.float32
    np.testing.assert_allclose(fitted, inverse(known), atol=1e-4)
    np.testing.assert_allclose(apply(fitted, face), TEMPLATE_64, atol=1e-3)
    np.testing.assert_allclose(similarity(TEMPLATE_64, face), known, rtol=1e-5, atol=1e-3)


def test_similarity_never_reflects() -> None:
    mirrored = TEMPLATE_64 * [-1, 1]
    fitted = similarity(mirrored, TEMPLATE_64)
    assert np.linalg.det(fitted[:, :2].astype(np.float64)) > 0


def test_degenerate_keypoints_are_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        similarity(np.full((4, 2), 7.0), TEMPLATE_64)


@pytest.mark.parametrize("size", [64, 32])
def test_chip_shape_and_dtype(size: int) -> None:
    image = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    keypoints = np.zeros((6, 2), dtype=np.float32)
    keypoints[:4] = apply(transform(10, 2.0, 600, 300), TEMPLATE_64)
    out = chip(image, keypoints, size)
    assert out.shape == (size, size, 3)
    assert out.dtype == np.uint8


@pytest.mark.parametrize("size", [64, 32])
def test_chip_puts_the_right_eye_on_the_template(size: int) -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    known = transform(-15, 2.5, 250, 120)
    keypoints = np.zeros((6, 2), dtype=np.float32)
    keypoints[:4] = apply(known, TEMPLATE_64)
    ex, ey = np.round(keypoints[0]).astype(int)
    image[ey - 2 : ey + 3, ex - 2 : ex + 3] = 255  # a bright spot on the right eye
    out = chip(image, keypoints, size)
    ys, xs = np.nonzero(out[:, :, 0] > 40)
    centre = np.array([xs.mean(), ys.mean()])
    expected = TEMPLATE_64[0] * size / 64
    assert np.linalg.norm(centre - expected) < 1.5


def test_chip_does_not_change_the_frame() -> None:
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    before = image.copy()
    keypoints = np.zeros((6, 2), dtype=np.float32)
    keypoints[:4] = apply(transform(0, 1.5, 100, 50), TEMPLATE_64)
    chip(image, keypoints, 64)
    np.testing.assert_array_equal(image, before)
