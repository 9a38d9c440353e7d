"""``kazoe-sim truth``: a truth file for your own recorded video, from a hand-made list.

    exit_s,gender,age          <- header; gender and age may be left empty
    4.2,female,30-39           <- one row per person: when they leave the view (seconds
    9.0,male,41                   from the start of the video), gender, age in years or a group
    12.5,,

    kazoe-sim truth --video street.mp4 --people people.csv --out truth.json

The node counts a person when their track ends, i.e. when they leave the view; the exit
time is all the count needs. ``kazoe-sim score`` then compares the published counts with it.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2

from edge.config import DEFAULT_AGE_EDGES
from simulator.scenes.args import OneLineParser, typed
from simulator.scenes.labels import Bands, FaceLabel, parse_age, parse_edges, parse_gender
from simulator.scenes.truth import PersonTruth, SceneTruth, count_windows, labelled_windows


class TruthInputError(Exception):
    """The video or the people list cannot be used; the message says where and why."""


def _video(path: Path) -> tuple[int, int, float, int]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise TruthInputError(f"cannot open video {path}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if 1.0 <= fps <= 240.0 else 15.0  # what the node assumes
        size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if frames <= 0 or min(size) <= 0:
            raise TruthInputError(f"{path} does not say its size or length; re-encode it")
        return size[0], size[1], fps, frames
    finally:
        cap.release()


def _person(i: int, row: dict[str, str], bands: Bands, seconds: float) -> PersonTruth:
    try:
        exit_s = float(row.get("exit_s") or "")
    except ValueError:
        raise ValueError(f"exit_s {row.get('exit_s')!r} is not a number of seconds") from None
    if not 0 <= exit_s <= seconds:
        raise ValueError(f"exit_s {exit_s:g} is outside the video (0-{seconds:g} s)")
    years, group = parse_age(row.get("age") or "")
    label = FaceLabel(years, group, parse_gender(row.get("gender") or ""))
    fields: dict[str, Any] = {
        "id": i,
        "portrait": row.get("label") or f"person {i + 1}",
        "enter_s": float(row.get("enter_s") or exit_s),
        "exit_s": exit_s,
        "age": years,
        "age_group": group.name if group else None,
        "age_band": bands.of_label(label),
        "gender": label.gender,
    }
    return PersonTruth.model_validate(fields)


def build_truth(video: Path, people_csv: Path, edges: tuple[int, ...]) -> SceneTruth:
    width, height, fps, frames = _video(video)
    seconds = round(frames / fps, 4)
    try:
        reader = csv.DictReader(people_csv.read_text(encoding="utf-8-sig").splitlines())
        rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise TruthInputError(f"cannot read {people_csv}: {exc}") from None
    # A header with no rows is a clip nobody walked through: valid, zero people.
    if reader.fieldnames is None or "exit_s" not in reader.fieldnames:
        raise TruthInputError(
            f"{people_csv}: the first line must name the columns, e.g. exit_s,gender,age"
        )
    bands = Bands(edges)
    people = []
    for i, row in enumerate(rows):
        try:
            people.append(_person(i, row, bands, seconds))
        except ValueError as exc:
            raise TruthInputError(f"{people_csv}: line {i + 2}: {exc}") from None
    labelled = any(p.gender or p.age_group or p.age is not None for p in people)
    window = 60.0
    windows = (
        labelled_windows(people, seconds, window, bands)
        if labelled
        else count_windows([p.exit_s for p in people], seconds, window)
    )
    return SceneTruth.model_validate(
        {
            "width": width,
            "height": height,
            "fps": fps,
            "seconds": seconds,
            "frames": frames,
            "seed": 0,
            "window_seconds": window,
            "faces": f"annotated:{people_csv}" if labelled else None,
            "age_band_edges": list(edges) if labelled else None,
            "people": people,
            "windows": windows,
        }
    )


def truth_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="kazoe-sim truth", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, required=True, help="the recorded video")
    p.add_argument(
        "--people", type=Path, required=True, help="CSV: exit_s[,gender][,age][,enter_s]"
    )
    p.add_argument("--out", type=Path, required=True, help="truth JSON to write")
    p.add_argument(
        "--age-bands",
        type=typed(parse_edges),
        default=DEFAULT_AGE_EDGES,
        help="the node's [aggregate] age_bands",
    )
    a = p.parse_args(argv)
    try:
        truth = build_truth(a.video, a.people, a.age_bands)
        a.out.write_text(truth.to_json(), encoding="utf-8")
    except TruthInputError as exc:
        print(f"kazoe-sim truth: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kazoe-sim truth: cannot write {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {a.out}: {len(truth.people)} people in {truth.seconds:g} s of video")
    return 0
