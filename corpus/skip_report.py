"""Collects skipped inputs and warnings by reason while preparing a dataset."""

from __future__ import annotations

import collections
import logging

logger = logging.getLogger("corpus")


class Report:
    """Counts by reason, plus every message (each also logged as a warning).

    ``skipped``: inputs dropped from the dataset (units per reason, see docs/data.md:
    ``*_file``/``audio_*``/``missing_*`` count files, the others count tokens or label lines).
    ``warnings``: problems that lost nothing from the dataset (e.g. a bad .PHN line).
    """

    def __init__(self, max_logged: int = 200):
        self.skipped: collections.Counter = collections.Counter()
        self.warnings: collections.Counter = collections.Counter()
        self.messages: list = []
        self.max_logged = int(max_logged)

    def _log(self, message: str) -> None:
        self.messages.append(message)
        if len(self.messages) <= self.max_logged:
            logger.warning(message)
        elif len(self.messages) == self.max_logged + 1:
            logger.warning("(further warnings are counted in the summary but not printed)")

    def skip(self, reason: str, message: str, n: int = 1) -> None:
        """Record ``n`` skipped inputs for ``reason`` and log ``message``."""
        self.skipped[reason] += int(n)
        self._log(f"skipped ({reason}): {message}")

    def warn(self, reason: str, message: str, n: int = 1) -> None:
        """Record a warning that did not lose data."""
        self.warnings[reason] += int(n)
        self._log(f"warning ({reason}): {message}")

    def summary_lines(self) -> list:
        """Human-readable lines 'reason: count' for skipped and warnings."""
        out = []
        for title, counter in (("skipped", self.skipped), ("warnings", self.warnings)):
            if counter:
                out.append(f"{title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counter.items())))
        return out
