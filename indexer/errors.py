"""Typed exceptions of the indexer core; messages are meant for the user."""


class ArchiveError(Exception):
    """Base class for every error the archive reports to its user."""


class ConfigError(ArchiveError):
    """A setting is unknown, of the wrong type or out of range; the message names the key."""


class ReadError(ArchiveError):
    """A file in the archive cannot be read; `reason` says why in one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class IndexUnavailable(ArchiveError):
    """The index is missing, unreadable or built by another schema version."""


class QueryTooLong(ArchiveError):
    """A query exceeds the configured limits (length or number of terms)."""


class InvalidRequest(ArchiveError):
    """A search or document request the caller can fix (bad page, size, date, empty query)."""


class BuildAbandoned(ArchiveError):
    """A build or sync could not finish (a worker process died); nothing of it was committed."""
