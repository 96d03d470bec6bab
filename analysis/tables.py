"""Table writers for GAMM results (Table 1 and the phone contrast table): CSV, Markdown, LaTeX.

Long CSV layout (one file for one or several fits), columns :data:`TABLE_COLUMNS`:

    <label>, section, term, Estimate, Std. Error, t value, edf, Ref.df, F, p-value

* section 'parametric': one row per parametric term (Estimate, Std. Error, t value, p-value);
* section 'smooth': one row per smooth (edf, Ref.df, F, p-value);
* section 'model': rows rho, n_tokens, n_rows, dev_expl, r_sq, k with the number in Estimate.

``<label>`` (e.g. ``layer``) tells fits apart. All writes are atomic (temporary file in the
same folder, then os.replace).
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Dict, Mapping

import numpy as np
import pandas as pd

TABLE_COLUMNS = ["section", "term", "Estimate", "Std. Error", "t value", "edf", "Ref.df", "F",
                 "p-value"]
MODEL_ROWS = ["rho", "n_tokens", "n_rows", "dev_expl", "r_sq", "k"]


def default_mode(is_dir: bool = False) -> int:
    """Permission bits a plain open()/mkdir() would give under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if is_dir else 0o666) & ~mask


def atomic_write_text(path: str, text: str) -> None:
    """Write text to ``path`` via a temporary file in the same folder and os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def _records(sub: pd.DataFrame, section: str):
    return sub[sub["section"] == section].to_dict("records")


def _model_line(sub: pd.DataFrame) -> Dict[str, float]:
    m = sub[sub["section"] == "model"].set_index("term")["Estimate"]
    return {k: float(m.get(k, np.nan)) for k in MODEL_ROWS}


def _model_sentence(m: Dict[str, float]) -> str:
    return (f"AR1 rho = {m['rho']:.3f}; {int(m['n_tokens'])} tokens/intervals, "
            f"{int(m['n_rows'])} rows; k = {int(m['k']) if not math.isnan(m['k']) else 'NA'}; "
            f"deviance explained = {100 * m['dev_expl']:.1f} %; adjusted R^2 = {m['r_sq']:.3f}")


def markdown_table(table: pd.DataFrame, label: str = "layer", title: str = "") -> str:
    """Markdown: per label value, a parametric table, a smooth table and a model line."""
    lines = [f"## {title}", ""] if title else []
    for name, sub in table.groupby(label, sort=False):
        lines += [f"### {label} {name}", "", "| Parametric term | Estimate | Std. Error | t | p |",
                  "|---|---:|---:|---:|---:|"]
        for d in _records(sub, "parametric"):
            lines.append(f"| {d['term']} | {format_number(d['Estimate'])} | {format_number(d['Std. Error'])} | "
                         f"{format_number(d['t value'])} | {format_p(d['p-value'])} |")
        lines += ["", "| Smooth term | edf | Ref.df | F | p |", "|---|---:|---:|---:|---:|"]
        for d in _records(sub, "smooth"):
            lines.append(f"| {d['term']} | {format_number(d['edf'])} | {format_number(d['Ref.df'])} | "
                         f"{format_number(d['F'])} | {format_p(d['p-value'])} |")
        lines += ["", _model_sentence(_model_line(sub)) + ".", ""]
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
           "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
           "<": r"$<$", ">": r"$>$"}
    return "".join(rep.get(c, c) for c in str(s))


def latex_table(table: pd.DataFrame, label: str = "layer", caption: str = "") -> str:
    """LaTeX (plain tabular, \\hline rules): per label value parametric + smooth blocks."""
    out = []
    for name, sub in table.groupby(label, sort=False):
        cap = _tex_escape(f"{caption} ({label} {name})" if caption else f"{label} {name}")
        out += [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lrrrr}",
                r"\hline", r"Parametric term & Estimate & Std. Error & $t$ & $p$ \\", r"\hline"]
        for d in _records(sub, "parametric"):
            out.append(f"{_tex_escape(d['term'])} & {format_number(d['Estimate'])} & "
                       f"{format_number(d['Std. Error'])} & {format_number(d['t value'])} & "
                       f"{_tex_escape(format_p(d['p-value']))} \\\\")
        out += [r"\hline", r"Smooth term & edf & Ref.df & $F$ & $p$ \\", r"\hline"]
        for d in _records(sub, "smooth"):
            out.append(f"{_tex_escape(d['term'])} & {format_number(d['edf'])} & {format_number(d['Ref.df'])} & "
                       f"{format_number(d['F'])} & {_tex_escape(format_p(d['p-value']))} \\\\")
        m = _model_line(sub)
        out += [r"\hline",
                r"\multicolumn{5}{l}{" + _tex_escape(_model_sentence(m)) + r"} \\",
                r"\hline", r"\end{tabular}", r"\caption{" + cap + "}", r"\end{table}", ""]
    return "\n".join(out)


def write_tables(fits: Mapping[str, object], prefix: str, label: str = "layer",
                 title: str = "") -> Dict[str, str]:
    """Write <prefix>.csv, .md and .tex for ``fits`` ({label value: GammFit}).

    Returns {'csv': path, 'md': path, 'tex': path}.
    """
    table = fits_table(fits, label)
    paths = {ext: f"{prefix}.{ext}" for ext in ("csv", "md", "tex")}
    atomic_write_text(paths["csv"], table.to_csv(index=False))
    atomic_write_text(paths["md"], markdown_table(table, label, title))
    atomic_write_text(paths["tex"], latex_table(table, label, title))
    return paths
