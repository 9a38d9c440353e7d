"""Errors of the model build: each message is one line that says what went wrong and what to do."""


class ModelBuildError(Exception):
    """A build step failed; `python -m models.build` prints the message and exits 1."""


class DownloadError(ModelBuildError):
    """pip could not fetch a pinned wheel (usually: no network or no index)."""
