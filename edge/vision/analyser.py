"""Privacy masks, detector + attributes on one frame, then the frame's pixels are overwritten.

This is the only place a frame's pixels are read. Masked regions are zeroed first, in the
buffer itself, so no model ever sees them (the masks come from ``edge.privacy.masks``,
handed in by the runner so that this stage does not import a later one). Whatever happens during
analysis, the buffer is zeroed before the frame is released, and the time from
capture to overwrite (the frame's lifetime) is recorded.

With a region-capable detector (YuNet) and ``[detector] full_frame_every`` > 1, detection
goes through ``edge.vision.focus.Focus`` (whole frames now and then, regions around faces
and motion in between). Age/gender run on every ``every_n_frames``-th frame, for the good
faces the caller's ``AttributeSelector`` asks for (the node passes its tracker, which
wants only observations that add evidence to their track, ``edge.counting.evidence``), in
one batch, before the frame is zeroed: nothing waits for a later frame. Between frames
the analyser keeps geometry only, plus the motion thumbnail that ``Focus`` zeroes in
``reset``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.config import DetectorConfig, NodeSettings, QualityConfig
from edge.types import (
    AnalysedFrame,
    AttributeSelector,
    Detections,
    FaceAttributes,
    Frame,
    FrameFilter,
    ImageArray,
)
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import FaceDetector
from edge.vision.focus import Focus, RegionDetector
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
        focus: DetectorConfig | None = None,
    ) -> None:
        """``focus``: search regions between whole frames (when the detector can)."""
        self.masks = masks
        self.detector = detector
        self.quality = quality or QualityConfig()
        self.estimator = estimator
        self.every_n_frames = every_n_frames
        self.times = StageTimes()
        self._count = 0
        self.focus: Focus | None = None
        if (
            focus is not None
            and focus.full_frame_every > 1
            and isinstance(detector, RegionDetector)
        ):
            self.focus = Focus(detector, focus)

    @classmethod
    def from_settings(
        cls,
        settings: NodeSettings,
        detector: FaceDetector,
        estimator: AttributeEstimator | None,
        masks: FrameFilter | None = None,
    ) -> Analyser:
        """The analyser a node with these settings runs (``kazoe run`` and ``kazoe calibrate``)."""
        return cls(
            detector,
            estimator,
            settings.attributes.every_n_frames,
            settings.quality,
            focus=settings.detector,
            masks=masks,
        )

    def _detect(self, image: ImageArray) -> Detections:
        return self.focus.detect(image) if self.focus else self.detector.detect(image)

    @staticmethod
    def _estimate(
        estimator: AttributeEstimator,
        frame: Frame,
        detections: Detections,
        select: AttributeSelector | None,
    ) -> FaceAttributes:
        ask = detections
        if select is not None:
            height, width = frame.image.shape[:2]
            wanted = select.attributes_wanted(frame.ts, width, height, detections)
            wanted = wanted & detections.good_mask
            if not np.array_equal(wanted, detections.good_mask):
                ask = Detections(detections.boxes, detections.scores, detections.keypoints, wanted)
        # One batch: the estimator skips faces not marked good (they come back NaN).
        return estimator.estimate(frame.image, ask)

    def reset(self) -> None:
        """Forget faces between frames and zero the motion thumbnail (end of a source)."""
        if self.focus is not None:
            self.focus.reset()

    def analyse(self, frame: Frame, select: AttributeSelector | None = None) -> AnalysedFrame:
        """Detect, then age/gender for the good faces ``select`` wants (all good ones without)."""
        try:
            if self.masks is not None:
                self.masks.apply(frame.image)
            t0 = time.perf_counter()
            detections: Detections = assess(self._detect(frame.image), self.quality)
            t1 = time.perf_counter()
            index = self._count
            self._count += 1
            if self.estimator is not None and index % self.every_n_frames == 0:
                attributes = self._estimate(self.estimator, frame, detections, select)
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
