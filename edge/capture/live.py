"""Live sources (USB camera, RTSP): a reader thread under a watchdog; only the newest frame waits.

OpenCV's ``read()`` can block forever on a vanished stream, so the reader runs in
its own thread and ``frames()`` watches it: no frame for ``read_timeout_s`` marks
the source ``stalled``, the stuck reader is abandoned (its capture released, its
late frame discarded) and a new one reopens the camera with exponential backoff
and jitter (tenacity). ``state`` is ``running`` only while frames flow, so the
node reports ``degraded`` until they do again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import cv2
import numpy as np
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from edge.capture.frames import to_bgr8
from edge.config import SourceConfig
from edge.errors import SourceError
from edge.types import Frame

log = logging.getLogger("kazoe.source")
TICK_S = 0.25  # frames() yields None at least this often, so the node can do upkeep


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a live source uses."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


Opener = Callable[[], Capture]


def opencv_opener(uri: str) -> Opener:
    def open_capture() -> Capture:
        cap = cv2.VideoCapture(int(uri) if uri.isdigit() else uri)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open camera {uri}")
        capture: Capture = cap
        return capture

    return open_capture


class LiveSource:
    """Newest-frame-only reader with a stall watchdog and reconnect backoff."""

    def __init__(
        self,
        uri: str,
        cfg: SourceConfig,
        opener: Opener,
        *,
        backoff_min_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.uri = uri
        self.cfg = cfg
        self.opener = opener
        self.state = "reconnecting"
        self.dropped = 0
        self.reconnects = 0
        self._backoff = (backoff_min_s, backoff_max_s)
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._generation = 0
        self._capture: Capture | None = None
        self._last_frame = time.monotonic()
        self._index = 0
        self._start_reader()

    # -- reader side (its own thread) -------------------------------------------
    def _start_reader(self) -> None:
        with self._cond:
            self._generation += 1
            generation = self._generation
        thread = threading.Thread(
            target=self._reader, args=(generation,), name=f"kazoe-capture-{generation}", daemon=True
        )
        thread.start()

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("camera %s unavailable (%s); retrying in %.1f s", self.uri, error, wait)

    def _open(self, generation: int) -> Capture | None:
        retrying = Retrying(
            wait=wait_random_exponential(multiplier=self._backoff[0], max=self._backoff[1]),
            retry=retry_if_exception_type(SourceError),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )

        def attempt() -> Capture | None:
            if not self._current(generation):
                return None
            return self.opener()

        try:
            return retrying(attempt)
        except SourceError:  # only reached when stopping mid-retry
            return None

    def _reader(self, generation: int) -> None:
        while self._current(generation):
            capture = self._open(generation)
            if capture is None:
                return
            with self._cond:
                self._capture = capture
            self._read(capture, generation)
            capture.release()
            if self._current(generation):
                self.state = "reconnecting"
                self.reconnects += 1
                log.warning("camera %s stopped delivering frames; reopening", self.uri)
                self._stop.wait(self._backoff[0])

    def _read(self, capture: Capture, generation: int) -> None:
        while self._current(generation):
            ok, image = capture.read()
            if not self._current(generation):
                if image is not None:
                    image.fill(0)  # a late frame of an abandoned reader: overwrite, drop
                return
            if not ok or image is None:
                return
            bgr = to_bgr8(image)
            if bgr is None:
                image.fill(0)
                continue
            now = time.monotonic()
            frame = Frame(self._index, time.time(), bgr, captured_monotonic=now)
            self._index += 1
            with self._cond:
                if self._slot is not None:
                    self._slot.image.fill(0)  # dropped, not queued: overwrite before release
                    self.dropped += 1
                self._slot = frame
                self._last_frame = now
                if self.state != "running":
                    log.info("camera %s delivering frames", self.uri)
                self.state = "running"
                self._cond.notify()

    # -- consumer side (the node's thread) ---------------------------------------
    def _watchdog(self) -> None:
        if (
            self.state != "running"
            or time.monotonic() - self._last_frame <= self.cfg.read_timeout_s
        ):
            return
        self.state = "stalled"
        self.reconnects += 1
        log.warning(
            "camera %s stalled: no frame for %.1f s; reopening", self.uri, self.cfg.read_timeout_s
        )
        with self._cond:
            stuck, self._capture = self._capture, None
        if stuck is not None:
            stuck.release()  # unblocks read() on most backends; if not, the thread is abandoned
        self._start_reader()

    def frames(self) -> Iterator[Frame | None]:
        min_gap = 1.0 / self.cfg.max_fps
        last = 0.0
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._stop.is_set(), TICK_S)
                frame, self._slot = self._slot, None
            self._watchdog()
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
            self._generation += 1
            capture, self._capture = self._capture, None
            self._cond.notify_all()
        if capture is not None:
            capture.release()
