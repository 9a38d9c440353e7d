"""The typed objects that travel between pipeline stages (one per hop).

source -> Frame -> detector -> Detections -> attributes -> FaceAttributes
-> tracker -> FinishedTrack -> aggregator -> WindowCounts -> policy -> outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]


class FrameFilter(Protocol):
    """Changes a frame buffer in place before analysis (privacy masks: ``edge.privacy.masks``)."""

    def apply(self, image: ImageArray) -> None: ...


class AttributeSelector(Protocol):
    """Says which faces of a frame get age/gender, while the analyser still holds its pixels.

    The tracker implements it (``edge.counting.tracker.Tracker``): it associates the frame's
    faces with its tracks first and asks only for the faces whose track still needs evidence.
    It sees geometry and scores only, never pixels, and must be quick: the frame waits.
    """

    def attributes_wanted(
        self, ts: float, width: int, height: int, detections: Detections
    ) -> BoolArray: ...


def utc(ts: float) -> datetime:
    """Media-clock seconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image and the media-clock time it was taken.

    ``image`` is a BGR uint8 buffer owned by the pipeline: it is zeroed as soon as
    analysis ends (see ``edge.disposal``), so nothing may keep a reference to it.
    """

    index: int
    ts: float
    image: ImageArray
    captured_monotonic: float = 0.0

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            shape, dtype = self.image.shape, self.image.dtype
            raise ValueError(f"frame {self.index}: expected HxWx3 uint8, got {shape} {dtype}")


def _empty(*shape: int) -> FloatArray:
    return np.zeros(shape, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Detections:
    """Faces found in one frame, as parallel arrays (pixels of the frame).

    boxes: (N, 4) x1, y1, x2, y2; scores: (N,); keypoints: (N, 6, 2): right eye, left eye,
    nose tip, mouth, then two detector-specific points (BlazeFace: right and left ear;
    YuNet: right and left mouth corner). "Right" is the subject's right (image left).
    good: (N,) whether the face may feed age/gender (see ``edge.vision.quality``); a poor
    face is still a person. Absent means every face is good.
    """

    boxes: FloatArray = field(default_factory=lambda: _empty(0, 4))
    scores: FloatArray = field(default_factory=lambda: _empty(0))
    keypoints: FloatArray = field(default_factory=lambda: _empty(0, 6, 2))
    good: BoolArray | None = None

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.good is None:
            object.__setattr__(self, "good", np.ones(n, dtype=bool))
        elif self.good.shape != (n,) or self.good.dtype != np.bool_:
            raise ValueError(f"good must be ({n},) bool, got {self.good.shape} {self.good.dtype}")
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must be (N, 4), got {self.boxes.shape}")
        if self.scores.shape != (n,):
            raise ValueError(f"scores must be ({n},), got {self.scores.shape}")
        if self.keypoints.shape != (n, 6, 2):
            raise ValueError(f"keypoints must be ({n}, 6, 2), got {self.keypoints.shape}")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def good_mask(self) -> BoolArray:
        """``good`` as an array (it is filled in ``__post_init__`` when absent)."""
        return self.good if self.good is not None else np.ones(len(self.boxes), dtype=bool)

    def select(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Detections:
        return Detections(
            self.boxes[index], self.scores[index], self.keypoints[index], self.good_mask[index]
        )


@dataclass(frozen=True, slots=True)
class FaceAttributes:
    """Per-face estimates for one frame, parallel to its Detections.

    ``age`` is the expected age in years; ``p_male`` the probability the face is
    male. Both are None when the policy does not allow demographics.
    """

    age: FloatArray | None = None
    p_male: FloatArray | None = None

    def __post_init__(self) -> None:
        if (self.age is None) != (self.p_male is None):
            raise ValueError("age and p_male are both present or both absent")
        if self.age is not None and self.p_male is not None and self.age.shape != self.p_male.shape:
            raise ValueError(f"age {self.age.shape} and p_male {self.p_male.shape} differ")


@dataclass(frozen=True, slots=True)
class AnalysedFrame:
    """What survives a frame: geometry and attribute estimates, never pixels."""

    index: int
    ts: float
    width: int
    height: int
    detections: Detections
    attributes: FaceAttributes


@dataclass(frozen=True, slots=True)
class FinishedTrack:
    """A person whose track has ended: counted once, in the window of ``ended_at``.

    Holds only quality-weighted means and crossing counts — no pixels, no embeddings,
    no path. The means are None when the evidence was too weak
    (``[attributes] min_evidence``). ``crossings`` is parallel to ``[[counting.lines]]``:
    (times in, times out) per line.
    """

    first_seen: float
    ended_at: float
    hits: int
    mean_age: float | None
    mean_p_male: float | None
    crossings: tuple[tuple[int, int], ...] = ()
    # False when [[counting.zones]] are set and the path entered none of them.
    in_zone: bool = True
    evidence: float = 0.0  # summed observation quality behind the means


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Raw counts of one closed window, before the policy suppresses small cells."""

    window_start: float
    window_end: float
    people: int
    gender: dict[str, int] | None
    age_bands: dict[str, int] | None
    joint: dict[str, dict[str, int]] | None
    # Per counting line: {"in": n, "out": n}; None when no line is configured.
    lines: dict[str, dict[str, int]] | None = None
