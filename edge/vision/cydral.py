"""The Cydral age and gender networks on dlib-style aligned chips (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.types import Detections, FloatArray, ImageArray
from edge.vision.align import TEMPLATE_64, chip
from edge.vision.onnx_session import Session, open_session, run_batched

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
    """p(male) from the 32x32 gender chip, expected age from the 64x64 age chip.

    Two networks: only those asked for are loaded and run (the default node takes Cydral's
    gender only; its age network is 10 MB of weights and a 64x64 chip per face). The other
    output is NaN.
    """

    name = "cydral"

    def __init__(
        self,
        models_dir: Path,
        batch_size: int,
        threads: int = 1,
        template: npt.NDArray[np.float64] = TEMPLATE_64,
        *,
        age: bool = True,
        gender: bool = True,
    ) -> None:
        if not (age or gender):
            raise ValueError("CydralBackend needs its age or its gender network")
        self.template = template  # the detector's chip template
        self.age = open_session(models_dir / AGE_FILE, threads) if age else None
        self.gender = open_session(models_dir / GENDER_FILE, threads) if gender else None
        self.batch_size = batch_size

    def estimate(self, image: ImageArray, detections: Detections) -> tuple[FloatArray, FloatArray]:
        """(p_male, age) per face; NaN for the network that is not loaded."""
        ages = np.full(len(detections), np.nan, dtype=np.float32)
        p_male = ages.copy()
        if self.age is not None:
            probs = self._run(self.age, image, detections, AGE_SIZE)
            ages = (probs @ AGE_WEIGHTS).astype(np.float32)
        if self.gender is not None:
            p_male = self._run(self.gender, image, detections, GENDER_SIZE)[:, 1]
        return p_male.astype(np.float32), ages

    def _run(
        self, session: Session, image: ImageArray, detections: Detections, size: int
    ) -> FloatArray:
        chips = [chip(image, kp, size, self.template) for kp in detections.keypoints]
        try:
            return run_batched(session, "images", chips, to_tensor, self.batch_size)[0]
        finally:
            # Chips are pixels of a face: overwrite them before they are released.
            for c in chips:
                c.fill(0)
