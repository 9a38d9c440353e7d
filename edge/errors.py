"""One exception tree for the node; third-party errors are translated at the boundary."""


class KazoeError(Exception):
    """Root of every error the node reports to a user as one clear line."""


class ConfigError(KazoeError):
    """The configuration file is missing, unreadable or invalid."""


class ModelError(KazoeError):
    """A model file is missing, corrupt or does not behave as expected."""


class SourceError(KazoeError):
    """A frame source cannot be opened or has failed."""


class SourceEnded(SourceError):
    """A file source reached its end (not an error for --once runs)."""


class BrokerError(KazoeError):
    """The MQTT broker refused us or cannot be reached."""


class PayloadError(KazoeError):
    """A message does not match its JSON Schema."""


class StoreError(KazoeError):
    """The node's local state (SQLite outbox) cannot be used."""
