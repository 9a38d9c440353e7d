"""The Picamera2 source, against a fake ``picamera2`` module (no Pi or libcamera here)."""

from __future__ import annotations

import sys
import time
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from edge.capture.live import LiveSource
from edge.capture.picamera import picamera_opener
from edge.capture.sources import is_live
from edge.config import SourceConfig
from edge.errors import SourceError


class FakePicamera2:
    opened: ClassVar[list[int]] = []
    fail_next: ClassVar[int] = 0

    def __init__(self, index: int) -> None:
        if FakePicamera2.fail_next:
            FakePicamera2.fail_next -= 1
            raise RuntimeError("Camera __init__ sequence did not complete.")
        self.index = index
        self.frames = 0
        self.closed = False
        FakePicamera2.opened.append(index)

    def create_video_configuration(self, main: dict[str, Any]) -> dict[str, Any]:
        return {"main": main}

    def configure(self, config: dict[str, Any]) -> None:
        self.size = config["main"]["size"]

    def start(self) -> None:
        pass

    def capture_array(self, stream: str) -> np.ndarray:
        time.sleep(0.01)
        self.frames += 1
        frame = np.zeros((self.size[1], self.size[0], 3), dtype=np.uint8)
        frame[..., 0] = 255  # pure red in RGB
        return frame

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    FakePicamera2.opened = []
    FakePicamera2.fail_next = 0
    monkeypatch.setitem(sys.modules, "picamera2", module)


def test_picamera_uri_is_a_live_source() -> None:
    assert is_live("picamera2:0")
    assert not is_live("picamera2.mp4")


def test_frames_arrive_as_bgr_through_the_live_source(fake_module: None) -> None:
    FakePicamera2.fail_next = 1  # the first open fails: retried with backoff
    cfg = SourceConfig(uri="picamera2:1", max_fps=100)
    source = LiveSource(cfg.uri, cfg, picamera_opener(cfg.uri), backoff_min_s=0.05)
    try:
        frame = next(f for f in source.frames() if f is not None)
    finally:
        source.close()
    assert frame.image.shape == (720, 1280, 3)
    assert tuple(frame.image[0, 0]) == (0, 0, 255)  # red, in OpenCV's BGR order
    assert FakePicamera2.opened == [1]


def test_missing_picamera2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        picamera_opener("picamera2:0")()


def test_a_bad_camera_index_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="picamera2:<camera index>"):
        picamera_opener("picamera2:front")
