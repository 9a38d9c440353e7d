"""Privacy masks, detector + attributes on one frame, then the frame's pixels are overwritten.

This is the only place a frame's pixels are read. Masked regions are zeroed first, in the
buffer itself, so no model ever sees them (the masks come from ``edge.privacy.masks``,
handed in by the runner so that this stage does not import a later one). Whatever happens during
analysis, the buffer is zeroed before the frame is released, and the time from
capture to overwrite (the frame's lifetime) is recorded.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.config import QualityConfig
from edge.types import AnalysedFrame, Detections, FaceAttributes, Frame, FrameFilter
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import FaceDetector
from edge.vision.quality import assess


@dataclass(slots=True)
class StageTimes:
    """Recent per-stage timings in ms (bounded; numbers only, never pixels)."""

    detect: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    attributes: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    lifetime: deque[float] = field(default_factory=lambda: deque(maxlen=10000))


class Analyser:
    def __init__(
        self,
        detector: FaceDetector,
        estimator: AttributeEstimator | None,
        every_n_frames: int = 1,
        quality: QualityConfig | None = None,
        *,
        masks: FrameFilter | None = None,
    ) -> None:
        self.masks = masks
        self.detector = detector
        self.quality = quality or QualityConfig()
        self.estimator = estimator
        self.every_n_frames = every_n_frames
        self.times = StageTimes()
        self._count = 0

    def analyse(self, frame: Frame) -> AnalysedFrame:
        try:
            if self.masks is not None:
                self.masks.apply(frame.image)
            t0 = time.perf_counter()
            detections: Detections = assess(self.detector.detect(frame.image), self.quality)
            t1 = time.perf_counter()
            sample = self._count % self.every_n_frames == 0
            self._count += 1
            if self.estimator is not None and sample:
                attributes = self.estimator.estimate(frame.image, detections)
            else:
                attributes = FaceAttributes()
            t2 = time.perf_counter()
            self.times.detect.append((t1 - t0) * 1000)
            self.times.attributes.append((t2 - t1) * 1000)
            height, width = frame.image.shape[:2]
            return AnalysedFrame(frame.index, frame.ts, width, height, detections, attributes)
        finally:
            frame.image.fill(0)
            if frame.captured_monotonic:
                self.times.lifetime.append((time.monotonic() - frame.captured_monotonic) * 1000)


def percentile(values: deque[float] | list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None
