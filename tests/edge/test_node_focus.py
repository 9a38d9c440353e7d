"""The node forgets the motion thumbnail when its source ends (no pixels outlive a source)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.config import NodeSettings
from edge.delivery.outbox import Outbox
from edge.node import Node
from edge.payload import ModelIds
from edge.testing import RecordingPublisher
from edge.types import Frame
from edge.vision.analyser import Analyser
from edge.vision.face_detector import open_detector

MODELS = Path(__file__).resolve().parents[2] / "models" / "build"


class StreetFile:
    """A file-like source: a few frames of a street with a moving bright patch, then the end."""

    state = "running"

    def __init__(self, frames: int) -> None:
        self.count = frames
        self.handed_out: list[Frame] = []

    def frames(self) -> Iterator[Frame | None]:
        for i in range(self.count):
            image = np.full((360, 640, 3), 90, np.uint8)
            image[100:160, 50 + 20 * i : 110 + 20 * i] = 220
            frame = Frame(i, 1000.0 + i / 10, image)
            self.handed_out.append(frame)
            yield frame
        self.state = "ended"

    def close(self) -> None:
        self.state = "ended"


def test_a_finished_source_leaves_no_frame_and_no_thumbnail(tmp_path: Path) -> None:
    if not (MODELS / "yunet.onnx").is_file():
        pytest.skip("models are not built: run 'make models'")
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path)},
            "source": {"uri": "street.mp4"},
            "policy": {"purposes": ["footfall"]},
        }
    )
    analyser = Analyser(open_detector(MODELS, settings.detector), None, focus=settings.detector)
    source = StreetFile(6)
    node = Node(
        settings,
        source=source,
        analyser=analyser,
        outbox=Outbox(tmp_path / "kazoe.db"),
        publisher=RecordingPublisher(),
        models=ModelIds(detector="d@1"),
    )
    node.run_frames()
    assert analyser.focus is not None
    assert analyser.focus.stats.full + analyser.focus.stats.regions + analyser.focus.stats.idle == 6
    kept_while_running = analyser.focus.motion.holds_pixels
    node.finish_source()
    assert kept_while_running, "one thumbnail is kept between frames while the source runs"
    assert not analyser.focus.motion.holds_pixels
    assert len(source.handed_out) == 6
    assert not any(f.image.any() for f in source.handed_out)
