"""Praat TextGrids (Montreal Forced Aligner, WebMAUS, hand labels): reading, the choice of the
word and phone tiers, and the label rules of an aligned corpus (docs/data.md, "Your own
recordings").

Reading is Praat's own (praat-parselmouth: ``parselmouth.read``, handed over as tgt tiers by
``TextGrid.to_tgt``), so every format Praat writes is read as Praat reads it: long and short
text, binary, UTF-8 with or without BOM, UTF-16 BE/LE with BOM, LF or CRLF, doubled quotes
inside labels. Praat refuses a truncated file at any cut (measured on every cut of a long and a
short file); praatio 6.2.2, the other maintained reader, returns the intervals before a cut
that falls between two intervals without an error, and reads no binary TextGrid (docs/data.md
says how this was measured).

Tiers (:func:`choose_tiers`): a named tier (``--word_tier``/``--phone_tier``), or
automatically MFA's ``words``/``phones`` (and its multi-speaker ``<speaker> - words``/
``<speaker> - phones``), WebMAUS's ``ORT-MAU``/``MAU``, otherwise the one interval tier whose
name contains "word"/"phone" (case-insensitive). Point tiers and other tiers are ignored.

Labels: a word interval labelled empty, ``sil``, ``sp``, ``spn``, ``<eps>``, ``<unk>`` or
``<p:>`` (any case, white space around it ignored) is not a word, and such a phone interval
is dropped (:data:`NON_SPEECH_LABELS`). Words are lower-cased (non-ASCII kept).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

NON_SPEECH_LABELS = frozenset({"", "sil", "sp", "spn", "<eps>", "<unk>", "<p:>"})
AUTO = ""          # --word_tier / --phone_tier default: choose automatically

_SPEAKER_WORDS_RE = re.compile(r"^(.*\S)\s+-\s+words$", re.IGNORECASE)


class TextGridError(Exception):
    """A TextGrid that gives no tokens: ``reason`` (a count key of the dataset's ``skipped``)
    and ``message`` (names the file and says why)."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class Tier:
    """One tier: ``intervals`` [(start s, end s, label)] of its non-empty intervals in time
    order (a point tier: its points as (time, time, mark))."""

    name: str
    is_interval: bool
    intervals: tuple


@dataclasses.dataclass(frozen=True)
class TextGrid:
    """A TextGrid as read: its time domain [xmin, xmax] (s) and its tiers in file order."""

    path: str
    xmin: float
    xmax: float
    tiers: tuple

    def tier_names(self) -> str:
        """The tiers for a message: ``'words' (interval), 'bell' (point)``."""
        return ", ".join(f"'{t.name}' ({'interval' if t.is_interval else 'point'})"
                         for t in self.tiers) or "none"


@dataclasses.dataclass(frozen=True)
class TierPair:
    """The word tier of a speaker, its phone tier (None: no phones) and the speaker it names
    (None: the folder holding the file)."""

    words: Tier
    phones: Optional[Tier]
    speaker: Optional[str] = None


def _praat_message(error: Exception) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return " ".join(lines[:3]) or type(error).__name__


def read_textgrid(path: str) -> TextGrid:
    """Read ``path`` with Praat's reader. Raises :class:`TextGridError` ('textgrid_malformed')
    for a file Praat cannot read (malformed, truncated, unreadable) or that holds another kind
    of Praat object."""
    import parselmouth
    try:
        obj = parselmouth.read(path)
    except Exception as e:  # parselmouth.PraatError, and OSError-like failures inside Praat
        raise TextGridError("textgrid_malformed",
                            f"{path}: Praat cannot read it as a TextGrid "
                            f"({_praat_message(e)})") from None
    if not isinstance(obj, parselmouth.TextGrid):
        raise TextGridError("textgrid_malformed",
                            f"{path}: holds a Praat {obj.class_name}, not a TextGrid")
    try:
        grid = obj.to_tgt(include_empty_intervals=False)
    except Exception as e:  # a tier tgt refuses (e.g. overlapping points)
        raise TextGridError("textgrid_malformed",
                            f"{path}: its tiers cannot be read ({_praat_message(e)})") from None
    tiers = []
    for tier in grid.tiers:
        if hasattr(tier, "intervals"):
            items = tuple((float(i.start_time), float(i.end_time), str(i.text))
                          for i in tier.intervals)
            tiers.append(Tier(str(tier.name), True, items))
        else:
            items = tuple((float(p.time), float(p.time), str(p.text)) for p in tier.points)
            tiers.append(Tier(str(tier.name), False, items))
    return TextGrid(path, float(grid.start_time), float(grid.end_time), tuple(tiers))


def is_speech(label: str) -> bool:
    """Whether an interval label names a word/phone (not one of :data:`NON_SPEECH_LABELS`)."""
    return label.strip().lower() not in NON_SPEECH_LABELS


def word_of(label: str) -> Optional[str]:
    """The word of a word-tier label (lower-cased, white space around it dropped), or None
    for a non-speech label."""
    return label.strip().lower() if is_speech(label) else None


def _named(tiers: list, name: str) -> Optional[Tier]:
    """The tier called ``name``: exactly, else the one whose name equals it ignoring case."""
    exact = [t for t in tiers if t.name == name]
    if exact:
        return exact[0]
    loose = [t for t in tiers if t.name.strip().lower() == name.strip().lower()]
    return loose[0] if len(loose) == 1 else None


def _containing(tiers: list, part: str) -> list:
    return [t for t in tiers if part in t.name.lower()]


def _auto_phones(intervals: list, words: Tier) -> Optional[Tier]:
    """The phone tier that goes with an automatically or explicitly chosen word tier."""
    m = _SPEAKER_WORDS_RE.match(words.name)
    if m:
        return _named(intervals, f"{m.group(1)} - phones")
    for name in ("phones", "MAU"):
        tier = _named(intervals, name)
        if tier is not None:
            return tier
    found = _containing(intervals, "phone")
    return found[0] if len(found) == 1 else None


def choose_tiers(grid: TextGrid, word_tier: str = AUTO, phone_tier: str = AUTO) -> list:
    """The [:class:`TierPair`] of a TextGrid (several for MFA's multi-speaker files).

    Raises :class:`TextGridError`: 'missing_word_tier' (the named tier, or by the automatic
    rule none, is not an interval tier of the file), 'ambiguous_word_tier' (several interval
    tiers contain "word" and none is MFA's or WebMAUS's). A named phone tier the file lacks
    gives pairs without phones (the caller warns)."""
    intervals = [t for t in grid.tiers if t.is_interval]
    if word_tier != AUTO:
        words = _named(intervals, word_tier)
        if words is None:
            raise TextGridError("missing_word_tier", f"{grid.path}: no interval tier "
                                f"'{word_tier}' (--word_tier); tiers: {grid.tier_names()}")
        pairs = [TierPair(words, None)]
    else:
        pairs = _auto_word_tiers(grid, intervals)
    if phone_tier != AUTO:
        phones = _named(intervals, phone_tier)
        return [dataclasses.replace(p, phones=phones) for p in pairs]
    return [p if p.phones is not None else
            dataclasses.replace(p, phones=_auto_phones(intervals, p.words)) for p in pairs]


def _auto_word_tiers(grid: TextGrid, intervals: list) -> list:
    for name in ("words", "ORT-MAU"):
        tier = _named(intervals, name)
        if tier is not None:
            return [TierPair(tier, None)]
    per_speaker = [(t, _SPEAKER_WORDS_RE.match(t.name)) for t in intervals]
    per_speaker = [(t, m.group(1)) for t, m in per_speaker if m]
    if len(per_speaker) == 1:
        return [TierPair(per_speaker[0][0], None)]
    if per_speaker:
        return [TierPair(t, None, speaker) for t, speaker in per_speaker]
    found = _containing(intervals, "word")
    if len(found) == 1:
        return [TierPair(found[0], None)]
    if found:
        raise TextGridError("ambiguous_word_tier", f"{grid.path}: several interval tiers "
                            f"could be the word tier ({', '.join(repr(t.name) for t in found)}); "
                            "name one with --word_tier")
    raise TextGridError("missing_word_tier", f"{grid.path}: no word tier (MFA's 'words', "
                        f"WebMAUS's 'ORT-MAU', or one interval tier named '...word...'); "
                        f"tiers: {grid.tier_names()}; name one with --word_tier")
