"""Refit scripts for every model the report fits (issue 27), beside the one of Table 1.

Each script is ASCII R that reads its rows from a CSV written beside it and prints the model
summaries a table was made from; no label (word, phone, speaker, layer) is ever written into
the code (:mod:`analysis.gamm.rcode`): groups are numbered (column ``Group``, 1-based, with
the label as text in ``group_label``) and each factor's level order comes from its
``<factor>Level`` column.

* :func:`write_gamm_refit`: several GAMMs of the paper's kind (the phone GAMM per layer; the
  contrast matrix's paper-model cells), each with its own formula, AR1 rho and basis
  dimension: ``<name>_data.csv`` + ``<name>_refit.R``, one ``bam`` per group.
* :func:`write_lmm_refit`: the mixed models of one response per group (the token means per
  layer: ``lmm.csv``; the spectra's band powers per layer x band), lmerTest or lm exactly as
  :mod:`analysis.lmm` fits them.
* :func:`write_units_refit`: the calibrated contrast matrix's cells from their per-interval
  summaries (:func:`analysis.calibrated_tables.refit_script`, one group per cell).

Every script prints ``== <group>: <label>`` before each group's output, so a reader (and the
tests) can find a group's numbers.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Sequence, Tuple

import pandas as pd

from analysis.gamm.rcode import model_data_table, r_fit_code, r_string
from common import layout
from common.atomic import atomic_write_csv, atomic_write_text

_HEADER = ("# Refit of {what} written by analyze.py; run with: Rscript {script}\n"
           "# (its rows: {data}; group labels are data, never code)\n")


def _group_line(g: int) -> str:
    return (f"cat(sprintf(\"== %d: %s\\n\", {int(g)}L, d$group_label[1]))\n")


def write_gamm_refit(folder: str, name: str, fits: Mapping[str, object], what: str,
                     nthreads: int = 2) -> Dict[str, str]:
    """``<name>_data.csv`` (every fit's rows, :func:`analysis.gamm.rcode.model_data_table`,
    with Group and group_label) and ``<name>_refit.R`` (each group's bam, its summary)."""
    fits = {str(k): f for k, f in fits.items() if getattr(f, "data", None) is not None}
    if not fits:
        return {}
    data_csv, script = f"{name}_data.csv", layout.refit_script(name)
    parts, code = [], [_HEADER.format(what=what, script=script, data=data_csv),
                       "library(mgcv)\n"]
    cols = list(dict.fromkeys([c for f in fits.values() for c in (f.factor, f.random_factor)]
                              + ["group_label"]
                              + (["Speaker"] if any("Speaker" in f.data.columns
                                                    for f in fits.values()) else [])))
    classes = ", ".join(f"{c} = \"character\"" for c in cols)
    code.append(f"all_rows <- read.csv({r_string(data_csv)}, colClasses = c({classes}), "
                "na.strings = character(0), encoding = \"UTF-8\")\n"
                "all_rows$start_event <- as.logical(all_rows$start_event)\n")
    for g, (label, fit) in enumerate(fits.items(), start=1):
        rows = model_data_table(fit)
        rows.insert(0, "group_label", label)
        rows.insert(0, "Group", g)
        parts.append(rows)
        code.append(f"d <- all_rows[all_rows$Group == {g}L, ]\n"
                    + r_fit_code(fit.formula, fit.factor, fit.random_factor,
                                 discrete=fit.discrete, nthreads=nthreads, rho=fit.rho,
                                 ar1=fit.rho_method != "none")
                    + "\n" + _group_line(g) + "print(summary(m))\n")
    paths = {"data": os.path.join(folder, data_csv), "script": os.path.join(folder, script)}
    atomic_write_csv(pd.concat(parts, ignore_index=True), paths["data"])
    atomic_write_text(paths["script"], "".join(code))
    return paths


def write_lmm_refit(folder: str, name: str, groups: Sequence[Tuple[str, pd.DataFrame,
                                                                    Sequence[str], str]],
                    response: str, what: str) -> Dict[str, str]:
    """``<name>_data.csv`` and ``<name>_refit.R`` for mixed models of ``response``: groups
    [(label, rows with Word, Speaker and the response, Word's levels reference first, the
    formula as fitted)]. lmerTest::lmer (REML) when the formula has a random term, else lm;
    the script prints the coefficients and the omnibus F of Word (``anova``)."""
    if not groups:
        return {}
    data_csv, script = f"{name}_data.csv", layout.refit_script(name)
    parts = []
    for g, (label, rows, levels, formula) in enumerate(groups, start=1):
        index = {str(v): i + 1 for i, v in enumerate(levels)}
        out = pd.DataFrame({"Group": g, "group_label": str(label),
                            "Word": rows["Word"].astype(str).to_numpy(),
                            "Speaker": rows["Speaker"].astype(str).to_numpy(),
                            response: rows[response].to_numpy(float),
                            "model_formula": str(formula)})
        out["WordLevel"] = out["Word"].map(index).astype("Int64")
        parts.append(out)
    code = (_HEADER.format(what=what, script=script, data=data_csv)
            + f"all_rows <- read.csv({r_string(data_csv)}, colClasses = c(Word = \"character\", "
            "Speaker = \"character\", group_label = \"character\", model_formula = "
            "\"character\"), na.strings = character(0), encoding = \"UTF-8\")\n"
            "for (g in sort(unique(all_rows$Group))) {\n"
            "  d <- all_rows[all_rows$Group == g, ]\n"
            "  d$Word <- factor(d$Word, levels = unique(d$Word[order(d$WordLevel)]))\n"
            "  d$Speaker <- factor(d$Speaker)\n"
            "  f <- as.formula(d$model_formula[1])\n"
            "  m <- if (grepl(\"(1 |\", d$model_formula[1], fixed = TRUE)) "
            "lmerTest::lmer(f, data = d, REML = TRUE) else lm(f, data = d)\n"
            "  cat(sprintf(\"== %d: %s\\n\", g, d$group_label[1]))\n"
            "  print(summary(m)$coefficients)\n"
            "  print(anova(m))\n"
            "}\n")
    paths = {"data": os.path.join(folder, data_csv), "script": os.path.join(folder, script)}
    atomic_write_csv(pd.concat(parts, ignore_index=True), paths["data"])
    atomic_write_text(paths["script"], code)
    return paths


def write_units_refit(folder: str, name: str, cells: Mapping[Tuple[str, str], Tuple[
        pd.DataFrame, str, str]]) -> Dict[str, str]:
    """``<name>_data.csv`` and ``<name>_refit.R`` for the calibrated contrast cells: cells
    {(contrast, layer): (units, reference phone, phone)} as
    :func:`analysis.contrasts.calibrated_cell` returns them; one group per tested cell, the
    script :func:`analysis.calibrated_tables.refit_script` by Group."""
    from analysis.calibrated import shape_columns
    from analysis.calibrated_tables import phone_units_table, refit_script
    if not cells:
        return {}
    data_csv, script = f"{name}_data.csv", layout.refit_script(name)
    parts, q = [], 0
    for g, ((contrast, layer), (units, a, b)) in enumerate(cells.items(), start=1):
        t = phone_units_table(units, a, b)
        t.insert(0, "group_label", f"{contrast} at {layer}")
        t.insert(0, "Group", g)
        parts.append(t)
        q = max(q, len([c for c in units.columns if str(c).startswith("shape")]))
    paths = {"data": os.path.join(folder, data_csv), "script": os.path.join(folder, script)}
    atomic_write_csv(pd.concat(parts, ignore_index=True), paths["data"])
    text = refit_script(data_csv, "Phone", ["Word", "WordPhone", "Speaker", "Token",
                                            "group_label"], shape_columns(q), by="Group")
    atomic_write_text(paths["script"], text)
    return paths


def lmm_groups(summary: pd.DataFrame, lmm: pd.DataFrame, ref_word: str,
               words) -> List[Tuple[str, pd.DataFrame, List[str], str]]:
    """The mixed models' groups for :func:`write_lmm_refit`: per layer of ``lmm`` (lmm.csv)
    its token means (:func:`analysis.gamm.data.prepare_token_summary`), levels and formula."""
    from analysis.gamm.data import prepare_token_summary
    out = []
    for layer, g in lmm.groupby("layer", sort=False):
        d, levels = prepare_token_summary(summary, layer, ref_word, words)
        out.append((str(layer), d, [str(v) for v in levels], str(g["formula"].iloc[0])))
    return out
