"""Table writers for GAMM results (Table 1 and the phone contrast table): CSV, Markdown, LaTeX.

Long CSV layout (one file for one or several fits), columns :data:`TABLE_COLUMNS`:

    <label>, section, term, Estimate, Std. Error, t value, edf, Ref.df, F, p-value

* section 'parametric': one row per parametric term (Estimate, Std. Error, t value, p-value);
* section 'smooth': one row per smooth (edf, Ref.df, F, p-value);
* section 'model': rows rho, n_tokens, n_rows, dev_expl, r_sq, k with the number in Estimate.

``<label>`` (e.g. ``layer``) tells fits apart. Labels and terms come from the data and are
escaped for each format (:func:`md_text`, :func:`tex_escape`). All writes are atomic
(:func:`common.atomic.atomic_write_text`).
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

# Labels as text (visible, md_text, md_code, tex_escape) live in analysis.labels.
from analysis.labels import md_text, tex_escape
from common.atomic import atomic_write_csv, atomic_write_text

TABLE_COLUMNS = ["section", "term", "Estimate", "Std. Error", "t value", "edf", "Ref.df", "F",
                 "p-value"]
MODEL_ROWS = ["rho", "n_tokens", "n_rows", "dev_expl", "r_sq", "k"]


def fit_table(fit) -> pd.DataFrame:
    """One GammFit as a long table with TABLE_COLUMNS (sections parametric, smooth, model)."""
    p = fit.parametric
    par = pd.DataFrame({"section": "parametric", "term": p["term"].astype(str),
                        "Estimate": p["Estimate"], "Std. Error": p["Std. Error"],
                        "t value": p["t value"], "p-value": p["Pr(>|t|)"]})
    s = fit.smooths
    smo = pd.DataFrame({"section": "smooth", "term": s["term"].astype(str), "edf": s["edf"],
                        "Ref.df": s["Ref.df"], "F": s["F"], "p-value": s["p-value"]})
    vals = {"rho": fit.rho, "n_tokens": fit.n_tokens, "n_rows": fit.n_rows,
            "dev_expl": fit.dev_expl, "r_sq": fit.r_sq, "k": getattr(fit, "k", np.nan)}
    mod = pd.DataFrame({"section": "model", "term": MODEL_ROWS,
                        "Estimate": [float(vals[r]) for r in MODEL_ROWS]})
    out = pd.concat([par, smo, mod], ignore_index=True)
    return out.reindex(columns=TABLE_COLUMNS)


def fits_table(fits: Mapping[str, object], label: str = "layer") -> pd.DataFrame:
    """Several fits stacked: column ``label`` (dict key) + TABLE_COLUMNS."""
    parts = []
    for name, fit in fits.items():
        t = fit_table(fit)
        t.insert(0, label, str(name))
        parts.append(t)
    if not parts:
        return pd.DataFrame(columns=[label] + TABLE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def format_p(p: float) -> str:
    """p-value for humans: '< 0.0001' below 1e-4, else 4 decimals."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def format_number(v, digits: int = 3) -> str:
    """``digits`` decimals for ordinary magnitudes; ``digits`` significant digits for small or
    large ones (activations are often ~1e-3, where fixed decimals would print 0.000)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if v != 0 and (abs(v) < 0.1 or abs(v) >= 1e5):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}"


def _model_line(sub: pd.DataFrame) -> Dict[str, float]:
    m = sub[sub["section"] == "model"].set_index("term")["Estimate"]
    return {k: float(m.get(k, np.nan)) for k in MODEL_ROWS}


def _model_sentence(m: Dict[str, float]) -> str:
    """The model line of a Markdown table (Unicode rho and R squared)."""
    return (f"AR1 \u03c1 = {m['rho']:.3f}; {int(m['n_tokens'])} tokens/intervals, "
            f"{int(m['n_rows'])} rows; k = {int(m['k']) if not math.isnan(m['k']) else 'NA'}; "
            f"deviance explained = {100 * m['dev_expl']:.1f} % (mostly the random smooths'); "
            f"adjusted R\u00b2 = {m['r_sq']:.3f}")


def _model_sentence_tex(m: Dict[str, float]) -> str:
    """The model line of a LaTeX table: rho and R^2 in math mode, the rest escaped."""
    k = int(m['k']) if not math.isnan(m['k']) else 'NA'
    return (r"AR1 $\rho$ = " + f"{m['rho']:.3f}; {int(m['n_tokens'])} tokens/intervals, "
            f"{int(m['n_rows'])} rows; k = {k}; deviance explained = "
            f"{100 * m['dev_expl']:.1f} \\% (mostly the random smooths'); adjusted $R^2$ = "
            f"{m['r_sq']:.3f}")


def adjusted_p(table: pd.DataFrame, tested: Sequence[str] = ()) -> pd.Series:
    """The report's correction policy (:func:`analysis.corrections.adjust`) over one table's
    family: the p-values of the rows whose term is in ``tested`` (parametric and smooth rows
    of every fit of the table together); NaN for every other row."""
    from analysis.corrections import adjust
    out = pd.Series(np.nan, index=table.index)
    mask = table["section"].isin(["parametric", "smooth"]) & \
        table["term"].astype(str).isin([str(t) for t in tested])
    if mask.any():
        out[mask] = adjust(table.loc[mask, "p-value"].to_numpy(float))
    return out


def fits_adjusted_p(fits: Mapping[str, object]) -> Dict[str, Dict[str, float]]:
    """{label: {term: adjusted p}} of the report's correction policy over the family of
    ``fits`` together (each fit's :func:`analysis.terms.tested_terms`), as the tables of
    :func:`write_tables` print them."""
    from analysis.terms import tested_terms
    table = fits_table(fits, "label")
    tested = [t for fit in fits.values() for t in tested_terms(fit)]
    adj = adjusted_p(table, tested)
    out: Dict[str, Dict[str, float]] = {}
    for (lab, term), v in zip(zip(table["label"], table["term"]), adj):
        if np.isfinite(v):
            out.setdefault(str(lab), {})[str(term)] = float(v)
    return out


def _name(term: str, names: Optional[Mapping[str, object]], fmt: str) -> str:
    shown = (names or {}).get(str(term))
    if shown is None:
        return md_text(term) if fmt == "md" else tex_escape(term)
    return shown.markdown() if fmt == "md" else shown.latex()


def markdown_table(table: pd.DataFrame, label: str = "layer", title: str = "",
                   names: Optional[Mapping[str, object]] = None,
                   tested: Sequence[str] = ()) -> str:
    """Markdown: per label value, a parametric table, a smooth table and a model line.
    ``names``: {term: :class:`analysis.terms.TermName`} (``Word = dark``); ``tested``: the
    terms of the correction family (:func:`adjusted_p`), whose adjusted p is shown."""
    from analysis.corrections import POLICY_LABEL
    adj = adjusted_p(table, tested)
    lines = [f"## {md_text(title)}", ""] if title else []
    for name, sub in table.groupby(label, sort=False):
        lines += [f"### {md_text(label)} {md_text(name)}", "",
                  f"| Parametric term | Estimate | Std. Error | t | p | p ({POLICY_LABEL}) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for i, d in zip(sub.index, sub.to_dict("records")):
            if d["section"] != "parametric":
                continue
            lines.append(f"| {_name(d['term'], names, 'md')} | {format_number(d['Estimate'])} | "
                         f"{format_number(d['Std. Error'])} | {format_number(d['t value'])} | "
                         f"{format_p(d['p-value'])} | {format_p(adj[i])} |")
        lines += ["", f"| Smooth term | edf | Ref.df | F | p | p ({POLICY_LABEL}) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for i, d in zip(sub.index, sub.to_dict("records")):
            if d["section"] != "smooth":
                continue
            lines.append(f"| {_name(d['term'], names, 'md')} | {format_number(d['edf'])} | "
                         f"{format_number(d['Ref.df'])} | {format_number(d['F'])} | "
                         f"{format_p(d['p-value'])} | {format_p(adj[i])} |")
        lines += ["", _model_sentence(_model_line(sub)) + ".", ""]
    if len(tested):
        lines += [_policy_note(tested), ""]
    return "\n".join(lines)


def _policy_note(tested: Sequence[str]) -> str:
    from analysis.corrections import ALPHA, POLICY_LABEL
    return (f"p ({POLICY_LABEL}): {POLICY_LABEL}-adjusted over the table's "
            "family (every level term and difference curve of the table, all fits together);"
            f" a difference is claimed where it is below {ALPHA:g}.")


def latex_table(table: pd.DataFrame, label: str = "layer", caption: str = "",
                names: Optional[Mapping[str, object]] = None,
                tested: Sequence[str] = ()) -> str:
    """LaTeX (plain tabular, \\hline rules): per label value parametric + smooth blocks, with
    the display names and adjusted p of :func:`markdown_table`."""
    from analysis.corrections import POLICY_LABEL
    adj = adjusted_p(table, tested)
    out = []
    for name, sub in table.groupby(label, sort=False):
        cap = tex_escape(f"{caption} ({label} {name})" if caption else f"{label} {name}")
        if len(tested):
            cap += ". " + tex_escape(_policy_note(tested))
        out += [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lrrrrr}",
                r"\hline", r"Parametric term & Estimate & Std. Error & $t$ & $p$ & $p$ ("
                + POLICY_LABEL + r") \\", r"\hline"]
        for i, d in zip(sub.index, sub.to_dict("records")):
            if d["section"] != "parametric":
                continue
            out.append(f"{_name(d['term'], names, 'tex')} & {format_number(d['Estimate'])} & "
                       f"{format_number(d['Std. Error'])} & {format_number(d['t value'])} & "
                       f"{tex_escape(format_p(d['p-value']))} & {tex_escape(format_p(adj[i]))}"
                       " \\\\")
        out += [r"\hline", r"Smooth term & edf & Ref.df & $F$ & $p$ & $p$ (" + POLICY_LABEL
                + r") \\", r"\hline"]
        for i, d in zip(sub.index, sub.to_dict("records")):
            if d["section"] != "smooth":
                continue
            out.append(f"{_name(d['term'], names, 'tex')} & {format_number(d['edf'])} & "
                       f"{format_number(d['Ref.df'])} & "
                       f"{format_number(d['F'])} & {tex_escape(format_p(d['p-value']))} & "
                       f"{tex_escape(format_p(adj[i]))} \\\\")
        m = _model_line(sub)
        out += [r"\hline",
                r"\multicolumn{6}{l}{" + _model_sentence_tex(m) + r"} \\",
                r"\hline", r"\end{tabular}", r"\caption{" + cap + "}", r"\end{table}", ""]
    return "\n".join(out)


def write_tables(fits: Mapping[str, object], prefix: str, label: str = "layer",
                 title: str = "") -> Dict[str, str]:
    """Write <prefix>.csv, .md and .tex for ``fits`` ({label value: GammFit}): the CSV with
    mgcv's term names, the Markdown and LaTeX with display names (:mod:`analysis.terms`) and
    the adjusted p of the report's correction policy over the table's tested terms.

    Returns {'csv': path, 'md': path, 'tex': path}.
    """
    from analysis.terms import fit_term_names, tested_terms
    table = fits_table(fits, label)
    names, tested = {}, []
    for fit in fits.values():
        names.update(fit_term_names(fit))
        tested += [t for t in tested_terms(fit) if t not in tested]
    paths = {ext: f"{prefix}.{ext}" for ext in ("csv", "md", "tex")}
    atomic_write_csv(table, paths["csv"])
    atomic_write_text(paths["md"], markdown_table(table, label, title, names, tested))
    atomic_write_text(paths["tex"], latex_table(table, label, title, names, tested))
    return paths


# ------------------------------------------------------------------------ estimates with CIs

def ci_bounds(estimate: float, se: float, df: float = math.inf, level: float = 0.95) -> tuple:
    """(lower, upper) = estimate -/+ q * se with q the two-sided ``level`` quantile of Student's
    t with ``df`` degrees of freedom (the normal quantile when df is infinite or missing)."""
    from scipy.stats import norm, t
    tail = 1.0 - (1.0 - level) / 2.0
    if df is None or not math.isfinite(float(df)):
        q = float(norm.ppf(tail))
    else:
        q = float(t.ppf(tail, float(df)))
    return estimate - q * se, estimate + q * se


def lmm_word_estimates(lmm: pd.DataFrame, levels, level: float = 0.95) -> pd.DataFrame:
    """Per-word estimates of :func:`analysis.lmm.compare_layers`' table with CIs.

    lmm: long table (layer, term, Estimate, Std. Error, df, Pr(>|t|), ...); levels: the words,
    reference first (a word's term is 'Word<word>', looked up, never parsed). Returns one row
    per (layer, non-reference word present): layer, word, estimate (difference from the
    reference), se, df, lower, upper (Estimate -/+ t_{(1+level)/2, df} SE), p; and per layer
    one row for the reference word itself (word = reference, estimate = its mean, the
    Intercept) flagged ``reference`` True.
    """
    rows = []
    levels = [str(v) for v in levels]
    for lay, g in lmm.groupby("layer", sort=False):
        by_term = g.set_index(g["term"].astype(str))
        for i, w in enumerate(levels):
            term = "(Intercept)" if i == 0 else f"Word{w}"
            if term not in by_term.index:
                continue
            r = by_term.loc[term]
            est, se, df = float(r["Estimate"]), float(r["Std. Error"]), float(r["df"])
            lo, hi = ci_bounds(est, se, df, level)
            rows.append({"layer": str(lay), "word": w, "reference": i == 0, "estimate": est,
                         "se": se, "df": df, "lower": lo, "upper": hi,
                         "p": float(r["Pr(>|t|)"])})
    return pd.DataFrame(rows, columns=["layer", "word", "reference", "estimate", "se", "df",
                                       "lower", "upper", "p"])


def format_ci(lower: float, upper: float, digits: int = 3) -> str:
    """'lower to upper' with :func:`format_number`."""
    return f"{format_number(lower, digits)} to {format_number(upper, digits)}"


def p_phrase(p: float) -> str:
    """'p < 0.0001' or 'p = 0.0123' (:func:`format_p`) for prose."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
