"""Frame sources: odd frames are coerced or refused; a file yields every frame on its own clock."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.capture.frames import MAX_SIDE, to_bgr8
from edge.capture.sources import FileSource, is_live, open_source
from edge.config import SourceConfig
from edge.errors import SourceError

ANCHOR = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
FPS = 10.0
N_FRAMES = 10


def test_grey_becomes_bgr() -> None:
    grey = np.arange(32 * 48, dtype=np.uint32).reshape(32, 48).astype(np.uint8)
    out = to_bgr8(grey)
    assert out is not None
    assert out.shape == (32, 48, 3)
    assert out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_single_channel_3d_becomes_bgr() -> None:
    out = to_bgr8(np.full((20, 20, 1), 9, dtype=np.uint8))
    assert out is not None
    assert out.shape == (20, 20, 3)
    assert int(out.max()) == 9


def test_sixteen_bit_keeps_the_high_byte() -> None:
    deep = np.full((24, 24, 3), 0xAB12, dtype=np.uint16)
    out = to_bgr8(deep)
    assert out is not None
    assert out.dtype == np.uint8
    assert set(np.unique(out).tolist()) == {0xAB}


def test_bgra_drops_alpha() -> None:
    bgra = np.zeros((16, 16, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 255
    out = to_bgr8(bgra)
    assert out is not None
    assert out.shape == (16, 16, 3)
    assert out[0, 0].tolist() == [10, 20, 30]


def test_plain_bgr_is_passed_through() -> None:
    bgr = np.zeros((20, 30, 3), dtype=np.uint8)
    assert to_bgr8(bgr) is bgr, "no copy: the source's own buffer is zeroed after analysis"


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((1, 1, 3), dtype=np.uint8),
        np.zeros((1, 1), dtype=np.uint8),
        np.zeros((15, 640, 3), dtype=np.uint8),
        np.zeros((MAX_SIDE + 1, 16, 3), dtype=np.uint8),
        np.zeros((16, MAX_SIDE + 1), dtype=np.uint8),
        np.zeros((0, 0, 3), dtype=np.uint8),
        np.zeros((32, 32, 3), dtype=np.float32),
        np.zeros((32, 32, 2), dtype=np.uint8),
        np.zeros((4, 32, 32, 3), dtype=np.uint8),
    ],
    ids=["1x1", "1x1-grey", "too-thin", "huge", "huge-grey", "empty", "float", "2-channel", "4d"],
)
def test_unusable_frames_give_none(image: npt.NDArray[np.generic]) -> None:
    assert to_bgr8(image) is None


@pytest.mark.parametrize(
    ("uri", "live"),
    [("0", True), ("rtsp://cam/1", True), ("HTTPS://x/y", True), ("street.mp4", False)],
)
def test_is_live(uri: str, live: bool) -> None:
    assert is_live(uri) == live


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 10-frame, 10 fps mp4v video whose frame i has brightness 20 * i."""
    path = tmp_path / "street.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(N_FRAMES):
        writer.write(np.full((48, 64, 3), 20 * i, dtype=np.uint8))
    writer.release()
    return path


def test_file_source_yields_every_frame_on_the_media_clock(video: Path) -> None:
    source = FileSource(video, SourceConfig(uri=str(video)), ANCHOR)
    assert source.fps == FPS
    assert source.state == "running"
    seen: list[tuple[int, float, float]] = []
    for frame in source.frames():
        assert frame is not None
        assert frame.image.shape == (48, 64, 3)
        # The source reuses one buffer: read the pixels now, before the next frame.
        seen.append((frame.index, frame.ts, float(frame.image.mean())))
    source.close()
    assert [i for i, _, _ in seen] == list(range(N_FRAMES))
    for i, ts, _ in seen:
        assert ts == pytest.approx(ANCHOR.timestamp() + i / FPS, abs=1e-6)
    brightness = [b for _, _, b in seen]
    assert brightness == sorted(brightness)
    assert brightness[-1] == pytest.approx(180, abs=8)
    assert source.state == "ended"


def test_open_source_picks_a_file_source(video: Path) -> None:
    source = open_source(str(video), SourceConfig(uri=str(video)), ANCHOR)
    try:
        assert isinstance(source, FileSource)
    finally:
        source.close()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "street.mp4"
    with pytest.raises(SourceError, match=re.escape(f"video file {missing} not found")):
        FileSource(missing, SourceConfig(uri=str(missing)), ANCHOR)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20, encoding="utf-8")
    with pytest.raises(SourceError, match=re.escape(str(fake))):
        FileSource(fake, SourceConfig(uri=str(fake)), ANCHOR)


def test_looping_file_keeps_the_clock_moving_forward(video: Path) -> None:
    source = FileSource(video, SourceConfig(uri=str(video), loop=True), ANCHOR)
    frames = source.frames()
    stamps = [f.ts for f in itertools.islice(frames, 2 * N_FRAMES + 5) if f is not None]
    source.close()
    assert len(stamps) == 2 * N_FRAMES + 5
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert source.state == "running"


def test_each_loop_of_a_file_spans_the_file_length(video: Path) -> None:
    source = FileSource(video, SourceConfig(uri=str(video), loop=True), ANCHOR)
    stamps = [
        f.ts - ANCHOR.timestamp()
        for f in itertools.islice(source.frames(), 3 * N_FRAMES)
        if f is not None
    ]
    source.close()
    length = N_FRAMES / FPS
    assert stamps[N_FRAMES] - stamps[N_FRAMES - 1] <= 2 / FPS + 1e-6, "at most one frame of gap"
    assert stamps[2 * N_FRAMES] - stamps[N_FRAMES] == pytest.approx(length, abs=1 / FPS + 1e-6)
