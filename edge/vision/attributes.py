"""Age and gender estimation with the Cydral networks (onnxruntime, batched).

Only constructed when the policy declares the ``demographics`` purpose; a node
counting footfall never loads these models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.config import AttributesConfig
from edge.types import Detections, FaceAttributes, FloatArray, ImageArray
from edge.vision.align import TEMPLATE_64, chip
from edge.vision.onnx_session import open_session

MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], dtype=np.float32)
AGE_SIZE, GENDER_SIZE = 64, 32


def to_tensor(chips: list[ImageArray]) -> FloatArray:
    """BGR chips -> NCHW float32, RGB minus the training mean, divided by 256."""
    batch = np.stack(chips)[..., ::-1].astype(np.float32)
    batch -= MEAN_RGB
    batch /= 256.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class AttributeEstimator:
    """Expected age (years) and p(male) per detected face."""

    def __init__(
        self,
        age_model: Path,
        gender_model: Path,
        cfg: AttributesConfig,
        threads: int = 1,
        template: npt.NDArray[np.float64] = TEMPLATE_64,
    ):
        self.cfg = cfg
        self.template = template
        self.age = open_session(age_model, threads)
        self.gender = open_session(gender_model, threads)

    @classmethod
    def from_dir(
        cls,
        models_dir: Path,
        cfg: AttributesConfig,
        threads: int = 1,
        template: npt.NDArray[np.float64] = TEMPLATE_64,
    ) -> AttributeEstimator:
        """Both networks from ``models_dir``; ``template`` is the detector's chip template."""
        return cls(
            models_dir / "age-v1.onnx", models_dir / "gender-v1.onnx", cfg, threads, template
        )

    def _infer(self, session_name: str, chips: list[ImageArray]) -> FloatArray:
        session = self.age if session_name == "age" else self.gender
        outputs: list[FloatArray] = []
        for start in range(0, len(chips), self.cfg.batch_size):
            tensor = to_tensor(chips[start : start + self.cfg.batch_size])
            (probs,) = session.run(None, {"images": tensor})
            tensor.fill(0)
            outputs.append(np.asarray(probs, dtype=np.float32))
        return np.concatenate(outputs)

    def estimate(self, image: ImageArray, detections: Detections) -> FaceAttributes:
        """Age and p(male) per face; NaN for a poor face (it feeds no age/gender)."""
        ages = np.full(len(detections), np.nan, dtype=np.float32)
        p_male = ages.copy()
        good = np.flatnonzero(detections.good_mask)
        if len(good) == 0:
            return FaceAttributes(age=ages, p_male=p_male)
        points = detections.keypoints[good]
        age_chips = [chip(image, kp, AGE_SIZE, self.template) for kp in points]
        gender_chips = [chip(image, kp, GENDER_SIZE, self.template) for kp in points]
        try:
            age_probs = self._infer("age", age_chips)
            gender_probs = self._infer("gender", gender_chips)
        finally:
            # Chips are pixels of a face: overwrite them before they are released.
            for c in (*age_chips, *gender_chips):
                c.fill(0)
        ages[good] = age_probs @ AGE_WEIGHTS
        p_male[good] = gender_probs[:, 1]
        return FaceAttributes(age=ages, p_male=p_male)
