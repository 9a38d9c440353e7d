"""Run the node's analyser and tracker over a video (or synthetic detections), frame by frame.

No broker, no outbox: only the stages that decide who is one person. Frames are zeroed by
the analyser as in the node; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import NodeSettings
from edge.counting.tracker import TrackBoxes, Tracker
from edge.privacy.masks import MaskSet
from edge.types import AnalysedFrame, Detections, FaceAttributes, FinishedTrack, Frame
from edge.vision.analyser import Analyser
from edge.vision.face_detector import open_detector
from simulator.errors import SimulatorError

T0 = 1_767_258_000.0  # media clock of frame 0 (any value: only differences matter)


@dataclass
class TrackRun:
    frames: int = 0
    finished: list[FinishedTrack] | None = None

    @property
    def counted(self) -> int:
        return len(self.finished or [])


def default_settings(models: Path) -> NodeSettings:
    return NodeSettings.model_validate(
        {
            "node": {"id": "track-score"},
            "source": {"uri": "unused"},
            "policy": {"purposes": ["footfall"]},
            "models": {"dir": str(models)},
        }
    )


def video_detections(video: Path, settings: NodeSettings) -> Iterator[AnalysedFrame]:
    """Every frame of ``video`` through the node's analyser (masks, detector; no attributes)."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SimulatorError(f"cannot open video {video}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if 1.0 <= fps <= 240.0 else 15.0
    analyser = Analyser(
        open_detector(settings.models.dir, settings.detector),
        None,
        quality=settings.quality,
        masks=MaskSet(settings.privacy.masks),
    )
    k = 0
    try:
        while True:
            ok, raw = cap.read()
            if not ok:
                break
            image = np.ascontiguousarray(raw, dtype=np.uint8)
            yield analyser.analyse(Frame(k, T0 + k / fps, image))
            k += 1
    finally:
        cap.release()


def synthetic_frames(
    detections: Iterator[Detections], fps: float, width: int, height: int
) -> Iterator[AnalysedFrame]:
    for k, det in enumerate(detections):
        yield AnalysedFrame(k, T0 + k / fps, width, height, det, FaceAttributes())


def run_tracker(
    frames: Iterator[AnalysedFrame],
    settings: NodeSettings,
    on_frame: Callable[[int, TrackBoxes], None] | None = None,
) -> TrackRun:
    tracker = Tracker(settings.tracker, settings.counting.lines, settings.counting.zones)
    run = TrackRun(finished=[])
    finished: list[FinishedTrack] = []
    for af in frames:
        finished += tracker.update(af)
        if on_frame is not None:
            on_frame(af.index, tracker.latest)
        run.frames += 1
    finished += tracker.flush()
    run.finished = finished
    return run
