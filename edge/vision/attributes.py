"""Age and gender per face: one or more attribute networks, combined as configured.

Only constructed when the policy declares the ``demographics`` purpose; a node
counting footfall never loads these models. The default (``[attributes]``) is gender =
sigmoid(-1.0 + 1.307 x logit(FaceRes-deep's p(male))) and age = -0.7 + 1.09 x (0.515 x
face-api's + 0.485 x FaceRes-deep's), fitted on FairFace with YuNet detections by
``kazoe-sim fit-attributes`` (held-out figures in models/MODEL_CARD.md). With
``gender_logistic = {}`` gender is the weighted mean of the networks' p(male);
``gender_models = ["cydral"]`` with ``age_model = "cydral"`` and ``age_blend = {}`` is the
Cydral-only node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.config import AttributeModel, AttributesConfig
from edge.types import Detections, FaceAttributes, FloatArray, ImageArray
from edge.vision.align import TEMPLATE_64  # BlazeFace's template (YuNet brings its own)
from edge.vision.boxnets import FaceApiBackend, FaceResBackend, FaceResDeepBackend
from edge.vision.cydral import CydralBackend

Template = npt.NDArray[np.float64]


class AttributeBackend(Protocol):
    """One network (or pair): p(male) and age in years per detected face."""

    name: str

    def estimate(
        self, image: ImageArray, detections: Detections
    ) -> tuple[FloatArray, FloatArray]: ...


def open_backend(
    model: AttributeModel,
    models_dir: Path,
    cfg: AttributesConfig,
    threads: int = 1,
    template: Template = TEMPLATE_64,
) -> AttributeBackend:
    """Load one backend's model files (ModelError naming the file when one is missing).

    ``template`` is the detector's chip template (Cydral's aligned chips depend on it);
    the box networks crop the detector's box; it tells them whose boxes they get (BlazeFace's
    are squarer and smaller than YuNet's, so their crop scales differ).
    """
    if model == "cydral":
        return CydralBackend(
            models_dir,
            cfg.batch_size,
            threads,
            template,
            age=model in cfg.age_models,
            gender=model in cfg.gender_models,
        )
    blazeface = bool(np.array_equal(template, TEMPLATE_64))
    cls = {"faceres": FaceResBackend, "faceres-deep": FaceResDeepBackend}.get(model, FaceApiBackend)
    return cls.open(models_dir, cfg.batch_size, threads, cfg.flip_average, blazeface)


class AttributeEstimator:
    """Expected age (years) and p(male) per detected face, from the configured backends."""

    def __init__(
        self,
        backends: dict[AttributeModel, AttributeBackend],
        cfg: AttributesConfig,
        template: Template = TEMPLATE_64,
    ):
        """``template``: the detector's chip template the backends were opened with."""
        missing = {*cfg.gender_models, *cfg.age_models} - set(backends)
        if missing:
            raise ValueError(f"no backend for {sorted(missing)}")
        self.cfg = cfg
        self.backends = backends
        self.template = template

    @classmethod
    def from_dir(
        cls,
        models_dir: Path,
        cfg: AttributesConfig,
        threads: int = 1,
        template: Template = TEMPLATE_64,
    ) -> AttributeEstimator:
        """The configured backends from ``models_dir``; ``template`` is the detector's."""
        wanted = dict.fromkeys((*cfg.gender_models, *cfg.age_models))
        backends = {m: open_backend(m, models_dir, cfg, threads, template) for m in wanted}
        return cls(backends, cfg, template)

    def estimate(self, image: ImageArray, detections: Detections) -> FaceAttributes:
        """Age and p(male) per face; NaN for a poor face (it feeds no age/gender)."""
        ages = np.full(len(detections), np.nan, dtype=np.float32)
        p_male = ages.copy()
        good = np.flatnonzero(detections.good_mask)
        if len(good) == 0:
            return FaceAttributes(age=ages, p_male=p_male)
        faces = detections.select(good)
        results = {name: b.estimate(image, faces) for name, b in self.backends.items()}
        p_male[good] = fuse_gender(results, self.cfg)
        ages[good] = blend_age(results, self.cfg)
        return FaceAttributes(age=ages, p_male=p_male)


Results = dict[AttributeModel, tuple[FloatArray, FloatArray]]


LOGIT_CLIP = 1e-4  # a network's 0 or 1 becomes a finite logit


def logit(p: FloatArray) -> npt.NDArray[np.float64]:
    """log(p / (1 - p)), p clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] (a network's 0 or 1)."""
    q = np.clip(np.asarray(p, np.float64), LOGIT_CLIP, 1 - LOGIT_CLIP)
    out: npt.NDArray[np.float64] = np.log(q / (1 - q))
    return out


def fuse_gender(results: Results, cfg: AttributesConfig) -> FloatArray:
    """p(male) per face: the logistic fusion (``gender_logistic``) or, when that is {}, the
    weighted mean of the gender networks' p(male) (``gender_weights``)."""
    if cfg.gender_logistic:
        z = cfg.gender_intercept + sum(
            cfg.gender_logistic[m] * logit(results[m][0]) for m in cfg.gender_models
        )
        z = np.clip(z, -60.0, 60.0)  # sigmoid is 0 or 1 in float32 well before; no overflow
        fused: FloatArray = (1 / (1 + np.exp(-z))).astype(np.float32)
        return fused
    weights = [cfg.gender_weights.get(m, 1.0) for m in cfg.gender_models]
    mean: FloatArray = np.average(
        [results[m][0] for m in cfg.gender_models], axis=0, weights=weights
    ).astype(np.float32)
    return mean


def blend_age(results: Results, cfg: AttributesConfig) -> FloatArray:
    """age_offset + age_scale x ((1 - sum of the blend) x age_model's age + each blended
    network's weight x its age), then through ``age_map``; never below 0."""
    blend = {m: w for m, w in cfg.age_blend.items() if m != cfg.age_model}
    age = (1.0 - sum(blend.values())) * results[cfg.age_model][1].astype(np.float64)
    for model, weight in blend.items():
        age = age + weight * results[model][1]
    line = cfg.age_offset + cfg.age_scale * age
    out: FloatArray = np.maximum(0.0, map_age(line, cfg.age_map)).astype(np.float32)
    return out


def map_age(
    age: npt.NDArray[np.float64], knots: tuple[tuple[float, float], ...]
) -> npt.NDArray[np.float64]:
    """The piecewise-linear ``age_map`` (no knots: unchanged); beyond the end knots the
    age moves one for one from the end knot's."""
    if not knots:
        return age
    xs, ys = np.array([k[0] for k in knots]), np.array([k[1] for k in knots])
    out = np.interp(age, xs, ys)
    out = np.where(age < xs[0], ys[0] + (age - xs[0]), out)
    mapped: npt.NDArray[np.float64] = np.where(age > xs[-1], ys[-1] + (age - xs[-1]), out)
    return mapped
