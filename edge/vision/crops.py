"""Square, upright crops centred on the detector box: the recipe the box-based networks want.

face-api and FaceRes were trained on face boxes, not on aligned chips; what matters is
the crop's scale relative to the box (face-api's gender falls from 0.89 to 0.52 as the
crop grows from x1.0 to x1.6, DESIGN §4b), so each backend locks its scale in code.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.types import FloatArray, ImageArray


def box_crop(image: ImageArray, box: FloatArray, scale: float, size: int) -> ImageArray:
    """A size x size BGR crop of side scale * max(box w, h), centred on the box, no rotation.

    Pixels beyond the frame repeat its border (a face at the edge is not padded black).
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = scale * max(x2 - x1, y2 - y1, 1.0)
    zoom = size / side
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    # The box centre lands on the crop centre; one frame pixel becomes `zoom` crop pixels.
    matrix = np.array(
        [[zoom, 0.0, size / 2.0 - zoom * cx], [0.0, zoom, size / 2.0 - zoom * cy]],
        dtype=np.float64,
    )
    warped = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)
