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
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.types import Detections, FloatArray, ImageArray
from edge.vision.nms import nms
from edge.vision.onnx_session import open_session

STRIDES = (8, 16, 32)
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


class YuNetDetector:
    """YuNet on the whole frame, downscaled by each configured scale (1.0 = native size)."""

    template = TEMPLATE_64

    def __init__(self, model_path: Path, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.session = open_session(model_path, cfg.threads)
        self._input = self.session.get_inputs()[0].name
        self._names = [o.name for o in self.session.get_outputs()]

    @classmethod
    def from_dir(cls, models_dir: Path, cfg: DetectorConfig) -> YuNetDetector:
        """The detector over ``models_dir/yunet.onnx``."""
        return cls(models_dir / MODEL_FILE, cfg)

    def _run_scale(
        self, image: ImageArray, scale: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        h, w = image.shape[:2]
        sw, sh = max(1, round(w / scale)), max(1, round(h / scale))
        ch, cw = math.ceil(sh / ALIGN) * ALIGN, math.ceil(sw / ALIGN) * ALIGN
        tensor = np.zeros((1, 3, ch, cw), dtype=np.float32)
        if scale == 1.0:
            tensor[0, :, :h, :w] = image.transpose(2, 0, 1)
        else:
            resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
            tensor[0, :, :sh, :sw] = resized.transpose(2, 0, 1)
            resized.fill(0)
        try:
            outputs = self.session.run(self._names, {self._input: tensor})
        finally:
            tensor.fill(0)
        heads = {
            name: np.asarray(v, np.float32) for name, v in zip(self._names, outputs, strict=True)
        }
        boxes, scores, points = decode(heads, cw, self.cfg.score_threshold)
        fx, fy = w / sw, h / sh
        return (
            boxes * np.array([fx, fy, fx, fy], np.float32),
            scores,
            points * np.array([fx, fy], np.float32),
        )

    def detect(self, image: ImageArray) -> Detections:
        """Faces in one BGR frame, after NMS, with keypoints in the node's 6-point order."""
        parts = [self._run_scale(image, scale) for scale in self.cfg.effective_scales]
        boxes = np.concatenate([p[0] for p in parts]).astype(np.float32)
        scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
        points = np.concatenate([p[2] for p in parts]).astype(np.float32)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return Detections(boxes[keep], scores[keep], six_points(points[keep]))
