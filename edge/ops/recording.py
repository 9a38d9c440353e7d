"""``kazoe calibrate --recording``: a site's own calibration from labelled local recordings.

A recording is a folder holding one video and a ``people.csv`` in the format of
``kazoe-sim truth --people``: one row per person, ``exit_s`` (when they leave the view, in
seconds from the start of the video), ``gender`` and ``age`` (either may be empty). A folder
of such folders is several recordings.

Each video runs through the node's own pipeline (masks, detector, tracker, attribute fusion:
the ``[detector]``, ``[quality]``, ``[tracker]``, ``[attributes]`` and ``[privacy]`` of the
config), so the calibration measures what the node publishes: one fused estimate per
person, on the site's camera. Every frame is zeroed as soon as it is analysed, as in
``kazoe run``; a finished track leaves only its end time and its two fused numbers, in
memory, until the histograms are built.

Tracks are matched to labelled people by end time, less the median lag of track ends behind
the labelled exits (least total difference, at most ``within_s`` apart). A matched track
takes a person's gender only when every labelled person leaving within ``within_s`` of it
has the same gender (and its age group likewise):
when two people with different labels leave together, the match cannot say which track is
whom, and a wrong pairing would teach the calibration an error the models did not make.
Such people are counted as ambiguous and left out; people should pass one at a time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.capture.sources import FileSource
from edge.config import NodeSettings
from edge.counting.assignment import assign
from edge.counting.tracker import Tracker
from edge.errors import ConfigError, KazoeError
from edge.ops.calibrate import (
    Gender,
    Observed,
    Pipeline,
    build_calibration,
    check_enough,
    open_pipeline,
    parse_age,
    rates_text,
    write_calibration,
)
from edge.privacy.masks import MaskSet
from edge.types import FinishedTrack
from edge.vision.analyser import Analyser

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm"})
PEOPLE_CSV = "people.csv"
_GENDERS: dict[str, Gender] = {"f": "female", "female": "female", "m": "male", "male": "male"}
_EPOCH = datetime.fromtimestamp(0, tz=UTC)  # frame times are then seconds into the video


@dataclass(frozen=True)
class Recording:
    video: Path
    people: Path


@dataclass(frozen=True)
class LabelledPerson:
    exit_s: float
    gender: Gender | None
    group: tuple[int, int | None] | None


@dataclass(frozen=True)
class TrackEnd:
    """What a finished track leaves behind: its end time and fused estimates."""

    end_s: float
    p_male: float | None
    age: float | None


@dataclass
class MatchStats:
    people: int = 0  # labelled rows (a gender or an age)
    matched: int = 0  # paired with a track
    estimated: int = 0  # paired with a track that has estimates
    ambiguous_gender: int = 0
    ambiguous_age: int = 0
    tracks: int = 0  # counted tracks in all recordings
    recordings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.estimated} of {self.people} labelled people matched to a track with "
            f"estimates ({self.people - self.matched} unmatched, {self.ambiguous_gender} gender "
            f"and {self.ambiguous_age} age labels ambiguous; {self.tracks} tracks)"
        )

    def add(self, other: MatchStats) -> None:
        self.people += other.people
        self.matched += other.matched
        self.estimated += other.estimated
        self.ambiguous_gender += other.ambiguous_gender
        self.ambiguous_age += other.ambiguous_age
        self.tracks += other.tracks


def _recording(folder: Path) -> Recording | None:
    people = folder / PEOPLE_CSV
    if not people.is_file():
        return None
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(videos) != 1:
        found = ", ".join(p.name for p in videos) or "none"
        raise ConfigError(
            f"{folder}: a recording folder holds one video beside {PEOPLE_CSV}, found {found}"
        )
    return Recording(videos[0], people)


def find_recordings(paths: list[Path]) -> list[Recording]:
    """Each path is a recording folder or a folder of them; ConfigError (one line) if none."""
    out: list[Recording] = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(
                f"{path}: not a folder (a video with {PEOPLE_CSV}, or folders of them)"
            )
        own = _recording(path)
        if own is not None:
            out.append(own)
            continue
        inner = [r for sub in sorted(path.iterdir()) if sub.is_dir() and (r := _recording(sub))]
        if not inner:
            raise ConfigError(f"{path}: no {PEOPLE_CSV} in it or in its sub-folders")
        out.extend(inner)
    return out


def _person(row: dict[str, str | None], seconds: float) -> LabelledPerson | None:
    try:
        exit_s = float(row.get("exit_s") or "")
    except ValueError:
        raise ValueError(f"exit_s {row.get('exit_s')!r} is not a number of seconds") from None
    if not 0 <= exit_s <= seconds + 0.5:
        raise ValueError(f"exit_s {exit_s:g} is outside the video (0-{seconds:g} s)")
    word = (row.get("gender") or "").strip().lower()
    if word and word not in _GENDERS:
        raise ValueError(f"gender {word!r} is not female / male / F / M (or empty)")
    age = (row.get("age") or "").strip()
    gender, group = _GENDERS.get(word), parse_age(age) if age else None
    if gender is None and group is None:
        return None
    return LabelledPerson(exit_s, gender, group)


def read_people(path: Path, seconds: float) -> tuple[list[LabelledPerson], int]:
    """The labelled people of one ``people.csv`` and how many rows had no label."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "exit_s" not in reader.fieldnames:
        raise ConfigError(f"{path}: the first line must name the columns, e.g. exit_s,gender,age")
    people: list[LabelledPerson] = []
    unlabelled = 0
    for line, row in enumerate(reader, start=2):
        try:
            person = _person(row, seconds)
        except ValueError as exc:
            raise ConfigError(f"{path}: line {line}: {exc}") from None
        if person is None:
            unlabelled += 1
        else:
            people.append(person)
    return people, unlabelled


def file_source(settings: NodeSettings, video: Path) -> FileSource:
    """A recording as the node would read it: not paced, not looped, on a fixed epoch."""
    cfg = settings.source.model_copy(update={"uri": str(video), "realtime": False, "loop": False})
    return FileSource(video, cfg, _EPOCH)


def video_seconds(source: FileSource) -> float:
    if source.frame_count <= 0:
        raise ConfigError(f"{source.path} does not say its length; re-encode it")
    return source.frame_count / source.fps


def track_video(settings: NodeSettings, pipe: Pipeline, source: FileSource) -> list[TrackEnd]:
    """Run the node's pipeline over one file; the counted tracks' ends and estimates."""
    masks = MaskSet(settings.privacy.masks) if settings.privacy.masks else None
    analyser = Analyser.from_settings(settings, pipe.detector, pipe.estimator, masks)
    tracker = Tracker.from_settings(settings)
    select = tracker if tracker.evidence.selective else None
    finished: list[FinishedTrack] = []
    try:
        for frame in source.frames():
            if frame is not None:
                finished.extend(tracker.update(analyser.analyse(frame, select)))
    finally:
        analyser.reset()
        source.close()
    finished.extend(tracker.flush())
    return [TrackEnd(t.ended_at, t.mean_p_male, t.mean_age) for t in finished if t.in_zone]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _same(labels: list[object]) -> bool:
    return len(set(labels)) == 1


def _offset(people: list[LabelledPerson], tracks: list[TrackEnd], within_s: float) -> float:
    """The median lag of track ends behind the labelled exits (first-pass pairs, up to twice
    ``within_s`` apart).

    A track ends when its face is last detected, which is often a few frames after the
    moment a labeller calls the exit; removing the lag keeps close exits apart.
    """
    cost = np.array([[t.end_s - p.exit_s for t in tracks] for p in people], dtype=np.float32)
    pairs = assign(np.abs(cost), 2 * within_s)
    return float(np.median([cost[i, j] for i, j in pairs])) if pairs else 0.0


def match(
    people: list[LabelledPerson], tracks: list[TrackEnd], within_s: float
) -> tuple[list[Observed], MatchStats]:
    """Labelled people paired with tracks by end time (less the median lag); a label the
    pairing cannot attribute (another person with a different label leaves within
    ``within_s``) is dropped."""
    stats = MatchStats(people=len(people), tracks=len(tracks))
    if not people or not tracks:
        return [], stats
    lag = _offset(people, tracks, within_s)
    ends = [t.end_s - lag for t in tracks]
    cost = np.abs(np.array([[end - p.exit_s for end in ends] for p in people], np.float32))
    out: list[Observed] = []
    for i, j in assign(cost, within_s):
        person, track = people[i], tracks[j]
        stats.matched += 1
        near = [p for p in people if abs(p.exit_s - ends[j]) <= within_s] or [person]
        gender: Gender | None = person.gender
        if gender is not None and not _same([p.gender for p in near if p.gender is not None]):
            stats.ambiguous_gender += 1
            gender = None
        group = person.group
        if group is not None and not _same([p.group for p in near if p.group is not None]):
            stats.ambiguous_age += 1
            group = None
        if track.p_male is None and track.age is None:
            continue
        stats.estimated += 1
        out.append(Observed(gender, group, track.p_male, track.age))
    return out, stats


def observe_recordings(
    settings: NodeSettings, pipe: Pipeline, recordings: list[Recording], within_s: float
) -> tuple[list[Observed], MatchStats]:
    observed: list[Observed] = []
    total = MatchStats()
    for rec in recordings:
        try:
            source = file_source(settings, rec.video)
        except KazoeError as exc:
            raise ConfigError(str(exc)) from None
        try:
            people, _ = read_people(rec.people, video_seconds(source))
        except ConfigError:
            source.close()
            raise
        found, stats = match(people, track_video(settings, pipe, source), within_s)
        observed.extend(found)
        total.add(stats)
        total.recordings.append(rec.video.parent.name)
    return observed, total


def calibrate_recordings(
    settings: NodeSettings,
    paths: list[Path],
    out: Path,
    name: str,
    *,
    within_s: float = 0.5,
    min_people: int = 30,
) -> str:
    """Write a calibration measured per person on labelled recordings; the summary line."""
    if not math.isfinite(within_s) or within_s <= 0:
        raise ConfigError(f"--match-s must be a positive number of seconds, not {within_s:g}")
    recordings = find_recordings(paths)
    pipe = open_pipeline(settings)
    observed, stats = observe_recordings(settings, pipe, recordings, within_s)
    names = ", ".join(stats.recordings)
    try:
        cal = build_calibration(
            observed,
            name=name,
            measured_on=(
                f"{stats.people} labelled people in {_plural(len(recordings), 'recording')} "
                f"({names})"[:400]
                + f", per person (fused track estimates), matched by exit time within "
                f"{within_s:g} s"
            ),
            models=pipe.models,
            recipe=pipe.recipe,
            faces=stats.people,
        )
        check_enough(cal, min_people)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {stats.summary()}") from None
    write_calibration(cal, out)
    return (
        f"wrote {out}: calibration {cal.id}, {stats.summary()}; "
        f"{rates_text(cal, settings.attributes.gender_margin)}; "
        f'set [intervals] calibration = "{out}"'
    )
