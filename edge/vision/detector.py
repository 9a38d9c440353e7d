"""Face detection: BlazeFace on a downscaled whole frame (pyramid) or on tiles, then NMS.

Full range on a 192x192 letterboxed 1280x720 frame misses faces under ~100 px
(DESIGN §4). Two ways past that, both keeping 48 px faces at >= 24 model pixels:

* ``pyramid`` (default): the converted graph takes any input size, so the whole
  frame is downscaled by each configured scale (2.0: 1280x720 -> 640x360) and
  analysed in one pass. No tile borders, no overlap to pay for.
* ``tiles``: overlapping native-size tiles plus the whole frame; a detection that
  runs into an inner tile border is dropped, because a neighbouring tile sees it whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.types import Detections, FloatArray, ImageArray
from edge.vision import anchors
from edge.vision.align import TEMPLATE_64
from edge.vision.nms import nms
from edge.vision.onnx_session import open_session

EDGE_MARGIN_PX = 2.0


@dataclass(frozen=True, slots=True)
class View:
    """A square region of the frame fed to the model: origin, side, inner borders."""

    x0: int
    y0: int
    side: int
    inner_left: bool = False
    inner_top: bool = False
    inner_right: bool = False
    inner_bottom: bool = False


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Evenly spread tile origins: neighbours overlap by at least tile - stride."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_views(width: int, height: int, cfg: DetectorConfig) -> list[View]:
    """Tiles covering the frame with the configured overlap, then the whole frame."""
    tile = cfg.tile_size
    stride = max(1, round(tile * (1.0 - cfg.tile_overlap)))
    views: list[View] = []
    if max(width, height) > tile:
        for y0 in _starts(height, tile, stride):
            for x0 in _starts(width, tile, stride):
                views.append(
                    View(
                        x0,
                        y0,
                        tile,
                        inner_left=x0 > 0,
                        inner_top=y0 > 0,
                        inner_right=x0 + tile < width,
                        inner_bottom=y0 + tile < height,
                    )
                )
    if cfg.whole_frame or not views:
        views.append(View(0, 0, max(width, height)))
    return views


def _touches_inner_border(view: View, boxes: FloatArray) -> np.ndarray:
    x1, y1, x2, y2 = boxes.T
    m = EDGE_MARGIN_PX
    hit = np.zeros(len(boxes), dtype=bool)
    if view.inner_left:
        hit |= x1 < view.x0 + m
    if view.inner_top:
        hit |= y1 < view.y0 + m
    if view.inner_right:
        hit |= x2 > view.x0 + view.side - m
    if view.inner_bottom:
        hit |= y2 > view.y0 + view.side - m
    return hit


class Detector:
    """BlazeFace (full or short range) on a BGR frame, as a pyramid or as tiles."""

    template = TEMPLATE_64  # the dlib-chip template fitted to BlazeFace's points

    def __init__(self, model_path: Path, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.spec = anchors.full_range() if cfg.model == "full_range" else anchors.short_range()
        self.session = open_session(model_path, cfg.threads)
        self._input = self.session.get_inputs()[0].name
        self._plans: dict[tuple[int, int], list[View]] = {}
        self._canvas = np.zeros((self.spec.size, self.spec.size, 3), dtype=np.uint8)

    @classmethod
    def from_dir(cls, models_dir: Path, cfg: DetectorConfig) -> Detector:
        """BlazeFace full or short range from ``models_dir`` (``edge.vision.face_detector``
        picks the backend; this class is only BlazeFace)."""
        if cfg.model not in ("full_range", "short_range"):
            raise ValueError(f"{cfg.model!r} is not a BlazeFace model; use open_detector")
        name = (
            "face_detection_full_range"
            if cfg.model == "full_range"
            else "face_detection_short_range"
        )
        return cls(models_dir / f"{name}.onnx", cfg)

    def _infer(self, canvas: ImageArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Run the model on a BGR canvas; detections in canvas pixels."""
        rgb = canvas[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
        tensor = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
        regressors, logits = self.session.run(None, {self._input: tensor})
        tensor.fill(0)
        rgb.fill(0)
        return anchors.decode(
            self.spec,
            regressors[0],
            logits[0, :, 0],
            self.cfg.score_threshold,
            input_hw=(canvas.shape[0], canvas.shape[1]),
        )

    def _run_scale(
        self, image: ImageArray, scale: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The whole frame downscaled by ``scale``, padded to the graph's 32-pixel grid."""
        h, w = image.shape[:2]
        sw, sh = max(1, round(w / scale)), max(1, round(h / scale))
        align = anchors.ALIGN
        ch, cw = math.ceil(sh / align) * align, math.ceil(sw / align) * align
        canvas = np.full((ch, cw, 3), 127, dtype=np.uint8)
        interpolation = cv2.INTER_AREA if scale >= 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (sw, sh), interpolation=interpolation)
        canvas[:sh, :sw] = resized
        resized.fill(0)
        try:
            boxes, scores, kps = self._infer(canvas)
        finally:
            canvas.fill(0)
        fx, fy = w / sw, h / sh
        return (
            boxes * np.array([fx, fy, fx, fy], np.float32),
            scores,
            kps * np.array([fx, fy], np.float32),
        )

    def _prepare(self, image: ImageArray, view: View) -> float:
        """Fill the model canvas from one view; returns frame pixels per model pixel."""
        size = self.spec.size
        region = image[view.y0 : view.y0 + view.side, view.x0 : view.x0 + view.side]
        scale = view.side / size
        h, w = region.shape[:2]
        tw, th = max(1, round(w / scale)), max(1, round(h / scale))
        self._canvas.fill(127)
        resized = cv2.resize(region, (min(tw, size), min(th, size)), interpolation=cv2.INTER_AREA)
        self._canvas[: resized.shape[0], : resized.shape[1]] = resized
        resized.fill(0)
        return scale

    def _run_view(self, image: ImageArray, view: View) -> tuple[FloatArray, FloatArray, FloatArray]:
        scale = self._prepare(image, view)
        boxes, scores, kps = self._infer(self._canvas)
        offset = np.array([view.x0, view.y0], dtype=np.float32)
        boxes = boxes * scale + np.tile(offset, 2)
        kps = kps * scale + offset
        keep = ~_touches_inner_border(view, boxes)
        return boxes[keep], scores[keep], kps[keep]

    def detect(self, image: ImageArray) -> Detections:
        if self.cfg.mode == "pyramid":
            parts = [self._run_scale(image, scale) for scale in self.cfg.effective_scales]
        else:
            h, w = image.shape[:2]
            views = self._plans.get((w, h))
            if views is None:
                views = self._plans[(w, h)] = plan_views(w, h, self.cfg)
            parts = [self._run_view(image, v) for v in views]
            self._canvas.fill(0)
        boxes = np.concatenate([p[0] for p in parts]).astype(np.float32)
        scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
        kps = np.concatenate([p[2] for p in parts]).astype(np.float32)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return Detections(boxes[keep], scores[keep], kps[keep])
