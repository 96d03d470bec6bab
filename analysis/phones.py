"""Phone labels as the paper prints them: TIMIT (ARPAbet) symbols to IPA, in one place.

Extraction keeps the corpus's own phone symbols (TIMIT's lower-case ARPAbet, which the demo
corpus's festival 'radio' phone set shares for the phones used here: ``s``, ``sh``, ...).
Figures and the report show them in IPA between square brackets (``sh`` -> ``[ʃ]``) through
:func:`phone_label`. A symbol outside the map (a pause, a label of another corpus) is shown as
it is, still bracketed, so a figure never silently renames data.
"""

from __future__ import annotations

# TIMIT's 61 phone symbols (TIMIT documentation, phoncode.doc) -> IPA. Closures are written
# as unreleased stops; the non-speech symbols (h#, pau, epi) have no IPA and are left out.
TIMIT_TO_IPA = {
    # stops, closures, flaps, glottal stop
    "b": "b", "d": "d", "g": "ɡ", "p": "p", "t": "t", "k": "k",
    "bcl": "b̚", "dcl": "d̚", "gcl": "ɡ̚", "pcl": "p̚", "tcl": "t̚", "kcl": "k̚",
    "dx": "ɾ", "q": "ʔ",
    # affricates and fricatives
    "jh": "dʒ", "ch": "tʃ", "s": "s", "sh": "ʃ", "z": "z", "zh": "ʒ", "f": "f", "th": "θ",
    "v": "v", "dh": "ð", "hh": "h", "hv": "ɦ",
    # nasals
    "m": "m", "n": "n", "ng": "ŋ", "em": "m̩", "en": "n̩", "eng": "ŋ̍", "nx": "ɾ̃",
    # liquids and glides
    "l": "l", "r": "ɹ", "w": "w", "y": "j", "el": "l̩",
    # vowels
    "iy": "i", "ih": "ɪ", "eh": "ɛ", "ey": "eɪ", "ae": "æ", "aa": "ɑ", "aw": "aʊ", "ay": "aɪ",
    "ah": "ʌ", "ao": "ɔ", "oy": "ɔɪ", "ow": "oʊ", "uh": "ʊ", "uw": "u", "ux": "ʉ", "er": "ɝ",
    "ax": "ə", "ix": "ɨ", "axr": "ɚ", "ax-h": "ə̥",
}


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
