"""The extraction stage's "bad input" error (exit status 2 through common.cli.run_main)."""

from __future__ import annotations

from common.errors import InputError


class ExtractionError(InputError, ValueError):
    """Bad input to the extraction (flag, data folder, checkpoint); the message says which."""
