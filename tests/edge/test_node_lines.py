"""A node with a counting line and a privacy mask: a person walking across the line comes
out of the outbox as a kazoe.counts/2 window with the crossing in its direction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.config import NodeSettings
from edge.delivery.outbox import Outbox
from edge.node import Node
from edge.payload import ModelIds, validate
from edge.privacy.masks import MaskSet
from edge.testing import RecordingPublisher
from edge.types import Detections, Frame, ImageArray
from edge.vision.analyser import Analyser

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp()
FPS = 10


class ListSource:
    """A file-like source of blank frames (the detections are scripted)."""

    state = "running"

    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self) -> Iterator[Frame | None]:
        for i in range(self.n):
            yield Frame(i, T0 + i / FPS, np.full((360, 640, 3), 99, np.uint8))
        self.state = "ended"

    def close(self) -> None:
        self.state = "ended"


class WalkingFaces:
    """Two faces walking left to right at 200 px/s, one above the other."""

    def __init__(self) -> None:
        self.i = 0
        self.saw_unmasked_pixels_in_mask = False

    def detect(self, image: ImageArray) -> Detections:
        if image[20:80, 20:80].any():
            self.saw_unmasked_pixels_in_mask = True
        x = 100 + 20 * self.i
        self.i += 1
        boxes = np.array([[x, 120, x + 60, 180], [x - 40, 250, x + 20, 310]], dtype=np.float32)
        return Detections(boxes, np.full(2, 0.9, np.float32), np.zeros((2, 6, 2), np.float32))


def test_a_crossing_reaches_the_outbox_as_schema_2(tmp_path: Path) -> None:
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "cam-01", "state_dir": str(tmp_path)},
            "source": {"uri": "street.mp4"},
            "policy": {"purposes": ["footfall"], "k": 2},
            "aggregate": {"window_seconds": 60},
            "counting": {
                "lines": [
                    {"name": "gate", "start": [0.5, 0.0], "end": [0.5, 1.0], "in_side": "left"},
                    {"name": "back", "start": [0.9, 0.0], "end": [0.9, 1.0]},
                ]
            },
            "privacy": {
                "masks": [{"name": "door", "polygon": [[0, 0], [0.15, 0], [0.15, 0.25], [0, 0.25]]}]
            },
        }
    )
    detector = WalkingFaces()
    outbox = Outbox(tmp_path / "kazoe.db")
    node = Node(
        settings,
        source=ListSource(20),
        analyser=Analyser(detector, None, masks=MaskSet(settings.privacy.masks)),  # type: ignore[arg-type]
        outbox=outbox,
        publisher=RecordingPublisher(),
        models=ModelIds(detector="d@1"),
    )
    node.run_frames()
    node.finish_source()
    ((_, body),) = outbox.pending(10)
    doc = validate("counts.schema.json", body)
    assert doc["schema"] == "kazoe.counts/2"
    assert doc["people"] == 2
    # Left to right across a line drawn downwards: into its left (the screen's right) = in.
    assert doc["lines"] == {"gate": {"in": 2, "out": 0}, "back": {"in": 0, "out": 0}}
    assert doc["suppressed"] == []
    assert not detector.saw_unmasked_pixels_in_mask
    assert json.loads(body)["lines"]["back"] == {"in": 0, "out": 0}
