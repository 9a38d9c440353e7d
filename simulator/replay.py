"""``kazoe-sim replay DIR --config node.toml``: run the node over a folder of videos, in order.

For each file (sorted by name) a derived config is written and the node is run on it with
``python -m edge.cli run --config DERIVED --source FILE --once``:

* ``--as-one-stream`` (default): one node id and state dir, and each file starts on the media
  clock where the previous one ended (``[source] start_time`` + the durations so far), so the
  windows continue across files. The window that spans a file boundary is closed at the end
  of each run and so is published twice, in two parts; ``kazoe-sim score`` adds them up.
* ``--node-per-file``: node id ``<id>-<file stem>`` and state dir ``<state_dir>/<that id>``
  per file, all starting at the same time; with ``--password-dir DIR`` each uses
  ``DIR/<node id>.password`` (the broker needs a user per node, as for real cameras).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2

from edge.config import ConfigInvalid, NodeSettings, load_config
from edge.errors import ConfigError
from simulator.replay_toml import dumps_toml
from simulator.scenes.args import OneLineParser

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".ts")
_SLUG = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class ReplayRun:
    """One file's run: the node id, where it starts on the media clock, its derived config."""

    video: Path
    node_id: str
    start: datetime
    seconds: float
    config: Path


def video_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of video files")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )
    if not files:
        raise ConfigError(f"{folder} holds no video files ({', '.join(VIDEO_SUFFIXES)})")
    return files


def duration_s(video: Path) -> float:
    """Media-clock length as the node counts it: frames / fps (15 when the file has no fps)."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise ConfigError(f"cannot open video {video} (corrupt or an unsupported codec)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if 1.0 <= fps <= 240.0 else 15.0
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if frames <= 0:  # some containers do not say: count
            frames = 0
            while cap.grab():
                frames += 1
        return frames / fps
    finally:
        cap.release()


def node_id_for(base: str, video: Path, taken: set[str]) -> str:
    stem = _SLUG.sub("-", video.stem.lower()).strip("-_") or "file"
    node_id = f"{base}-{stem}"[:63].rstrip("-_")
    candidate, n = node_id, 2
    while candidate in taken:
        candidate = f"{node_id[: 63 - len(str(n)) - 1]}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def plan_replay(
    settings: NodeSettings,
    files: list[Path],
    work: Path,
    *,
    per_file: bool,
    password_dir: Path | None,
    now: datetime | None = None,
) -> list[ReplayRun]:
    """Derive and write one config per file; nothing runs yet."""
    w = settings.aggregate.window_seconds
    if settings.source.start_time is not None:
        anchor = settings.source.start_time
    else:  # the run's start, on a window boundary so the first file's windows are whole
        t = (now or datetime.now(tz=UTC)).timestamp()
        anchor = datetime.fromtimestamp(t - t % w, tz=UTC)
    base: dict[str, Any] = settings.model_dump(mode="json", exclude_unset=True)
    work.mkdir(parents=True, exist_ok=True)
    runs, taken, offset = [], set[str](), 0.0
    for i, video in enumerate(files, start=1):
        seconds = duration_s(video)
        doc = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
        doc["source"] = {**doc.get("source", {}), "uri": str(video.resolve())}
        node_id = settings.node.id
        start = anchor
        if per_file:
            node_id = node_id_for(settings.node.id, video, taken)
            doc["node"]["state_dir"] = str(settings.node.state_dir / node_id)
            mqtt = dict(doc.get("mqtt", {}))
            mqtt.pop("username", None)  # the broker ACL binds topics to the node's own user
            if password_dir is not None:
                mqtt["password_file"] = str(password_dir / f"{node_id}.password")
            doc["mqtt"] = mqtt
        else:
            start = anchor + timedelta(seconds=offset)
            offset += seconds
        doc["node"]["id"] = node_id
        doc["source"]["start_time"] = start.isoformat().replace("+00:00", "Z")
        config = work / f"{i:03d}-{node_id}.toml"
        config.write_text(dumps_toml(doc), encoding="utf-8")
        runs.append(ReplayRun(video, node_id, start, seconds, config))
    return runs


def command(run: ReplayRun, *, realtime: bool) -> list[str]:
    cmd = [sys.executable, "-m", "edge.cli", "run", "--config", str(run.config)]
    cmd += ["--source", str(run.video.resolve()), "--once"]
    return [*cmd, "--realtime"] if realtime else cmd


def replay_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="kazoe-sim replay", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="folder of video files, replayed in name order")
    p.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--as-one-stream", action="store_true", help="one node, continuous clock (default)"
    )
    mode.add_argument(
        "--node-per-file", action="store_true", help="one node id and state dir per file"
    )
    p.add_argument("--password-dir", type=Path, help="with --node-per-file: DIR/<node id>.password")
    p.add_argument(
        "--work", type=Path, help="where derived configs go (default <state_dir>/replay)"
    )
    p.add_argument("--realtime", action="store_true", help="pace each file to its frame rate")
    p.add_argument("--dry-run", action="store_true", help="write the configs, print the commands")
    a = p.parse_args(argv)
    if a.password_dir is not None and not a.node_per_file:
        p.error("--password-dir is for --node-per-file (one stream uses [mqtt] as it is)")
    try:
        settings = load_config(a.config)
    except ConfigInvalid as exc:
        for key, value, reason in exc.rows:
            print(f"{a.config}: {key} = {value}: {reason}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"kazoe-sim replay: {exc}", file=sys.stderr)
        return 2
    try:
        files = video_files(a.folder)
        work = a.work or settings.node.state_dir / "replay"
        runs = plan_replay(
            settings, files, work, per_file=a.node_per_file, password_dir=a.password_dir
        )
    except (ConfigError, OSError) as exc:
        print(f"kazoe-sim replay: {exc}", file=sys.stderr)
        return 1
    return _run_all(runs, realtime=a.realtime, dry_run=a.dry_run)


def _run_all(runs: list[ReplayRun], *, realtime: bool, dry_run: bool) -> int:
    failed: list[tuple[ReplayRun, int]] = []
    for i, run in enumerate(runs, start=1):
        start = run.start.isoformat().replace("+00:00", "Z")
        what = f"node {run.node_id}, {run.seconds:.1f} s from {start}"
        print(f"[{i}/{len(runs)}] {run.video.name}: {what}")
        cmd = command(run, realtime=realtime)
        if dry_run:
            print("  " + " ".join(cmd))
            continue
        sys.stdout.flush()
        try:
            code = subprocess.run(cmd, check=False).returncode
        except KeyboardInterrupt:
            print(f"kazoe-sim replay: interrupted during {run.video.name}", file=sys.stderr)
            return 130
        if code != 0:
            failed.append((run, code))
            print(f"  {run.video.name}: the node exited with {code}", file=sys.stderr)
    if not dry_run:
        summary = (
            f"replayed {len(runs)} file(s): {len(runs) - len(failed)} ok, {len(failed)} failed"
        )
        print(summary + "".join(f"; {r.video.name} (exit {c})" for r, c in failed))
    return 1 if failed else 0
