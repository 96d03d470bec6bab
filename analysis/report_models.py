"""The report's sections on the word model (Table 1, the paper's GAMM), the difference curve
and the mixed models of token means."""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from analysis.corrections import ALPHA, POLICY_LABEL, adjust
from analysis.diffcurves import LayerTime
from analysis.report_calibrated import pair_not_confirmed
from analysis.report_design import field_text
from analysis.report_text import code_cell, direction_sentence, fmt, level_rows, word_text
from analysis.labels import md_code, md_text, sentence_case
from analysis.tables import (fits_adjusted_p, fits_table, format_ci, format_p, lmm_word_estimates,
                             markdown_table, p_phrase)
from analysis.terms import fit_term_names, tested_terms


def word_section(r) -> List[str]:
    """Table 1 as the paper's word GAMM: levels and shapes against the reference, with the
    report's correction policy over every word's level and shape test."""
    f = r.word_fit
    smo = f.smooths.set_index(f.smooths["term"].astype(str))
    field = field_text(r.receptive_field(r.layer) if hasattr(r, "receptive_field") else None)
    L = ["## Word model (Table 1)", "", f"Formula: {md_code(f.formula)} (bam, fREML, "
         f"discrete), AR1 \u03c1 = {fmt(f.rho)} ({f.rho_method} residual lag-1 "
         "autocorrelation)." + (f" Layer {md_text(r.layer)}: {field}." if field else ""), ""]
    from analysis.gamm import AUTO_MGCV_MAX_TOKENS
    engine = f"Engine {md_text(f.engine)}"
    if r.engine_requested == "auto":
        engine += (f", chosen automatically (--engine=auto: mgcv up to {AUTO_MGCV_MAX_TOKENS} "
                   f"tokens, the fast engine above; this model has {f.n_tokens} tokens)")
    elif r.engine_requested:
        engine += f", as requested (--engine={md_text(r.engine_requested)})"
    rho_txt = (f"AR1 \u03c1 = {fmt(f.rho)}, estimated from the residuals of a first fit "
               f"without AR1 ({md_text(f.rho_method)} lag-1 autocorrelation) and then held "
               "fixed: the p-values and CIs below are conditional on it")
    L += [f"- {engine}; k = {f.k}.", f"- {rho_txt}."]
    word_notes = [n for n in f.notes if not str(n).startswith(("sp = ", "scale = "))]
    if f.engine == "fast":
        L.append("- Caveat: the fast engine reproduces mgcv's fit block by block; its p-values "
                 "for the random smooths use approximations where noted below.")
    for n in word_notes:
        L.append(f"- Fit note: {md_text(' '.join(str(n).split()))}")
    L.append("")
    rows = level_rows(f, r.ref_word)
    ref = word_text(r.ref_word)
    adj = fits_adjusted_p({r.layer: f}).get(str(r.layer), {})
    if rows:
        L += [f"Level of each word against {ref} (parametric terms; 95% CI = estimate +/- "
              "1.96 SE) and whether its shape differs (difference smooth); "
              f"p ({POLICY_LABEL}): adjusted over these {2 * len(rows)} tests:", "",
              f"| word | difference from reference | 95% CI | p | p ({POLICY_LABEL}) | "
              f"shape: edf | shape p | shape p ({POLICY_LABEL}) |",
              "|---|---:|---|---:|---:|---:|---:|---:|"]
        for d in rows:
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            edf = fmt(float(smo.loc[st, "edf"]), 2) if st in smo.index else ""
            sp = format_p(float(smo.loc[st, "p-value"])) if st in smo.index else ""
            pt = f"{f.factor}{d['level']}"
            L.append(f"| {word_text(d['level'])} | {fmt(d['estimate'])} | "
                     f"{format_ci(d['lower'], d['upper'])} | {format_p(d['p'])} | "
                     f"{format_p(adj.get(pt))} | {edf} | {sp} | {format_p(adj.get(st))} |")
        L += ["", "In words:", ""]
        for d in rows:
            L.append("- " + direction_sentence(
                md_text(r.layer), word_text(d["level"]), ref, d["estimate"], d["lower"],
                d["upper"], d["p"], p_adj=adj.get(f"{f.factor}{d['level']}")) + ".")
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            if st in smo.index and adj.get(st, 1.0) < ALPHA:
                L.append(f"- {md_text(r.layer)}: the shape of {word_text(d['level'])} over "
                         f"time differs from that of {ref} (difference smooth edf "
                         f"{fmt(float(smo.loc[st, 'edf']), 2)}, "
                         f"{p_phrase(float(smo.loc[st, 'p-value']))}, {POLICY_LABEL} "
                         f"{p_phrase(adj[st])}); the difference curves and Fig. 3 show "
                         "where.")
    L += ["", f"Deviance explained {100 * f.dev_expl:.1f} % (mostly the per-token random "
          f"smooths: see Reading this report), adjusted R\u00b2 {fmt(f.r_sq)}, "
          f"{f.n_tokens} tokens, {f.n_rows} rows."
          + (f" Fit time {r.timings['word']:.1f} s." if "word" in r.timings else ""), ""]
    names, tested = fit_term_names(f), tested_terms(f)
    L += [markdown_table(fits_table({r.layer: f}), "layer", names=names, tested=tested), ""]
    return L


def _span_ms(lt: Optional[LayerTime], start: float, end: float) -> str:
    if lt is None:
        return ""
    return (f" = {lt.ms(start):.0f} to {lt.ms(end):.0f} ms (centres of the input spans; "
            f"one sample = {lt.ms_per_sample:g} ms)")


def difference_pairs(r) -> List[dict]:
    """The difference curves the report shows: ``r.differences`` ({'pair': (w1, w2),
    'regions': [...], 'simultaneous': [...] or None}), else the one of ``r.diff_words``."""
    if getattr(r, "differences", None):
        return list(r.differences)
    if not r.diff_words:
        return []
    return [{"pair": tuple(r.diff_words), "regions": list(r.diff_regions or []),
             "simultaneous": None}]


def _region_lines(w1: str, w2: str, regions: List[dict], lt: Optional[LayerTime]) -> List[str]:
    out = []
    for g in regions:
        hi, lo = (w1, w2) if g["sign"] > 0 else (w2, w1)
        out.append(f"- Samples {fmt(g['start'], 2)} to {fmt(g['end'], 2)}"
                   f"{_span_ms(lt, g['start'], g['end'])}: {word_text(hi)} is higher than "
                   f"{word_text(lo)}.")
    return out


def difference_section(r, lt: Optional[LayerTime]) -> List[str]:
    """Where each difference curve's CI excludes zero, in samples and ms; with a
    simultaneous band, where that one does too. Says the curves come from the paper's word
    GAMM (uncalibrated), and says so again where the calibrated Table 1 finds no difference
    for a pair that has regions (:func:`analysis.report_calibrated.pair_not_confirmed`)."""
    pairs = difference_pairs(r)
    if not pairs:
        return []
    field = field_text(r.receptive_field(r.layer) if hasattr(r, "receptive_field") else None)
    title = ("Difference curve " + " - ".join(md_text(w) for w in pairs[0]["pair"])
             if len(pairs) == 1 else "Difference curves")
    L = [f"## {title}", "",
         "From the paper's word GAMM: tokens independent, speakers ignored; pointwise CIs, "
         "not calibrated.", "",
         f"Layer {md_text(r.layer)}" + (f" ({field})" if field else "") + ", random "
         "smooths excluded. The pointwise 95 % "
         "CI excludes zero somewhere by chance more often than 5 % of the time over a "
         "whole curve; the simultaneous band (where given) holds for the whole curve at "
         "once.", ""]
    for d in pairs:
        w1, w2 = d["pair"]
        if len(pairs) > 1:
            L += [f"### {md_text(w1)} - {md_text(w2)}", ""]
        if d["regions"]:
            L += [f"Where the pointwise 95% CI of {word_text(w1)} - {word_text(w2)} at "
                  f"{md_text(r.layer)} excludes zero:", ""]
            L += _region_lines(w1, w2, d["regions"], lt)
            if pair_not_confirmed(getattr(r, "word_tests", None), r.ref_word, w1, w2):
                L += ["", f"The calibrated model (Table 1) does not confirm it: it finds no "
                      f"reliable level or shape difference between {word_text(w1)} and "
                      f"{word_text(w2)} ({POLICY_LABEL}, alpha {ALPHA:g})."]
            if lt is None:
                L.append("- (No timing for this layer: extract_info.json has no jump/centre0 "
                         "and the activations no time column, so regions are in samples "
                         "only.)")
        else:
            L += ["No sample where the pointwise 95% CI of the difference excludes zero."]
        sim = d.get("simultaneous")
        if sim is not None:
            L += [""]
            if sim:
                L += ["Where the simultaneous 95% band excludes zero:", ""]
                L += _region_lines(w1, w2, sim, lt)
            else:
                L += ["The simultaneous 95% band includes zero everywhere."]
        L += [""]
    return L


def lmm_section(r) -> List[str]:
    """The mixed models of token means: omnibus F per layer and per-word estimates, both
    with the report's correction policy (over the layers; over the layers x words)."""
    if r.lmm is None or not len(r.lmm):
        return []
    first = r.lmm.groupby("layer", sort=False).first()
    if not np.isfinite(first["p_word"].to_numpy(float)).any():
        # no layer was fitted (analysis.lmm: the word model's design rule); notes say why
        from analysis.lmm import NOT_TESTED_NOTE
        why = [n.split(NOT_TESTED_NOTE, 1)[1] for n in r.notes if NOT_TESTED_NOTE in n]
        return ["## Mean activation per token (mixed model)", "",
                sentence_case(md_text(why[0] if why
                                      else "cannot be tested: no layer could be fitted")) + ".",
                ""]
    p_omni = adjust(first["p_word"].to_numpy(float))
    L = ["## Mean activation per token (mixed model)", "",
         "Model: each token's mean activation, `Mean ~ Word + (1 | Speaker)` at every layer "
         "(the level test of the calibrated word model). "
         f"Backend: {md_text(r.lmm_backend)}. Omnibus test of Word per layer "
         f"(p ({POLICY_LABEL}) over the {len(first)} layer"
         f"{'s' if len(first) != 1 else ''}):", "",
         f"| layer | formula | F | p | p ({POLICY_LABEL}) |", "|---|---|---:|---:|---:|"]
    for (lay, g), pa in zip(first.iterrows(), p_omni):
        L.append(f"| {md_text(lay)} | {code_cell(g['formula'])} | "
                 f"{fmt(g['F_word'], 2)} | {format_p(g['p_word'])} | {format_p(pa)} |")
    levels = list(getattr(r.word_fit, "levels", []) or [])
    if not levels:
        return L + [""]
    est = lmm_word_estimates(r.lmm, levels)
    others = ~est["reference"]
    est["p_adj"] = float("nan")
    est.loc[others, "p_adj"] = adjust(est.loc[others, "p"].to_numpy(float))
    ref = word_text(levels[0])
    L += ["", f"Per-word estimates (reference {ref}: its mean; other words: difference from "
          "it; 95% CI = estimate +/- t(0.975, df) SE, Satterthwaite df; "
          f"p ({POLICY_LABEL}) over the {int(others.sum())} differences):", "",
          f"| layer | word | estimate | 95% CI | df | p | p ({POLICY_LABEL}) |",
          "|---|---|---:|---|---:|---:|---:|"]
    for d in est.itertuples(index=False):
        L.append(f"| {md_text(d.layer)} | {word_text(d.word)}"
                 f"{' (reference mean)' if d.reference else ''} | {fmt(d.estimate)} | "
                 f"{format_ci(d.lower, d.upper)} | {fmt(d.df, 1)} | {format_p(d.p)} | "
                 f"{format_p(d.p_adj)} |")
    L += ["", f"In words (differences with {POLICY_LABEL}-adjusted p < {ALPHA:g}):", ""]
    singular = {}
    if "singular" in r.lmm.columns:
        singular = {str(lay): bool(g["singular"].iloc[0])
                    for lay, g in r.lmm.groupby("layer", sort=False)}
    formula = {str(lay): str(g["formula"].iloc[0]) for lay, g in r.lmm.groupby("layer")}
    said = False
    for d in est[others].itertuples(index=False):
        if d.p_adj < ALPHA:
            said = True
            L.append("- " + direction_sentence(md_text(d.layer), word_text(d.word), ref,
                                               d.estimate, d.lower, d.upper, d.p,
                                               p_adj=d.p_adj) + ".")
    if not said:
        L.append(f"- No word differs from the reference after {POLICY_LABEL}'s correction "
                 "at any layer.")
    for lay in est["layer"].unique():
        if singular.get(str(lay)):
            L.append(f"- Caveat ({md_text(lay)}): singular fit, the speaker variance is "
                     "estimated at 0, so the model reduces to a linear model of the token "
                     "means and its CIs treat tokens as independent.")
        if "(1 |" not in formula.get(str(lay), "(1 |"):
            L.append(f"- Caveat ({md_text(lay)}): no speaker with repeated tokens, fitted as "
                     "a plain linear model (tokens treated as independent).")
    return L + [""]
