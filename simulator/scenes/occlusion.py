"""Who hides whom: a pillar in front of the street and nearer people in front of farther ones.

A face is sampled at a 6 x 6 grid of points; a point is covered when it lies outside the
frame, behind the pillar, or inside the face or body box of a person drawn over this one
(nearer people, i.e. wider faces, are drawn later: :func:`simulator.scenes.render.draw_people`).
A face's visibility in a frame is the fraction of its points left uncovered. The same
arithmetic decides where ``--occlusion`` scenes may place people (nobody hidden longer than
``MAX_HIDDEN_S`` at a stretch) and what the per-frame truth boxes say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.scenes.paths import BODY_HALF_W, BODY_LEN, BODY_TOP, Track

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

GRID = 6
SAME_DEPTH = 1.3  # faces closer in size than this are at one depth: they cannot overlap
HIDDEN_BELOW = 0.5  # a face with less of it visible counts as hidden
COVERED_ABOVE = 0.25  # for placement: a face more covered than this is (partly) hidden
MAX_HIDDEN_S = 3.0
PILLAR_X = 0.58  # left edge of the pillar, in frame widths
PILLAR_W = 0.11  # its width: 0.5-3.3 s behind it at walking speeds in these scenes

_OFFSETS = (np.arange(GRID) + 0.5) / GRID


@dataclass(frozen=True)
class Pillar:
    """A column from the top to the bottom of the frame, drawn over everyone."""

    x0: int
    x1: int

    @classmethod
    def for_frame(cls, width: int) -> Pillar:
        x0 = round(PILLAR_X * width)
        return cls(x0, x0 + round(PILLAR_W * width))


def _points(t: Track, sl: slice) -> tuple[Floats, Floats]:
    """Sample points of the face boxes in frames ``sl`` of track ``t``: (frames, GRID^2)."""
    x = t.x0[sl, None] + t.w[sl, None] * _OFFSETS[None, :]
    y = t.y0[sl, None] + t.h[sl, None] * _OFFSETS[None, :]
    px = np.repeat(x, GRID, axis=1)
    py = np.tile(y, (1, GRID))
    return px.astype(np.float64), py.astype(np.float64)


def _inside(px: Floats, py: Floats, box: tuple[Floats, Floats, Floats, Floats]) -> Bools:
    x0, y0, x1, y1 = (v[:, None] for v in box)
    return np.asarray((px >= x0) & (px < x1) & (py >= y0) & (py < y1))


def covered_by(a: Track, a_id: int, b: Track, b_id: int) -> tuple[int, Bools]:
    """Points of ``a``'s face covered by person ``b``: (first frame offset in a, mask)."""
    k0, k1 = max(a.k0, b.k0), min(a.k1, b.k1)
    if k0 >= k1:
        return 0, np.zeros((0, GRID * GRID), dtype=bool)
    sa, sb = slice(k0 - a.k0, k1 - a.k0), slice(k0 - b.k0, k1 - b.k0)
    px, py = _points(a, sa)
    gx, gy, gw, gh = (v[sb].astype(np.float64) for v in (b.x0, b.y0, b.w, b.h))
    face = _inside(px, py, (gx, gy, gx + gw, gy + gh))
    cx, top = gx + gw / 2, gy + BODY_TOP * gh
    body = _inside(px, py, (cx - BODY_HALF_W * gw, top, cx + BODY_HALF_W * gw, top + BODY_LEN * gw))
    # b is drawn after a (far first, ties by id), so b covers a.
    wa, wb = a.w[sa], b.w[sb]
    over = ((wb > wa) | ((wb == wa) & (b_id > a_id)))[:, None]
    return k0 - a.k0, np.asarray((face | body) & over)


def base_cover(t: Track, width: int, height: int, pillar: Pillar | None) -> Bools:
    """Points outside the frame or behind the pillar, every frame of ``t``."""
    px, py = _points(t, slice(0, len(t.w)))
    out = (px < 0) | (px >= width) | (py < 0) | (py >= height)
    if pillar is not None:
        out |= (px >= pillar.x0) & (px < pillar.x1)
    return np.asarray(out)


def out_of_frame(t: Track, width: int, height: int) -> Bools:
    px, py = _points(t, slice(0, len(t.w)))
    return np.asarray((px < 0) | (px >= width) | (py < 0) | (py >= height))


def longest_hidden_run(cover: Bools, outside: Bools) -> int:
    """Longest run of frames in which the face is more than a quarter covered, in view.

    Partly hidden counts too: a person standing half behind the pillar for ten seconds is
    not someone "passing behind" it.
    """
    in_view = outside.mean(axis=1) < 0.1
    hidden = (cover.mean(axis=1) > COVERED_ABOVE) & in_view
    best = run = 0
    for h in hidden:
        run = run + 1 if h else 0
        best = max(best, run)
    return best


def visibility(
    tracks: list[Track], ids: list[int], width: int, height: int, pillar: Pillar | None
) -> list[Floats]:
    """Visible fraction of each person's face in each of their frames."""
    out = []
    for a, a_id in zip(tracks, ids, strict=True):
        cover = base_cover(a, width, height, pillar)
        for b, b_id in zip(tracks, ids, strict=True):
            if b is a:
                continue
            off, mask = covered_by(a, a_id, b, b_id)
            cover[off : off + len(mask)] |= mask
        out.append(1.0 - cover.mean(axis=1))
    return out


def _same_depth_overlap(a: Track, b: Track) -> bool:
    """Two people at about the same distance whose faces or bodies would overlap."""
    k0, k1 = max(a.k0, b.k0), min(a.k1, b.k1)
    if k0 >= k1:
        return False
    wa = a.w[k0 - a.k0 : k1 - a.k0].astype(np.float64)
    wb = b.w[k0 - b.k0 : k1 - b.k0].astype(np.float64)
    close = np.maximum(wa, wb) / np.minimum(wa, wb) < SAME_DEPTH
    if not close.any():
        return False
    _, ab = covered_by(a, 0, b, 1)
    _, ba = covered_by(b, 1, a, 0)
    return bool(((ab.any(axis=1) | ba.any(axis=1)) & close).any())


class Crowd:
    """Placement rule for ``--occlusion`` scenes: nearer people may hide farther ones and the
    pillar hides anyone, but nobody stays (even partly) hidden longer than ``MAX_HIDDEN_S``,
    and people at about the same distance never overlap (they would walk into each other)."""

    def __init__(self, width: int, height: int, fps: float, pillar: Pillar | None) -> None:
        self.width, self.height, self.pillar = width, height, pillar
        self.max_run = round(MAX_HIDDEN_S * fps)
        self._placed: list[tuple[Track, int, Bools, Bools]] = []  # track, id, cover, outside

    def accept(self, track: Track, pid: int) -> bool:
        """Place ``track`` if that keeps everyone's hidden stretches short enough."""
        cover = base_cover(track, self.width, self.height, self.pillar)
        outside = out_of_frame(track, self.width, self.height)
        updated: list[tuple[int, Bools]] = []
        for i, (other, oid, o_cover, o_outside) in enumerate(self._placed):
            if _same_depth_overlap(track, other):
                return False
            off, mask = covered_by(track, pid, other, oid)
            cover[off : off + len(mask)] |= mask
            off, mask = covered_by(other, oid, track, pid)
            if len(mask) and mask.any():
                new = o_cover.copy()
                new[off : off + len(mask)] |= mask
                if longest_hidden_run(new, o_outside) > self.max_run:
                    return False
                updated.append((i, new))
        if longest_hidden_run(cover, outside) > self.max_run:
            return False
        for i, new in updated:
            other, oid, _, o_outside = self._placed[i]
            self._placed[i] = (other, oid, new, o_outside)
        self._placed.append((track, pid, cover, outside))
        return True
