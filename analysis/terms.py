"""How tables name a GAMM's terms: ``Word = dark`` and ``Phone = [ʃ]``, not mgcv's ``Worddark``
and ``Phonesh``.

mgcv names a treatment-coded level ``<factor><level>`` and a difference smooth
``s(<x>):<factor>Ordered<level>``; the CSV tables keep those names (they are what R prints and
what a refit script reproduces). The Markdown and LaTeX tables show :class:`TermName` instead,
built by looking each term up among the names a fit can have (:func:`term_names`: the levels
are known, nothing is parsed out of a label), with the word in italics and a phone in IPA
(:func:`common.phones.phone_label`). A term the fit does not explain keeps its own name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from common.phones import phone_label

# What a random factor stands for, in words.
RANDOM_UNITS = {"UniqueWord": "token", "UniqueInterval": "interval"}


@dataclass(frozen=True)
class TermName:
    """A term's display name: ``before`` + the level (a word in italics, a phone in IPA) +
    ``after``; ``level`` None: the plain text ``before``."""
    before: str
    level: Optional[str] = None
    phone: bool = False
    after: str = ""

    def markdown(self) -> str:
        from analysis.labels import md_text
        if self.level is None:
            return md_text(self.before)
        shown = (md_text(phone_label(self.level)) if self.phone
                 else _md_italic(self.level))
        return md_text(self.before) + shown + md_text(self.after)

    def latex(self) -> str:
        from analysis.labels import tex_escape
        if self.level is None:
            return tex_escape(self.before)
        shown = (tex_escape(phone_label(self.level)) if self.phone
                 else r"\textit{" + tex_escape(self.level) + "}")
        return tex_escape(self.before) + shown + tex_escape(self.after)

    def plain(self) -> str:
        if self.level is None:
            return self.before
        return self.before + (phone_label(self.level) if self.phone else self.level) \
            + self.after


def _md_italic(label: str) -> str:
    """A label in Markdown italics; CommonMark opens ``*`` only before a non-space, so a label
    with spaces at its ends is shown upright (escaped) rather than with stray asterisks."""
    from analysis.labels import md_text, visible
    text = visible(label)
    if not text or text != text.strip():
        return md_text(label)
    return f"*{md_text(label)}*"


def term_names(factor: str, levels: Sequence[object], predictor: str,
               random_factor: str) -> Dict[str, TermName]:
    """{mgcv term: display name} for a GAMM of ``factor`` (Word or Phone) with ``levels``
    (reference first) over ``predictor``, random smooths by ``random_factor``."""
    levels = [str(v) for v in levels]
    phone = factor == "Phone"
    names: Dict[str, TermName] = {}
    if levels:
        names["(Intercept)"] = TermName(f"Intercept: {factor} = ", levels[0], phone)
        names[f"s({predictor})"] = TermName(f"s({predictor}): {factor} = ", levels[0], phone,
                                            " (reference curve)")
    for w in levels[1:]:
        names[f"{factor}{w}"] = TermName(f"{factor} = ", w, phone)
        names[f"s({predictor}):{factor}Ordered{w}"] = TermName(
            f"s({predictor}): {factor} = ", w, phone, " (difference curve)")
    unit = RANDOM_UNITS.get(random_factor, random_factor)
    names[f"s({predictor},{random_factor})"] = TermName(
        f"s({predictor}, {unit}): random smooths per {unit}")
    return names


def fit_term_names(fit) -> Dict[str, TermName]:
    """:func:`term_names` of a :class:`analysis.gamm.data.GammFit`."""
    return term_names(fit.factor, list(fit.levels), fit.predictor,
                      getattr(fit, "random_factor", "UniqueWord"))


def tested_terms(fit) -> list:
    """The terms whose p-values answer the analysis' question (the family of the correction
    policy, :mod:`analysis.corrections`): each non-reference level and its difference
    smooth, in that order per level."""
    out = []
    for w in [str(v) for v in list(fit.levels)[1:]]:
        out += [f"{fit.factor}{w}", f"s({fit.predictor}):{fit.factor}Ordered{w}"]
    return out
