"""Tiny video files for tests that need a real file but not real content."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def tiny_video(path: Path, frames: int, fps: float = 5.0) -> Path:
    """A 64x48 'mp4v' video of ``frames`` grey frames at ``fps``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i % 255, np.uint8))
    writer.release()
    return path
