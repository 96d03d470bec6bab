"""The one exception family that means "the user's input is wrong".

Every stage's own error class (``CorpusError``, ``CheckpointError``, ``ExtractionError``,
``AnalysisInputError``, ...) derives from :class:`InputError`; the scripts turn it into one line
on stderr and exit status 2 (:func:`common.cli.run_main`).  Anything else is a bug: exit 1.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input or settings: a flag, file or value the user must change.  The message names
    it; it is printed as one line, without a traceback."""


class OutputPathError(InputError):
    """An output path that would destroy or overwrite something the stage did not write."""


class LockHeldError(InputError):
    """Another live process holds the folder's lock."""


def one_line(message: object) -> str:
    """``message`` folded onto one line (newlines and runs of blanks become single spaces)."""
    return " ".join(str(message).split())
