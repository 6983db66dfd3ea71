"""Typed exceptions of the indexer core; messages are meant for the user."""

from indexer.messages import Message


class ArchiveError(Exception):
    """Base class for every error the archive reports to its user."""


class ConfigError(ArchiveError):
    """A setting is unknown, of the wrong type or out of range; the message names the key."""


class ReadError(ArchiveError):
    """A file in the archive cannot be read: `message` (a code and parameters) says why, `reason`
    in one line of English."""

    def __init__(self, code: str, **params):
        self.message = Message(code, params)
        self.reason = self.message.text()
        super().__init__(self.reason)


class IndexUnavailable(ArchiveError):
    """The index is missing, unreadable, damaged or built by another schema version.

    `message`: a Message (index_damaged names the file), or index_unavailable with the reason given.
    """

    def __init__(self, reason: str | Message):
        self.message = reason if isinstance(reason, Message) else Message("index_unavailable", {"reason": reason})
        super().__init__(self.message.text())


class InvalidRequest(ArchiveError):
    """A search or document request the caller can fix (bad page, size, date, empty query).

    It carries a Message (code and parameters); str() is its English wording.
    """

    def __init__(self, code: str, **params):
        self.message = Message(code, params)
        super().__init__(self.message.text())


class QueryTooLong(InvalidRequest):
    """A query exceeds the configured limits (length or number of terms)."""


class BuildAbandoned(ArchiveError):
    """A build or sync could not finish (a worker process died); nothing of it was committed."""
