"""analyze.py on a latent sweep (docs/sweeps.md): the code x layer matrix of
:mod:`analysis.sweeps` as a table, a heat map, curves and a report, and the acoustic changes
of :mod:`analysis.sweep_acoustics` when the sweep has them.

    sweep_matrix.csv / .md       every cell: tests (p_level, p_shape, Holm and BH), effects
    sweep_curves.csv             mean trace per code, layer, value and time
    sweep_acoustic_effects.csv/.md  (when extract measured the audio) per code, value, measure
    figures/sweep_matrix.{png,pdf}, figures/sweep_curves.{png,pdf}
    report.md, report.html, fit_info.json

The folder's kind is checked on read (extract_info.json ``folder_kind``): ``--folder_kind``
auto follows it, ``word`` refuses a sweep and ``sweep`` a folder of word tokens, in one line
(exit 2), before anything is written.
"""

from __future__ import annotations

import os
import time
from typing import List, Optional

import numpy as np
import pandas as pd

from analysis import sweeps
from analysis.corrections import ALPHA
from analysis.labels import md_text
from analysis.tables import format_number, format_p
from common import layout

CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def is_sweep(args) -> bool:
    """Whether analyze.py is to analyse ``args.activations`` as a sweep: its kind in
    extract_info.json against ``--folder_kind`` (a mismatch is a FolderKindError)."""
    from analysis.records import read_json

    info = read_json(os.path.join(args.activations, layout.EXTRACT_INFO_JSON))
    wanted = getattr(args, "folder_kind", "auto")
    if wanted != "auto":
        layout.check_folder_kind(info, args.activations, wanted, "--activations")
    return layout.folder_kind(info) == layout.FOLDER_SWEEP


# --------------------------------------------------------------------------- figures

def fig_sweep_matrix(matrix: pd.DataFrame, folder: str, method: str = "holm",
                     name: str = layout.SWEEP_MATRIX) -> List[str]:
    """Heat map codes (rows) x layers (columns): colour = effect_size (top value minus the
    reference, in SDs of token means), text = effect size, '*' where the cell is driven
    (``driven_<method>``), 'n/f' where not fitted."""
    from analysis.style import effect_heatmap, save_figure

    codes = list(pd.unique(matrix["code"]))
    layers = list(pd.unique(matrix["layer"]))

    def grid(col):
        return matrix.pivot(index="code", columns="layer", values=col).reindex(
            index=codes, columns=layers)

    vals = grid("effect_size").to_numpy(float)
    driven = grid(f"driven_{method}")

    def text(i, j):
        v, d = vals[i, j], driven.iloc[i, j]
        return "n/f" if not np.isfinite(v) else \
            f"{v:.2f}" + ("*" if (d is not pd.NA and bool(d)) else "")

    ref, top = matrix["reference_value"].iloc[0], matrix["top_value"].iloc[0]
    fig = effect_heatmap(
        vals, text, codes, layers, f"value {top:g} \u2212 {ref:g}\n(SD of token means)",
        f"*: changed by the code's value\n({'Holm' if method == 'holm' else 'BH'}, "
        f"\u03b1 {matrix.attrs.get('alpha', ALPHA):g}); n/f: not fitted",
        row_in=0.24, base_in=1.2)
    return save_figure(fig, folder, name)


def fig_sweep_curves(matrix: pd.DataFrame, curves: pd.DataFrame, folder: str,
                     method: str = "holm", limit: int = 6) -> Optional[List[str]]:
    """Mean traces per value of the driven cells (the ``limit`` with the smallest p), one
    panel each; None when no cell is driven."""
    from analysis.style import figure, save_figure

    col = f"driven_{method}"
    driven = matrix[matrix[col].fillna(False).astype(bool)].copy()
    if not len(driven):
        return None
    driven["p"] = driven[["p_level", "p_shape"]].min(axis=1)
    driven = driven.sort_values("p").head(limit)
    fig, axes = figure("double", height_in=1.6 * ((len(driven) + 2) // 3), ncols=3,
                       nrows=(len(driven) + 2) // 3)
    flat = list(np.ravel(axes))
    for ax, r in zip(flat, driven.itertuples()):
        c = curves[(curves["code"] == r.code) & (curves["layer"] == r.layer)]
        for v, cv in c.groupby("code_value"):
            ax.plot(cv["time"] * 1000, cv["mean"], label=f"{v:g}", lw=0.8)
        ax.set_title(f"{r.code} at {r.layer}", fontsize=7)
        ax.set_xlabel("time (ms)")
        ax.legend(title="value", fontsize=6, title_fontsize=6)
    for ax in flat[len(driven):]:
        ax.set_visible(False)
    return save_figure(fig, folder, "sweep_curves")


# --------------------------------------------------------------------------- report

def matrix_section(matrix: pd.DataFrame, method: str = "holm",
                   figure: Optional[str] = None) -> str:
    """The report's section: which code drives which layer, where in time."""
    alpha = matrix.attrs.get("alpha", ALPHA)
    fitted = matrix[matrix["status"] == sweeps.STATUS_FITTED]
    col = f"driven_{method}"
    driven = fitted[fitted[col].fillna(False).astype(bool)]
    ref, top = matrix["reference_value"].iloc[0], matrix["top_value"].iloc[0]
    lines = ["## Latent sweep: which code drives which layer", "",
             f"{len(fitted)} of {len(matrix)} (code, layer) cells tested (values "
             f"{ref:g} to {top:g}, {int(fitted['n_draws'].min()) if len(fitted) else 0} "
             "shared z draws per cell). Each cell tests, within draws, whether the layer's "
             "trace changes with the code's value: its level (p_level) and its shape over "
             "time (p_shape, a Legendre smooth of time by value); both p of every cell form "
             f"one family, corrected by {CORRECTION_NAMES[method]} at \u03b1 {alpha:g} "
             "(docs/sweeps.md).", ""]
    if figure:
        lines += [f"![sweep matrix]({figure})", ""]
    if len(driven):
        lines += ["| code | layer | effect size | p level | p shape | peak (ms) | region (ms) |",
                  "|---|---|---|---|---|---|---|"]
        order = {name: i for i, name in enumerate(pd.unique(matrix["layer"]))}
        driven = driven.assign(_order=driven["layer"].map(order))
        for r in driven.sort_values(["code", "_order"], kind="mergesort").itertuples():
            region = ("" if not np.isfinite(r.region_start_s) else
                      f"{1000 * r.region_start_s:.0f}-{1000 * r.region_end_s:.0f}")
            lines.append(f"| {md_text(r.code)} | {md_text(r.layer)} | "
                         f"{format_number(r.effect_size)} | "
                         f"{format_p(getattr(r, f'p_level_{method}'))} | "
                         f"{format_p(getattr(r, f'p_shape_{method}'))} | "
                         f"{1000 * r.peak_time_s:.0f} | {region} |")
    else:
        lines.append("No cell is driven at this level.")
    lines += ["", "Effect size: mean change of the trace's level from the lowest to the "
              "highest value, in SDs of token means; peak: where the mean change is largest; "
              "region: where a paired t-test over draws is significant (Bonferroni along "
              "the trace). Every number is in sweep_matrix.csv.", ""]
    return "\n".join(lines)


def acoustics_section(effects: Optional[pd.DataFrame], note: Optional[str]) -> str:
    from analysis.sweep_acoustics import effect_sentences
    lines = ["## What each code does to the sound", ""]
    if effects is None:
        return "\n".join(lines + [f"Acoustics: {note or 'no acoustics in the sweep'}.", ""])
    said = effect_sentences(effects)
    lines += ([f"- {md_text(s)}" for s in said] if said else
              ["No change of the measured acoustics is significant (Holm)."])
    return "\n".join(lines + ["", "Every measure, value and code: "
                              "sweep_acoustic_effects.csv (docs/sweeps.md).", ""])


# --------------------------------------------------------------------------- the stage

def read_acoustic_effects(folder: str, info: dict, tokens: pd.DataFrame):
    """(effects table or None, note) from the sweep's sweep_acoustics.parquet."""
    from analysis.sweep_acoustics import token_measures, value_effects
    path = os.path.join(folder, f"{layout.SWEEP_ACOUSTICS}.parquet")
    if not os.path.exists(path):
        return None, (info.get("sweep", {}).get("acoustics", {}).get("note")
                      or "extract.py wrote no acoustics")
    return value_effects(token_measures(pd.read_parquet(path)), tokens), None


def run_sweep(args, progress, command: str) -> dict:
    """The analyze stage on a sweep folder (the module docstring); returns fit_info."""
    from analysis.report_html import markdown_to_html
    from common.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
    from common.errors import OutputPathError
    from common.outputs import OutputFolder, inputs_of

    t0 = time.perf_counter()
    info, tokens = sweeps.read_sweep_info(args.activations)
    layers = sweeps.sweep_layers(info, [x for x in args.contrast_layers if x])
    output = OutputFolder(args.out, "analyze", inputs=inputs_of(args), overwrite=args.overwrite)
    matrix, curves, _ = sweeps.sweep_matrix(args.activations, layers,
                                            k=args.shape_terms + 1)
    progress(f"sweep matrix: {len(matrix)} cells", t0)
    effects, note = read_acoustic_effects(args.activations, info, tokens)
    try:
        tmp = output.__enter__()
    except OSError as exc:
        raise OutputPathError(f"--out={args.out}: cannot create it ({exc})") from exc
    try:
        atomic_write_csv(matrix, os.path.join(tmp, f"{layout.SWEEP_MATRIX}.csv"))
        atomic_write_csv(curves, os.path.join(tmp, layout.SWEEP_CURVES_CSV))
        rel = rel_curves = None
        if args.figures:
            fdir = os.path.join(tmp, layout.FIGURES_DIR)
            os.makedirs(fdir, exist_ok=True)
            fig_sweep_matrix(matrix, fdir)
            rel = f"{layout.FIGURES_DIR}/{layout.SWEEP_MATRIX}.png"
            if fig_sweep_curves(matrix, curves, fdir):
                rel_curves = f"{layout.FIGURES_DIR}/sweep_curves.png"
        section = matrix_section(matrix, figure=rel)
        atomic_write_text(os.path.join(tmp, f"{layout.SWEEP_MATRIX}.md"), section)
        if effects is not None:
            atomic_write_csv(effects, os.path.join(tmp, f"{layout.SWEEP_ACOUSTIC_EFFECTS}.csv"))
        sound = acoustics_section(effects, note)
        sweep = info.get("sweep", {})
        md = "\n".join([
            "# Latent sweep report", "",
            f"Command: `{command}`", "",
            f"Activations: {md_text(args.activations)} (network {info.get('network')}, "
            f"checkpoint {md_text(str(info.get('checkpoint')))}); codes "
            f"{', '.join(md_text(c) for c in sweep.get('codes', []))} at values "
            f"{', '.join(f'{v:g}' for v in sweep.get('values', []))}, "
            f"{sweep.get('n_per_code')} shared z draws (seed {sweep.get('seed')}).", "",
            section] + ([f"![mean traces of the driven cells]({rel_curves})", ""]
                        if rel_curves else []) + [sound])
        atomic_write_text(os.path.join(tmp, "report.md"), md)
        atomic_write_text(os.path.join(tmp, "report.html"),
                          markdown_to_html(md, title="Latent sweep", folder=tmp))
        fit = {"sweep": True, "cells": int(len(matrix)),
               "driven_holm": int(matrix["driven_holm"].fillna(False).sum()),
               "driven_bh": int(matrix["driven_bh"].fillna(False).sum()),
               "acoustics": effects is not None,
               "seconds": round(time.perf_counter() - t0, 3)}
        atomic_write_json(os.path.join(tmp, layout.FIT_INFO_JSON),
                          layout.stamp(fit, layout.FIT_INFO_JSON))
    except BaseException as exc:
        output.__exit__(type(exc), exc, exc.__traceback__)
        raise
    output.__exit__(None, None, None)
    return fit


def summary(info: dict) -> str:
    """analyze.py's closing line for a sweep."""
    return (f"wrote {info['out']}: sweep matrix of {info['cells']} cells, "
            f"{info['driven_holm']} driven (Holm); report {info['out']}/report.html; "
            f"{info['seconds']:.1f} s")
