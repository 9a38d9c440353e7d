"""Frame sources: a video file yields every frame; a live camera hands over only the newest.

Time comes from the source. A file's frames are stamped with their own
timestamps anchored at ``[source] start_time`` (so a replay at full speed and one
in real time close the same windows); a live camera's frames with the capture
wall-clock time. Each source reuses one pixel buffer, which the pipeline zeroes
after analysis; a live source never holds more than one waiting frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.capture.frames import to_bgr8
from edge.config import SourceConfig
from edge.errors import SourceError
from edge.types import Frame

log = logging.getLogger("kazoe.source")


class FrameSource(Protocol):
    """Anything that yields frames; ``state`` is reported in status."""

    state: str

    def frames(self) -> Iterator[Frame | None]:
        """Frames in order; None is a tick (no new frame yet) so the caller can do upkeep."""
        ...

    def close(self) -> None: ...


def is_live(uri: str) -> bool:
    live = ("rtsp://", "rtsps://", "http://", "https://", "picamera2:")
    return uri.isdigit() or uri.lower().startswith(live)


class FileSource:
    """Every frame of a video file, stamped from the file's own clock."""

    def __init__(self, path: Path, cfg: SourceConfig, anchor: datetime) -> None:
        self.path = path
        self.cfg = cfg
        self.anchor = anchor.astimezone(UTC).timestamp()
        self.state = "running"
        self.skipped = 0
        if not path.is_file():
            raise SourceError(f"video file {path} not found; check [source] uri or --source")
        self._cap = self._open()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video file {self.path}: not a readable video")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 15.0
        self.frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        return cap

    def frames(self) -> Iterator[Frame | None]:
        index = 0  # frames yielded over all passes
        in_pass = 0  # frames read in this pass over the file
        offset = 0.0  # media time at the start of this pass
        buffer: np.ndarray | None = None
        wall0 = time.monotonic()
        while True:
            ok, image = self._cap.read(buffer)
            if not ok:
                if in_pass == 0:
                    raise SourceError(f"video file {self.path} has no readable frames")
                if self.cfg.loop:
                    offset += in_pass / self.fps
                    in_pass = 0
                    self._cap.release()
                    self._cap = self._open()
                    continue
                self.state = "ended"
                return
            buffer = image
            pts = offset + in_pass / self.fps
            in_pass += 1
            index += 1
            bgr = to_bgr8(image)
            if bgr is None:
                self.skipped += 1
                if self.skipped == 1 or self.skipped % 100 == 0:
                    log.warning(
                        "skipped unusable frames of %s (%d so far; last shape %s, dtype %s)",
                        self.path,
                        self.skipped,
                        getattr(image, "shape", None),
                        getattr(image, "dtype", None),
                    )
                continue
            if self.cfg.realtime:
                delay = wall0 + pts - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield Frame(
                index=index - 1,
                ts=self.anchor + pts,
                image=bgr,
                captured_monotonic=time.monotonic(),
            )

    def close(self) -> None:
        self._cap.release()


def open_source(uri: str, cfg: SourceConfig, anchor: datetime) -> FrameSource:
    if is_live(uri):
        from edge.capture.live import LiveSource, opencv_opener
        from edge.capture.picamera import is_picamera, picamera_opener

        opener = picamera_opener(uri) if is_picamera(uri) else opencv_opener(uri)
        return LiveSource(uri, cfg, opener)
    return FileSource(Path(uri), cfg, anchor)
