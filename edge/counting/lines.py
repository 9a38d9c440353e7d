"""Counting lines: a track that crosses a line is counted once per crossing, with direction.

Geometry only: a line is two points in relative frame coordinates; a track's side of it is
the sign of a cross product. A dead band around the line keeps a face that jitters on the
line from being counted again and again: the side changes only once the face centre is
clearly on the other side, and only if the move from its last clear position passes through
the line itself (not round one of its ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.config import CountingLine
from edge.geometry import RelPoint, segments_cross

DEAD_BAND = 0.005  # relative frame units either side of the line


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    a: RelPoint
    b: RelPoint
    in_sign: int  # the sign of side() on the "in" side

    @classmethod
    def from_config(cls, line: CountingLine) -> Line:
        # On screen (y down), a point left of the direction a->b has a negative cross product.
        return cls(line.name, line.start, line.end, -1 if line.in_side == "left" else 1)

    def side(self, p: RelPoint) -> float:
        """Signed distance of ``p`` from the line (relative units)."""
        (ax, ay), (bx, by) = self.a, self.b
        dx, dy = bx - ax, by - ay
        return (dx * (p[1] - ay) - dy * (p[0] - ax)) / math.hypot(dx, dy)


@dataclass(slots=True)
class LineState:
    """One track's relation to one line: its last clear side and where it was then."""

    side: int = 0  # -1, +1, or 0 before the track was first clearly on one side
    x: float = 0.0
    y: float = 0.0
    went_in: int = 0
    went_out: int = 0

    def observe(self, line: Line, p: RelPoint) -> None:
        s = line.side(p)
        if abs(s) < DEAD_BAND:
            return
        sign = 1 if s > 0 else -1
        if self.side and sign != self.side and segments_cross((self.x, self.y), p, line.a, line.b):
            if sign == line.in_sign:
                self.went_in += 1
            else:
                self.went_out += 1
        self.side, self.x, self.y = sign, p[0], p[1]

    def absorb(self, other: LineState, other_is_newer: bool) -> None:
        self.went_in += other.went_in
        self.went_out += other.went_out
        if other_is_newer and other.side:
            self.side, self.x, self.y = other.side, other.x, other.y
