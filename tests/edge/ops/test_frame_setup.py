"""``kazoe frame-setup``: one masked frame, served on loopback only, never written to disk."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import NodeSettings
from edge.errors import KazoeError
from edge.ops.frame_setup import LOOPBACK, FrameSetupServer, grab_frame, page


def clip(path: Path, frames: int = 3) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 240))
    for _ in range(frames):
        writer.write(np.full((240, 320, 3), 180, np.uint8))
    writer.release()
    return path


def settings(uri: str) -> NodeSettings:
    return NodeSettings.model_validate(
        {
            "node": {"id": "cam-01"},
            "source": {"uri": uri},
            "policy": {"purposes": ["footfall"]},
            "counting": {"lines": [{"name": "gate", "start": [0.5, 0.1], "end": [0.5, 0.9]}]},
            "privacy": {
                "masks": [{"name": "door", "polygon": [[0, 0], [0.25, 0], [0.25, 0.5], [0, 0.5]]}]
            },
        }
    )


def files_under(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, names in os.walk(root) for f in names}


def test_the_frame_is_served_masked_on_loopback_and_nothing_is_written(tmp_path: Path) -> None:
    cfg = settings(str(clip(tmp_path / "street.mp4")))
    before = files_under(tmp_path)
    png, width, height = grab_frame(cfg)
    assert (width, height) == (320, 240)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the PNG decodes"
    assert image.shape == (240, 320, 3)
    assert (image[10:110, 10:70] == 0).all(), "the configured mask is applied to the preview"
    assert (image[150:, 200:] > 100).all()
    server = FrameSetupServer(png, page(cfg, width, height))
    try:
        assert server.server_address[0] == LOOPBACK
        server.start()
        with urllib.request.urlopen(server.url, timeout=5) as response:  # noqa: S310 - loopback
            body = response.read().decode()
        assert "canvas" in body
        assert "[[counting.lines]]" in body
        assert "&quot;gate&quot;" in body, "existing lines are drawn for reference"
        with urllib.request.urlopen(server.url + "frame.png", timeout=5) as response:  # noqa: S310
            assert response.headers["Cache-Control"] == "no-store"
            assert response.read() == png
        server.forget()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url + "frame.png", timeout=5)  # noqa: S310
    finally:
        server.shutdown()
        server.server_close()
    assert files_under(tmp_path) == before, "no file was written"


def test_a_source_without_frames_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(KazoeError):
        grab_frame(settings(str(tmp_path / "empty.mp4")))
