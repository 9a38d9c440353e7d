"""Spend detector work only where people are: whole frames now and then, regions in between.

The whole frame is searched every ``[detector] full_frame_every`` frames (and on the first
frame, after a change of frame size, or when the regions would cost about as much). In
between, the detector runs only on padded regions around the faces of the previous frames
(at the scale those faces need) and around motion that no recent face explains (a new
person walking in), merged where they overlap, with NMS across them. A frame where nothing
moved and nobody was seen costs no detector run at all until the next whole frame.

State kept between frames: face boxes, their per-frame displacement and miss counts
(geometry only), and ``MotionDetector``'s one grey thumbnail (pixel data, zeroed on
``reset``; see ``edge.vision.motion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge.boxes import iou_matrix
from edge.config import DetectorConfig
from edge.types import Detections, FloatArray, ImageArray
from edge.vision.motion import MotionDetector
from edge.vision.regions import Region, face_regions, full_cost, merge, pad_regions

# A face not found again is still searched for this many frames (one missed detection
# must not lose a still face until the next whole frame).
KEEP_MISSED = 2
# A person's body moves below and beside the face (a person is about 7.5 heads tall, and
# arms swing): motion there is explained by the face.
BODY_BELOW, BODY_SIDE, BODY_ABOVE = 7.0, 1.0, 0.5
MOTION_PAD_PX = 32.0


@runtime_checkable
class RegionDetector(Protocol):
    """A detector that can also search only parts of a frame (YuNet)."""

    @property
    def template(self) -> npt.NDArray[np.float64]: ...

    def detect(self, image: ImageArray) -> Detections: ...

    def detect_regions(self, image: ImageArray, regions: Sequence[Region]) -> Detections: ...


@dataclass(slots=True)
class _Face:
    box: FloatArray  # xyxy, frame pixels
    step: FloatArray = field(default_factory=lambda: np.zeros(2, np.float32))  # px per frame
    missed: int = 0

    def predicted(self) -> FloatArray:
        shift = np.tile(self.step * (self.missed + 1), 2)
        out: FloatArray = (self.box + shift).astype(np.float32)
        return out


@dataclass(slots=True)
class FocusStats:
    """How frames were searched (counts only)."""

    full: int = 0
    regions: int = 0
    idle: int = 0
    region_runs: int = 0


def body_boxes(boxes: FloatArray) -> FloatArray:
    """Face boxes grown to where that person's head and body move."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    out: FloatArray = np.column_stack(
        [
            boxes[:, 0] - BODY_SIDE * w,
            boxes[:, 1] - BODY_ABOVE * h,
            boxes[:, 2] + BODY_SIDE * w,
            boxes[:, 3] + BODY_BELOW * h,
        ]
    ).astype(np.float32)
    return out


class Focus:
    """Decides, per frame, what the detector searches; keeps geometry between frames."""

    def __init__(self, detector: RegionDetector, cfg: DetectorConfig) -> None:
        self.detector = detector
        self.cfg = cfg
        self.motion = MotionDetector(threshold=cfg.motion_threshold)
        self.stats = FocusStats()
        self._faces: list[_Face] = []
        self._since_full = 0
        self._shape: tuple[int, int] = (0, 0)

    @property
    def template(self) -> npt.NDArray[np.float64]:
        """The wrapped detector's chip template (a Focus is a FaceDetector too)."""
        return self.detector.template

    def reset(self) -> None:
        """Forget every face and zero the motion thumbnail (end of a source, an error)."""
        self._faces = []
        self._since_full = 0
        self._shape = (0, 0)
        self.motion.reset()

    def plan(self, image: ImageArray) -> list[Region] | None:
        """Regions to search in ``image``, or None for the whole frame."""
        height, width = image.shape[:2]
        predicted = (
            np.stack([f.predicted() for f in self._faces])
            if self._faces
            else np.zeros((0, 4), np.float32)
        )
        motion = self.motion.update(image, body_boxes(predicted) if len(predicted) else None)
        new_shape = self._shape != (height, width)
        self._shape = (height, width)
        due = self._since_full + 1 >= self.cfg.full_frame_every
        if motion.fresh or new_shape or due:
            return None
        base = min(self.cfg.effective_scales)
        wanted = face_regions(predicted, self.cfg.region_padding, self.cfg.region_face_px, base)
        wanted += pad_regions(motion.boxes, MOTION_PAD_PX, base)
        regions = merge(wanted, width, height)
        budget = self.cfg.max_region_share * full_cost(width, height, self.cfg.effective_scales)
        if sum(r.cost for r in regions) >= budget:
            return None
        return regions

    def detect(self, image: ImageArray) -> Detections:
        """Faces in ``image``: the whole frame or only the planned regions."""
        try:
            regions = self.plan(image)
            if regions is None:
                found = self.detector.detect(image)
                self._since_full = 0
                self.stats.full += 1
            else:
                found = self.detector.detect_regions(image, regions) if regions else Detections()
                self._since_full += 1
                self.stats.regions += bool(regions)
                self.stats.idle += not regions
                self.stats.region_runs += len(regions)
        except BaseException:
            self.reset()
            raise
        self._remember(found.boxes)
        return found

    def _remember(self, boxes: FloatArray) -> None:
        """Match this frame's faces to the remembered ones (greedy IoU) and update them."""
        old = self._faces
        matched: set[int] = set()
        used: set[int] = set()
        if old and len(boxes):
            iou = iou_matrix(np.stack([f.predicted() for f in old]), boxes)
            for flat in np.argsort(-iou, axis=None):
                t, d = divmod(int(flat), iou.shape[1])
                if iou[t, d] < 0.2:
                    break
                if t in matched or d in used:
                    continue
                face = old[t]
                centre_old = (face.box[:2] + face.box[2:]) / 2
                centre_new = (boxes[d, :2] + boxes[d, 2:]) / 2
                face.step = ((centre_new - centre_old) / (face.missed + 1)).astype(np.float32)
                face.box = boxes[d].astype(np.float32).copy()
                face.missed = 0
                matched.add(t)
                used.add(d)
        kept = []
        for t, face in enumerate(old):
            if t not in matched:
                face.missed += 1
                if face.missed > KEEP_MISSED:
                    continue
            kept.append(face)
        kept += [
            _Face(boxes[d].astype(np.float32).copy()) for d in range(len(boxes)) if d not in used
        ]
        self._faces = kept
