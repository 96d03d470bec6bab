"""The report's sections on the word model (Table 1, the paper's GAMM), the difference curve
and the mixed models of token means."""

from __future__ import annotations

from typing import List, Optional

from analysis.diffcurves import LayerTime
from analysis.report_text import code_cell, direction_sentence, fmt, level_rows, word_text
from analysis.tables import (fits_table, format_ci, format_p, lmm_word_estimates,
                             markdown_table, md_code, md_text, p_phrase)


def word_section(r) -> List[str]:
    f = r.word_fit
    smo = f.smooths.set_index(f.smooths["term"].astype(str))
    L = ["## Word model (Table 1)", "", f"Formula: {md_code(f.formula)} (bam, fREML, "
         f"discrete), AR1 rho = {fmt(f.rho)} ({f.rho_method} residual lag-1 "
         "autocorrelation).", ""]
    from analysis.gamm import AUTO_MGCV_MAX_TOKENS
    engine = f"Engine {md_text(f.engine)}"
    if r.engine_requested == "auto":
        engine += (f", chosen automatically (--engine=auto: mgcv up to {AUTO_MGCV_MAX_TOKENS} "
                   f"tokens, the fast engine above; this model has {f.n_tokens} tokens)")
    elif r.engine_requested:
        engine += f", as requested (--engine={md_text(r.engine_requested)})"
    rho_txt = (f"AR1 rho = {fmt(f.rho)}, estimated from the residuals of a first fit without "
               f"AR1 ({md_text(f.rho_method)} lag-1 autocorrelation) and then held fixed: the "
               "p-values and CIs below are conditional on it")
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
    if rows:
        L += [f"Level of each word against {ref} (parametric terms; 95% CI = estimate +/- "
              "1.96 SE) and whether its shape differs (difference smooth):", "",
              "| word | difference from reference | 95% CI | p | shape differs: edf | "
              "shape p |", "|---|---:|---|---:|---:|---:|"]
        for d in rows:
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            edf = fmt(float(smo.loc[st, "edf"]), 2) if st in smo.index else ""
            sp = format_p(float(smo.loc[st, "p-value"])) if st in smo.index else ""
            L.append(f"| {md_text(d['level'])} | {fmt(d['estimate'])} | "
                     f"{format_ci(d['lower'], d['upper'])} | {format_p(d['p'])} | {edf} | "
                     f"{sp} |")
        L += ["", "In words:", ""]
        for d in rows:
            L.append("- " + direction_sentence(md_text(r.layer), word_text(d["level"]), ref,
                                               d["estimate"], d["lower"], d["upper"], d["p"])
                     + ".")
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            if st in smo.index and float(smo.loc[st, "p-value"]) < 0.05:
                L.append(f"- {md_text(r.layer)}: the shape of {word_text(d['level'])} over time "
                         f"differs from that of {ref} (difference smooth edf "
                         f"{fmt(float(smo.loc[st, 'edf']), 2)}, "
                         f"{p_phrase(float(smo.loc[st, 'p-value']))}); the difference curve "
                         "and Fig. 3 show where.")
    L += ["", f"Deviance explained {100 * f.dev_expl:.1f} %, adjusted R^2 {fmt(f.r_sq)}, "
          f"{f.n_tokens} tokens, {f.n_rows} rows."
          + (f" Fit time {r.timings['word']:.1f} s." if "word" in r.timings else ""), ""]
    L += [markdown_table(fits_table({r.layer: f}), "layer"), ""]
    return L


def _span_ms(lt: Optional[LayerTime], start: float, end: float) -> str:
    if lt is None:
        return ""
    return (f" = {lt.ms(start):.0f} to {lt.ms(end):.0f} ms (centres of the input spans; "
            f"one sample = {lt.ms_per_sample:g} ms)")


def difference_section(r, lt: Optional[LayerTime]) -> List[str]:
    if not r.diff_words:
        return []
    w1, w2 = r.diff_words
    L = [f"## Difference curve {md_text(w1)} - {md_text(w2)}", ""]
    if r.diff_regions:
        L += [f"Where the 95% CI of {word_text(w1)} - {word_text(w2)} at {md_text(r.layer)} excludes zero "
              "(random smooths excluded):", ""]
        for g in r.diff_regions:
            hi, lo = (w1, w2) if g["sign"] > 0 else (w2, w1)
            L.append(f"- Samples {fmt(g['start'], 2)} to {fmt(g['end'], 2)}"
                     f"{_span_ms(lt, g['start'], g['end'])}: {word_text(hi)} is higher than "
                     f"{word_text(lo)}.")
        if lt is None:
            L.append("- (No timing for this layer: extract_info.json has no jump/centre0 and "
                     "the activations no time column, so regions are in samples only.)")
    else:
        L += ["No sample where the 95% CI of the difference excludes zero."]
    L += [""]
    return L

def lmm_section(r) -> List[str]:
    if r.lmm is None or not len(r.lmm):
        return []
    L = ["## Mean activation per token (mixed model)", "",
         f"Backend: {md_text(r.lmm_backend)}. Omnibus test of Word per layer:", "",
         "| layer | formula | F | p |", "|---|---|---:|---:|"]
    for lay, g in r.lmm.groupby("layer", sort=False):
        L.append(f"| {md_text(lay)} | {code_cell(g['formula'].iloc[0])} | "
                 f"{fmt(g['F_word'].iloc[0], 2)} | {format_p(g['p_word'].iloc[0])} |")
    levels = list(getattr(r.word_fit, "levels", []) or [])
    if not levels:
        return L + [""]
    est = lmm_word_estimates(r.lmm, levels)
    ref = word_text(levels[0])
    L += ["", f"Per-word estimates (reference {ref}: its mean; other words: difference from "
          "it; 95% CI = estimate +/- t(0.975, df) SE, Satterthwaite df):", "",
          "| layer | word | estimate | 95% CI | df | p |", "|---|---|---:|---|---:|---:|"]
    for d in est.itertuples(index=False):
        L.append(f"| {md_text(d.layer)} | {md_text(d.word)}"
                 f"{' (reference mean)' if d.reference else ''} | {fmt(d.estimate)} | "
                 f"{format_ci(d.lower, d.upper)} | {fmt(d.df, 1)} | {format_p(d.p)} |")
    L += ["", "In words (differences with p < 0.05):", ""]
    singular = {}
    if "singular" in r.lmm.columns:
        singular = {str(lay): bool(g["singular"].iloc[0])
                    for lay, g in r.lmm.groupby("layer", sort=False)}
    formula = {str(lay): str(g["formula"].iloc[0]) for lay, g in r.lmm.groupby("layer")}
    said = False
    for d in est[~est["reference"]].itertuples(index=False):
        if d.p < 0.05:
            said = True
            L.append("- " + direction_sentence(md_text(d.layer), word_text(d.word), ref, d.estimate,
                                               d.lower, d.upper, d.p) + ".")
    if not said:
        L.append("- No word differs from the reference at p < 0.05 at any layer.")
    for lay in est["layer"].unique():
        if singular.get(str(lay)):
            L.append(f"- Caveat ({md_text(lay)}): singular fit, the speaker variance is "
                     "estimated at 0, so the model reduces to a linear model of the token "
                     "means and its CIs treat tokens as independent.")
        if "(1 |" not in formula.get(str(lay), "(1 |"):
            L.append(f"- Caveat ({md_text(lay)}): no speaker with repeated tokens, fitted as "
                     "a plain linear model (tokens treated as independent).")
    return L + [""]

