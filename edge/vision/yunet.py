"""YuNet (libfacedetection) on a whole frame: decoding beside the model (DESIGN §4b).

``models/build`` rebuilds the network as ONNX with the raw heads per stride (8, 16, 32):
``cls``, ``obj`` (1), ``bbox`` (4) and ``kps`` (10), each ``[N, rows*cols, C]``. Input BGR
0..255, NCHW, zero-padded to multiples of 32. Decoding as measured against the library:
score = sqrt(sigmoid(cls) * sigmoid(obj)); priors at (col*s, row*s) with no half-cell offset;
box centre (dx + col)*s, size exp(dw)*s; landmarks (k + col)*s. Five landmarks: right eye,
left eye, nose tip, right and left mouth corner; the mouth point is their mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.types import BoolArray, Detections, FloatArray, ImageArray
from edge.vision.nms import nms
from edge.vision.onnx_session import open_session
from edge.vision.regions import Region, bands

STRIDES = (8, 16, 32)
# A whole face in a region keeps this share of its height from the region's inner edges
# (its own region pads it by region_padding face widths).
CUT_MARGIN = 0.2
ALIGN = 32
MODEL_FILE = "yunet.onnx"
# A 64x64 dlib-chip template fitted to YuNet's points (DESIGN §4b): right eye, left eye,
# nose tip, mouth (mean of the corners).
TEMPLATE_64 = np.array(
    [[18.77, 18.16], [44.30, 18.08], [31.52, 32.61], [31.37, 44.18]], dtype=np.float64
)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = (1.0 / (1.0 + np.exp(-np.clip(x, -88.0, 88.0)))).astype(np.float32)
    return out


def decode(
    heads: dict[str, FloatArray], padded_width: int, threshold: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Raw heads of one image -> boxes (M, 4) xyxy, scores (M,), landmarks (M, 5, 2).

    ``padded_width`` is the width the graph saw (a multiple of 32): it sets the columns of
    each stride's row-major grid. Only cells whose score reaches ``threshold`` are decoded.
    """
    boxes, scores, points = [], [], []
    for stride in STRIDES:
        cls = heads[f"cls_{stride}"][0, :, 0]
        obj = heads[f"obj_{stride}"][0, :, 0]
        score = np.sqrt(_sigmoid(cls) * _sigmoid(obj))
        index = np.flatnonzero(score >= threshold)
        if index.size == 0:
            continue
        cols = padded_width // stride
        prior = np.column_stack([index % cols, index // cols]).astype(np.float32) * stride
        bbox = heads[f"bbox_{stride}"][0, index]
        centre = bbox[:, :2] * stride + prior
        size = np.exp(np.clip(bbox[:, 2:4], -10.0, 10.0)) * stride
        boxes.append(np.column_stack([centre - size / 2, centre + size / 2]))
        kps = heads[f"kps_{stride}"][0, index].reshape(-1, 5, 2)
        points.append(kps * stride + prior[:, None, :])
        scores.append(score[index])
    if not boxes:
        return (
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
        )
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(points).astype(np.float32),
    )


def six_points(landmarks: FloatArray) -> FloatArray:
    """YuNet's 5 landmarks -> the node's 6: eyes, nose, mouth (mean of the corners), corners."""
    mouth = landmarks[:, 3:5].mean(axis=1, keepdims=True)
    out: FloatArray = np.concatenate([landmarks[:, :3], mouth, landmarks[:, 3:5]], axis=1)
    return out.astype(np.float32)


def _whole(
    part: tuple[FloatArray, FloatArray, FloatArray], region: Region, width: int, height: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Keep the faces of one region that no inner edge of the region cuts."""
    boxes, scores, points = part
    inside = _inside(boxes, region, width, height)
    return boxes[inside], scores[inside], points[inside]


def _inside(boxes: FloatArray, region: Region, width: int, height: int) -> BoolArray:
    """Boxes that no inner edge of ``region`` cuts (frame edges do not count)."""
    # A cut face's box ends just inside the cut (narrow, full height): keep a margin.
    margin = CUT_MARGIN * (boxes[:, 3] - boxes[:, 1])
    inside: BoolArray = (
        ((boxes[:, 0] >= region.x0 + margin) | (region.x0 <= 0))
        & ((boxes[:, 1] >= region.y0 + margin) | (region.y0 <= 0))
        & ((boxes[:, 2] <= region.x1 - margin) | (region.x1 >= width))
        & ((boxes[:, 3] <= region.y1 - margin) | (region.y1 >= height))
    )
    return inside


def _not_whole_in(
    part: tuple[FloatArray, FloatArray, FloatArray], regions: Sequence[Region], w: int, h: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The faces of ``part`` that none of ``regions`` holds whole."""
    boxes, scores, points = part
    keep = np.ones(len(boxes), bool)
    for region in regions:
        keep &= ~_inside(boxes, region, w, h)
    return boxes[keep], scores[keep], points[keep]


class YuNetDetector:
    """YuNet on the whole frame, downscaled by each configured scale (1.0 = native size)."""

    template = TEMPLATE_64

    def __init__(self, model_path: Path, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.session = open_session(
            model_path, cfg.threads, varying_shapes=cfg.full_frame_every > 1
        )
        self._input = self.session.get_inputs()[0].name
        self._names = [o.name for o in self.session.get_outputs()]
        self._buffer: FloatArray = np.zeros(0, np.float32)

    def _tensor(self, height: int, width: int) -> FloatArray:
        """A zeroed (1, 3, height, width) input tensor, a view of one buffer reused per call.

        Reusing the buffer saves the page faults of a fresh 11 MB array per 720p frame (about
        half the input preparation). It holds pixels only during ``session.run``: ``_run``
        zeroes it straight after, so between calls it is all zeros.
        """
        size = 3 * height * width
        if self._buffer.size < size:
            self._buffer = np.zeros(size, np.float32)
        view: FloatArray = self._buffer[:size].reshape(1, 3, height, width)
        return view

    @classmethod
    def from_dir(cls, models_dir: Path, cfg: DetectorConfig) -> YuNetDetector:
        """The detector over ``models_dir/yunet.onnx``."""
        return cls(models_dir / MODEL_FILE, cfg)

    def _run(self, image: ImageArray, region: Region) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Raw faces in one region of the frame (frame pixels), before NMS."""
        crop = image[region.y0 : region.y1, region.x0 : region.x1]
        h, w = crop.shape[:2]
        sw, sh = max(1, round(w / region.scale)), max(1, round(h / region.scale))
        cw, ch = math.ceil(sw / ALIGN) * ALIGN, math.ceil(sh / ALIGN) * ALIGN
        tensor = self._tensor(ch, cw)
        src = (
            crop if (sw, sh) == (w, h) else cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
        )
        try:
            for c, plane in enumerate(cv2.split(src)):
                tensor[0, c, :sh, :sw] = plane
                plane.fill(0)
            outputs = self.session.run(self._names, {self._input: tensor})
        finally:
            tensor.fill(0)
            if src is not crop:
                src.fill(0)
        heads = {
            name: np.asarray(v, np.float32) for name, v in zip(self._names, outputs, strict=True)
        }
        boxes, scores, points = decode(heads, cw, self.cfg.score_threshold)
        fx, fy = w / sw, h / sh
        offset = np.array([region.x0, region.y0], np.float32)
        return (
            boxes * np.array([fx, fy, fx, fy], np.float32) + np.tile(offset, 2),
            scores,
            points * np.array([fx, fy], np.float32) + offset,
        )

    def _finish(self, parts: list[tuple[FloatArray, FloatArray, FloatArray]]) -> Detections:
        if not parts:
            return Detections()
        boxes = np.concatenate([p[0] for p in parts]).astype(np.float32)
        scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
        points = np.concatenate([p[2] for p in parts]).astype(np.float32)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return Detections(boxes[keep], scores[keep], six_points(points[keep]))

    def _passes(self, image: ImageArray, regions: Sequence[Region]) -> Detections:
        """Each region in passes of at most ``max_pass_pixels`` (``regions.bands``), faces
        cut by an inner edge dropped, NMS across all.

        Of a banded region's coarser passes only the faces no finer band holds whole are
        kept: the others the bands found at the region's own resolution, as one pass would.
        """
        h, w = image.shape[:2]
        parts = []
        for region in regions:
            passes = bands(region, self.cfg.max_pass_pixels)
            fine = [p for p in passes if p.scale == region.scale]
            for p in passes:
                part = _whole(self._run(image, p), p, w, h)
                if p.scale != region.scale:
                    part = _not_whole_in(part, fine, w, h)
                parts.append(part)
        return self._finish(parts)

    def detect(self, image: ImageArray) -> Detections:
        """Faces in one BGR frame, after NMS, with keypoints in the node's 6-point order."""
        h, w = image.shape[:2]
        return self._passes(image, [Region(0, 0, w, h, s) for s in self.cfg.effective_scales])

    def detect_regions(self, image: ImageArray, regions: Sequence[Region]) -> Detections:
        """Faces inside ``regions`` only (each at its own scale), NMS across all of them.

        A face cut by a region's edge inside the frame is dropped: its box is partial, so
        NMS would not pair it with the whole face found in a neighbouring region, and the
        tracker would see two people. (A whole face has its own padded region.)
        """
        return self._passes(image, regions)
