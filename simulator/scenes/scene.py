"""Deterministic synthetic street scenes with ground truth (``kazoe-sim scene``).

N people walk across a static street at different distances (face widths 48-200 px),
entering and leaving at different times; some linger in view for 10-20 s. The faces are two
public-domain portraits, or one photo per person from a labelled face folder (``--faces DIR
--labels fairface|utk|csv``). The video is written with OpenCV ('mp4v'); the truth file
(:mod:`simulator.scenes.truth`) says when each face is visible, how many people exit in each
counting window and, for labelled faces, who they are by gender and age band. The same seed
gives the same truth bytes and the same frames.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge.config import DEFAULT_AGE_EDGES
from simulator.errors import SceneError
from simulator.scenes.args import check_paths, scene_parser
from simulator.scenes.boxes import FrameBox, boxes_csv
from simulator.scenes.labelled import LabelledSource, load_labelled, person_labels
from simulator.scenes.labels import Bands
from simulator.scenes.occlusion import Crowd, Pillar, visibility
from simulator.scenes.paths import Track, Walker, plan_walkers
from simulator.scenes.portraits import FaceItem, Image, load_portraits
from simulator.scenes.render import Look, background, draw_people, draw_pillar, make_look
from simulator.scenes.truth import (
    VISIBLE_FRACTION,
    PersonTruth,
    SceneTruth,
    count_windows,
    labelled_windows,
)

# Independent random streams, so e.g. the background does not change with --people.
_STREAM_BACKGROUND, _STREAM_PATHS, _STREAM_LOOKS = 1, 2, 3


@dataclass(frozen=True)
class SceneSpec:
    people: int
    width: int = 1280
    height: int = 720
    fps: float = 15.0
    seconds: float | None = None  # None: until everyone has left, plus 1 s
    seed: int = 0
    window_s: float = 60.0
    lingerers: int | None = None  # None: 1 when people >= 5, else 0
    age_bands: tuple[int, ...] = DEFAULT_AGE_EDGES  # the node's [aggregate] age_bands
    faces_note: str | None = None  # where labelled faces came from (recorded in the truth)
    occlusion: bool = False  # a pillar, and people who pass behind others (0.5-3 s hidden)

    def validate(self) -> None:
        """Raise ValueError naming the bad option."""
        checks = [
            (self.people >= 1, "--people must be at least 1"),
            (self.people <= 2000, "--people must be at most 2000"),
            (320 <= self.width <= 7680 and self.width % 2 == 0, "--width must be even, 320-7680"),
            (
                240 <= self.height <= 4320 and self.height % 2 == 0,
                "--height must be even, 240-4320",
            ),
            (0 < self.fps <= 120 and math.isfinite(self.fps), "--fps must be in (0, 120]"),
            (self.seconds is None or 0 < self.seconds <= 86400, "--seconds must be in (0, 86400]"),
            (self.seed >= 0, "--seed must be >= 0"),
            (
                0 < self.window_s <= 86400 and math.isfinite(self.window_s),
                "--window must be in (0, 86400]",
            ),
            (
                self.lingerers is None or 0 <= self.lingerers <= self.people,
                "--lingerers must be between 0 and --people",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.lingerers and self.seconds is not None and self.seconds < 25:
            raise ValueError("--lingerers needs --seconds of at least 25 (they stay 10-20 s)")

    def lingerer_count(self) -> int:
        if self.lingerers is not None:
            return self.lingerers
        return 1 if self.people >= 5 and (self.seconds is None or self.seconds >= 25) else 0


@dataclass(frozen=True)
class ScenePlan:
    spec: SceneSpec
    frames: int
    walkers: list[Walker]
    tracks: list[Track]
    truth: SceneTruth
    pillar: Pillar | None = None


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def plan_scene(spec: SceneSpec, faces: Sequence[FaceItem]) -> ScenePlan:
    """Paths and truth for a scene (no drawing). Raises SceneError if it cannot be placed."""
    spec.validate()
    if not faces:
        raise SceneError("the face source is empty")
    labelled = all(f.truth is not None for f in faces)
    if labelled and len(faces) != spec.people:
        raise SceneError(f"a labelled face source needs {spec.people} faces, got {len(faces)}")
    bands = Bands(spec.age_bands)
    aspects = [f.image.shape[0] / f.image.shape[1] for f in faces]
    pillar = Pillar.for_frame(spec.width) if spec.occlusion else None
    crowd = Crowd(spec.width, spec.height, spec.fps, pillar) if spec.occlusion else None
    walkers = plan_walkers(
        _rng(spec.seed, _STREAM_PATHS),
        people=spec.people,
        lingerers=spec.lingerer_count(),
        aspects=aspects,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        seconds=spec.seconds,
        one_face_each=labelled,
        accept=crowd.accept if crowd is not None else None,
    )
    tracks = [w.track(spec.fps) for w in walkers]
    if spec.seconds is None:
        frames = max(t.k1 for t in tracks) + round(spec.fps)
    else:
        frames = max(1, round(spec.seconds * spec.fps))
    seconds = round(frames / spec.fps, 4)  # the video's real length
    people: list[PersonTruth] = []
    for walker, track in zip(walkers, tracks, strict=True):
        n = max(0, min(len(track.w), frames - track.k0))
        seen = np.flatnonzero(
            track.visible_fraction(spec.width, spec.height)[:n] >= VISIBLE_FRACTION
        )
        if len(seen) == 0:
            raise SceneError(f"person {walker.id} is never fully in view; use more --seconds")
        widths = track.w[seen]
        people.append(
            PersonTruth(
                id=walker.id,
                portrait=faces[walker.face].label,
                enter_s=round((track.k0 + int(seen[0])) / spec.fps, 4),
                exit_s=round((track.k0 + int(seen[-1])) / spec.fps, 4),
                face_px_min=int(widths.min()),
                face_px_max=int(widths.max()),
                lingers=walker.linger_s > 0,
                **person_labels(faces[walker.face], bands),
            )
        )
    if labelled:
        windows = labelled_windows(people, seconds, spec.window_s, bands)
    else:
        windows = count_windows([p.exit_s for p in people], seconds, spec.window_s)
    truth = SceneTruth(
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        seconds=seconds,
        frames=frames,
        seed=spec.seed,
        window_seconds=spec.window_s,
        faces=spec.faces_note if labelled else None,
        age_band_edges=list(spec.age_bands) if labelled else None,
        people=people,
        windows=windows,
        pillars=[[pillar.x0, 0, pillar.x1, spec.height]] if pillar is not None else None,
    )
    return ScenePlan(
        spec=spec, frames=frames, walkers=walkers, tracks=tracks, truth=truth, pillar=pillar
    )


def iter_frames(plan: ScenePlan, faces: Sequence[FaceItem]) -> Iterator[Image]:
    """Render the frames of a plan one by one (BGR uint8; the same buffer is reused)."""
    spec = plan.spec
    street = background(_rng(spec.seed, _STREAM_BACKGROUND), spec.width, spec.height)
    look_rng = _rng(spec.seed, _STREAM_LOOKS)
    vary = not all(f.truth is not None for f in faces)  # labelled: every person a new photo
    looks: list[Look] = [make_look(look_rng, faces[w.face], vary=vary) for w in plan.walkers]
    frame = np.empty_like(street)
    for k in range(plan.frames):
        np.copyto(frame, street)
        draw_people(frame, k, plan.walkers, plan.tracks, looks)
        if plan.pillar is not None:
            draw_pillar(frame, plan.pillar)
        yield frame


def boxes_path(truth_path: Path) -> Path:
    """Where the per-frame truth boxes go by default: ``truth.json`` -> ``truth.boxes.csv``."""
    return truth_path.with_name(truth_path.stem + ".boxes.csv")


def write_scene(
    spec: SceneSpec,
    out: Path,
    truth_path: Path,
    faces: Sequence[FaceItem],
    boxes: Path | None = None,
) -> SceneTruth:
    """Render the video to ``out``, write the truth JSON and the per-frame boxes CSV.

    Raise SceneError on failure.
    """
    boxes = boxes or boxes_path(truth_path)
    plan = plan_scene(spec, faces)
    for path, what in ((out, "video"), (truth_path, "truth file"), (boxes, "boxes file")):
        if not path.parent.is_dir():
            raise SceneError(f"cannot write {what} {path}: folder {path.parent} does not exist")
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(out), fourcc, spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise SceneError(f"cannot write video {out} (is the folder there and writable?)")
    try:
        for frame in iter_frames(plan, faces):
            writer.write(frame)
    finally:
        writer.release()
    if not out.is_file() or out.stat().st_size == 0:
        raise SceneError(f"cannot write video {out}")
    _write_atomic(truth_path, plan.truth.to_json(), "truth file")
    _write_atomic(boxes, boxes_csv(frame_boxes(plan)), "boxes file")
    return plan.truth


def _write_atomic(path: Path, text: str, what: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SceneError(f"cannot write {what} {path}: {exc.strerror or exc}") from exc


def frame_boxes(plan: ScenePlan) -> list[FrameBox]:
    """Every person's face box in every frame where it touches the frame, with visibility."""
    spec = plan.spec
    ids = [w.id for w in plan.walkers]
    seen = visibility(plan.tracks, ids, spec.width, spec.height, plan.pillar)
    rows: list[FrameBox] = []
    for pid, track, vis in zip(ids, plan.tracks, seen, strict=True):
        for j in range(len(track.w)):
            k = track.k0 + j
            x, y, w, h = (int(v[j]) for v in (track.x0, track.y0, track.w, track.h))
            if k >= plan.frames or x + w <= 0 or y + h <= 0:
                continue
            if x >= spec.width or y >= spec.height:
                continue
            rows.append(FrameBox(k, pid, x, y, w, h, round(float(vis[j]), 3)))
    rows.sort(key=lambda r: (r.frame, r.id))
    return rows


def _faces(args: argparse.Namespace, spec: SceneSpec) -> tuple[list[FaceItem], SceneSpec, str]:
    """The face source the arguments ask for, the spec that records it, and a note."""
    if args.faces is None:
        return load_portraits(args.cache), spec, ""
    source = LabelledSource(args.faces, args.labels, args.labels_file, args.crop)
    faces, note = load_labelled(source, spec.people, spec.seed)
    return faces, replace(spec, faces_note=source.describe()), note


def scene_main(argv: list[str]) -> int:
    """``kazoe-sim scene``: 0 on success, 2 on bad arguments, 1 on failure; never a traceback."""
    parser = scene_parser()
    args = parser.parse_args(argv)
    spec = SceneSpec(
        people=args.people,
        width=args.width,
        height=args.height,
        fps=args.fps,
        seconds=args.seconds,
        seed=args.seed,
        window_s=args.window,
        lingerers=args.lingerers,
        age_bands=args.age_bands,
        occlusion=args.occlusion,
    )
    try:
        spec.validate()
    except ValueError as exc:
        parser.error(str(exc))
    check_paths(parser, args)
    try:
        faces, spec, note = _faces(args, spec)
        truth = write_scene(spec, args.out, args.truth, faces, args.boxes)
    except (SceneError, OSError, cv2.error) as exc:
        print(f"kazoe-sim scene: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kazoe-sim scene: interrupted; {args.out} is incomplete", file=sys.stderr)
        return 130
    print(
        f"wrote {args.out} ({truth.frames} frames, {truth.seconds:g} s, "
        f"{len(truth.people)} people), {args.truth} and {args.boxes or boxes_path(args.truth)}"
    )
    if note:
        print(f"note: {note}")
    return 0
