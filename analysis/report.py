"""Markdown + simple HTML report of an analysis run (every number taken from the fits).

:func:`build_markdown` turns a :class:`ReportInputs` into Markdown; :func:`markdown_to_html`
converts the subset of Markdown used here (headings, paragraphs, bullet lists, pipe tables,
images, inline code) into a standalone HTML page; :func:`write_report` writes both atomically.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pandas as pd

from analysis.tables import atomic_write_text, fits_table, format_p, markdown_table


@dataclass
class ReportInputs:
    """Everything the report shows. Figures: {key: relative path of the PNG}."""
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
    classification: Optional[dict] = None
    figures: Dict[str, str] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    command: str = ""


FIGURE_CAPTIONS = {
    "fig2": "Fig. 2. One token per word: waveform (top) and each layer's activation, "
            "upsampled to the input's time axis.",
    "fig3": "Fig. 3. Raw {layer} values per word (left) and the GAMM's predicted smooths with "
            "95% CI, random smooths excluded (right).",
    "fig4": "Fig. 4. Phone contrast ({phones}) per layer: predicted curves over normalised "
            "time with 95% CI.",
    "fig5": "Fig. 5. Predictions for {w1} and {w2} (top) and their difference with 95% CI "
            "(bottom); shaded: the CI excludes zero.",
    "confusion": "Q's code (argmax) per word: counts.",
}


def _fmt(v: float, d: int = 3) -> str:
    from analysis.tables import format_number
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else format_number(v, d)


def build_markdown(r: ReportInputs) -> str:
    """The report as Markdown (see module docstring)."""
    f = r.word_fit
    par = f.parametric.set_index("term")
    smo = f.smooths.set_index("term")
    L = ["# GAMM analysis of Q-network activations", ""]
    if r.command:
        L += [f"Command: `{r.command}`", ""]
    L += [f"Activations: `{r.activations}`. Layer {r.layer}, reference word '{r.ref_word}', "
          f"engine {f.engine}, k = {f.k}.", ""]
    L += ["## Word model (Table 1)", "", f"Formula: `{f.formula}` (bam, fREML, discrete), AR1 "
          f"rho = {_fmt(f.rho)} ({f.rho_method} residual lag-1 autocorrelation).", ""]
    sig_par = [t for t in par.index if t != "(Intercept)" and par.loc[t, "Pr(>|t|)"] < 0.05]
    sig_smo = [t for t in smo.index if ":" in t and smo.loc[t, "p-value"] < 0.05]
    L += [f"- Words whose level differs from '{r.ref_word}' (p < 0.05): "
          + (", ".join(f"{t[len(f.factor):]} ({_fmt(par.loc[t, 'Estimate'])}, "
                       f"p {format_p(par.loc[t, 'Pr(>|t|)'])})" for t in sig_par) or "none"),
          "- Words whose shape differs (difference smooth p < 0.05): "
          + (", ".join(f"{t.split(':')[1][len(f.factor) + 7:]} (edf "
                       f"{_fmt(smo.loc[t, 'edf'], 2)}, p {format_p(smo.loc[t, 'p-value'])})"
                       for t in sig_smo) or "none"),
          f"- Deviance explained {100 * f.dev_expl:.1f} %, adjusted R^2 {_fmt(f.r_sq)}, "
          f"{f.n_tokens} tokens, {f.n_rows} rows."
          + (f" Fit time {r.timings['word']:.1f} s." if "word" in r.timings else ""), ""]
    L += [markdown_table(fits_table({r.layer: f}), "layer"), ""]
    if r.diff_words:
        w1, w2 = r.diff_words
        L += [f"## Difference curve {w1} - {w2}", ""]
        if r.diff_regions:
            L += ["Samples where the 95% CI of the difference excludes zero:", ""]
            L += [f"- {_fmt(g['start'], 2)} to {_fmt(g['end'], 2)} "
                  f"({'positive' if g['sign'] > 0 else 'negative'})" for g in r.diff_regions]
        else:
            L += ["No sample where the 95% CI of the difference excludes zero."]
        L += [""]
    if r.phone_fits:
        L += [f"## Phone contrast ({' vs '.join(r.phones)})", ""]
        L += ["| layer | k | tokens | rho | Phone term p | difference smooth p | dev. expl. |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for lay, pf in r.phone_fits.items():
            pp = pf.parametric.set_index("term")
            ps = pf.smooths.set_index("term")
            pterm = [t for t in pp.index if t != "(Intercept)"]
            sterm = [t for t in ps.index if ":" in t]
            L.append(f"| {lay} | {pf.k} | {pf.n_tokens} | {_fmt(pf.rho)} | "
                     f"{format_p(pp.loc[pterm[0], 'Pr(>|t|)']) if pterm else ''} | "
                     f"{format_p(ps.loc[sterm[0], 'p-value']) if sterm else ''} | "
                     f"{100 * pf.dev_expl:.1f} % |")
        L += ["", "Full tables: `phone_contrast.md`.", ""]
    if r.lmm is not None and len(r.lmm):
        L += ["## Mean activation per token (mixed model)", "",
              f"Backend: {r.lmm_backend}. Omnibus test of Word per layer:", "",
              "| layer | formula | F | p |", "|---|---|---:|---:|"]
        for lay, g in r.lmm.groupby("layer", sort=False):
            L.append(f"| {lay} | `{_cell(g['formula'].iloc[0])}` | "
                     f"{_fmt(g['F_word'].iloc[0], 2)} | {format_p(g['p_word'].iloc[0])} |")
        L += [""]
    if r.classification:
        c = r.classification
        L += ["## Q classification", "",
              f"Accuracy {_fmt(c.get('accuracy', float('nan')))} (chance "
              f"{_fmt(c.get('chance', float('nan')))}).", ""]
    if r.figures:
        L += ["## Figures", ""]
        fmt = {"layer": r.layer, "phones": " vs ".join(r.phones),
               "w1": r.diff_words[0] if r.diff_words else "",
               "w2": r.diff_words[1] if r.diff_words else ""}
        for key, path in r.figures.items():
            cap = FIGURE_CAPTIONS.get(key, key).format(**fmt)
            L += [f"![{cap}]({path})", "", cap, ""]
    if r.notes:
        L += ["## Notes", ""] + [f"- {' '.join(str(n).split())}" for n in r.notes] + [""]
    if r.timings:
        L += ["## Timings", ""] + [f"- {k}: {v:.1f} s" for k, v in r.timings.items()] + [""]
    return "\n".join(L)


def _cell(text: str) -> str:
    """Escape pipes for a Markdown table cell."""
    return str(text).replace("|", "\\|")


def _split_row(line: str) -> List[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def _inline(text: str) -> str:
    t = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", t)


def markdown_to_html(md: str, title: str = "GAMM analysis") -> str:
    """Convert the report's Markdown subset to a standalone HTML page."""
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
           "img{max-width:100%}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,6}) (.*)$", line)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
            continue
        img = re.match(r"^!\[(.*)\]\((.*)\)$", line)
        if img:
            out.append(f"<img src='{html.escape(img.group(2))}' alt='"
                       f"{html.escape(img.group(1))}'>")
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_split_row(lines[i]))
                i += 1
            out.append("<table>")
            for k, row in enumerate(rows):
                if k == 1 and all(re.fullmatch(r":?-+:?", c) for c in row):
                    continue
                tag = "th" if k == 0 else "td"
                out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in row)
                           + "</tr>")
            out.append("</table>")
            continue
        if line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not re.match(r"^(#|\||- |!\[)", lines[i]):
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
