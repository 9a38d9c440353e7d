"""CSI cameras through Picamera2 (Raspberry Pi), as an opener for ``LiveSource``.

``[source] uri = "picamera2:0"`` (camera index after the colon). Picamera2 comes from
Raspberry Pi OS (``apt install python3-picamera2``; make the venv with
``--system-site-packages``); it is imported only when such a source is opened, so
nodes without it never need it. Frames go straight from libcamera into memory and
through the same one-frame slot, watchdog and backoff as a USB camera.
"""

from __future__ import annotations

import importlib
from typing import Any

import cv2
import numpy as np

from edge.capture.live import Capture, Opener
from edge.errors import SourceError

PREFIX = "picamera2:"
SIZE = (1280, 720)


def is_picamera(uri: str) -> bool:
    return uri.lower().startswith(PREFIX)


class PicameraCapture:
    """Adapts a started Picamera2 to the ``read()``/``release()`` of a capture."""

    def __init__(self, camera: Any) -> None:
        self.camera = camera

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            rgb = self.camera.capture_array("main")
        except Exception:  # noqa: BLE001 - any libcamera failure means: reopen the camera
            return False, None
        array = np.asarray(rgb, dtype=np.uint8)
        bgr = cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2BGR)
        if array.flags.writeable:
            array.fill(0)  # the camera's copy of the frame is overwritten too
        return True, np.asarray(bgr, dtype=np.uint8)

    def release(self) -> None:
        try:
            self.camera.stop()
        finally:
            self.camera.close()


def picamera_opener(uri: str) -> Opener:
    try:
        index = int(uri[len(PREFIX) :] or "0")
    except ValueError:
        raise SourceError(f"source.uri {uri!r}: expected picamera2:<camera index>") from None

    def open_camera() -> Capture:
        try:
            module = importlib.import_module("picamera2")
        except ImportError:
            raise SourceError(
                "Picamera2 is not installed: on Raspberry Pi OS run "
                "'sudo apt install python3-picamera2' and create the venv with "
                "--system-site-packages"
            ) from None
        try:
            camera = module.Picamera2(index)
            config = camera.create_video_configuration(main={"size": SIZE, "format": "RGB888"})
            camera.configure(config)
            camera.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many kinds
            raise SourceError(f"cannot open CSI camera {index}: {exc}") from None
        capture: Capture = PicameraCapture(camera)
        return capture

    return open_camera
