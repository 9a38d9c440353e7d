"""Where each synthetic person is in every frame: paths, timing, placement without overlap.

Everything here is pure arithmetic on a seeded ``numpy.random.Generator``; the same inputs
give the same paths. A person's face box (integer x, y, width, height) per frame is the single
source for both the rendering and the ground truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.errors import SceneError
from simulator.scenes.truth import VISIBLE_FRACTION

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

FACE_MIN_PX = 48
FACE_MAX_PX = 200
MAX_OCCLUDED = 0.3  # at most this fraction of a face may be covered by a nearer person
CROSS_S = (4.0, 12.0)  # time to walk across the frame
LINGER_S = (10.0, 20.0)
BODY_HALF_W = 1.1  # body box half width, in face widths
BODY_TOP = 0.85  # body box top, in face heights below the face top
BODY_LEN = 6.5  # body box height, in face widths


def face_range(height: int) -> tuple[int, int]:
    """Face widths used for a frame height: 48 px up to 200 px (less in small frames)."""
    return FACE_MIN_PX, max(FACE_MIN_PX, min(FACE_MAX_PX, int(0.3 * height)))


@dataclass(frozen=True)
class Walker:
    """One person's path: walks in from one side, maybe stands still a while, walks out."""

    id: int
    face: int  # index into the face source
    aspect: float  # face height / width
    t0: float  # when the face centre is at x_start
    x_start: float
    x_end: float
    speed: float  # px/s
    size0: float  # face width at mid-path
    grow: float  # relative change of face width from start to end of the path
    lane: float  # face centre y at mid-path for size0
    tilt: float  # extra y change (px) from start to end
    y_per_px: float  # how far down the face sits per pixel of extra face width (perspective)
    stop_frac: float = 0.0
    linger_s: float = 0.0

    @property
    def length(self) -> float:
        return abs(self.x_end - self.x_start)

    @property
    def t_end(self) -> float:
        return self.t0 + self.length / self.speed + self.linger_s

    def frame_range(self, fps: float) -> tuple[int, int]:
        """First and one-past-last frame index in which the person exists."""
        return max(0, math.ceil(self.t0 * fps)), math.floor(self.t_end * fps) + 1

    def track(self, fps: float) -> Track:
        k0, k1 = self.frame_range(fps)
        t = np.arange(k0, max(k0, k1), dtype=np.float64) / fps
        walked = np.clip(self.speed * (t - self.t0), 0.0, None)
        sway = np.zeros_like(t)
        if self.linger_s > 0:
            stop = self.stop_frac * self.length
            t_stop = self.t0 + stop / self.speed
            standing = (t >= t_stop) & (t < t_stop + self.linger_s)
            later = t >= t_stop + self.linger_s
            walked = np.where(standing, stop, walked)
            walked = np.where(later, stop + self.speed * (t - t_stop - self.linger_s), walked)
            sway = np.where(standing, np.sin(2 * np.pi * (t - t_stop) / 3.0), 0.0)
        walked = np.minimum(walked, self.length)
        frac = walked / self.length
        size = self.size0 * (1.0 + self.grow * (frac - 0.5))
        direction = 1.0 if self.x_end > self.x_start else -1.0
        cx = self.x_start + direction * walked + 0.04 * size * sway
        cy = self.lane + self.y_per_px * (size - self.size0) + self.tilt * (frac - 0.5)
        w = np.rint(size).astype(np.int64)
        h = np.rint(size * self.aspect).astype(np.int64)
        x0 = np.rint(cx - w / 2).astype(np.int64)
        y0 = np.rint(cy - h / 2).astype(np.int64)
        return Track(k0=k0, x0=x0, y0=y0, w=w, h=h, walked=walked)


@dataclass(frozen=True)
class Track:
    """Per-frame integer face boxes of one person, from frame ``k0`` on."""

    k0: int
    x0: Ints
    y0: Ints
    w: Ints
    h: Ints
    walked: Floats

    @property
    def k1(self) -> int:
        return self.k0 + len(self.w)

    def visible_fraction(self, width: int, height: int) -> Floats:
        ix = np.clip(self.x0 + self.w, 0, width) - np.clip(self.x0, 0, width)
        iy = np.clip(self.y0 + self.h, 0, height) - np.clip(self.y0, 0, height)
        return np.asarray((ix * iy) / (self.w * self.h), dtype=np.float64)


def _overlap(a: tuple[Ints, Ints, Ints, Ints], b: tuple[Floats, Floats, Floats, Floats]) -> Floats:
    """Intersection areas of boxes ``a`` (x, y, w, h) and ``b`` (x0, y0, x1, y1), per frame."""
    ax, ay, aw, ah = a
    bx0, by0, bx1, by1 = b
    ix = np.clip(np.minimum(ax + aw, bx1) - np.maximum(ax, bx0), 0, None)
    iy = np.clip(np.minimum(ay + ah, by1) - np.maximum(ay, by0), 0, None)
    return np.asarray(ix * iy, dtype=np.float64)


def worst_occlusion(a: Track, b: Track) -> float:
    """Largest fraction of the smaller face covered by the larger person's face and body."""
    k0, k1 = max(a.k0, b.k0), min(a.k1, b.k1)
    if k0 >= k1:
        return 0.0
    sa, sb = slice(k0 - a.k0, k1 - a.k0), slice(k0 - b.k0, k1 - b.k0)
    worst = 0.0
    for small, big, ss, sg in ((a, b, sa, sb), (b, a, sb, sa)):
        sx, sy, sw, sh = small.x0[ss], small.y0[ss], small.w[ss], small.h[ss]
        drawn_under = sw <= big.w[sg]  # smaller faces are drawn first; the larger one covers
        gx, gy, gw, gh = (v[sg].astype(np.float64) for v in (big.x0, big.y0, big.w, big.h))
        face = _overlap((sx, sy, sw, sh), (gx, gy, gx + gw, gy + gh))
        cx, body_top = gx + gw / 2, gy + BODY_TOP * gh
        body_box = (
            cx - BODY_HALF_W * gw,
            body_top,
            cx + BODY_HALF_W * gw,
            body_top + BODY_LEN * gw,
        )
        body = _overlap((sx, sy, sw, sh), body_box)
        frac = np.where(drawn_under, (face + body) / (sw * sh), 0.0)
        worst = max(worst, float(frac.max()))
    return worst


def plan_walkers(
    rng: np.random.Generator,
    *,
    people: int,
    lingerers: int,
    aspects: list[float],
    width: int,
    height: int,
    fps: float,
    seconds: float | None,
    one_face_each: bool = False,
    accept: Callable[[Track, int], bool] | None = None,
) -> list[Walker]:
    """Place ``people`` paths spread over the video so that no face is covered > 30 %.

    Person ``i`` gets a random face, or face ``i`` with ``one_face_each`` (a labelled source
    where every person is a different photo). ``accept`` replaces the 30 % rule (occlusion
    scenes: :class:`simulator.scenes.occlusion.Crowd`); it records the tracks it accepts.
    """
    fmin, fmax = face_range(height)
    y_far, y_near = 0.14 * height, 0.58 * height
    y_per_px = (y_near - y_far) / max(1, fmax - fmin)
    margin = BODY_HALF_W * fmax + 2
    span = max(6.0, 1.2 * people) if seconds is None else seconds
    linger_ids = {(j + 1) * people // (lingerers + 1) for j in range(lingerers)}
    walkers: list[Walker] = []
    tracks: list[Track] = []
    for pid in range(people):
        lingers = pid in linger_ids
        slot = (pid + rng.uniform()) / people
        for attempt in range(400):
            drawn = int(rng.integers(len(aspects)))  # drawn either way: same paths per seed
            face = pid if one_face_each else drawn
            grow = 0.0 if lingers else float(rng.uniform(-0.2, 0.2))
            lo, hi = fmin / (1 - abs(grow) / 2), fmax / (1 + abs(grow) / 2)
            size0 = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            cross = float(rng.uniform(*CROSS_S))
            left_to_right = bool(rng.integers(2))
            xs, xe = (-margin, width + margin) if left_to_right else (width + margin, -margin)
            linger = float(rng.uniform(*LINGER_S)) if lingers else 0.0
            duration = (width + 2 * margin) / (width / cross) + linger
            lo, hi = _start_window(span, seconds, duration, attempt)
            if attempt < 150:  # near this person's slot first, anywhere later
                t0 = lo + slot * (hi - lo) + rng.normal(0, 0.5 + 0.05 * attempt)
                t0 = float(np.clip(t0, lo, hi))
            else:
                t0 = float(rng.uniform(lo, hi))
            lane = y_far + y_per_px * (size0 - fmin) + rng.uniform(-0.02, 0.02) * height
            walker = Walker(
                id=pid,
                face=face,
                aspect=aspects[face],
                t0=t0,
                x_start=xs,
                x_end=xe,
                speed=width / cross,
                size0=size0,
                grow=grow,
                lane=float(lane),
                tilt=float(rng.uniform(-0.03, 0.03) * height),
                y_per_px=y_per_px,
                stop_frac=float(rng.uniform(0.3, 0.7)) if lingers else 0.0,
                linger_s=linger,
            )
            track = walker.track(fps)
            if seconds is not None and _visible_frames(track, width, height, fps, seconds) < fps:
                continue
            if accept is not None:
                placed = accept(track, pid)
            else:
                placed = all(worst_occlusion(track, other) <= MAX_OCCLUDED for other in tracks)
            if placed:
                walkers.append(walker)
                tracks.append(track)
                break
        else:
            raise SceneError(
                f"cannot place person {pid + 1} of {people} without faces covering each other "
                "(or, with --occlusion, hidden too long); "
                "use fewer --people or more --seconds"
            )
    return walkers


def _start_window(
    span: float, seconds: float | None, duration: float, attempt: int
) -> tuple[float, float]:
    """Range of path start times to try: spread over the video so that people leave in time.

    With no fixed length the range grows as attempts fail (there is always room later). In a
    video too short for a whole crossing, people may already be on their way at the start.
    """
    if seconds is None:
        return 0.0, span - 1.0 + max(0, attempt - 100) * 0.25
    latest = seconds - duration - 0.5
    if latest >= 0:
        return 0.0, latest
    return -min(duration / 2, -latest), 0.0


def _visible_frames(track: Track, width: int, height: int, fps: float, seconds: float) -> int:
    frames = round(seconds * fps)
    vis = track.visible_fraction(width, height)[: max(0, frames - track.k0)]
    return int(np.count_nonzero(vis >= VISIBLE_FRACTION))
