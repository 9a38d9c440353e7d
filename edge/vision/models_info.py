"""Which model files the node runs, and their published ids (from ``models.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from edge.config import AttributeModel, AttributesConfig
from edge.errors import ModelError
from edge.payload import ModelIds

DETECTOR_NAMES = {
    "yunet": "yunet",
    "full_range": "face_detection_full_range",
    "short_range": "face_detection_short_range",
}
AGE_NAME = "age-v1"
GENDER_NAME = "gender-v1"
LOCK_FILE = "models.json"
# [attributes] model name -> the models.json entries it runs.
ATTRIBUTE_MODELS: dict[AttributeModel, tuple[str, ...]] = {
    "cydral": (AGE_NAME, GENDER_NAME),
    "faceres": ("faceres",),
    "faceapi": ("faceapi-agegender",),
    "faceres-deep": ("faceres-deep",),
}


def _lock_ids(models_dir: Path) -> dict[str, str]:
    return {name: entry[0] for name, entry in lock_entries(models_dir).items()}


def lock_entries(models_dir: Path) -> dict[str, tuple[str, str]]:
    """name -> (id, licence) for every model in ``models.json``."""
    path = models_dir / LOCK_FILE
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        return {
            name: (str(entry["id"]), str(entry.get("licence", "unknown")))
            for name, entry in lock["models"].items()
        }
    except FileNotFoundError:
        raise ModelError(f"{path} not found; run 'make models' to build the models") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path} is unreadable ({exc}); run 'make models' again") from None


def attribute_model_names(attributes: AttributesConfig) -> tuple[list[str], list[str]]:
    """models.json names behind the age estimate and behind the gender estimate."""
    age = [n for m in attributes.age_models for n in ATTRIBUTE_MODELS[m] if n != GENDER_NAME]
    gender = [n for m in attributes.gender_models for n in ATTRIBUTE_MODELS[m] if n != AGE_NAME]
    return age, gender


def model_ids(
    models_dir: Path,
    detector: str,
    demographics: bool,
    attributes: AttributesConfig | None = None,
) -> ModelIds:
    """The published ids; an ensemble's gender id joins its members' ids with '+'."""
    ids = _lock_ids(models_dir)
    age_names, gender_names = attribute_model_names(attributes or AttributesConfig())
    wanted = [DETECTOR_NAMES[detector], *((*age_names, *gender_names) if demographics else ())]
    missing = [name for name in dict.fromkeys(wanted) if name not in ids]
    if missing:
        raise ModelError(
            f"{models_dir / LOCK_FILE} lists no {', '.join(missing)} ([detector] model = "
            f"{detector!r}); run 'make models' to rebuild {models_dir}, or choose a model it has"
        )
    return ModelIds(
        detector=ids[DETECTOR_NAMES[detector]],
        age="+".join(ids[n] for n in age_names) if demographics else None,
        gender="+".join(ids[n] for n in gender_names) if demographics else None,
    )
