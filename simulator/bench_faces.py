"""``make bench``, detector part: recall by face size, false positives and time per detector.

Each detector (YuNet at 1/1 and 1/1.5, BlazeFace full range as a pyramid and on tiles) runs
as the node runs it: the detector, then ``edge.vision.quality.assess`` (which drops
detections that are neither frontal nor confident). Figures, not pass/fail:

* recall by face size: people drawn as in the bench scene (street background, body, soft
  face edge) with faces exactly 24 ... 160 px wide, once from the bench portraits and once
  from FairFace photos (``../shared/data/fairface``, skipped when absent). A face is found
  when a detection's centre falls inside its box.
* false positives per frame: detections whose centre is in no face, on the size frames and
  on face-free frames of the bench street (no people at all).
* real clips (``../shared/data/real``, skipped when absent): people counted by the node's
  detector, quality gate and tracker against people.csv, and detections per frame on
  ``onebyone``, where people mostly show the backs of their heads (its only faces are rear
  profiles of at most 25 px, so every detection there is counted as false).
* ms per frame: median detect + quality time on 1280x720 frames of the bench scene, one
  core. The detectors take turns frame by frame, so load from other processes on a shared
  machine slows them alike; compare the rows of one run rather than runs.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig, QualityConfig, TrackerConfig
from edge.counting.tracker import Tracker
from edge.types import AnalysedFrame, Detections, FaceAttributes, ImageArray
from edge.vision.face_detector import FaceDetector, open_detector
from edge.vision.quality import assess
from simulator.scenes.labelled import LabelledSource, load_labelled
from simulator.scenes.portraits import FaceItem, load_portraits
from simulator.scenes.render import Look, _body, _paste, background, make_look

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
SIZES = (24, 32, 40, 48, 64, 96, 160)
WIDTH, HEIGHT = 1280, 720
MAX_PER_FRAME = 24
VARIANTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("YuNet 1/1", {"model": "yunet"}),
    ("YuNet 1/1.5", {"model": "yunet", "scales": [1.5]}),
    ("BlazeFace pyramid", {"model": "full_range", "mode": "pyramid"}),
    ("BlazeFace tiles", {"model": "full_range", "mode": "tiles"}),
)
Box = tuple[int, int, int, int]


TIMED_FRAMES = 40


@dataclass
class Tally:
    """Counts of one detector on one face source."""

    faces: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SIZES, 0))
    found: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SIZES, 0))
    false: int = 0
    frames: int = 0


@dataclass(frozen=True)
class SizedFrame:
    """One drawn frame, the face size in it and the face boxes (truth)."""

    image: ImageArray
    size: int
    boxes: list[Box]


def sized_frames(
    items: Sequence[FaceItem], per_size: int, seed: int, *, vary: bool
) -> Iterator[SizedFrame]:
    """People whose faces are exactly ``size`` px wide, ``per_size`` faces for each size."""
    rng = np.random.default_rng([seed, 7])
    street = background(np.random.default_rng([seed, 1]), WIDTH, HEIGHT)
    next_item = 0
    for size in SIZES:
        left = per_size
        while left > 0:
            frame = street.copy()
            boxes: list[Box] = []
            cols = max(1, int(WIDTH // (2.2 * size)))
            rows = max(1, int((HEIGHT - 20) // (1.7 * size)))
            cells = [(r, c) for r in range(rows) for c in range(cols)]
            count = min(left, MAX_PER_FRAME, len(cells))
            chosen = sorted(rng.choice(len(cells), size=count, replace=False).tolist())
            for index in chosen:  # top rows first: nearer people are drawn over their bodies
                row, col = cells[index]
                item = items[next_item % len(items)]
                next_item += 1
                look = make_look(rng, item, vary=vary)
                h = round(size * look.face.shape[0] / look.face.shape[1])
                x0 = int(col * WIDTH / cols + rng.uniform(0.1, 0.9) * (WIDTH / cols - size))
                y0 = int(10 + row * 1.7 * size + rng.uniform(0, 0.3) * size)
                _draw(frame, look, (x0, y0, size, h))
                boxes.append((x0, y0, x0 + size, y0 + h))
            left -= count
            yield SizedFrame(frame, size, boxes)


def _draw(frame: ImageArray, look: Look, box: tuple[int, int, int, int]) -> None:
    x0, y0, w, h = box
    _body(frame, look, box, 0.0)
    face = cv2.resize(look.face, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(look.alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    _paste(frame, np.asarray(face, np.uint8), np.asarray(alpha, np.float32), x0, y0)


def _centres_in(boxes: Sequence[Box], det: Detections) -> tuple[int, int]:
    """(truth boxes containing a detection centre, detections inside no truth box)."""
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    inside = np.zeros(len(det), dtype=bool)
    found = 0
    for x0, y0, x1, y1 in boxes:
        hit = (
            (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
            & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
        )  # fmt: skip
        found += bool(hit.any())
        inside |= hit
    return found, int((~inside).sum())


def _detect(detector: FaceDetector, image: ImageArray, quality: QualityConfig) -> Detections:
    return assess(detector.detect(image), quality)


def run_sizes(
    detector: FaceDetector, frames: Sequence[SizedFrame], quality: QualityConfig
) -> Tally:
    """Recall per size and false positives over the drawn frames."""
    tally = Tally()
    for sized in frames:
        det = _detect(detector, sized.image, quality)
        found, false = _centres_in(sized.boxes, det)
        tally.faces[sized.size] += len(sized.boxes)
        tally.found[sized.size] += found
        tally.false += false
        tally.frames += 1
    return tally


def interleaved_ms(
    detectors: Sequence[FaceDetector], frames: Sequence[SizedFrame], quality: QualityConfig
) -> list[float]:
    """Median ms per frame of each detector, taking turns on the same frames."""
    times: list[list[float]] = [[] for _ in detectors]
    for sized in frames:
        for index, detector in enumerate(detectors):
            t0 = time.perf_counter()
            _detect(detector, sized.image, quality)
            times[index].append((time.perf_counter() - t0) * 1000)
    return [float(np.median(t)) if t else math.nan for t in times]


def empty_street_fp(detector: FaceDetector, frames: int, quality: QualityConfig) -> float:
    """False positives per frame on the bench street with nobody in it (seeded variants)."""
    false = 0
    for seed in range(frames):
        image = background(np.random.default_rng([seed, 1]), WIDTH, HEIGHT)
        false += len(_detect(detector, image, quality))
    return false / frames


@dataclass(frozen=True)
class ClipResult:
    """One recorded clip through detector, quality gate and tracker."""

    name: str
    frames: int
    detections: int
    people: int
    truth: int


def run_clip(detector: FaceDetector, folder: Path, quality: QualityConfig) -> ClipResult:
    """Count people in a clip as the node would (footfall: no attributes needed)."""
    cap = cv2.VideoCapture(str(folder / "clip.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    tracker = Tracker(TrackerConfig())
    frames = detections = people = 0
    while True:
        ok, raw = cap.read()
        if not ok:
            break
        image: ImageArray = np.asarray(raw, dtype=np.uint8)
        det = _detect(detector, image, quality)
        image.fill(0)
        h, w = image.shape[:2]
        people += len(
            tracker.update(AnalysedFrame(frames, frames / fps, w, h, det, FaceAttributes()))
        )
        detections += len(det)
        frames += 1
    cap.release()
    people += len(tracker.flush())
    with (folder / "people.csv").open(encoding="utf-8") as handle:
        truth = sum(1 for _ in csv.DictReader(handle))
    return ClipResult(folder.name, frames, detections, people, truth)


def _sources(per_size: int, seed: int) -> list[tuple[str, list[SizedFrame]]]:
    sources = [("bench scene", list(sized_frames(load_portraits(), per_size, seed, vary=True)))]
    fairface = SHARED / "fairface"
    if (fairface / "ground_truth.json").is_file():
        items, _note = load_labelled(LabelledSource(fairface, "fairface"), 540, seed)
        sources.append(("FairFace scene", list(sized_frames(items, per_size, seed, vary=False))))
    else:
        print(f"bench: FairFace photos not found at {fairface}; FairFace scene skipped")
    return sources


def bench_detectors(
    models: Path, per_size: int = 120, seed: int = 1, street_frames: int = 30
) -> None:
    """Print the detector table, then the real-clip counts."""
    quality = QualityConfig()
    sources = _sources(per_size, seed)
    clips = sorted(p for p in (SHARED / "real").glob("*") if (p / "clip.mp4").is_file())
    detectors = [
        open_detector(models, DetectorConfig.model_validate(options)) for _, options in VARIANTS
    ]
    bench_frames = sources[0][1]
    step = max(1, len(bench_frames) // TIMED_FRAMES)
    ms = interleaved_ms(detectors, bench_frames[::step][:TIMED_FRAMES], quality)
    print(f"\nKazoe bench — detectors: {per_size} faces per size and source, one core")
    print("(every row: the detector, then the node's quality gate; ms: median, taking turns)")
    header = "".join(f"{s:>7}" for s in SIZES)
    for (label, _), detector, median in zip(VARIANTS, detectors, ms, strict=True):
        print(f"\n{label}: {median:.1f} ms/frame (1280x720)")
        print(f"  {'recall by face px':<22}{header}   FP/frame")
        for name, frames in sources:
            t = run_sizes(detector, frames, quality)
            recall = "".join(f"{t.found[s] / max(t.faces[s], 1):7.3f}" for s in SIZES)
            print(f"  {name:<22}{recall}   {t.false / max(t.frames, 1):8.3f}")
        street = empty_street_fp(detector, street_frames, quality)
        print(f"  {'empty bench street':<22}{'':{len(header)}}   {street:8.3f}")
        for clip in clips:
            r = run_clip(detector, clip, quality)
            per_frame = r.detections / max(r.frames, 1)
            extra = f", {per_frame:.3f} detections/frame" if clip.name == "onebyone" else ""
            print(f"  real {r.name:<17} people counted {r.people}, people.csv {r.truth}{extra}")
    if not clips:
        print(f"\nbench: recorded clips not found at {SHARED / 'real'}; real-clip counts skipped")
