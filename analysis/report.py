"""Markdown + simple HTML report of an analysis run (every number taken from the fits).

:func:`build_markdown` turns a :class:`ReportInputs` into Markdown; :func:`markdown_to_html`
converts the subset of Markdown used here (headings, paragraphs, bullet lists, pipe tables,
images, inline code, backslash escapes) into a standalone HTML page; :func:`write_report`
writes both atomically.

Labels (words, phones, layers, paths, the command line) are data: they enter the Markdown
only through :func:`analysis.tables.md_text` / :func:`analysis.tables.md_code`, so none can
open a heading, a table cell, a link or HTML; the converter HTML-escapes all text, accepts
any input and always terminates.
"""

from __future__ import annotations

import html
import math
import re
import string
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pandas as pd

from analysis.tables import fits_table, format_p, markdown_table, md_code, md_text
from common.atomic import atomic_write_text


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
        L += [f"Command: {md_code(r.command)}", ""]
    L += [f"Activations: {md_code(r.activations)}. Layer {md_text(r.layer)}, reference word "
          f"'{md_text(r.ref_word)}', engine {f.engine}, k = {f.k}.", ""]
    L += ["## Word model (Table 1)", "", f"Formula: {md_code(f.formula)} (bam, fREML, "
          f"discrete), AR1 rho = {_fmt(f.rho)} ({f.rho_method} residual lag-1 "
          "autocorrelation).", ""]
    # Terms are looked up by the names mgcv gives them ('Word<w>', 's(Sample):WordOrdered<w>'),
    # never parsed back into words: a word may contain ':' or anything else.
    others = list(f.levels[1:])
    level_term = {w: f"{f.factor}{w}" for w in others}
    shape_term = {w: f"s({f.predictor}):{f.factor}Ordered{w}" for w in others}
    sig_par = [w for w in others if level_term[w] in par.index
               and par.loc[level_term[w], "Pr(>|t|)"] < 0.05]
    sig_smo = [w for w in others if shape_term[w] in smo.index
               and smo.loc[shape_term[w], "p-value"] < 0.05]
    L += [f"- Words whose level differs from '{md_text(r.ref_word)}' (p < 0.05): "
          + (", ".join(f"{md_text(w)} ({_fmt(par.loc[level_term[w], 'Estimate'])}, "
                       f"p {format_p(par.loc[level_term[w], 'Pr(>|t|)'])})" for w in sig_par)
             or "none"),
          "- Words whose shape differs (difference smooth p < 0.05): "
          + (", ".join(f"{md_text(w)} (edf {_fmt(smo.loc[shape_term[w], 'edf'], 2)}, "
                       f"p {format_p(smo.loc[shape_term[w], 'p-value'])})" for w in sig_smo)
             or "none"),
          f"- Deviance explained {100 * f.dev_expl:.1f} %, adjusted R^2 {_fmt(f.r_sq)}, "
          f"{f.n_tokens} tokens, {f.n_rows} rows."
          + (f" Fit time {r.timings['word']:.1f} s." if "word" in r.timings else ""), ""]
    L += [markdown_table(fits_table({r.layer: f}), "layer"), ""]
    if r.diff_words:
        w1, w2 = r.diff_words
        L += [f"## Difference curve {md_text(w1)} - {md_text(w2)}", ""]
        if r.diff_regions:
            L += ["Samples where the 95% CI of the difference excludes zero:", ""]
            L += [f"- {_fmt(g['start'], 2)} to {_fmt(g['end'], 2)} "
                  f"({'positive' if g['sign'] > 0 else 'negative'})" for g in r.diff_regions]
        else:
            L += ["No sample where the 95% CI of the difference excludes zero."]
        L += [""]
    if r.phone_fits:
        L += [f"## Phone contrast ({' vs '.join(md_text(p) for p in r.phones)})", ""]
        L += ["| layer | k | tokens | rho | Phone term p | difference smooth p | dev. expl. |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for lay, pf in r.phone_fits.items():
            pp = pf.parametric.set_index("term")
            ps = pf.smooths.set_index("term")
            pterm = [t for t in pp.index if t != "(Intercept)"]
            sterm = [t for t in ps.index if t.startswith(f"s({pf.predictor}):")]
            L.append(f"| {md_text(lay)} | {pf.k} | {pf.n_tokens} | {_fmt(pf.rho)} | "
                     f"{format_p(pp.loc[pterm[0], 'Pr(>|t|)']) if pterm else ''} | "
                     f"{format_p(ps.loc[sterm[0], 'p-value']) if sterm else ''} | "
                     f"{100 * pf.dev_expl:.1f} % |")
        L += ["", "Full tables: `phone_contrast.md`.", ""]
    if r.lmm is not None and len(r.lmm):
        L += ["## Mean activation per token (mixed model)", "",
              f"Backend: {md_text(r.lmm_backend)}. Omnibus test of Word per layer:", "",
              "| layer | formula | F | p |", "|---|---|---:|---:|"]
        for lay, g in r.lmm.groupby("layer", sort=False):
            L.append(f"| {md_text(lay)} | {_code_cell(g['formula'].iloc[0])} | "
                     f"{_fmt(g['F_word'].iloc[0], 2)} | {format_p(g['p_word'].iloc[0])} |")
        L += [""]
    if r.classification:
        c = r.classification
        L += ["## Q classification", "",
              f"Accuracy {_fmt(c.get('accuracy', float('nan')))} (chance "
              f"{_fmt(c.get('chance', float('nan')))}).", ""]
    if r.figures:
        L += ["## Figures", ""]
        fmt = {"layer": md_text(r.layer), "phones": " vs ".join(md_text(p) for p in r.phones),
               "w1": md_text(r.diff_words[0]) if r.diff_words else "",
               "w2": md_text(r.diff_words[1]) if r.diff_words else ""}
        for key, path in r.figures.items():
            cap = FIGURE_CAPTIONS[key].format(**fmt) if key in FIGURE_CAPTIONS else md_text(key)
            L += [f"![{cap}]({path})", "", cap, ""]
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
