"""Which model files the node runs, and their published ids (from ``models.json``)."""

from __future__ import annotations

import json
from pathlib import Path

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


def model_ids(models_dir: Path, detector: str, demographics: bool) -> ModelIds:
    ids = _lock_ids(models_dir)
    wanted = [DETECTOR_NAMES[detector], *([AGE_NAME, GENDER_NAME] if demographics else [])]
    missing = [name for name in wanted if name not in ids]
    if missing:
        raise ModelError(
            f"{models_dir / LOCK_FILE} lists no {', '.join(missing)} ([detector] model = "
            f"{detector!r}); run 'make models' to rebuild {models_dir}, or choose a model it has"
        )
    return ModelIds(
        detector=ids[DETECTOR_NAMES[detector]],
        age=ids[AGE_NAME] if demographics else None,
        gender=ids[GENDER_NAME] if demographics else None,
    )
