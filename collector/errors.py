"""The collector's exception tree, under the project's root error.

Third-party errors (sqlite3, psycopg, paho, uvicorn) are translated here at the
boundary, so callers handle only these.
"""

from __future__ import annotations

from edge.errors import ConfigError, KazoeError


class CollectorError(KazoeError):
    """Root of every error the collector reports to a user as one clear line."""


class CollectorConfigError(ConfigError, CollectorError):
    """The collector's config file is missing, unreadable or invalid."""


class StoreError(CollectorError):
    """The database refused an operation."""


class StoreDataError(StoreError):
    """The database refused these values (a constraint or a range): drop them, keep going."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (retry later)."""


class Rejected(CollectorError):
    """A message was dropped: ``reason`` is a short metric label, the text says why."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)
