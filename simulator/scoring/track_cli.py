"""``kazoe-sim track-score`` and ``kazoe-sim count-clips``: tracking and counting accuracy.

    kazoe-sim track-score --truth scene.json --video scene.mp4 [--config node.toml]
    kazoe-sim track-score --truth scene.json --synthetic [--seed 0]
    kazoe-sim count-clips ../shared/data/real [--config node.toml]

``track-score`` reads the per-frame boxes written by ``kazoe-sim scene`` (``--boxes``,
default NAME.boxes.csv next to the truth) and prints MOTA, IDF1, ID switches (also per
100 people), fragmentations, and people counted against the truth. ``count-clips`` runs
over recorded clips, one folder each with ``clip.mp4`` and ``people.csv`` (the
``kazoe-sim truth`` format), and prints people counted against the truth per clip.
Exit 0 whatever the figures; 2 for bad arguments; 1 when an input cannot be used.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pydantic

from edge.config import NodeSettings, load_config
from edge.errors import KazoeError
from simulator.errors import SimulatorError
from simulator.scenes.args import OneLineParser
from simulator.scenes.boxes import BoxesFileError, read_boxes
from simulator.scenes.scene import boxes_path
from simulator.scenes.truth import SceneTruth
from simulator.scoring.track_run import (
    default_settings,
    run_tracker,
    synthetic_frames,
    video_detections,
)
from simulator.scoring.tracking import MotScorer, NoiseModel, TrackScore, synthetic_detections

REPO = Path(__file__).resolve().parents[2]


def _settings(config: Path | None, models: Path) -> NodeSettings:
    return load_config(config) if config is not None else default_settings(models)


def score_scene(
    truth: SceneTruth,
    boxes: Path,
    settings: NodeSettings,
    *,
    video: Path | None,
    seed: int = 0,
    min_visible: float = 0.5,
) -> TrackScore:
    """Track one scene (its video, or synthetic detections when ``video`` is None) and score it."""
    rows = read_boxes(boxes)
    scorer = MotScorer(rows, truth.width, truth.height, min_visible=min_visible)
    if video is None:
        dets = synthetic_detections(
            rows, truth.frames, truth.width, truth.height, seed=seed, noise=NoiseModel()
        )
        frames = synthetic_frames(dets, truth.fps, truth.width, truth.height)
    else:
        frames = video_detections(video, settings)
    run = run_tracker(frames, settings, scorer.add)
    result = scorer.result(run.counted)
    if result.people != len(truth.people):
        # Everyone in the truth is visible at some point; the score counts all of them.
        result = TrackScore(**{**asdict(result), "people": len(truth.people)})
    return result


def render_score(result: TrackScore, what: str) -> str:
    return "\n".join(
        [
            f"scene           {result.frames} frames, {result.people} people; detections: {what}",
            f"MOTA            {result.mota:.3f}",
            f"IDF1            {result.idf1:.3f}",
            f"ID switches     {result.id_switches} ({result.switches_per_100:.1f} per 100 people)",
            f"fragmentations  {result.fragmentations}",
            f"precision       {result.precision:.3f}   recall {result.recall:.3f}"
            f"   ({result.scored_boxes} truth boxes at least half visible)",
            f"people          truth {result.people}   counted {result.counted}"
            f"   error {result.count_error_pct:+.1f} %",
        ]
    )


def track_score_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(
        prog="kazoe-sim track-score",
        description="Score the node's tracker on a generated scene with per-frame truth boxes.",
    )
    p.add_argument("--truth", type=Path, required=True, help="truth JSON from 'kazoe-sim scene'")
    p.add_argument("--boxes", type=Path, default=None, help="default: NAME.boxes.csv")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--video", type=Path, help="the scene's video: the node's detector runs")
    how.add_argument(
        "--synthetic",
        action="store_true",
        help="detections made from the truth boxes (misses, jitter, weak scores): tracker only",
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic detections' random seed")
    p.add_argument("--config", type=Path, default=None, help="node TOML (detector, tracker)")
    p.add_argument("--models", type=Path, default=REPO / "models" / "build")
    p.add_argument("--min-visible", type=float, default=0.5, help="score faces this visible")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if not 0 < args.min_visible <= 1:
        p.error("--min-visible must be in (0, 1]")
    try:
        truth = SceneTruth.load(args.truth)
        settings = _settings(args.config, args.models)
        result = score_scene(
            truth,
            args.boxes or boxes_path(args.truth),
            settings,
            video=args.video,
            seed=args.seed,
            min_visible=args.min_visible,
        )
    except FileNotFoundError as exc:
        print(f"kazoe-sim track-score: {exc.filename} not found", file=sys.stderr)
        return 1
    except (OSError, ValueError, pydantic.ValidationError) as exc:
        reason = str(exc).splitlines()[0]
        print(f"kazoe-sim track-score: {args.truth}: {reason}", file=sys.stderr)
        return 1
    except (BoxesFileError, SimulatorError, KazoeError) as exc:
        print(f"kazoe-sim track-score: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**asdict(result), "switches_per_100": result.switches_per_100}))
    else:
        what = "synthetic" if args.video is None else f"node detector on {args.video.name}"
        print(render_score(result, what))
    return 0


def clip_truth(folder: Path) -> int:
    """People in a clip's ``people.csv`` (one row per person)."""
    with (folder / "people.csv").open(encoding="utf-8", newline="") as handle:
        return sum(1 for row in csv.DictReader(handle) if (row.get("exit_s") or "").strip())


def count_clips(root: Path, settings: NodeSettings) -> list[tuple[str, int, int, int]]:
    """(clip, frames, truth, counted) for every folder under ``root`` with clip.mp4 + people.csv."""
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        video, people = folder / "clip.mp4", folder / "people.csv"
        if not (video.is_file() and people.is_file()):
            continue
        run = run_tracker(video_detections(video, settings), settings)
        out.append((folder.name, run.frames, clip_truth(folder), run.counted))
    return out


def count_clips_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(
        prog="kazoe-sim count-clips",
        description="People counted by the node's detector and tracker on recorded clips, "
        "against each clip's people.csv.",
    )
    p.add_argument("root", type=Path, help="folder of clip folders (clip.mp4 + people.csv)")
    p.add_argument("--config", type=Path, default=None, help="node TOML (detector, tracker)")
    p.add_argument("--models", type=Path, default=REPO / "models" / "build")
    args = p.parse_args(argv)
    if not args.root.is_dir():
        print(f"kazoe-sim count-clips: {args.root} is not a folder", file=sys.stderr)
        return 1
    try:
        rows = count_clips(args.root, _settings(args.config, args.models))
    except (OSError, SimulatorError, KazoeError, ValueError) as exc:
        print(f"kazoe-sim count-clips: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if not rows:
        print(f"kazoe-sim count-clips: no clip folders (clip.mp4 + people.csv) in {args.root}")
        return 1
    print(f"{'clip':<20} {'frames':>6} {'truth':>6} {'counted':>8}")
    for name, frames, truth, counted in rows:
        print(f"{name:<20} {frames:6d} {truth:6d} {counted:8d}")
    t, c = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'total':<20} {'':6} {t:6d} {c:8d}   error {100 * (c - t) / max(t, 1):+.1f} %")
    return 0
