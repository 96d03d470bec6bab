"""The report's sections for the calibrated models (analysis.calibrated, docs/calibration.md).

With the calibrated models (the default) the word and phone sections lead with their tests and
say which model made each number; the paper's GAMMs follow as a replication, and wherever the
two disagree on a test the section shows both. A phone contrast whose words cannot carry it
is reported with its words in place of a p-value. Labels enter only through ``md_text``.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np
import pandas as pd

from analysis.calibrated import CALIBRATED_BACKEND
from analysis.calibrated_tables import untested_reason
from analysis.corrections import ALPHA, POLICY_LABEL, adjust
from analysis.labels import md_code, md_text
from analysis.tables import ci_bounds, format_ci, format_number, format_p, p_phrase
from common.phones import phone_label

from analysis.report_phones import layer_cell
from analysis.report_text import word_text as _q


def _demote(lines: List[str], title: str) -> List[str]:
    """A paper-model section one heading level down, under ``title``."""
    out = list(lines)
    if out and out[0].startswith("## "):
        out[0] = f"### {title}"
    return out


def adjusted_word_p(t: pd.DataFrame) -> np.ndarray:
    """The report's correction policy over the calibrated Table 1 (``t``): its level tests'
    adjusted p-values, then its shape tests', in the table's row order."""
    return adjust(np.concatenate([t["p_level"].to_numpy(float), t["p_shape"].to_numpy(float)]))


def pair_not_confirmed(t: Optional[pd.DataFrame], ref_word: str, w1: str, w2: str) -> bool:
    """Whether the calibrated Table 1 (``t``; None: not fitted) tests the pair ``w1``/``w2``
    (one of them the reference word) and finds neither its level nor its shape difference
    (adjusted p not below ALPHA, or not testable)."""
    if t is None or not len(t) or str(ref_word) not in (str(w1), str(w2)):
        return False
    other = str(w2) if str(w1) == str(ref_word) else str(w1)
    rows = np.flatnonzero(t["word"].astype(str).to_numpy() == other)
    if not len(rows):
        return False
    adj = adjusted_word_p(t)
    i = int(rows[0])
    return not (adj[i] < ALPHA) and not (adj[len(t) + i] < ALPHA)


def word_section(r, paper_section: Callable, direction_sentence: Callable) -> List[str]:
    """The word model: the calibrated table (``r.word_tests``), then the paper's GAMM."""
    t = r.word_tests
    f = r.word_fit
    ref = _q(r.ref_word)
    reason = untested_reason(t)
    if reason:
        return (["## Word model (Table 1)", "",
                 f"Model: calibrated ({md_code('Y ~ Word + (1 | Speaker)')} on each token's "
                 f"level and shape at {md_text(r.layer)}): {md_text(reason)}. No p-value is "
                 "given; the paper's GAMM below treats tokens as independent replicates and "
                 "ignores speakers, so its p-values do not answer the question either "
                 "(docs/calibration.md).", ""]
                + _demote(paper_section(r), "The paper's word GAMM (replication; "
                          "table1_paper.*)"))
    L = ["## Word model (Table 1)", "",
         f"Model: calibrated. Each token's mean activation at {md_text(r.layer)} (its level) "
         f"and its {int(t['shape_terms'].iloc[0])} shape coefficients over the layer's samples "
         f"(orthonormal Legendre polynomials) are each compared across words with "
         f"{md_code(str(t['formula'].iloc[0]).replace('level ~', 'Y ~'))} ({CALIBRATED_BACKEND}): "
         "tokens are the replicates and speakers a random factor, so a difference between "
         "speakers is not read as one between words (docs/calibration.md). The shape p-value "
         "is the Bonferroni combination of the shape coefficients' tests.", "",
         f"p ({POLICY_LABEL}): adjusted over the {2 * len(t)} level and shape tests of the "
         "table.", "",
         f"| word | difference from {ref} | 95% CI | df | p (level) | p (level, {POLICY_LABEL}) "
         f"| p (shape) | p (shape, {POLICY_LABEL}) |",
         "|---|---:|---|---:|---:|---:|---:|---:|"]
    said = []
    adj = adjusted_word_p(t)
    for i, d in enumerate(t.itertuples(index=False)):
        lo, hi = ci_bounds(d.estimate, d.se, d.df)
        a_lvl, a_shape = adj[i], adj[len(t) + i]
        L.append(f"| {_q(d.word)} | {format_number(d.estimate)} | {format_ci(lo, hi)} | "
                 f"{format_number(d.df, 1)} | {format_p(d.p_level)} | {format_p(a_lvl)} | "
                 f"{format_p(d.p_shape)} | {format_p(a_shape)} |")
        said.append("- " + direction_sentence(md_text(r.layer), _q(d.word), ref, d.estimate,
                                              lo, hi, d.p_level, p_adj=a_lvl) + ".")
        if a_shape < ALPHA:
            said.append(f"- {md_text(r.layer)}: the shape of {_q(d.word)} over time differs "
                        f"from that of {ref} ({p_phrase(d.p_shape)}, {POLICY_LABEL} "
                        f"{p_phrase(a_shape)}).")
    L += ["", "In words:", ""] + said + [""]
    if bool(t["singular"].any()):
        L += ["- Caveat: singular fit (the speaker variance is estimated at 0); the model "
              "then treats tokens as independent.", ""]
    L += _word_disagreements(t, f, r.ref_word)
    L += _demote(paper_section(r), "The paper's word GAMM (replication; table1_paper.*)")
    return L


def _word_disagreements(t: pd.DataFrame, fit, ref: str) -> List[str]:
    par = fit.parametric.set_index(fit.parametric["term"].astype(str))
    smo = fit.smooths.set_index(fit.smooths["term"].astype(str))
    rows = []
    for d in t.itertuples(index=False):
        pt, st = f"{fit.factor}{d.word}", f"s({fit.predictor}):{fit.factor}Ordered{d.word}"
        for what, ours, theirs in (
                ("level", d.p_level, float(par.loc[pt, "Pr(>|t|)"]) if pt in par.index
                 else np.nan),
                ("shape", d.p_shape, float(smo.loc[st, "p-value"]) if st in smo.index
                 else np.nan)):
            if np.isfinite(theirs) and (ours < ALPHA) != (theirs < ALPHA):
                rows.append(f"| {md_text(d.word)} | {what} | {format_p(ours)} | "
                            f"{format_p(theirs)} |")
    if not rows:
        return ["The paper's GAMM agrees with the calibrated model on every word's level and "
                f"shape at alpha {ALPHA:g}.", ""]
    return ([f"Where the paper's GAMM (tokens as independent replicates, speakers ignored) "
             f"and the calibrated model disagree at alpha {ALPHA:g} (uncorrected p):", "",
             "| word | test | p (calibrated) | p (paper's GAMM) |", "|---|---|---:|---:|"]
            + rows + [""])


def phone_section(r, paper_section: Callable, direction_sentence: Callable) -> List[str]:
    """The phone contrast: the calibrated tests per layer (``r.phone_tests``), or why the
    contrast cannot be tested, then the paper's GAMM."""
    t = r.phone_tests
    a, b = str(t["reference"].iloc[0]), str(t["phone"].iloc[0])
    la, lb = md_text(phone_label(a)), md_text(phone_label(b))
    L = [f"## Phone contrast ({la} vs {lb})", "",
         f"Model: calibrated. Each interval's mean activation (level) and its shape "
         "coefficients over normalised time are compared between the phones with mixed models "
         "in which the words the intervals come from (and speakers, and tokens holding "
         f"several intervals) are random factors ({CALIBRATED_BACKEND}): the degrees of "
         "freedom come from the words, so a difference between the few words that carry a "
         "phone is not read as a difference between phones (docs/calibration.md).", ""]
    tested = t[t["status"] == "fitted"]
    refused = t[t["status"].astype(str).str.startswith("cannot be tested")]
    if len(refused) == len(t) and len(t):
        L += [f"**Cannot be tested** at {', '.join(md_text(x) for x in t['layer'])}: "
              f"{md_text(refused['status'].iloc[0])}. No p-value is given; the paper's GAMM "
              "below treats every interval as an independent replicate and its p-values are "
              "not calibrated for this design.", ""]
    else:
        adj = adjust(np.concatenate([t["p_level"].to_numpy(float),
                                     t["p_shape"].to_numpy(float)]))
        L += [f"p ({POLICY_LABEL}): adjusted over the level and shape tests of all tested "
              "layers together.", "",
              f"| layer (receptive field) | difference {lb} - {la} (95% CI) | df | p (level) | "
              f"p (level, {POLICY_LABEL}) | p (shape) | p (shape, {POLICY_LABEL}) | words |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
        said = []
        for i, d in enumerate(t.itertuples(index=False)):
            words = f"{_n(d.words_reference)} / {_n(d.words_phone)}"
            cell = layer_cell(r, d.layer)
            if d.status != "fitted":
                L.append(f"| {cell} | {md_text(d.status)} | | | | | | {words} |")
                continue
            lo, hi = ci_bounds(d.estimate, d.se, d.df)
            a_lvl, a_shape = adj[i], adj[len(t) + i]
            L.append(f"| {cell} | {format_number(d.estimate)} ({format_ci(lo, hi)})"
                     f" | {format_number(d.df, 1)} | {format_p(d.p_level)} | "
                     f"{format_p(a_lvl)} | {format_p(d.p_shape)} | {format_p(a_shape)} | "
                     f"{words} |")
            said.append("- " + direction_sentence(md_text(d.layer), lb, la, d.estimate, lo,
                                                  hi, d.p_level, p_adj=a_lvl)
                        + ("; the shapes differ" if a_shape < ALPHA else
                           "; the shapes do not differ reliably")
                        + f" ({p_phrase(d.p_shape)}, {POLICY_LABEL} {p_phrase(a_shape)}).")
        L += ["", "In words:", ""] + said + [""]
        if len(tested) < len(t):
            L += ["Layers without a p-value say why in the table.", ""]
    L += _phone_disagreements(t, r.phone_fits, b)
    L += _demote(paper_section(r), "The paper's phone GAMM (replication; "
                                   "phone_contrast_paper.*)")
    return L


def _phone_disagreements(t: pd.DataFrame, fits: dict, b: str) -> List[str]:
    rows = []
    for d in t.itertuples(index=False):
        pf = fits.get(d.layer)
        if pf is None:
            continue
        par = pf.parametric.set_index(pf.parametric["term"].astype(str))
        smo = pf.smooths.set_index(pf.smooths["term"].astype(str))
        pt, st = f"{pf.factor}{b}", f"s({pf.predictor}):{pf.factor}Ordered{b}"
        tested = d.status == "fitted"
        for what, ours, theirs in (
                ("level", d.p_level,
                 float(par.loc[pt, "Pr(>|t|)"]) if pt in par.index else np.nan),
                ("shape", d.p_shape, float(smo.loc[st, "p-value"]) if st in smo.index
                 else np.nan)):
            if not np.isfinite(theirs):
                continue
            if tested and (ours < ALPHA) == (theirs < ALPHA):
                continue
            if not tested and not theirs < ALPHA:
                continue
            rows.append(f"| {md_text(d.layer)} | {what} | "
                        f"{format_p(ours) if tested else 'not testable'} | {format_p(theirs)} |")
    if not rows:
        return []
    return ([f"Where the paper's GAMM (intervals as independent replicates) and the calibrated "
             f"model disagree at alpha {ALPHA:g} (uncorrected p):", "",
             "| layer | test | p (calibrated) | p (paper's GAMM) |", "|---|---|---:|---:|"]
            + rows + [""])


def _n(v: Optional[float]) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(int(v))
