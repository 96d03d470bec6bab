"""Small pieces of report prose shared by every section (labels escaped, numbers formatted).

A word in prose is :func:`word_text`; a difference between two things in words is
:func:`direction_sentence`; numbers go through :func:`fmt`. Labels enter only through
:func:`analysis.tables.md_text` / :func:`analysis.tables.md_code`.
"""

from __future__ import annotations

import math
from typing import List

from analysis.tables import ci_bounds, format_ci, format_number, md_code, md_text, p_phrase


def fmt(v: float, d: int = 3) -> str:
    """A number for prose: :func:`analysis.tables.format_number`, 'NA' when missing."""
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else format_number(v, d)


def word_text(label: object) -> str:
    """A word in prose: quoted, escaped."""
    return f"'{md_text(label)}'"


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
                       p: float, alpha: float = 0.05) -> str:
    """The direction of ``a - b`` in words (labels already escaped):
    "conv5: 'dark' is higher than 'ask' by 0.120 (95% CI 0.050 to 0.190, p = 0.0012)";
    a negative difference is "lower ... by |est|" with the CI of |difference|; p >= alpha
    says the two do not differ reliably."""
    prefix = f"{where}: " if where else ""
    if not p < alpha:
        return (f"{prefix}{a} does not differ reliably from {b} (difference {fmt(est)}, "
                f"95% CI {format_ci(lo, hi)}, {p_phrase(p)})")
    word, mag, clo, chi = ("higher", est, lo, hi) if est >= 0 else ("lower", -est, -hi, -lo)
    return (f"{prefix}{a} is {word} than {b} by {fmt(mag)} (95% CI {format_ci(clo, chi)}, "
            f"{p_phrase(p)})")


def code_cell(text: str) -> str:
    """A code span in a table cell: GFM splits cells on every unescaped '|', code or not."""
    return md_code(text).replace("|", "\\|")
