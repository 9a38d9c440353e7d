"""Face alignment: a similarity transform from detector keypoints to the dlib chip template.

The Cydral networks were trained on dlib 5-point chips (padding 0.2); mapping the
first four BlazeFace keypoints onto this template in a 64x64 chip reproduces them
(DESIGN §4). YuNet's points sit differently on the face, so it brings its own fitted
template (``edge.vision.yunet.TEMPLATE_64``, DESIGN §4b). The 32x32 gender chip uses
the template halved.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.types import FloatArray, ImageArray

# right eye, left eye, nose tip, mouth centre — in a 64x64 chip.
TEMPLATE_64 = np.array(
    [[19.06, 19.15], [43.79, 19.00], [31.79, 33.67], [31.86, 45.18]], dtype=np.float64
)


def similarity(src: np.ndarray, dst: np.ndarray) -> FloatArray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama's closed form without reflection; returns a 2x3 matrix for cv2.warpAffine.
    """
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    var = float((src_c**2).sum()) / len(src)
    if var < 1e-9:
        raise ValueError("keypoints are degenerate")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(s) @ d)) / var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix.astype(np.float32)


def chip(
    image: ImageArray,
    keypoints: FloatArray,
    size: int,
    template_64: np.ndarray = TEMPLATE_64,
) -> ImageArray:
    """Warp one face to a size x size chip (BGR uint8) aligned to the detector's template."""
    template = template_64 * (size / 64.0)
    matrix = similarity(keypoints[:4].astype(np.float64), template)
    warped = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)
