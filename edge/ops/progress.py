"""A progress bar for long file replays, on a terminal only (quiet under CI and in pipes)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from tqdm import tqdm

from edge.capture.sources import FileSource, FrameSource
from edge.types import Frame


def wanted() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class ProgressSource:
    """Wraps a FileSource: same frames, plus a tqdm bar on stderr."""

    def __init__(self, inner: FileSource) -> None:
        self.inner = inner
        self.state = inner.state

    def frames(self) -> Iterator[Frame | None]:
        total = None if self.inner.cfg.loop else (self.inner.frame_count or None)
        with tqdm(total=total, unit="frame", desc=self.inner.path.name, leave=True) as bar:
            for frame in self.inner.frames():
                bar.update(1)
                yield frame
        self.state = self.inner.state

    def close(self) -> None:
        self.inner.close()


def with_progress(source: FrameSource) -> FrameSource:
    """The source itself, or wrapped in a progress bar when a person is watching a file run."""
    if isinstance(source, FileSource) and wanted():
        return ProgressSource(source)
    return source
