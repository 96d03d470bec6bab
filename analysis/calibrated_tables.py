"""The calibrated models' tables and refit scripts (analysis.calibrated; issue 22).

Word model (Table 1 by default; ``--word_model=paper`` writes the paper's GAMM there instead):
one row per non-reference word of the layer, :data:`WORD_TABLE_COLUMNS`. Phone contrast (the
[s]/[ʃ] section by default): one row per layer, :data:`PHONE_TABLE_COLUMNS` (a layer whose
words cannot carry the contrast says so in ``status`` and has no p-value). Each table is
written as CSV, Markdown and LaTeX, beside the per-unit summaries it was fitted to
(``word_units.csv``, ``phone_units.csv``) and an R script that refits it from them with lme4
and lmerTest (labels reach R only as data, never pasted into code, as in
:mod:`analysis.gamm.rcode`).
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd

from analysis.calibrated import (CALIBRATED_BACKEND, STATUS_FITTED, shape_columns, token_units,
                                 word_random_terms, word_tests, word_untestable_reason)
from analysis.gamm.rcode import r_string
from analysis.corrections import POLICY_LABEL, adjust
from analysis.labels import md_text, sentence_case, tex_escape
from analysis.tables import format_number, format_p
from common import layout
from common.atomic import atomic_write_csv, atomic_write_text

WORD_TABLE_COLUMNS = ["layer", "word", "reference", "status", "estimate", "se", "df", "t",
                      "p_level", "shape_rms", "p_shape", "shape_terms", "n_tokens", "formula",
                      "singular"]
PHONE_TABLE_COLUMNS = ["layer", "reference", "phone", "status", "n_reference", "n_phone",
                       "words_reference", "words_phone", "shape_terms", "estimate", "se", "df",
                       "ddf", "p_level", "p_shape", "sd_intervals", "effect_size", "shape_size",
                       "random_effects"]
WORD_UNITS = layout.WORD_UNITS_CSV
PHONE_UNITS = layout.PHONE_UNITS_CSV


# --------------------------------------------------------------------------- word model

def word_table(data: pd.DataFrame, layer: str, q: int) -> tuple:
    """(table [WORD_TABLE_COLUMNS], units): the calibrated word model of one layer's prepared
    rows (:func:`analysis.gamm.data.prepare_gamm_data`), from per-token summaries."""
    levels = [str(c) for c in data["Word"].cat.categories]
    # as the phone model does: no more shape terms than the shortest token's samples allow
    n_min = int(data.groupby("UniqueWord", observed=True)["Sample"].nunique().min())
    q = max(0, min(int(q), n_min - 1))
    units = token_units(data, q)
    reason = word_untestable_reason(units)
    if reason:  # every word's row, with the reason instead of statistics
        res = pd.DataFrame({"layer": layer, "word": levels[1:], "status": reason,
                            "formula": "", "singular": False})
    else:
        res = word_tests(units, levels, layer).assign(status=STATUS_FITTED)
    res = res.assign(reference=levels[0], t=res["estimate"] / res["se"] if not reason
                     else np.nan, shape_terms=int(q), n_tokens=len(units))
    return res.reindex(columns=WORD_TABLE_COLUMNS), units


def untested_reason(table: pd.DataFrame) -> str:
    """The word table's reason when no word was tested (:func:`word_table`), else ''."""
    status = table["status"].astype(str)
    return "" if (status == STATUS_FITTED).any() or not len(status) else status.iloc[0]


def word_markdown(table: pd.DataFrame, title: str) -> str:
    reason = untested_reason(table)
    if reason:
        return "\n".join([f"## {md_text(title)}", "", f"{sentence_case(md_text(reason))}.",
                           f"{int(table['n_tokens'].iloc[0])} tokens.", ""])
    lines = [f"## {md_text(title)}", "", f"Model: `{table['formula'].iloc[0]}` for the level "
             "(each token's mean) and for each shape coefficient; " + CALIBRATED_BACKEND + ".",
             "", "| word | difference from " + md_text(table["reference"].iloc[0])
             + f" | SE | df | t | p (level) | p (level, {POLICY_LABEL}) | shape RMS | "
             f"p (shape) | p (shape, {POLICY_LABEL}) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lvl, shp = _adjusted(table)
    for i, r in enumerate(table.itertuples(index=False)):
        lines.append(f"| {md_text(r.word)} | {format_number(r.estimate)} | "
                     f"{format_number(r.se)} | {format_number(r.df, 1)} | {format_number(r.t)} "
                     f"| {format_p(r.p_level)} | {format_p(lvl[i])} | "
                     f"{format_number(r.shape_rms)} | {format_p(r.p_shape)} | "
                     f"{format_p(shp[i])} |")
    return "\n".join(lines + ["", f"{int(table['n_tokens'].iloc[0])} tokens; shape: "
                              f"{int(table['shape_terms'].iloc[0])} Legendre coefficients, "
                              f"Bonferroni-combined. {POLICY_NOTE}", ""])


# The report's correction policy (analysis.corrections) over a table's level and shape tests.
POLICY_NOTE = (f"{POLICY_LABEL}: the report's correction policy over the table's level and "
               "shape tests together.")


def _adjusted(table: pd.DataFrame) -> tuple:
    """(adjusted p_level, adjusted p_shape) of :func:`analysis.corrections.adjust` over
    every level and shape p-value of ``table`` together (NaN: not tested)."""
    both = adjust(np.concatenate([table["p_level"].to_numpy(float),
                                  table["p_shape"].to_numpy(float)]))
    return both[:len(table)], both[len(table):]


def word_latex(table: pd.DataFrame, caption: str) -> str:
    reason = untested_reason(table)
    if reason:
        return "\n".join([r"\begin{table}[t]", r"\centering",
                           tex_escape(f"{sentence_case(reason)}."),
                           r"\caption{" + tex_escape(caption) + "}", r"\end{table}", ""])
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lrrrrrrrrr}",
           r"\hline", r"Word & Difference & SE & df & $t$ & $p$ (level) & $p$ (" + POLICY_LABEL
           + r") & Shape RMS & $p$ (shape) & $p$ (" + POLICY_LABEL + r") \\", r"\hline"]
    lvl, shp = _adjusted(table)
    for i, r in enumerate(table.itertuples(index=False)):
        out.append(r"\textit{" + tex_escape(r.word) + "} & "
                   f"{format_number(r.estimate)} & "
                   f"{format_number(r.se)} & {format_number(r.df, 1)} & {format_number(r.t)} & "
                   f"{tex_escape(format_p(r.p_level))} & {tex_escape(format_p(lvl[i]))} & "
                   f"{format_number(r.shape_rms)} & {tex_escape(format_p(r.p_shape))} & "
                   f"{tex_escape(format_p(shp[i]))} \\\\")
    out += [r"\hline", r"\end{tabular}",
            r"\caption{" + tex_escape(f"{caption}. {POLICY_NOTE}") + "}", r"\end{table}", ""]
    return "\n".join(out)


def write_word_outputs(folder: str, table: pd.DataFrame, units: pd.DataFrame,
                       prefix: str = layout.TABLE1, title: str = "") -> Dict[str, str]:
    """<prefix>.{csv,md,tex}, word_units.csv and <prefix>_refit.R into ``folder``."""
    paths = {ext: os.path.join(folder, f"{prefix}.{ext}") for ext in ("csv", "md", "tex")}
    atomic_write_csv(table, paths["csv"])
    atomic_write_text(paths["md"], word_markdown(table, title))
    atomic_write_text(paths["tex"], word_latex(table, title))
    levels = [str(table["reference"].iloc[0])] + [str(w) for w in table["word"]]
    rhs = " + ".join(["Word"] + word_random_terms(units))
    data = units_table(units, {"Word": levels}, rhs)
    paths["units"] = os.path.join(folder, WORD_UNITS)
    atomic_write_csv(data, paths["units"])
    paths["script"] = os.path.join(folder, layout.refit_script(prefix))
    atomic_write_text(paths["script"], refit_script(
        WORD_UNITS, "Word", ["Speaker"], shape_columns(int(table["shape_terms"].iloc[0]))))
    return paths


# --------------------------------------------------------------------------- phone model

def phone_table(cells: List[dict]) -> pd.DataFrame:
    """One row per layer (dicts of :func:`analysis.contrasts.calibrated_cell` plus layer,
    reference, phone, n_reference, n_phone) as :data:`PHONE_TABLE_COLUMNS`."""
    t = pd.DataFrame(cells).rename(columns={"p_param": "p_level", "p_smooth": "p_shape"})
    return t.reindex(columns=PHONE_TABLE_COLUMNS)


def phone_markdown(table: pd.DataFrame, title: str) -> str:
    from common.phones import phone_label
    a, b = str(table["reference"].iloc[0]), str(table["phone"].iloc[0])
    lines = [f"## {md_text(title)}", "", "Model: each interval's mean (level) and shape "
             "coefficients, each `~ Phone + random intercepts` (words, speakers; "
             + CALIBRATED_BACKEND + ").", "",
             f"| layer | difference {md_text(phone_label(b))} - {md_text(phone_label(a))} | SE "
             f"| df | p (level) | p (level, {POLICY_LABEL}) | p (shape) | "
             f"p (shape, {POLICY_LABEL}) | effect size | words |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    lvl, shp = _adjusted(table)
    for i, r in enumerate(table.itertuples(index=False)):
        words = f"{_count(r.words_reference)} / {_count(r.words_phone)}"
        if r.status != STATUS_FITTED:
            lines.append(f"| {md_text(r.layer)} | {md_text(r.status)} | | | | | | | | "
                         f"{words} |")
            continue
        lines.append(f"| {md_text(r.layer)} | {format_number(r.estimate)} | "
                     f"{format_number(r.se)} | {format_number(r.df, 1)} | "
                     f"{format_p(r.p_level)} | {format_p(lvl[i])} | {format_p(r.p_shape)} | "
                     f"{format_p(shp[i])} | {format_number(r.effect_size, 2)} | {words} |")
    return "\n".join(lines + ["", POLICY_NOTE, ""])


def _count(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(int(v))


def phone_latex(table: pd.DataFrame, caption: str) -> str:
    out = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{lrrrrrrrr}",
           r"\hline", r"Layer & Difference & SE & df & $p$ (level) & $p$ (" + POLICY_LABEL
           + r") & $p$ (shape) & $p$ (" + POLICY_LABEL + r") & Effect size \\", r"\hline"]
    lvl, shp = _adjusted(table)
    for i, r in enumerate(table.itertuples(index=False)):
        if r.status != STATUS_FITTED:
            out.append(f"{tex_escape(r.layer)} & \\multicolumn{{8}}{{l}}{{"
                       f"{tex_escape(r.status)}}} \\\\")
            continue
        out.append(f"{tex_escape(r.layer)} & {format_number(r.estimate)} & "
                   f"{format_number(r.se)} & {format_number(r.df, 1)} & "
                   f"{tex_escape(format_p(r.p_level))} & {tex_escape(format_p(lvl[i]))} & "
                   f"{tex_escape(format_p(r.p_shape))} & {tex_escape(format_p(shp[i]))} & "
                   f"{format_number(r.effect_size, 2)} \\\\")
    out += [r"\hline", r"\end{tabular}",
            r"\caption{" + tex_escape(f"{caption}. {POLICY_NOTE}") + "}", r"\end{table}", ""]
    return "\n".join(out)


def write_phone_outputs(folder: str, table: pd.DataFrame, units: Dict[str, pd.DataFrame],
                        prefix: str = layout.PHONE_CONTRAST, title: str = "") -> Dict[str, str]:
    """<prefix>.{csv,md,tex}, phone_units.csv (every tested layer's intervals, column
    ``layer``) and <prefix>_refit.R into ``folder``."""
    paths = {ext: os.path.join(folder, f"{prefix}.{ext}") for ext in ("csv", "md", "tex")}
    atomic_write_csv(table, paths["csv"])
    atomic_write_text(paths["md"], phone_markdown(table, title))
    atomic_write_text(paths["tex"], phone_latex(table, title))
    if units:
        a, b = str(table["reference"].iloc[0]), str(table["phone"].iloc[0])
        q = max(len([c for c in u.columns if c.startswith("shape")]) for u in units.values())
        parts = [phone_units_table(u.assign(layer=lay), a, b) for lay, u in units.items()]
        paths["units"] = os.path.join(folder, PHONE_UNITS)
        atomic_write_csv(pd.concat(parts, ignore_index=True), paths["units"])
        paths["script"] = os.path.join(folder, layout.refit_script(prefix))
        atomic_write_text(paths["script"], refit_script(
            PHONE_UNITS, "Phone", ["Word", "WordPhone", "Speaker", "Token"], shape_columns(q),
            by="layer"))
    return paths


# --------------------------------------------------------------------------- refit script

def phone_units_table(units: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """:func:`units_table` of one phone contrast's interval summaries, with the model's
    random terms and df method as the fit chose them (:mod:`analysis.calibrated`)."""
    from analysis.calibrated import choose_ddf, phone_random_terms, words_per_phone
    return units_table(units, {"Phone": [a, b]},
                       " + ".join(["Phone"] + phone_random_terms(units)),
                       choose_ddf(words_per_phone(units, (a, b))))


def units_table(units: pd.DataFrame, levels: Dict[str, Sequence[str]],
                rhs: str, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """The units as the refit script reads them: every label as text, for each fixed factor
    its 1-based level number in ``<factor>Level`` (R rebuilds the level order from it, so no
    label is written in R code), the model's right-hand side in ``model_rhs`` and its
    denominator df method in ``model_ddf``."""
    out = units.copy()
    out["model_rhs"] = rhs
    out["model_ddf"] = ddf
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or out[col].dtype == object:
            out[col] = out[col].astype(str)
    for factor, lv in levels.items():
        index = {str(v): i + 1 for i, v in enumerate(lv)}
        out[f"{factor}Level"] = out[factor].map(index).astype("Int64")
    return out


def refit_script(data_csv: str, factor: str, labels: Sequence[str], shapes: Sequence[str],
                 by=None) -> str:
    """An R script refitting a calibrated table from ``data_csv`` (:func:`units_table`): for
    each response (level, shape1..q), ``response ~ <model_rhs>`` by lmerTest (lm when the
    right-hand side has no random term), printing the coefficient table; ``by``: one model
    per value of that column (the phone model's layers). ASCII; no label in the code."""
    classes = ", ".join(f"{c} = \"character\"" for c in [factor] + list(labels))
    resp = ", ".join(r_string(r) for r in ["level"] + list(shapes))
    groups = f"split(d, d${by})" if by else "list(all = d)"
    lines = [
        "# Refit of a calibrated table of analyze.py (docs/calibration.md); run with:",
        "#   Rscript <this file>      (R with lme4 and lmerTest)",
        f"d <- read.csv({r_string(data_csv)}, colClasses = c({classes}), "
        "na.strings = character(0), check.names = FALSE)",
        f"d${factor} <- factor(d${factor}, levels = unique(d${factor}[order(d${factor}Level)]))",
    ]
    for c in labels:
        lines.append(f"if ({r_string(c)} %in% names(d)) d${c} <- factor(d${c})")
    lines += [
        f"for (g in names({groups})) {{",
        f"  dd <- {groups}[[g]]",
        # each group's own levels (the contrast matrix's cells contrast different phones)
        f"  dd${factor} <- factor(as.character(dd${factor}), levels = "
        f"unique(as.character(dd${factor})[order(dd${factor}Level)]))",
        "  rhs <- dd$model_rhs[1]",
        f"  for (resp in c({resp})) {{",
        "    if (!(resp %in% names(dd)) || all(is.na(dd[[resp]]))) next",
        "    f <- as.formula(paste(resp, \"~\", rhs))",
        "    m <- if (grepl(\"(1 |\", rhs, fixed = TRUE)) lmerTest::lmer(f, data = dd, "
        "REML = TRUE, control = lme4::lmerControl(calc.derivs = FALSE)) else lm(f, data = dd)",
        "    cat(sprintf(\"== %s: %s\\n\", g, resp))",
        "    co <- if (inherits(m, \"lmerModLmerTest\")) summary(m, ddf = dd$model_ddf[1])$"
        "coefficients else summary(m)$coefficients",
        "    print(co)",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- in a run

def calibrated_word_outputs(folder: str, fit, layer: str, q: int) -> pd.DataFrame:
    """The calibrated word model of the word GAMM's rows (``fit.data``) written as Table 1
    (:func:`write_word_outputs`); returns the table."""
    table, units = word_table(fit.data, layer, q)
    write_word_outputs(folder, table, units, layout.TABLE1,
                       f"Table 1: {layer} word model (calibrated)")
    return table


def calibrated_phone_outputs(folder: str, phone_rows: pd.DataFrame, layers: Sequence[str],
                             phones: Sequence[str], q: int, min_words: int,
                             progress=None) -> tuple:
    """The calibrated phone contrast phones[1] - phones[0] at each layer, written as
    phone_contrast.{csv,md,tex} (:func:`write_phone_outputs`); returns (table, notes)."""
    from analysis.contrasts import calibrated_cell
    from analysis.gamm.data import AnalysisInputError
    a, b = str(phones[0]), str(phones[1])
    cells, units, notes = [], {}, []
    for lay in layers:
        if progress:
            progress(f"calibrated phone model {a}/{b} at {lay}")
        base = {"layer": lay, "reference": a, "phone": b}
        try:
            stats, cell_notes, u = calibrated_cell(phone_rows, lay, a, b, q, min_words)
        except AnalysisInputError as exc:
            cells.append({**base, "status": f"not fitted: {exc}".splitlines()[0]})
            continue
        counts = u.groupby("Phone", observed=True).size()
        cells.append({**base, **stats, "n_reference": int(counts.get(a, 0)),
                      "n_phone": int(counts.get(b, 0))})
        if stats["status"] == STATUS_FITTED:
            units[lay] = u
        notes.extend(cell_notes)
    table = phone_table(cells)
    from common.phones import phone_label
    write_phone_outputs(folder, table, units, layout.PHONE_CONTRAST,
                        f"Phone contrast {phone_label(a)} vs {phone_label(b)} (calibrated)")
    return table, notes
