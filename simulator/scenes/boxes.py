"""Per-frame truth boxes with identities: ``kazoe-sim scene`` writes them next to the truth.

The file is CSV with a header line, one row per person per frame in which any part of
their face box is inside the frame, sorted by frame then id::

    frame,id,x,y,w,h,visible
    0,3,1212,188,61,80,0.472
    1,3,1195,188,61,80,0.556

- ``frame``: 0-based index of the video frame (time = frame / fps of the truth file);
- ``id``: the person, the same as ``people[].id`` in the truth JSON;
- ``x, y, w, h``: the face box in pixels (top-left corner, width, height; may reach
  outside the frame at its edges);
- ``visible``: the fraction of the face box that can be seen (0-1): not outside the frame,
  not behind the scene's pillar, not behind a nearer person's face or body.

It is the MOTChallenge ``gt.txt`` idea (frame, id, box, visibility) with a header and
0-based frames; tracking scores (``kazoe-sim track-score``) read it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

HEADER = ("frame", "id", "x", "y", "w", "h", "visible")


class BoxesFileError(Exception):
    """The boxes file cannot be read; the message names the file, line and reason."""


@dataclass(frozen=True, slots=True)
class FrameBox:
    frame: int
    id: int
    x: int
    y: int
    w: int
    h: int
    visible: float


def boxes_csv(rows: list[FrameBox]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow((r.frame, r.id, r.x, r.y, r.w, r.h, f"{r.visible:g}"))
    return out.getvalue()


def read_boxes(path: Path) -> list[FrameBox]:
    """Rows of a boxes file, or BoxesFileError saying which line is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BoxesFileError(
            f"boxes file {path} not found ('kazoe-sim scene' writes it next to the truth file; "
            "or pass --boxes)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxesFileError(f"cannot read boxes file {path}: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != HEADER:
        raise BoxesFileError(f"{path}: the first line must be {','.join(HEADER)}")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            f, i, x, y, w, h = (int(v) for v in row[:6])
            visible = float(row[6])
        except (ValueError, IndexError):
            raise BoxesFileError(f"{path}:{line}: expected 7 numbers, got {row!r}") from None
        if f < 0 or w <= 0 or h <= 0 or not 0.0 <= visible <= 1.0:
            raise BoxesFileError(f"{path}:{line}: frame < 0, empty box or visible not in 0-1")
        rows.append(FrameBox(f, i, x, y, w, h, visible))
    return rows
