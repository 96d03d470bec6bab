"""Which difference curves the report shows (``--diff``) and their tables (Fig. 5).

``--diff`` names pairs ``a:b`` (several, comma-separated: ``--diff=ask:wash,ask:greasy``); as
in ``--contrasts`` the first word is the reference and the curve is ``b - a``. The older form,
two words ``w1,w2``, still gives the one curve ``w1 - w2``. Without ``--diff`` the report
shows the pairs of the paper's Fig. 5 (:data:`PAPER_PAIRS`) that the data have, else the two
words with the largest parametric difference.

Each curve is :func:`analysis.diffcurves.difference_curve` on the word GAMM's fixed part,
with a simultaneous band beside the pointwise one when asked (``--simultaneous``).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import pandas as pd

from analysis import diffcurves
from analysis.gamm.data import AnalysisInputError

# The word pairs of the paper's Fig. 5 as issue #27 names them (reference first): the curves
# wash - ask and greasy - ask.
PAPER_PAIRS: Tuple[Tuple[str, str], ...] = (("ask", "wash"), ("ask", "greasy"))


def parse_diff(items: Sequence[str]) -> Optional[List[Tuple[str, str]]]:
    """``--diff`` as [(w1, w2), ...] meaning the curves w1 - w2; None when empty.
    'a:b' items give (b, a); two items without ':' give [(first, second)]."""
    items = [str(x).strip() for x in (items or []) if str(x).strip()]
    if not items:
        return None
    if not any(":" in x for x in items):
        if len(items) != 2:
            raise AnalysisInputError(f"--diff={','.join(items)}: give pairs like ask:wash "
                                     "(several comma-separated) or two words w1,w2")
        return [(items[0], items[1])]
    pairs = []
    for x in items:
        parts = [p.strip() for p in x.split(":")]
        if len(parts) != 2 or not all(parts):
            raise AnalysisInputError(f"--diff: {x!r} is not a pair of words like ask:wash")
        pairs.append((parts[1], parts[0]))
    return pairs


def choose_pairs(fit, requested: Sequence[str]) -> List[Tuple[str, str]]:
    """The curves to show, each (w1, w2) = w1 - w2: the requested ones (each word checked
    against the fit's levels), else the paper's pairs present in the data, else the pair with
    the largest parametric difference |b_i - b_j| (w1 the higher)."""
    levels = [str(v) for v in fit.levels]
    pairs = parse_diff(requested)
    if pairs is not None:
        for w1, w2 in pairs:
            if w1 == w2:
                raise AnalysisInputError(f"--diff needs two different words, got {w1}:{w2}")
            bad = [w for w in (w1, w2) if w not in levels]
            if bad:
                raise AnalysisInputError(f"--diff word(s) {bad} not in the data (words: "
                                         f"{levels})")
        return list(dict.fromkeys(pairs))
    paper = [(b, a) for a, b in PAPER_PAIRS if a in levels and b in levels]
    if paper:
        return paper
    par = fit.parametric.set_index("term")["Estimate"]
    est = {w: (0.0 if w == levels[0] else float(par.get(f"{fit.factor}{w}", 0.0)))
           for w in levels}
    return [(max(est, key=est.get), min(est, key=est.get))]


def difference_tables(fit, pairs: Sequence[Tuple[str, str]], grid, simultaneous: bool = False
                      ) -> Tuple[pd.DataFrame, pd.DataFrame, List[dict]]:
    """(difference.csv rows, difference_regions.csv rows, the report's ``differences``) for
    ``pairs`` on ``grid``: each curve's rows under its ``comparison`` ('w1 - w2')."""
    curves, regions, shown = [], [], []
    for w1, w2 in pairs:
        d = diffcurves.difference_curve(fit, w1, w2, grid, simultaneous=simultaneous)
        comparison = f"{w1} - {w2}"
        reg = d.attrs["regions"]
        sim = d.attrs.get("regions_simultaneous") if simultaneous else None
        curves.append(pd.DataFrame(d).assign(comparison=comparison)[
            ["comparison"] + list(d.columns)])
        regions += [{"comparison": comparison, **g} for g in reg]
        shown.append({"pair": (w1, w2), "regions": reg, "simultaneous": sim,
                      "multiplier": d.attrs.get("multiplier")})
    table = pd.concat(curves, ignore_index=True)
    reg_table = pd.DataFrame(regions, columns=["comparison"] + list(
        diffcurves.regions_table([]).columns))
    return table, reg_table, shown
