"""Drawing a synthetic street: a static background, bodies and pasted face variants.

All drawing is deterministic: random choices come from a seeded Generator, and every
per-frame quantity is derived from the frame's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from simulator.scenes.occlusion import Pillar
from simulator.scenes.paths import BODY_TOP, Track, Walker
from simulator.scenes.portraits import FaceItem

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.float32]
Color = tuple[int, int, int]

MAX_ROTATION_DEG = 8.0


def background(rng: np.random.Generator, width: int, height: int) -> Image:
    """A static street: sky, a row of buildings with windows, pavement, kerb and road."""
    img = np.zeros((height, width, 3), np.uint8)
    sky = np.linspace(235, 190, height // 5 + 1)
    img[: height // 5 + 1] = np.stack([sky, sky * 0.93, sky * 0.82], axis=1)[:, None, :]
    horizon, kerb = int(0.62 * height), int(0.84 * height)
    x = 0
    while x < width:
        bw = int(rng.uniform(0.08, 0.2) * width)
        top = int(rng.uniform(0.02, 0.18) * height)
        wall = tuple(int(v) for v in rng.integers(70, 190, size=3))
        cv2.rectangle(img, (x, top), (x + bw, horizon), wall, -1)
        win = tuple(int(v * 0.55) for v in wall)
        step = max(8, int(rng.uniform(0.025, 0.045) * height))
        for wy in range(top + step // 2, horizon - step, step * 2):
            for wx in range(x + step // 2, x + bw - step, step * 2):
                cv2.rectangle(img, (wx, wy), (wx + step, wy + int(step * 1.3)), win, -1)
        x += bw
    img[horizon:kerb] = (150, 155, 160)
    tile = max(12, int(0.045 * height))
    for ty in range(horizon, kerb, tile):
        cv2.line(img, (0, ty), (width, ty), (128, 132, 138), 1)
    for tx in range(0, width, tile * 2):
        cv2.line(img, (tx, horizon), (tx, kerb), (128, 132, 138), 1)
    img[kerb : kerb + max(3, height // 90)] = (200, 200, 200)
    img[kerb + max(3, height // 90) :] = (70, 70, 74)
    mark_y = int(0.93 * height)
    for mx in range(0, width, width // 8):
        cv2.rectangle(img, (mx, mark_y), (mx + width // 16, mark_y + 4), (225, 225, 225), -1)
    noise = rng.normal(0.0, 6.0, size=(height, width, 1))
    textured = cv2.GaussianBlur(img.astype(np.float32) + noise.astype(np.float32), (3, 3), 0)
    return np.clip(textured, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Look:
    """How one person looks: a face (with its alpha: a blurred or a sharp-edged ellipse) and
    clothes."""

    face: Image
    alpha: Mask
    shirt: Color
    trousers: Color


def make_look(rng: np.random.Generator, item: FaceItem, *, vary: bool = True) -> Look:
    """Vary a face so the same portrait gives distinct people: mirror, light, hue, rotation.

    ``vary=False`` (one labelled photo per person) only mirrors: each photo is already a
    different person, and light or rotation changes cost the detector several points on
    FairFace photos. It also cuts the head out with a sharp-edged ellipse instead
    of a blurred one: a soft vignette round a face is nothing a camera makes, and it moves
    the gender networks towards "female" (FairFace men at 83 px: 0.72 right through the
    blurred ellipse, 0.79 through the sharp one, 0.81 pasted whole; README "Crowd scenes").
    The ellipse stays because a photo pasted whole brings the bystanders at its edges
    (a second face found in 34 of the 540 crops, 6 through the ellipse). The same random
    numbers are drawn either way.
    """
    face = item.image
    if rng.integers(2):
        face = np.ascontiguousarray(face[:, ::-1])
    hue, sat, light = rng.uniform(-4, 4), rng.uniform(0.85, 1.15), rng.uniform(0.75, 1.2)
    turn_deg = rng.uniform(-1, 1) * MAX_ROTATION_DEG
    h, w = face.shape[:2]
    if vary:
        hsv = np.asarray(cv2.cvtColor(face, cv2.COLOR_BGR2HSV), dtype=np.float32)
        hsv[..., 0] = (hsv[..., 0] + hue) % 180
        hsv[..., 1] *= sat
        hsv[..., 2] *= light
        face = np.asarray(
            cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR),
            dtype=np.uint8,
        )
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), turn_deg, 1.0)
        face = np.asarray(
            cv2.warpAffine(
                face, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ),
            dtype=np.uint8,
        )
    alpha = _ellipse(w, h, soft=vary)
    shirt = _color(rng, 20, 230)
    trousers = _color(rng, 15, 120)
    return Look(face=face, alpha=alpha, shirt=shirt, trousers=trousers)


def _ellipse(w: int, h: int, *, soft: bool) -> Mask:
    """An elliptical alpha cutting a head out of its photo: blurred into the street
    (``soft``) or with a sharp edge."""
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.45), int(h * 0.46)), 0, 0, 360, 1.0, -1)
    if not soft:
        return alpha
    return np.asarray(cv2.GaussianBlur(alpha, (0, 0), sigmaX=0.04 * w), dtype=np.float32)


def _color(rng: np.random.Generator, lo: int, hi: int) -> Color:
    b, g, r = (int(v) for v in rng.integers(lo, hi, size=3))
    return b, g, r


def _paste(frame: Image, face: Image, alpha: Mask, x0: int, y0: int) -> None:
    h, w = face.shape[:2]
    fh, fw = frame.shape[:2]
    ax0, ay0 = max(0, -x0), max(0, -y0)
    ax1, ay1 = min(w, fw - x0), min(h, fh - y0)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    roi = frame[y0 + ay0 : y0 + ay1, x0 + ax0 : x0 + ax1].astype(np.float32)
    a = alpha[ay0:ay1, ax0:ax1, None]
    fg = face[ay0:ay1, ax0:ax1].astype(np.float32)
    frame[y0 + ay0 : y0 + ay1, x0 + ax0 : x0 + ax1] = np.rint(fg * a + roi * (1 - a)).astype(
        np.uint8
    )


def _body(frame: Image, look: Look, box: tuple[int, int, int, int], walked: float) -> None:
    """Neck, torso, arms and legs under a face box; legs swing with the distance walked."""
    x0, y0, w, h = box
    cx = x0 + w / 2
    top = y0 + BODY_TOP * h
    skin = tuple(int(v) for v in look.face[-look.face.shape[0] // 4, look.face.shape[1] // 2])
    cv2.rectangle(
        frame,
        (int(cx - 0.2 * w), int(top - 0.2 * h)),
        (int(cx + 0.2 * w), int(top)),
        skin,
        -1,
        cv2.LINE_AA,
    )
    shoulder, hip = top + 0.25 * w, top + 2.6 * w
    torso = np.array(
        [
            [cx - 0.45 * w, top],
            [cx + 0.45 * w, top],
            [cx + 0.9 * w, shoulder],
            [cx + 0.6 * w, hip],
            [cx - 0.6 * w, hip],
            [cx - 0.9 * w, shoulder],
        ],
        dtype=np.int32,
    )
    cv2.fillPoly(frame, [torso], look.shirt, cv2.LINE_AA)
    sleeve = (look.shirt[0] * 3 // 4, look.shirt[1] * 3 // 4, look.shirt[2] * 3 // 4)
    swing = 0.25 * math.sin(2 * math.pi * walked / (1.8 * w)) if walked > 0 else 0.0
    thick = max(2, int(0.26 * w))
    for side, phase in ((-1, 1.0), (1, -1.0)):
        arm0 = (int(cx + side * 0.8 * w), int(shoulder + 0.1 * w))
        arm1 = (int(arm0[0] + 2.2 * w * math.sin(phase * swing * 0.6)), int(arm0[1] + 2.2 * w))
        cv2.line(frame, arm0, arm1, sleeve, thick, cv2.LINE_AA)
        leg0 = (int(cx + side * 0.3 * w), int(hip))
        leg1 = (int(leg0[0] + 3.2 * w * math.sin(phase * swing)), int(hip + 3.2 * w))
        cv2.line(frame, leg0, leg1, look.trousers, int(thick * 1.3), cv2.LINE_AA)


def draw_people(
    frame: Image, k: int, walkers: list[Walker], tracks: list[Track], looks: list[Look]
) -> None:
    """Draw everyone present in frame ``k``, far (small faces) first, near ones on top."""
    present = [
        (tr.w[k - tr.k0], wk.id, i)
        for i, (wk, tr) in enumerate(zip(walkers, tracks, strict=True))
        if tr.k0 <= k < tr.k1
    ]
    for _, _, i in sorted(present):
        tr, look = tracks[i], looks[i]
        j = k - tr.k0
        x0, y0, w, h = int(tr.x0[j]), int(tr.y0[j]), int(tr.w[j]), int(tr.h[j])
        if x0 + 2 * w < 0 or x0 - w > frame.shape[1]:
            continue
        _body(frame, look, (x0, y0, w, h), float(tr.walked[j]))
        interp = cv2.INTER_AREA if w < look.face.shape[1] else cv2.INTER_LINEAR
        face = np.asarray(cv2.resize(look.face, (w, h), interpolation=interp), dtype=np.uint8)
        alpha = np.asarray(
            cv2.resize(look.alpha, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32
        )
        _paste(frame, face, alpha, x0, y0)


def draw_pillar(frame: Image, pillar: Pillar) -> None:
    """A concrete column in front of the street, with a shaded edge so it reads as round."""
    height = frame.shape[0]
    width = pillar.x1 - pillar.x0
    shade = 105 + 45 * np.sin(np.linspace(0.2, np.pi - 0.2, width))
    column = np.stack([shade, shade * 1.02, shade * 1.05], axis=1).clip(0, 255).astype(np.uint8)
    frame[:, pillar.x0 : pillar.x1] = column[None, :, :]
    cv2.rectangle(frame, (pillar.x0 - 6, 0), (pillar.x1 + 6, int(0.03 * height)), (90, 92, 96), -1)
