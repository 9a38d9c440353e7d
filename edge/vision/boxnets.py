"""face-api AgeGenderNet, HSE FaceRes and FaceRes-deep: box-crop networks from TF.js (DESIGN §4b).

Each follows its own reference preprocessing, with the crop scale locked here (and in
tests): a square, upright crop centred on the detector box, resized to the network's
input. With ``flip`` the mirrored crop is run too and the two outputs are averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np

from edge.types import Detections, FloatArray, ImageArray
from edge.vision.crops import box_crop
from edge.vision.onnx_session import Session, open_session, run_batched

FACEAPI_FILE, FACERES_FILE = "faceapi-agegender.onnx", "faceres.onnx"
FACERES_DEEP_FILE = "faceres-deep.onnx"
# face-api: box x0.9 (gender and age, one run) -> 112x112, RGB 0..255 (the mean and /255
# are inside the graph). On YuNet's boxes (taller than BlazeFace's) x0.9 was best for both
# on the tuning half of FairFace (x1.0 / x1.1 had been chosen on BlazeFace boxes); a run
# costs ~2 ms. models/MODEL_CARD.md has the grid.
FACEAPI_GENDER_SCALE, FACEAPI_AGE_SCALE, FACEAPI_SIZE = 0.9, 0.9, 112
# FaceRes (HSE original recipe): box x1.5 -> 224x224, BGR minus the ImageNet mean, NHWC.
FACERES_SCALE, FACERES_SIZE = 1.5, 224
# FaceRes-deep: the same preprocessing, box x1.2 (best on the tuning half with YuNet boxes).
FACERES_DEEP_SCALE = 1.2
# On BlazeFace's boxes (``[detector] model = "full_range"``) the scales chosen earlier on
# them: face-api x1.0 (gender) / x1.1 (age), FaceRes x1.5, FaceRes-deep x1.4 (DESIGN §4b).
BLAZEFACE_FACEAPI_SCALES, BLAZEFACE_FACERES_DEEP_SCALE = (1.0, 1.1), 1.4
FACERES_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
FACERES_AGES = np.arange(100, dtype=np.float32)


def _faceapi_tensor(crops: list[ImageArray]) -> FloatArray:
    return np.ascontiguousarray(np.stack(crops)[..., ::-1], dtype=np.float32)


def _faceres_tensor(crops: list[ImageArray]) -> FloatArray:
    batch = np.stack(crops).astype(np.float32)
    batch -= FACERES_MEAN_BGR
    return batch


class _BoxNet:
    name = ""
    file = ""
    gender_scale = 1.0  # crop side / box side for the gender output
    age_scale = 1.0  # and for the age output (one run when they are equal)
    size = 0

    blazeface_scales = (1.0, 1.0)  # (gender, age) crop scales on BlazeFace's boxes

    def __init__(
        self, session: Session, batch_size: int, flip: bool = True, blazeface: bool = False
    ) -> None:
        """``blazeface``: the boxes come from BlazeFace (squarer, smaller than YuNet's)."""
        self.session = session
        self.batch_size = batch_size
        self.flip = flip
        if blazeface:
            self.gender_scale, self.age_scale = self.blazeface_scales

    @classmethod
    def open(
        cls,
        models_dir: Path,
        batch_size: int,
        threads: int = 1,
        flip: bool = True,
        blazeface: bool = False,
    ) -> Self:
        """Load the network's ONNX file from the models folder."""
        return cls(open_session(models_dir / cls.file, threads), batch_size, flip, blazeface)

    def crops(self, image: ImageArray, detections: Detections, scale: float) -> list[ImageArray]:
        crops = [box_crop(image, box, scale, self.size) for box in detections.boxes]
        if self.flip:
            crops += [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        return crops

    def decode(self, outputs: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def tensor(self, crops: list[ImageArray]) -> FloatArray:
        raise NotImplementedError

    def estimate(self, image: ImageArray, detections: Detections) -> tuple[FloatArray, FloatArray]:
        """(p_male, age) per face, each from its own crop scale, mirror-averaged when flipping."""
        p_male, age = self._run(image, detections, self.gender_scale)
        if self.age_scale != self.gender_scale:
            _, age = self._run(image, detections, self.age_scale)
        return p_male, age

    def _run(
        self, image: ImageArray, detections: Detections, scale: float
    ) -> tuple[FloatArray, FloatArray]:
        crops = self.crops(image, detections, scale)
        try:
            outputs = run_batched(self.session, "input", crops, self.tensor, self.batch_size)
        finally:
            for c in crops:  # face pixels: overwrite before release
                c.fill(0)
        p_male, age = self.decode(outputs)
        n = len(detections)
        if self.flip:
            p_male = ((p_male[:n] + p_male[n:]) / 2).astype(np.float32)
            age = ((age[:n] + age[n:]) / 2).astype(np.float32)
        return p_male.astype(np.float32), age.astype(np.float32)


class FaceApiBackend(_BoxNet):
    """Age regression in years and softmax [male, female]."""

    name = "faceapi"
    file = FACEAPI_FILE
    gender_scale, age_scale, size = FACEAPI_GENDER_SCALE, FACEAPI_AGE_SCALE, FACEAPI_SIZE
    blazeface_scales = BLAZEFACE_FACEAPI_SCALES

    def tensor(self, crops: list[ImageArray]) -> FloatArray:
        return _faceapi_tensor(crops)

    def decode(self, outputs: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
        age, gender = outputs  # graph output order: age (N, 1), gender (N, 2)
        return gender[:, 0], age[:, 0]


class FaceResBackend(_BoxNet):
    """Sigmoid p(male) and a 100-way age softmax (expected value in years)."""

    name = "faceres"
    file = FACERES_FILE
    gender_scale = age_scale = FACERES_SCALE
    blazeface_scales = (FACERES_SCALE, FACERES_SCALE)
    size = FACERES_SIZE

    def tensor(self, crops: list[ImageArray]) -> FloatArray:
        return _faceres_tensor(crops)

    def decode(self, outputs: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
        gender, age_probs = outputs  # graph output order: gender (N, 1), age (N, 100)
        return gender[:, 0], age_probs @ FACERES_AGES


class FaceResDeepBackend(FaceResBackend):
    """HSE FaceRes-deep: FaceRes's preprocessing and outputs, its own crop scale."""

    name = "faceres-deep"
    file = FACERES_DEEP_FILE
    gender_scale = age_scale = FACERES_DEEP_SCALE
    blazeface_scales = (BLAZEFACE_FACERES_DEEP_SCALE, BLAZEFACE_FACERES_DEEP_SCALE)
