"""The detector interface the analyser sees, and the one place that picks a backend.

``[detector] model`` selects YuNet (default) or BlazeFace full / short range. Both return
``Detections`` in frame pixels with keypoints in the node's order, and each names the chip
template fitted to its own points, which alignment uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.config import DetectorConfig
from edge.types import Detections, ImageArray


class FaceDetector(Protocol):
    """Faces in one BGR frame."""

    @property
    def template(self) -> npt.NDArray[np.float64]:
        """(4, 2) chip template in a 64x64 chip: right eye, left eye, nose, mouth."""
        ...

    def detect(self, image: ImageArray) -> Detections:
        """Detections in frame pixels (the frame is not modified)."""
        ...


def open_detector(models_dir: Path, cfg: DetectorConfig) -> FaceDetector:
    """The configured backend over its file in ``models_dir`` (ModelError if absent)."""
    if cfg.model == "yunet":
        from edge.vision.yunet import YuNetDetector

        return YuNetDetector.from_dir(models_dir, cfg)
    from edge.vision.detector import Detector

    return Detector.from_dir(models_dir, cfg)
