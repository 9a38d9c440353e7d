"""The Cydral age and gender networks on dlib-style aligned chips (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.types import Detections, FloatArray, ImageArray
from edge.vision.align import TEMPLATE_64, chip
from edge.vision.onnx_session import open_session, run_batched

MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], dtype=np.float32)
AGE_SIZE, GENDER_SIZE = 64, 32
AGE_FILE, GENDER_FILE = "age-v1.onnx", "gender-v1.onnx"


def to_tensor(chips: list[ImageArray]) -> FloatArray:
    """BGR chips -> NCHW float32, RGB minus the training mean, divided by 256."""
    batch = np.stack(chips)[..., ::-1].astype(np.float32)
    batch -= MEAN_RGB
    batch /= 256.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class CydralBackend:
    """p(male) from the 32x32 gender chip, expected age from the 64x64 age chip."""

    name = "cydral"

    def __init__(
        self,
        models_dir: Path,
        batch_size: int,
        threads: int = 1,
        template: npt.NDArray[np.float64] = TEMPLATE_64,
    ) -> None:
        self.template = template  # the detector's chip template
        self.age = open_session(models_dir / AGE_FILE, threads)
        self.gender = open_session(models_dir / GENDER_FILE, threads)
        self.batch_size = batch_size

    def estimate(self, image: ImageArray, detections: Detections) -> tuple[FloatArray, FloatArray]:
        """(p_male, age) per face."""
        age_chips = [chip(image, kp, AGE_SIZE, self.template) for kp in detections.keypoints]
        gender_chips = [chip(image, kp, GENDER_SIZE, self.template) for kp in detections.keypoints]
        try:
            age_probs = run_batched(self.age, "images", age_chips, to_tensor, self.batch_size)[0]
            gender = run_batched(self.gender, "images", gender_chips, to_tensor, self.batch_size)[0]
        finally:
            # Chips are pixels of a face: overwrite them before they are released.
            for c in (*age_chips, *gender_chips):
                c.fill(0)
        ages = (age_probs @ AGE_WEIGHTS).astype(np.float32)
        return gender[:, 1].astype(np.float32), ages
