"""Frame sources: a video file yields every frame; a live camera hands over only the newest.

Time comes from the source. A file's frames are stamped with their own
timestamps anchored at ``[source] start_time`` (so a replay at full speed and one
in real time close the same windows); a live camera's frames with the capture
wall-clock time. Each source reuses one pixel buffer, which the pipeline zeroes
after analysis; a live source never holds more than one waiting frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from tenacity import Retrying, retry_if_exception_type, wait_random_exponential

from edge.config import SourceConfig
from edge.errors import SourceError
from edge.types import Frame, ImageArray

log = logging.getLogger("kazoe.source")
MAX_SIDE = 4096


class FrameSource(Protocol):
    """Anything that yields frames; ``state`` is reported in status."""

    state: str

    def frames(self) -> Iterator[Frame | None]:
        """Frames in order; None is a tick (no new frame yet) so the caller can do upkeep."""
        ...

    def close(self) -> None: ...


def to_bgr8(image: np.ndarray) -> ImageArray | None:
    """Coerce odd frames (grey, 16-bit, BGRA) to BGR uint8; None when unusable."""
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] != 3 or min(image.shape[:2]) < 16 or max(image.shape[:2]) > MAX_SIDE:
        return None
    out: ImageArray = image
    return out


def is_live(uri: str) -> bool:
    return uri.isdigit() or uri.lower().startswith(("rtsp://", "rtsps://", "http://", "https://"))


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
                log.warning(
                    "skipped an unusable frame %d of %s (%s)", index, self.path, image.shape
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


class LiveSource:
    """A camera or stream read in its own thread; only the newest frame waits.

    A read that takes longer than ``read_timeout_s`` or fails marks the source
    stalled; the capture is then reopened with exponential backoff and jitter.
    """

    def __init__(self, uri: str, cfg: SourceConfig) -> None:
        self.uri = uri
        self.cfg = cfg
        self.state = "reconnecting"
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._last_frame = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="kazoe-capture", daemon=True)
        self._index = 0
        self.dropped = 0
        self._thread.start()

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _open(self) -> cv2.VideoCapture:
        target: int | str = int(self.uri) if self.uri.isdigit() else self.uri
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {self.uri}")
        return cap

    def _run(self) -> None:
        retry = Retrying(
            wait=wait_random_exponential(multiplier=1, max=30),
            retry=retry_if_exception_type(SourceError),
            before_sleep=lambda rs: log.warning(
                "camera %s unavailable (%s); retrying",
                self.uri,
                rs.outcome.exception() if rs.outcome else "?",
            ),
            sleep=self._sleep,
        )
        while not self._stop.is_set():
            cap = retry(self._open)
            self.state = "running"
            log.info("camera %s opened", self.uri)
            self._read_until_failure(cap)
            cap.release()
            if not self._stop.is_set():
                self.state = "reconnecting"
                log.warning("camera %s stopped delivering frames; reopening", self.uri)

    def _read_until_failure(self, cap: cv2.VideoCapture) -> None:
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok:
                return
            bgr = to_bgr8(image)
            if bgr is None:
                continue
            self._last_frame = time.monotonic()
            frame = Frame(self._index, time.time(), bgr, captured_monotonic=self._last_frame)
            self._index += 1
            with self._cond:
                if self._slot is not None:
                    self._slot.image.fill(0)  # dropped, not queued: overwrite before release
                    self.dropped += 1
                self._slot = frame
                self._cond.notify()

    def frames(self) -> Iterator[Frame | None]:
        min_gap = 1.0 / self.cfg.max_fps
        last = 0.0
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: self._slot is not None or self._stop.is_set(), timeout=0.5
                )
                frame, self._slot = self._slot, None
            if (
                time.monotonic() - self._last_frame > self.cfg.read_timeout_s
                and self.state == "running"
            ):
                self.state = "stalled"
                log.warning(
                    "camera %s stalled: no frame for %.0f s", self.uri, self.cfg.read_timeout_s
                )
            if frame is None:
                yield None
                continue
            if frame.captured_monotonic - last < min_gap:
                frame.image.fill(0)
                yield None
                continue
            last = frame.captured_monotonic
            yield frame

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)


def open_source(uri: str, cfg: SourceConfig, anchor: datetime) -> FrameSource:
    if is_live(uri):
        return LiveSource(uri, cfg)
    return FileSource(Path(uri), cfg, anchor)
