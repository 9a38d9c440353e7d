"""Errors the simulator reports to a user as one clear line (never a traceback)."""


class SceneError(Exception):
    """A synthetic scene cannot be generated: bad input, a failed download or an unwritable file."""


class PortraitDownloadError(SceneError):
    """The package index could not be reached (or refused) while fetching a portrait wheel."""
