"""Markdown + simple HTML report of an analysis run (every number taken from the fits).

:func:`build_markdown` turns a :class:`ReportInputs` into Markdown; :func:`markdown_to_html`
converts the subset of Markdown used here (headings, paragraphs, bullet lists, pipe tables,
images, inline code, backslash escapes) into a standalone HTML page; :func:`write_report`
writes both atomically.

What a results section needs, each beside the result it qualifies:

* Q classification: accuracy against the permutation baseline and its p, the word-to-code
  table (most frequent code per word, the one-to-one mapping), codes never used, Q on
  generated audio per code (generate.py's ``generated.csv``), the checkpoint and step;
* the word GAMM: each word's level against the reference with a 95 % CI and its direction in
  words, which shapes differ, the engine and AR1 rho and how they were chosen;
* the difference curve's regions in Sample and in ms (:class:`analysis.diffcurves.LayerTime`);
* the phone contrasts with IPA labels, direction, regions over normalised time, a lowered k
  as a caveat, and a design note with the intervals and tokens per (phone, word) cell wherever
  the phones come from different words;
* the mixed models: per-word estimates with t-based 95 % CIs, singular fits as caveats.

The report reads from the activations folder what the analysis does not pass
(:func:`read_activation_files`): ``extract_info.json``, ``classification.json``,
``confusion.csv`` (:mod:`analysis.records`); a missing file omits its part.

Labels (words, phones, layers, paths, the command line) are data: they enter the Markdown
only through :func:`analysis.tables.md_text` / :func:`analysis.tables.md_code`, so none can
open a heading, a table cell, a link or HTML; the converter HTML-escapes all text, accepts
any input and always terminates.
"""

from __future__ import annotations

import html
import math
import os
import re
import string
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from analysis.diffcurves import LayerTime, contrast_regions
from analysis.phones import phone_label
from analysis.records import (ActivationsRecords, read_activations_records, read_generated,
                              read_layer_time)
from analysis.tables import (ci_bounds, fits_table, format_ci, format_number, format_p,
                             lmm_word_estimates, markdown_table, md_code, md_text, p_phrase)
from common.atomic import atomic_write_text


@dataclass
class ReportInputs:
    """Everything the report shows. Figures: {key: relative path of the PNG}.

    Optional extras (None: the report finds them itself):
    records: the activations folder's extract_info.json, classification.json and
        confusion.csv as read (:func:`analysis.records.read_activations_records`); None
        reads them from ``activations``.
    generated: generate.py's output folder (or its generated.csv) for Q's accuracy on
        generated audio per code; None: that part says where to get it.
    engine_requested: the --engine asked for ('auto' makes the report say how it chose).
    phone_regions: {layer: regions over norm_time where the CI of phones[1] - phones[0]
        excludes zero} (:func:`analysis.diffcurves.contrast_regions`); None computes them
        from ``phone_fits``.
    layer_time: Sample -> ms of ``layer``; None: :func:`analysis.records.read_layer_time`.
    phone_table: the phone_activations rows (``token_id``, ``word``) that tell each phone
        interval's word for the design note; None: the word GAMM's rows (``word_fit.data``),
        which cover only the words that model fitted.
    sections: further Markdown sections (the contrast matrix, the spectra), in order.
    """
    activations: str
    layer: str
    ref_word: str
    word_fit: object
    diff_words: Optional[tuple] = None
    diff_regions: List[dict] = field(default_factory=list)
    phone_fits: Dict[str, object] = field(default_factory=dict)
    phones: tuple = ()
    lmm: Optional[pd.DataFrame] = None
    lmm_backend: str = ""
    figures: Dict[str, str] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    command: str = ""
    records: Optional[ActivationsRecords] = None
    generated: Optional[str] = None
    engine_requested: str = ""
    phone_regions: Optional[Dict[str, List[dict]]] = None
    layer_time: Optional[LayerTime] = None
    phone_table: Optional[pd.DataFrame] = None
    # Further sections, Markdown written by their own modules with labels escaped
    # (analysis.contrasts.contrast_report_section, analysis.spectra.spectra_report_section),
    # shown before the figures.
    sections: List[str] = field(default_factory=list)
    # The calibrated models' tables (analysis.calibrated_tables): when given, the word and
    # phone sections lead with them and show the paper's GAMMs as a replication.
    word_tests: Optional[pd.DataFrame] = None
    phone_tests: Optional[pd.DataFrame] = None


FIGURE_CAPTIONS = {
    "fig2": "Fig. 2. One token per word: waveform (top) and each layer's channel-mean "
            "activation (a.u.), upsampled to the input's time axis (ms).",
    "fig3": "Fig. 3. {layer} activation (a.u.) per word over the layer's samples (top axis: "
            "ms): tokens and word means (left) and the GAMM's predicted curves with 95% CI, "
            "random smooths excluded (right).",
    "fig4": "Fig. 4. Phone contrast ({phones}) per layer: the phone GAMM's predicted curves "
            "over normalised time in the phone with 95% CI; shaded: the CI of their "
            "difference excludes zero (the paper's model: intervals as independent "
            "replicates).",
    "fig5": "Fig. 5. The word GAMM's predictions for {w1} and {w2} (top) and their "
            "difference with 95% CI (bottom); shaded: the CI of the difference excludes zero.",
    "confusion": "Q's code (argmax) per word: counts; outlined: the one-to-one mapping.",
}


def _fmt(v: float, d: int = 3) -> str:
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else format_number(v, d)


def _q(label: object) -> str:
    """A word in prose: quoted, escaped."""
    return f"'{md_text(label)}'"


# ------------------------------------------------------------------------ activations folder

@dataclass
class _Files:
    records: ActivationsRecords
    generated: Optional[pd.DataFrame]
    layer_time: Optional[LayerTime]


def read_activation_files(r: ReportInputs) -> _Files:
    """What the report shows besides the fits: ``r.records`` (or the activations folder's
    records, read here), generate.py's table and the layer's time axis."""
    records = r.records if r.records is not None else read_activations_records(r.activations)
    lt = r.layer_time if r.layer_time is not None else read_layer_time(records, r.layer)
    return _Files(records=records,
                  generated=read_generated(r.generated) if r.generated else None,
                  layer_time=lt)


# ------------------------------------------------------------------------ sections

def _classification_section(r: ReportInputs, files: _Files) -> List[str]:
    c, conf, info = files.records.classification, files.records.confusion, files.records.info
    if not c and conf is None and files.generated is None:
        return []
    L = ["## Q classification", ""]
    ck = info.get("checkpoint")
    if ck:
        step = info.get("checkpoint_step")
        L += [f"Checkpoint {md_code(ck)}"
              + (f", training step {int(step)}" if isinstance(step, (int, float)) else
                 ", step not recorded")
              + (f"; network {md_text(info['network'])}" if info.get("network") else "")
              + (f"; {int(info['counts']['tokens'])} tokens" if
                 isinstance(info.get("counts"), dict) and "tokens" in info["counts"] else "")
              + ".", ""]
    if c:
        L += _accuracy_lines(c)
    if conf is not None and conf.size:
        L += _mapping_lines(conf, (c or {}).get("mapping") or {})
    L += _generated_lines(files.generated, r)
    return L


def _accuracy_lines(c: dict) -> List[str]:
    acc = c.get("accuracy")
    if acc is None:
        return []
    n = c.get("n_tokens")
    text = (f"Accuracy {_fmt(float(acc))} under the best one-to-one word-to-code mapping"
            + (f" ({int(n)} tokens)" if isinstance(n, (int, float)) else "")
            + f"; chance (always the most frequent word) {_fmt(c.get('chance', float('nan')))}.")
    perm = c.get("permutation_chance")
    if isinstance(perm, dict) and "p95" in perm:
        n_perm = perm.get("n_perm")
        base = (" Permutation baseline (codes shuffled against words"
                + (f", {int(n_perm)} shuffles" if n_perm else "") + f"): mean "
                f"{_fmt(float(perm.get('mean', float('nan'))))}, 95th percentile "
                f"{_fmt(float(perm['p95']))}.")
        if "p" in perm:  # exact one-sided permutation p, when extract.py stores it
            verdict = (f" One-sided permutation {p_phrase(float(perm['p']))}: Q's codes "
                       + ("track the words above chance." if float(perm["p"]) < 0.05 else
                          "are not shown to track the words."))
        elif float(acc) > float(perm["p95"]):
            verdict = (" The accuracy lies above the 95th percentile, so the one-sided "
                       "permutation p < 0.05: Q's codes track the words above chance "
                       "(classification.json stores no exact p).")
        else:
            verdict = (" The accuracy does not exceed the 95th percentile (permutation "
                       "p >= 0.05): Q's codes are not shown to track the words.")
        text += base + verdict
    return [text, ""]


def _mapping_lines(conf: pd.DataFrame, mapping: dict) -> List[str]:
    counts = conf.astype(float)
    codes = [str(c) for c in counts.columns]
    mapped = {str(w): str(code) for w, code in mapping.items()}
    L = ["Word-to-code table (from confusion.csv):", "",
         "| word | tokens | most frequent code (tokens, share) | one-to-one mapping: code "
         "(tokens) |", "|---|---:|---|---|"]
    majority = {}
    for w, row in counts.iterrows():
        total = float(row.sum())
        top = float(row.max()) if len(row) else 0.0
        best = [codes[j] for j in range(len(codes)) if top > 0 and row.iloc[j] == top]
        majority[str(w)] = best
        maj = (f"{', '.join(md_text(b) for b in best)} ({top:g}, {100 * top / total:.0f} %)"
               + (" (tie)" if len(best) > 1 else "")) if best else "none"
        m = mapped.get(str(w))
        mtxt = (f"{md_text(m)} ({float(row.iloc[codes.index(m)]):g})" if m in codes else
                "none")
        L.append(f"| {md_text(w)} | {total:g} | {maj} | {mtxt} |")
    L.append("")
    shared = {}
    for w, best in majority.items():
        if len(best) == 1:
            shared.setdefault(best[0], []).append(w)
    notes = [f"{' and '.join(_q(w) for w in ws)} most often go to the same code "
             f"{md_text(code)}" for code, ws in shared.items() if len(ws) > 1]
    unmapped = [w for w in majority if w not in mapped]
    used = counts.sum(axis=0)
    never = [c for c, n in zip(codes, used) if n == 0]
    unmatched = [c for c, n in zip(codes, used) if n > 0 and c not in set(mapped.values())]
    if notes:
        L.append("- Shared codes: " + "; ".join(notes) + ".")
    if mapping:
        L.append("- Words the one-to-one mapping leaves without a code: "
                 + (", ".join(_q(w) for w in unmapped) or "none") + ".")
    L.append(f"- Codes Q never chose: {', '.join(md_text(c) for c in never) or 'none'}"
             + (f"; codes chosen but matched to no word: "
                f"{', '.join(md_text(c) for c in unmatched) or 'none'}" if mapping else "")
             + ".")
    return L + [""]


def _generated_lines(gen: Optional[pd.DataFrame], r: ReportInputs) -> List[str]:
    L = ["### Q classification of generated audio", ""]
    if gen is None:
        where = (f" ({md_code(r.generated)} has no generated.csv with Q's decisions)"
                 if r.generated else "")
        return L + ["Not available here" + where + ": generate.py with the same checkpoint "
                    "writes generated.csv (code, q_code, q_agrees per clip), which this "
                    "section reads.", ""]
    L += ["| code | clips | Q reads the code back | accuracy |", "|---|---:|---:|---:|"]
    for code, g in gen.groupby("code", sort=True):
        L.append(f"| {md_text(code)} | {len(g)} | {int(g['q_agrees'].sum())} | "
                 f"{100 * g['q_agrees'].mean():.0f} % |")
    L += ["", f"Overall Q recovers the code of {100 * gen['q_agrees'].mean():.0f} % of "
          f"{len(gen)} generated clips.", ""]
    return L


def _level_rows(fit, ref: str, z_note: bool = True) -> List[dict]:
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
        return (f"{prefix}{a} does not differ reliably from {b} (difference {_fmt(est)}, "
                f"95% CI {format_ci(lo, hi)}, {p_phrase(p)})")
    word, mag, clo, chi = ("higher", est, lo, hi) if est >= 0 else ("lower", -est, -hi, -lo)
    return (f"{prefix}{a} is {word} than {b} by {_fmt(mag)} (95% CI {format_ci(clo, chi)}, "
            f"{p_phrase(p)})")


def _word_section(r: ReportInputs) -> List[str]:
    f = r.word_fit
    smo = f.smooths.set_index(f.smooths["term"].astype(str))
    L = ["## Word model (Table 1)", "", f"Formula: {md_code(f.formula)} (bam, fREML, "
         f"discrete), AR1 rho = {_fmt(f.rho)} ({f.rho_method} residual lag-1 "
         "autocorrelation).", ""]
    from analysis.gamm import AUTO_MGCV_MAX_TOKENS
    engine = f"Engine {md_text(f.engine)}"
    if r.engine_requested == "auto":
        engine += (f", chosen automatically (--engine=auto: mgcv up to {AUTO_MGCV_MAX_TOKENS} "
                   f"tokens, the fast engine above; this model has {f.n_tokens} tokens)")
    elif r.engine_requested:
        engine += f", as requested (--engine={md_text(r.engine_requested)})"
    rho_txt = (f"AR1 rho = {_fmt(f.rho)}, estimated from the residuals of a first fit without "
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
    rows = _level_rows(f, r.ref_word)
    ref = _q(r.ref_word)
    if rows:
        L += [f"Level of each word against {ref} (parametric terms; 95% CI = estimate +/- "
              "1.96 SE) and whether its shape differs (difference smooth):", "",
              "| word | difference from reference | 95% CI | p | shape differs: edf | "
              "shape p |", "|---|---:|---|---:|---:|---:|"]
        for d in rows:
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            edf = _fmt(float(smo.loc[st, "edf"]), 2) if st in smo.index else ""
            sp = format_p(float(smo.loc[st, "p-value"])) if st in smo.index else ""
            L.append(f"| {md_text(d['level'])} | {_fmt(d['estimate'])} | "
                     f"{format_ci(d['lower'], d['upper'])} | {format_p(d['p'])} | {edf} | "
                     f"{sp} |")
        L += ["", "In words:", ""]
        for d in rows:
            L.append("- " + direction_sentence(md_text(r.layer), _q(d["level"]), ref,
                                               d["estimate"], d["lower"], d["upper"], d["p"])
                     + ".")
            st = f"s({f.predictor}):{f.factor}Ordered{d['level']}"
            if st in smo.index and float(smo.loc[st, "p-value"]) < 0.05:
                L.append(f"- {md_text(r.layer)}: the shape of {_q(d['level'])} over time "
                         f"differs from that of {ref} (difference smooth edf "
                         f"{_fmt(float(smo.loc[st, 'edf']), 2)}, "
                         f"{p_phrase(float(smo.loc[st, 'p-value']))}); the difference curve "
                         "and Fig. 3 show where.")
    L += ["", f"Deviance explained {100 * f.dev_expl:.1f} %, adjusted R^2 {_fmt(f.r_sq)}, "
          f"{f.n_tokens} tokens, {f.n_rows} rows."
          + (f" Fit time {r.timings['word']:.1f} s." if "word" in r.timings else ""), ""]
    L += [markdown_table(fits_table({r.layer: f}), "layer"), ""]
    return L


def _span_ms(lt: Optional[LayerTime], start: float, end: float) -> str:
    if lt is None:
        return ""
    return (f" = {lt.ms(start):.0f} to {lt.ms(end):.0f} ms (centres of the input spans; "
            f"one sample = {lt.ms_per_sample:g} ms)")


def _difference_section(r: ReportInputs, lt: Optional[LayerTime]) -> List[str]:
    if not r.diff_words:
        return []
    w1, w2 = r.diff_words
    L = [f"## Difference curve {md_text(w1)} - {md_text(w2)}", ""]
    if r.diff_regions:
        L += [f"Where the 95% CI of {_q(w1)} - {_q(w2)} at {md_text(r.layer)} excludes zero "
              "(the word GAMM's pointwise interval, random smooths excluded):", ""]
        for g in r.diff_regions:
            hi, lo = (w1, w2) if g["sign"] > 0 else (w2, w1)
            L.append(f"- Samples {_fmt(g['start'], 2)} to {_fmt(g['end'], 2)}"
                     f"{_span_ms(lt, g['start'], g['end'])}: {_q(hi)} is higher than "
                     f"{_q(lo)}.")
        if lt is None:
            L.append("- (No timing for this layer: extract_info.json has no jump/centre0 and "
                     "the activations no time column, so regions are in samples only.)")
    else:
        L += ["No sample where the 95% CI of the difference excludes zero."]
    L += [""]
    return L


def _phone_cells(pf, words_of_token: Dict[str, str]) -> Optional[pd.DataFrame]:
    """Intervals and tokens per (phone, word) of a phone fit's rows; None without rows."""
    d = getattr(pf, "data", None)
    if d is None or not words_of_token:
        return None
    sub = d[["Phone", "token_id", "UniqueInterval"]].drop_duplicates("UniqueInterval")
    word = sub["token_id"].astype(str).map(words_of_token)
    if word.isna().any():
        return None
    sub = sub.assign(Word=word.to_numpy(), Phone=sub["Phone"].astype(str))
    g = sub.groupby(["Phone", "Word"], sort=True)
    return pd.DataFrame({"intervals": g["UniqueInterval"].nunique(),
                         "tokens": g["token_id"].nunique()}).reset_index()


def _confound_lines(cells: pd.DataFrame, phones: List[str], layers: str) -> List[str]:
    words = {p: set(cells.loc[cells["Phone"] == p, "Word"]) for p in phones}
    shared = set.intersection(*words.values()) if words else set()
    lab = {p: md_text(phone_label(p)) for p in phones}
    if shared and all(words[p] == shared for p in phones):
        return []
    L = []
    if not shared:
        L.append(f"Design note ({layers}): the phones come from disjoint sets of words ("
                 + "; ".join(f"{lab[p]} only from {', '.join(_q(w) for w in sorted(words[p]))}"
                             for p in phones)
                 + "), so the phone contrast is confounded with word: a difference between "
                 "the phones cannot be told apart from a difference between these words. "
                 "Intervals and tokens per cell:")
    else:
        only = {p: sorted(words[p] - shared) for p in phones}
        L.append(f"Design note ({layers}): the phones are partly confounded with word: only "
                 + ", ".join(_q(w) for w in sorted(shared)) + " contribute both; "
                 + "; ".join(f"{', '.join(_q(w) for w in only[p])} only {lab[p]}"
                             for p in phones if only[p])
                 + ". Intervals and tokens per cell:")
    L += ["", "| phone | word | intervals | tokens |", "|---|---|---:|---:|"]
    for row in cells.itertuples(index=False):
        L.append(f"| {md_text(phone_label(row.Phone))} | {md_text(row.Word)} | "
                 f"{row.intervals} | {row.tokens} |")
    for p in phones:
        c = cells[cells["Phone"] == p]
        L.append(f"| {md_text(phone_label(p))} | all | {int(c['intervals'].sum())} | "
                 f"{int(c['tokens'].sum())} |")
    return L + [""]


def _phone_section(r: ReportInputs) -> List[str]:
    if not r.phone_fits:
        return []
    phones = [str(p) for p in r.phones] or [str(v) for v in
                                             next(iter(r.phone_fits.values())).levels]
    lab = {p: md_text(phone_label(p)) for p in phones}
    k_asked = int(getattr(r.word_fit, "k", 0) or 0)
    regions = r.phone_regions
    if regions is None and len(phones) >= 2:
        try:
            regions = contrast_regions(r.phone_fits, phones[1], phones[0],
                                       np.linspace(0.0, 1.0, 51))
        except Exception:  # a fit without a usable lpmatrix: the report says nothing of it
            regions = None
    words_of_token = {}
    d = getattr(r.word_fit, "data", None)
    if r.phone_table is not None and {"token_id", "word"} <= set(r.phone_table.columns):
        t = r.phone_table[["token_id", "word"]].drop_duplicates("token_id")
        words_of_token = dict(zip(t["token_id"].astype(str), t["word"].astype(str)))
    elif d is not None and {"token_id", "Word"} <= set(d.columns):
        words_of_token = dict(zip(d["token_id"].astype(str), d["Word"].astype(str)))
    cells = {lay: _phone_cells(pf, words_of_token) for lay, pf in r.phone_fits.items()}
    L = [f"## Phone contrast ({' vs '.join(lab[p] for p in phones)})", ""]
    # The design first: it qualifies every result of the section.
    known = {lay: c for lay, c in cells.items() if c is not None}
    if known:
        first = next(iter(known.values()))
        if all(c.equals(first) for c in known.values()):
            L += _confound_lines(first, phones, "every layer" if len(known) > 1 else
                                 md_text(next(iter(known))))
        else:
            for lay, c in known.items():
                L += _confound_lines(c, phones, md_text(lay))
    confounded = any(_confound_lines(c, phones, "") for c in known.values())
    L += ["| layer | k | intervals | tokens | difference " + " - ".join(
        lab[p] for p in reversed(phones[:2])) + " (95% CI) | level p | shape p | "
        "dev. expl. |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    bullets = []
    for lay, pf in r.phone_fits.items():
        rows = _level_rows(pf, phones[0])
        ps = pf.smooths.set_index(pf.smooths["term"].astype(str))
        sterm = [t for t in ps.index if t.startswith(f"s({pf.predictor}):")]
        shape_p = float(ps.loc[sterm[0], "p-value"]) if sterm else float("nan")
        n_tok = pf.data["token_id"].nunique() if getattr(pf, "data", None) is not None \
            else None
        lvl = rows[0] if rows else None
        L.append(f"| {md_text(lay)} | {pf.k} | {pf.n_tokens} | "
                 f"{n_tok if n_tok is not None else ''} | "
                 + (f"{_fmt(lvl['estimate'])} ({format_ci(lvl['lower'], lvl['upper'])})"
                    if lvl else "") + f" | {format_p(lvl['p']) if lvl else ''} | "
                 f"{format_p(shape_p)} | {100 * pf.dev_expl:.1f} % |")
        parts = []
        if lvl:
            parts.append(direction_sentence(md_text(lay), lab.get(lvl["level"],
                                                                   md_text(lvl["level"])),
                                            lab[phones[0]], lvl["estimate"], lvl["lower"],
                                            lvl["upper"], lvl["p"]))
        if sterm:
            parts.append(("the shapes differ" if shape_p < 0.05 else
                          "the shapes do not differ reliably")
                         + f" (difference smooth {p_phrase(shape_p)})")
        if regions is not None and len(phones) >= 2:
            reg = regions.get(lay, [])
            if reg:
                parts.append(f"the CI of {lab[phones[1]]} - {lab[phones[0]]} excludes zero at "
                             "normalised time " + ", ".join(
                                 f"{g['start']:.2f}-{g['end']:.2f} "
                                 f"({'higher' if g['sign'] > 0 else 'lower'})" for g in reg))
            else:
                parts.append("the CI of the difference includes zero throughout")
        text = "; ".join(parts)
        text += f". Automatic choices: AR1 rho = {_fmt(pf.rho)}"
        if k_asked and pf.k != k_asked:
            text += f"; k lowered from {k_asked} to {pf.k}"
        text += "."
        for n in pf.notes:
            n = " ".join(str(n).split())
            if "k lowered" in n:
                text += (f" Caveat: {md_text(n)}; with so few samples per interval the shape "
                         "test rests on a smooth of at most "
                         f"{pf.k - 1} degrees of freedom fitted to a handful of points, so "
                         "read its p-value as indicative only.")
            else:
                text += f" Note: {md_text(n)}."
        if confounded and (lvl and lvl["p"] < 0.05 or shape_p < 0.05):
            text += " Caveat: confounded with word (design note above)."
        bullets.append("- " + text)
    L += ["", "In words:", ""] + bullets + ["", "Full tables: `phone_contrast.md`.", ""]
    return L


def _lmm_section(r: ReportInputs) -> List[str]:
    if r.lmm is None or not len(r.lmm):
        return []
    L = ["## Mean activation per token (mixed model)", "",
         f"Model: each token's mean activation, `Mean ~ Word + (1 | Speaker)` at every layer "
         f"(the level test of the calibrated word model); backend: {md_text(r.lmm_backend)}. "
         "Omnibus test of Word per layer:", "",
         "| layer | formula | F | p |", "|---|---|---:|---:|"]
    for lay, g in r.lmm.groupby("layer", sort=False):
        L.append(f"| {md_text(lay)} | {_code_cell(g['formula'].iloc[0])} | "
                 f"{_fmt(g['F_word'].iloc[0], 2)} | {format_p(g['p_word'].iloc[0])} |")
    levels = list(getattr(r.word_fit, "levels", []) or [])
    if not levels:
        return L + [""]
    est = lmm_word_estimates(r.lmm, levels)
    ref = _q(levels[0])
    L += ["", f"Per-word estimates (reference {ref}: its mean; other words: difference from "
          "it; 95% CI = estimate +/- t(0.975, df) SE, Satterthwaite df):", "",
          "| layer | word | estimate | 95% CI | df | p |", "|---|---|---:|---|---:|---:|"]
    for d in est.itertuples(index=False):
        L.append(f"| {md_text(d.layer)} | {md_text(d.word)}"
                 f"{' (reference mean)' if d.reference else ''} | {_fmt(d.estimate)} | "
                 f"{format_ci(d.lower, d.upper)} | {_fmt(d.df, 1)} | {format_p(d.p)} |")
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
            L.append("- " + direction_sentence(md_text(d.layer), _q(d.word), ref, d.estimate,
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


def build_markdown(r: ReportInputs) -> str:
    """The report as Markdown (see module docstring)."""
    f = r.word_fit
    files = read_activation_files(r)
    L = ["# GAMM analysis of Q-network activations", ""]
    if r.command:
        L += [f"Command: {md_code(r.command)}", ""]
    L += [f"Activations: {md_code(r.activations)}. Layer {md_text(r.layer)}, reference word "
          f"'{md_text(r.ref_word)}', engine {f.engine}, k = {f.k}.", ""]
    L += _classification_section(r, files)
    from analysis import report_calibrated as cal
    if r.word_tests is not None and len(r.word_tests):
        L += cal.word_section(r, _word_section, direction_sentence)
    else:
        L += _word_section(r)
    L += _difference_section(r, files.layer_time)
    if r.phone_tests is not None and len(r.phone_tests) and r.phone_fits:
        L += cal.phone_section(r, _phone_section, direction_sentence)
    else:
        L += _phone_section(r)
    L += _lmm_section(r)
    for section in r.sections:
        L += [section.rstrip("\n"), ""]
    if r.figures:
        L += ["## Figures", ""]
        phones = [str(p) for p in r.phones]
        fmt = {"layer": md_text(r.layer),
               "phones": " vs ".join(md_text(phone_label(p)) for p in phones),
               "w1": md_text(r.diff_words[0]) if r.diff_words else "",
               "w2": md_text(r.diff_words[1]) if r.diff_words else ""}
        for key, path in r.figures.items():
            cap = FIGURE_CAPTIONS[key].format(**fmt) if key in FIGURE_CAPTIONS else md_text(key)
            pdf = os.path.splitext(path)[0] + ".pdf"
            L += [f"![{cap}]({path})", "", cap + f" (PDF: {md_code(pdf)})", ""]
    if r.notes:  # prose (R's warnings span lines): whitespace folded, then escaped
        L += ["## Notes", ""] + [f"- {md_text(' '.join(str(n).split()))}" for n in r.notes]
        L += [""]
    if r.timings:
        L += ["## Timings", ""] + [f"- {md_text(k)}: {v:.1f} s" for k, v in r.timings.items()]
        L += [""]
    return "\n".join(L)


def _code_cell(text: str) -> str:
    """A code span in a table cell: GFM splits cells on every unescaped '|', code or not."""
    return md_code(text).replace("|", "\\|")


# ------------------------------------------------------------------------ Markdown -> HTML
# Every branch of the converter consumes at least one character or line, so it terminates
# on any input; all text goes through html.escape.

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*))?$")
_ALIGNMENT = re.compile(r"[ \t]*:?-+:?[ \t]*")


def _unescape(text: str) -> str:
    """Markdown text without its backslash escapes (for attributes)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def _closing_fence(text: str, start: int, width: int) -> int:
    """Index of the next run of exactly ``width`` backticks at or after ``start``, or -1."""
    pos = text.find("`", start)
    while pos >= 0:
        end = pos
        while end < len(text) and text[end] == "`":
            end += 1
        if end - pos == width:
            return pos
        pos = text.find("`", end)
    return -1


def _inline(text: str) -> str:
    """HTML of one line of Markdown text: backslash escapes and code spans (CommonMark),
    everything else literal and escaped."""
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in _ASCII_PUNCTUATION:
            out.append(html.escape(text[i + 1]))
            i += 2
        elif ch == "`":
            run_end = i
            while run_end < n and text[run_end] == "`":
                run_end += 1
            close = _closing_fence(text, run_end, run_end - i)
            if close < 0:  # no matching fence: the backticks are literal
                out.append(text[i:run_end])
                i = run_end
                continue
            code = text[run_end:close]
            if len(code) >= 2 and code[0] == code[-1] == " " and code.strip(" "):
                code = code[1:-1]
            out.append(f"<code>{html.escape(code)}</code>")
            i = close + (run_end - i)
        else:
            out.append(html.escape(ch))
            i += 1
    return "".join(out)


def _split_row(line: str) -> List[str]:
    """Cells of a pipe-table row: split on unescaped '|' (GFM), then '\\|' becomes '|'."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    cells, cell, i = [], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            cell.append(body[i:i + 2])
            i += 2
        elif body[i] == "|":
            cells.append("".join(cell))
            cell = []
            i += 1
        else:
            cell.append(body[i])
            i += 1
    if "".join(cell).strip():  # text after the last '|' (a row need not end with one)
        cells.append("".join(cell))
    return [c.strip().replace("\\|", "|") for c in cells]


def _image(line: str) -> Optional[tuple]:
    """(alt, src) of a line that is exactly ``![alt](src)``, else None."""
    if not line.startswith("!["):
        return None
    i = 2
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "]":
            break
        i += 1
    if line[i + 1:i + 2] != "(" or not line.endswith(")") or i + 2 > len(line) - 1:
        return None
    return line[2:i], line[i + 2:-1]


def _block(line: str) -> Optional[str]:
    """Which block a line opens ('blank', 'heading', 'image', 'table', 'list') or None for
    paragraph text."""
    if not line.strip():
        return "blank"
    if _HEADING.match(line):
        return "heading"
    if _image(line):
        return "image"
    if line.startswith("|"):
        return "table"
    if line.startswith("- "):
        return "list"
    return None


def markdown_to_html(md: str, title: str = "GAMM analysis") -> str:
    """Convert the report's Markdown subset to a standalone HTML page (any input: what is not
    a heading, image, table or list is paragraph text)."""
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
           "img{max-width:100%}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        kind = _block(line)
        if kind == "blank":
            i += 1
        elif kind == "heading":
            m = _HEADING.match(line)
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline((m.group(2) or '').rstrip())}</h{n}>")
            i += 1
        elif kind == "image":
            alt, src = _image(line)
            out.append(f"<img src='{html.escape(_unescape(src))}' "
                       f"alt='{html.escape(_unescape(alt))}'>")
            i += 1
        elif kind == "table":
            rows = []
            while i < len(lines) and _block(lines[i]) == "table":
                rows.append(_split_row(lines[i]))
                i += 1
            out.append("<table>")
            for k, row in enumerate(rows):
                if k == 1 and row and all(_ALIGNMENT.fullmatch(c) for c in row):
                    continue
                tag = "th" if k == 0 else "td"
                out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in row)
                           + "</tr>")
            out.append("</table>")
        elif kind == "list":
            out.append("<ul>")
            while i < len(lines) and _block(lines[i]) == "list":
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
        else:  # a paragraph: this line and the next ones that open no other block
            para = [line]
            i += 1
            while i < len(lines) and _block(lines[i]) is None:
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(folder: str, inputs: ReportInputs) -> Dict[str, str]:
    """Write report.md and report.html into folder; return their paths."""
    md = build_markdown(inputs)
    paths = {"md": f"{folder}/report.md", "html": f"{folder}/report.html"}
    atomic_write_text(paths["md"], md)
    atomic_write_text(paths["html"], markdown_to_html(md))
    return paths
