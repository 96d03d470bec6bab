"""Phone labels: the one table that maps every phone set the project reads to its TIMIT-style
labels, and TIMIT-style labels to IPA for display.

The project's phone labels are TIMIT's lower-case symbols (``sh``, ``iy``, ``h#``): TIMIT's
.PHN files and the demo corpus use them as they are, and prepare.py maps the phones of an
aligned corpus's TextGrids to them (``--phone_set``), so that ``phones.csv``, extract.py
``--phones``, analyze.py ``--contrasts`` and the report name one phone one way whatever the
aligner. Figures and the report show them in IPA between square brackets (``sh`` -> ``[ʃ]``,
:func:`phone_label`).

Phone sets (:data:`PHONE_SETS`) and how a label is mapped (:func:`to_timit`):

* ``timit``: TIMIT's 61 symbols, any case (``SH`` -> ``sh``).
* ``arpabet``: CMU/MFA ARPAbet (any case) with stress digits, which are dropped
  (``AH0`` -> ``ah``, ``SH`` -> ``sh``); the symbol must then be a TIMIT one.
* ``ipa``: IPA as MFA's ``english_mfa``/``english_us_mfa`` models write it (``ʃ`` -> ``sh``,
  ``ɑ`` -> ``aa``, ``iː`` -> ``iy``, ``tʰ`` -> ``t``): a symbol of :data:`PHONE_TABLE`'s IPA
  columns, else the same without length, aspiration, palatalisation, labialisation and dental
  marks and tie bars.
* ``sampa``: SAMPA for English with X-SAMPA's spellings (WebMAUS): ``S`` -> ``sh``,
  ``{`` -> ``ae``, ``@U`` -> ``ow``.

A label no column of the table knows is left as it is (:func:`to_timit` returns None and the
caller keeps the label, counted): data is never silently renamed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Optional

PHONE_SETS = ("timit", "arpabet", "ipa", "sampa")
PHONE_SET_CHOICES = ("auto",) + PHONE_SETS     # prepare.py --phone_set (auto: per file)

# One row per TIMIT symbol (TIMIT documentation, phoncode.doc):
#   (TIMIT label, IPA shown in figures, other IPA spellings read (MFA), SAMPA/X-SAMPA spellings)
# The IPA shown is unique per label, so IPA -> TIMIT -> IPA is the identity on it. Closures
# are written as unreleased stops; the non-speech symbols (h#, pau, epi) have no IPA.
PHONE_TABLE = (
    # stops, closures, flaps, glottal stop
    ("b", "b", ("bʲ",), ("b",)),
    ("d", "d", ("dʲ", "d̪"), ("d",)),
    ("g", "ɡ", ("g", "ɟ", "ɡʲ"), ("g",)),
    ("p", "p", ("pʰ", "pʲ"), ("p",)),
    ("t", "t", ("tʰ", "tʲ", "t̪"), ("t",)),
    ("k", "k", ("kʰ", "c", "cʰ", "kʲ"), ("k",)),
    ("bcl", "b̚", (), ()), ("dcl", "d̚", (), ()), ("gcl", "ɡ̚", (), ()),
    ("pcl", "p̚", (), ()), ("tcl", "t̚", (), ()), ("kcl", "k̚", (), ()),
    ("dx", "ɾ", ("ɾʲ",), ("4",)),
    ("q", "ʔ", (), ("?",)),
    # affricates and fricatives
    ("jh", "dʒ", ("d͡ʒ", "ʤ"), ("dZ",)),
    ("ch", "tʃ", ("t͡ʃ", "ʧ"), ("tS",)),
    ("s", "s", (), ("s",)), ("sh", "ʃ", (), ("S",)), ("z", "z", (), ("z",)),
    ("zh", "ʒ", (), ("Z",)), ("f", "f", ("fʲ",), ("f",)), ("th", "θ", ("θ̪",), ("T",)),
    ("v", "v", ("vʲ",), ("v",)), ("dh", "ð", (), ("D",)),
    ("hh", "h", ("ç",), ("h",)), ("hv", "ɦ", (), ("h\\",)),
    # nasals
    ("m", "m", ("mʲ",), ("m",)), ("n", "n", ("ɲ",), ("n",)), ("ng", "ŋ", (), ("N",)),
    ("em", "m̩", (), ("m=",)), ("en", "n̩", (), ("n=",)), ("eng", "ŋ̍", ("ŋ̩",), ("N=",)),
    ("nx", "ɾ̃", (), ("4~",)),
    # liquids and glides
    ("l", "l", ("ɫ", "ʎ"), ("l", "5")), ("r", "ɹ", ("r", "ɻ"), ("r", "r\\")),
    ("w", "w", (), ("w",)), ("y", "j", (), ("j",)), ("el", "l̩", ("ɫ̩",), ("l=", "5=")),
    # vowels
    ("iy", "i", ("iː",), ("i:", "i")), ("ih", "ɪ", (), ("I",)),
    ("eh", "ɛ", ("ɛː",), ("e", "E")), ("ey", "eɪ", ("ej", "e", "eː"), ("eI",)),
    ("ae", "æ", ("æː",), ("{",)), ("aa", "ɑ", ("ɑː", "ɒ", "ɒː", "a", "aː"), ("A:", "A", "Q")),
    ("aw", "aʊ", ("aw",), ("aU",)), ("ay", "aɪ", ("aj",), ("aI",)),
    ("ah", "ʌ", ("ɐ",), ("V", "6")), ("ao", "ɔ", ("ɔː",), ("O:", "O")),
    ("oy", "ɔɪ", ("ɔj",), ("OI",)), ("ow", "oʊ", ("ow", "o", "oː", "əʊ", "əw"), ("@U", "oU")),
    ("uh", "ʊ", (), ("U",)), ("uw", "u", ("uː",), ("u:", "u")), ("ux", "ʉ", ("ʉː",), ("}:",)),
    ("er", "ɝ", ("ɜ", "ɜː", "ɝː"), ("3:", "3`")), ("ax", "ə", (), ("@",)),
    ("ix", "ɨ", (), ("1",)), ("axr", "ɚ", (), ("@`",)), ("ax-h", "ə̥", (), ()),
    # non-speech
    ("h#", "", (), ()), ("pau", "", (), ()), ("epi", "", (), ()),
)

TIMIT_PHONES = frozenset(row[0] for row in PHONE_TABLE)
TIMIT_TO_IPA = {timit: shown for timit, shown, _, _ in PHONE_TABLE if shown}

# The marks left out of an IPA label that is not in the table as it is: length (ː ˑ),
# aspiration (ʰ), palatalisation (ʲ), labialisation (ʷ), dental (U+032A), tie bars (U+0361,
# U+035C).
_IPA_MARKS = "ːˑʰʲʷ\u032a\u0361\u035c"
_ARPABET_RE = re.compile(r"^([A-Za-z]+(?:-[A-Za-z]+)?)[0-2]?$")


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _ipa_index() -> dict:
    index = {}
    for timit, shown, others, _ in PHONE_TABLE:
        for spelling in ((shown,) if shown else ()) + others:
            index.setdefault(_nfd(spelling), timit)
    return index


_IPA_TO_TIMIT = _ipa_index()
_SAMPA_TO_TIMIT = {s: timit for timit, _, _, sampa in PHONE_TABLE for s in sampa}


def _strip_ipa_marks(text: str) -> str:
    return "".join(c for c in text if c not in _IPA_MARKS)


def to_timit(label: str, phone_set: str) -> Optional[str]:
    """The TIMIT-style label of ``label`` (surrounding white space ignored) read in
    ``phone_set`` (one of :data:`PHONE_SETS`), or None when the set has no such symbol."""
    text = str(label).strip()
    if phone_set == "timit":
        low = text.lower()
        return low if low in TIMIT_PHONES else None
    if phone_set == "arpabet":
        m = _ARPABET_RE.match(text)
        if not m:
            return None
        low = m.group(1).lower()
        return low if low in TIMIT_PHONES else None
    if phone_set == "ipa":
        key = _nfd(text)
        if key in _IPA_TO_TIMIT:
            return _IPA_TO_TIMIT[key]
        return _IPA_TO_TIMIT.get(_strip_ipa_marks(key))
    if phone_set == "sampa":
        return _SAMPA_TO_TIMIT.get(text)
    raise ValueError(f"phone set {phone_set!r}: expected one of {', '.join(PHONE_SETS)}")


def detect_phone_set(labels: Iterable[str]) -> str:
    """The phone set of a file's phone labels: the first of :data:`PHONE_SETS` (in that
    order) that knows every label, else the one that knows the most (ties in that order).

    The order settles labels several sets share: ``s`` or ``t`` map alike in all of them;
    an upper-case file of single letters (``S``, ``D``) is read as ARPAbet, not SAMPA (give
    ``--phone_set=sampa`` for such a file). ``labels`` empty -> 'timit'."""
    distinct = {str(x).strip() for x in labels}
    best, best_known = PHONE_SETS[0], -1
    for phone_set in PHONE_SETS:
        known = sum(to_timit(x, phone_set) is not None for x in distinct)
        if known == len(distinct):
            return phone_set
        if known > best_known:
            best, best_known = phone_set, known
    return best


def ipa(phone: object) -> str:
    """The IPA symbol of a TIMIT phone (case-insensitive: ``SH`` -> ``ʃ``); any other label
    unchanged (as ``str``)."""
    text = str(phone)
    return TIMIT_TO_IPA.get(text.lower(), text)


def phone_label(phone: object) -> str:
    """How figures and the report name a phone: its IPA symbol in square brackets
    (``s`` -> ``[s]``, ``sh`` -> ``[ʃ]``; an unknown label ``x`` -> ``[x]``). The result is
    data text: escape it for the output (``plot_text``, ``md_text``) like any label."""
    return f"[{ipa(phone)}]"
