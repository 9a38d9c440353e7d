"""A live camera that stalls, errors and recovers: watchdog, backoff, newest-frame-only."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from edge.capture.live import LiveSource
from edge.config import SourceConfig
from edge.testing import ScriptedCapture, ScriptedOpener


def cfg(read_timeout_s: float = 0.5, max_fps: float = 100.0) -> SourceConfig:
    return SourceConfig(uri="0", read_timeout_s=read_timeout_s, max_fps=max_fps)


@pytest.fixture
def sources() -> Iterator[list[LiveSource]]:
    made: list[LiveSource] = []
    yield made
    for source in made:
        source.close()


def drive(source: LiveSource, seconds: float) -> tuple[int, list[str]]:
    """Consume frames for a while; returns frames seen and the distinct states in order."""
    frames, states = 0, [source.state]
    deadline = time.monotonic() + seconds
    for frame in source.frames():
        if frame is not None:
            frames += 1
            assert frame.image.any()
            frame.image.fill(0)
        if source.state != states[-1]:
            states.append(source.state)
        if time.monotonic() > deadline:
            break
    return frames, states


def test_stall_is_detected_and_the_camera_reopened(sources: list[LiveSource]) -> None:
    opener = ScriptedOpener(
        [
            ScriptedCapture(10, then="stall"),  # flows, then read() blocks
            "camera unplugged",  # two failed reopen attempts
            "camera unplugged",
            ScriptedCapture(20, then="stall"),  # back
        ]
    )
    source = LiveSource("0", cfg(), opener, backoff_min_s=0.05, backoff_max_s=0.2)
    sources.append(source)
    frames, states = drive(source, 3.0)
    assert states[:3] == ["reconnecting", "running", "stalled"]
    assert "running" in states[3:], f"never recovered: {states}"
    assert frames >= 25
    assert opener.opened == 4


def test_a_failing_read_reconnects_with_backoff(sources: list[LiveSource]) -> None:
    opener = ScriptedOpener([ScriptedCapture(5, then="fail"), ScriptedCapture(5, then="stall")])
    source = LiveSource("0", cfg(read_timeout_s=5.0), opener, backoff_min_s=0.05)
    sources.append(source)
    frames, states = drive(source, 1.5)
    assert frames >= 8
    assert states[:4] == ["reconnecting", "running", "reconnecting", "running"]
    assert source.reconnects >= 1


def test_frames_never_block_the_node_for_long(sources: list[LiveSource]) -> None:
    """While the camera is gone the node still gets ticks (None) to do its upkeep."""
    source = LiveSource("0", cfg(), ScriptedOpener(["gone"] * 50), backoff_min_s=0.05)
    sources.append(source)
    gaps, last = [], time.monotonic()
    for n, frame in enumerate(source.frames()):
        assert frame is None
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        if n == 8:
            break
    assert max(gaps) < 1.0
    assert source.state == "reconnecting"


def test_only_the_newest_frame_waits(sources: list[LiveSource]) -> None:
    source = LiveSource("0", cfg(), ScriptedOpener([ScriptedCapture(40, then="stall", fps=200)]))
    sources.append(source)
    time.sleep(0.4)  # the consumer is busy; the reader keeps overwriting the one slot
    assert source.dropped >= 20
    frame = next(f for f in source.frames() if f is not None)
    assert frame.index >= 20
