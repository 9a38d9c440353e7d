"""Age and gender per face: one or more attribute networks, combined as configured.

Only constructed when the policy declares the ``demographics`` purpose; a node
counting footfall never loads these models. The default (``[attributes]``) is
gender = weighted mean p(male) of Cydral (0.5), FaceRes (1) and face-api (1), age =
face-api (DESIGN §4b, figures in models/MODEL_CARD.md); ``gender_models = ["cydral"]``
with ``age_model = "cydral"`` is the Cydral-only node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from edge.config import AttributeModel, AttributesConfig
from edge.types import Detections, FaceAttributes, FloatArray, ImageArray
from edge.vision.boxnets import FaceApiBackend, FaceResBackend
from edge.vision.cydral import CydralBackend


class AttributeBackend(Protocol):
    """One network (or pair): p(male) and age in years per detected face."""

    name: str

    def estimate(
        self, image: ImageArray, detections: Detections
    ) -> tuple[FloatArray, FloatArray]: ...


def open_backend(
    model: AttributeModel, models_dir: Path, cfg: AttributesConfig, threads: int = 1
) -> AttributeBackend:
    """Load one backend's model files (ModelError naming the file when one is missing)."""
    if model == "cydral":
        return CydralBackend(models_dir, cfg.batch_size, threads)
    if model == "faceres":
        return FaceResBackend.open(models_dir, cfg.batch_size, threads, flip=cfg.flip_average)
    return FaceApiBackend.open(models_dir, cfg.batch_size, threads, flip=cfg.flip_average)


class AttributeEstimator:
    """Expected age (years) and p(male) per detected face, from the configured backends."""

    def __init__(self, backends: dict[AttributeModel, AttributeBackend], cfg: AttributesConfig):
        missing = {*cfg.gender_models, cfg.age_model} - set(backends)
        if missing:
            raise ValueError(f"no backend for {sorted(missing)}")
        self.cfg = cfg
        self.backends = backends

    @classmethod
    def from_dir(
        cls, models_dir: Path, cfg: AttributesConfig, threads: int = 1
    ) -> AttributeEstimator:
        wanted = dict.fromkeys((*cfg.gender_models, cfg.age_model))
        return cls({m: open_backend(m, models_dir, cfg, threads) for m in wanted}, cfg)

    def estimate(self, image: ImageArray, detections: Detections) -> FaceAttributes:
        if len(detections) == 0:
            empty = np.zeros(0, dtype=np.float32)
            return FaceAttributes(age=empty, p_male=empty.copy())
        results = {name: b.estimate(image, detections) for name, b in self.backends.items()}
        weights = [self.cfg.gender_weights.get(m, 1.0) for m in self.cfg.gender_models]
        p_male = np.average(
            [results[m][0] for m in self.cfg.gender_models], axis=0, weights=weights
        )
        age = results[self.cfg.age_model][1]
        return FaceAttributes(age=age.astype(np.float32), p_male=p_male.astype(np.float32))
