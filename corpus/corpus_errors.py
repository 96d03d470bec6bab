"""Exceptions of the corpus stage. Every one carries a message naming the file/flag/value."""

from common.errors import InputError


class CorpusError(InputError):
    """Base class: bad input or settings that stop the corpus stage (CLI exit code 2)."""


class AudioReadError(CorpusError):
    """An audio file cannot be read (corrupt, unsupported coding, empty, non-finite) or its
    header is not believable (``reason``: the count it is skipped under)."""

    def __init__(self, message: str, reason: str = "audio_unreadable"):
        super().__init__(message)
        self.reason = reason


class NoUsableDataError(CorpusError):
    """Nothing usable remains after skipping bad input (no token for any selected word)."""


class DatasetIncompleteError(CorpusError):
    """A dataset folder is missing, incomplete (no dataset.json) or inconsistent."""
