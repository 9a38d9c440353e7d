"""The node tells operators when its camera stalls, and when frames flow again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge.capture.live import LiveSource
from edge.config import DetectorConfig, NodeSettings
from edge.delivery.outbox import Outbox
from edge.node import Node
from edge.payload import ModelIds
from edge.testing import RecordingPublisher, ScriptedCapture, ScriptedOpener
from edge.vision.analyser import Analyser
from edge.vision.face_detector import open_detector

MODELS = Path(__file__).resolve().parents[2] / "models" / "build"


def test_status_goes_degraded_while_the_camera_is_stalled(tmp_path: Path) -> None:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path)},
            "source": {"uri": "0", "read_timeout_s": 0.4, "max_fps": 100},
            "policy": {"purposes": ["footfall"]},
        }
    )
    opener = ScriptedOpener(
        [ScriptedCapture(10, then="stall"), "unplugged", ScriptedCapture(200, then="stall")]
    )
    source = LiveSource("0", settings.source, opener, backoff_min_s=0.3, backoff_max_s=0.3)
    publisher = RecordingPublisher()
    node = Node(
        settings,
        source=source,
        analyser=Analyser(open_detector(MODELS, DetectorConfig()), None),
        outbox=Outbox(tmp_path / "kazoe.db"),
        publisher=publisher,
        models=ModelIds(detector="d@1"),
    )
    runner = threading.Thread(target=node.run_frames)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        states: list[str] = []
        while time.monotonic() < deadline:
            states = [s.state for s in publisher.statuses]
            if "degraded" in states and states[-1] == "online":
                break
            time.sleep(0.05)
    finally:
        node.stop_event.set()
        source.close()
        runner.join(timeout=5)
    assert "degraded" in states, states
    assert states[-1] == "online", states
    reasons = [s.reason for s in publisher.statuses if s.state == "degraded"]
    assert any(r and "stalled" in r for r in reasons), reasons
