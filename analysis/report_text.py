"""Small pieces of report prose shared by every section (labels escaped, numbers formatted).

A word in prose is :func:`word_text`; a difference between two things in words is
:func:`direction_sentence`; numbers go through :func:`fmt`. Labels enter only through
:func:`analysis.labels.md_text` / :func:`analysis.labels.md_code`.
"""

from __future__ import annotations

import math
from typing import List, Optional

from analysis.corrections import ALPHA, POLICY_LABEL
from analysis.labels import md_code
from analysis.tables import ci_bounds, format_ci, format_number, p_phrase


def fmt(v: float, d: int = 3) -> str:
    """A number for prose: :func:`analysis.tables.format_number`, 'NA' when missing."""
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else format_number(v, d)


def word_text(label: object) -> str:
    """A word in prose: in italics (the linguist's convention), escaped."""
    from analysis.terms import TermName
    return TermName("", str(label)).markdown()


def level_rows(fit, ref: str) -> List[dict]:
    """Each non-reference level of a GAMM: estimate vs the reference, normal 95 % CI, p."""
    par = fit.parametric.set_index(fit.parametric["term"].astype(str))
    out = []
    for w in list(fit.levels)[1:]:
        term = f"{fit.factor}{w}"
        if term not in par.index:
            continue
        est, se = float(par.loc[term, "Estimate"]), float(par.loc[term, "Std. Error"])
        lo, hi = ci_bounds(est, se)
        out.append({"level": str(w), "estimate": est, "lower": lo, "upper": hi,
                    "p": float(par.loc[term, "Pr(>|t|)"])})
    return out


def direction_sentence(where: str, a: str, b: str, est: float, lo: float, hi: float,
                       p: float, alpha: float = ALPHA, p_adj: Optional[float] = None) -> str:
    """The direction of ``a - b`` in words (labels already escaped):
    "conv5: 'dark' is higher than 'ask' by 0.120 (95% CI 0.050 to 0.190, p = 0.0012)";
    a negative difference is "lower ... by |est|" with the CI of |difference|. With ``p_adj``
    (the report's correction policy, :mod:`analysis.corrections`) the claim rests on it and
    both p-values are printed; without, on ``p``. Not below ``alpha``: the two "do not differ
    reliably"."""
    prefix = f"{where}: " if where else ""
    decide = p if p_adj is None else p_adj
    ps = p_phrase(p) + ("" if p_adj is None else f", {POLICY_LABEL} " + p_phrase(p_adj))
    if not decide < alpha:
        return (f"{prefix}{a} does not differ reliably from {b} (difference {fmt(est)}, "
                f"95% CI {format_ci(lo, hi)}, {ps})")
    word, mag, clo, chi = ("higher", est, lo, hi) if est >= 0 else ("lower", -est, -hi, -lo)
    return (f"{prefix}{a} is {word} than {b} by {fmt(mag)} (95% CI {format_ci(clo, chi)}, "
            f"{ps})")


def code_cell(text: str) -> str:
    """A code span in a table cell: GFM splits cells on every unescaped '|', code or not."""
    return md_code(text).replace("|", "\\|")
