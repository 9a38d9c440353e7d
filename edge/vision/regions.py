"""Where to look in a frame: padded regions around faces and motion, merged and aligned.

Pure geometry (no pixels): a ``Region`` is a rectangle of frame pixels and the scale
(frame pixels per model pixel) the detector runs it at. YuNet is fully convolutional, so a
region is cut out, downscaled by its scale and padded to multiples of 32 model pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.types import FloatArray

ALIGN = 32
# Scales a face region may use: few steps, so that neighbouring faces share one.
SCALE_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0)


@dataclass(frozen=True, slots=True)
class Region:
    """Frame pixels [x0, x1) x [y0, y1) run at ``scale`` frame pixels per model pixel."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    def __post_init__(self) -> None:
        if self.x1 <= self.x0 or self.y1 <= self.y0 or self.scale <= 0:
            raise ValueError(f"empty region {self}")

    @property
    def model_size(self) -> tuple[int, int]:
        """(width, height) the detector sees, padded to multiples of 32."""
        w = max(1, round((self.x1 - self.x0) / self.scale))
        h = max(1, round((self.y1 - self.y0) / self.scale))
        return math.ceil(w / ALIGN) * ALIGN, math.ceil(h / ALIGN) * ALIGN

    @property
    def cost(self) -> int:
        """Model pixels the detector processes (its time is about proportional)."""
        w, h = self.model_size
        return w * h


def face_scale(width: float, face_px: float, base: float) -> float:
    """The coarsest step that still leaves a face ``width`` wide at least ``face_px`` model px."""
    wanted = max(base, width / face_px)
    return max([s for s in SCALE_STEPS if s <= wanted] or [base])


def face_regions(
    boxes: FloatArray, padding: float, face_px: float, base: float, min_pad: float = 16.0
) -> list[Region]:
    """One region per face box (xyxy), padded by ``padding`` face widths on every side."""
    out = []
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64):
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        pad = max(padding * max(w, h), min_pad)
        out.append(
            Region(
                math.floor(x0 - pad),
                math.floor(y0 - pad),
                math.ceil(x1 + pad),
                math.ceil(y1 + pad),
                face_scale(w, face_px, base),
            )
        )
    return out


def pad_regions(boxes: FloatArray, pad: float, scale: float) -> list[Region]:
    """Regions around boxes (xyxy, e.g. motion), padded by ``pad`` frame pixels, at ``scale``."""
    return [
        Region(math.floor(x0 - pad), math.floor(y0 - pad), math.ceil(x1 + pad), math.ceil(y1 + pad),
               scale)
        for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64)
    ]  # fmt: skip


def clip(region: Region, width: int, height: int) -> Region | None:
    """The part of ``region`` inside a ``width`` x ``height`` frame (None when outside)."""
    x0, y0 = max(region.x0, 0), max(region.y0, 0)
    x1, y1 = min(region.x1, width), min(region.y1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return Region(x0, y0, x1, y1, region.scale)


def align(region: Region, width: int, height: int) -> Region:
    """Grow ``region`` so its model size is exactly a multiple of 32, staying in the frame.

    Growing with real pixels rather than zero padding gives the detector context at the
    edges; where the frame ends the detector's own zero padding fills the rest.
    """
    s = region.scale
    out = []
    for lo, hi, limit in ((region.x0, region.x1, width), (region.y0, region.y1, height)):
        want = math.ceil((hi - lo) / s / ALIGN) * ALIGN * s
        extra = want - (hi - lo)
        new_lo = lo - math.floor(extra / 2)
        new_hi = new_lo + math.ceil(want)
        if new_hi > limit:
            new_lo, new_hi = new_lo - (new_hi - limit), limit
        new_lo = max(new_lo, 0)
        new_hi = min(max(new_hi, new_lo + 1), limit)
        out.append((new_lo, new_hi))
    (x0, x1), (y0, y1) = out
    return Region(x0, y0, x1, y1, s)


def _union(a: Region, b: Region) -> Region:
    return Region(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1), a.scale)


def _worth_merging(a: Region, b: Region) -> bool:
    """Same scale, and one region over both costs no more than the two apart.

    Regions of different scales are never merged: the merged one would run a large face's
    surroundings at a small face's resolution. They may overlap; NMS across regions
    removes the duplicates.
    """
    return a.scale == b.scale and _union(a, b).cost <= a.cost + b.cost


def merge(regions: Sequence[Region], width: int, height: int) -> list[Region]:
    """Clip to the frame, merge regions of one scale that are cheaper together, align each."""
    todo = [r for r in (clip(r, width, height) for r in regions) if r is not None]
    changed = True
    while changed:
        changed = False
        todo = [align(r, width, height) for r in todo]
        out: list[Region] = []
        for region in todo:
            for i, other in enumerate(out):
                if _worth_merging(region, other):
                    out[i] = _union(region, other)
                    changed = True
                    break
            else:
                out.append(region)
        todo = out
    return todo


def full_cost(width: int, height: int, scales: Sequence[float]) -> int:
    """Model pixels of one whole-frame pass at every scale."""
    return sum(Region(0, 0, width, height, s).cost for s in scales)


# Model pixels two neighbouring bands share: a face up to about BAND_OVERLAP / (1 + 2 *
# yunet.CUT_MARGIN) = 114 model pixels tall is whole in one of them; a taller face is found
# by the pass at twice the scale, where it is at least 57 model pixels tall.
BAND_OVERLAP = 224


def bands(region: Region, max_pixels: int) -> list[Region]:
    """The detector passes that cover ``region`` with none over ``max_pixels`` model pixels.

    The region itself when it fits; otherwise overlapping full-width horizontal bands at its
    scale, plus the region at twice the scale (itself banded if need be) for the faces too
    tall to be whole in a band. The detector drops a face cut by a band's inner edge and NMS
    merges the rest, so the faces found are those of one pass over the region, while the
    largest activations are a band's, not the region's (peak memory, README "Speed").
    """
    width, height = region.model_size
    if width * height <= max_pixels:
        return [region]
    band_model = (max_pixels // width) // ALIGN * ALIGN
    if band_model <= BAND_OVERLAP + ALIGN:
        return [region]  # too wide for useful bands: one pass
    s = region.scale
    span = region.y1 - region.y0
    overlap = BAND_OVERLAP * s
    n = math.ceil((span - overlap) / (band_model * s - overlap))
    tall = math.ceil((span + (n - 1) * overlap) / n)
    starts = [region.y0 + round(i * (tall - overlap)) for i in range(n)]
    out = [Region(region.x0, y, region.x1, min(region.y1, y + tall), s) for y in starts]
    coarse = Region(region.x0, region.y0, region.x1, region.y1, 2 * s)
    return out + bands(coarse, max_pixels)
