"""The ``kazoe-sim scene`` command line: options, and checks that need no file access."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from edge.config import DEFAULT_AGE_EDGES
from simulator.scenes.faces import LABEL_FORMATS, parse_crop
from simulator.scenes.labels import parse_edges
from simulator.scenes.portraits import DEFAULT_CACHE

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")  # containers that take the 'mp4v' codec
T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def typed(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` whose ValueError message is shown as is."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def scene_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="kazoe-sim scene",
        description="Write a synthetic street video and its ground truth (who is visible when; "
        "how many people exit per window; with --faces, their gender and age band).",
    )
    p.add_argument("--people", type=int, required=True, help="number of people (>= 1)")
    p.add_argument("--out", type=Path, required=True, help="output video (.mp4, mp4v codec)")
    p.add_argument("--truth", type=Path, required=True, help="output truth JSON")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="video length (default: until everyone has left, plus 1 s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=float, default=60.0, help="counting window in seconds")
    p.add_argument(
        "--lingerers",
        type=int,
        default=None,
        help="people who stand in view for 10-20 s (default 1 when --people >= 5)",
    )
    p.add_argument(
        "--occlusion",
        action="store_true",
        help="add a pillar and let people pass behind others (each hidden 0.5-3 s at a time)",
    )
    p.add_argument(
        "--boxes",
        type=Path,
        default=None,
        help="per-frame truth boxes CSV (default: next to --truth, NAME.boxes.csv)",
    )
    p.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where the downloaded portraits are kept"
    )
    faces = p.add_argument_group("labelled faces (one photo per person, with ground truth)")
    faces.add_argument("--faces", type=Path, default=None, help="folder of labelled face photos")
    faces.add_argument(
        "--labels",
        choices=LABEL_FORMATS,
        default=None,
        help="fairface: ground_truth.json [{filename, age, gender}]; utk: names "
        "<age>_<gender 0=male 1=female>_<race>_<datetime>.jpg; csv: labels.csv with "
        "file,age,gender (age in years or a group such as 20-29 or 70+)",
    )
    faces.add_argument(
        "--labels-file",
        type=Path,
        default=None,
        help="the CSV for --labels csv (default DIR/labels.csv)",
    )
    faces.add_argument(
        "--crop",
        type=typed(parse_crop),
        default=None,
        help="head box as fractions x0,y0,x1,y1 of each photo (default: per format)",
    )
    faces.add_argument(
        "--age-bands",
        type=typed(parse_edges),
        default=DEFAULT_AGE_EDGES,
        help="the node's [aggregate] age_bands edges, e.g. 13,20,30,40,50,60,70 (the default)",
    )
    return p


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Option combinations and output names; exits 2 with one line when they are wrong."""
    if args.out.suffix.lower() not in VIDEO_SUFFIXES:
        parser.error(f"--out must name a {' / '.join(VIDEO_SUFFIXES)} file, got {args.out}")
    if args.out.resolve() == args.truth.resolve():
        parser.error("--out and --truth must be different files")
    if (args.faces is None) != (args.labels is None):
        parser.error("--faces and --labels go together (e.g. --faces DIR --labels fairface)")
    if args.labels_file is not None and args.labels != "csv":
        parser.error("--labels-file is only for --labels csv")
    if args.faces is None and (args.crop is not None or args.age_bands != DEFAULT_AGE_EDGES):
        parser.error("--crop and --age-bands need --faces and --labels")
