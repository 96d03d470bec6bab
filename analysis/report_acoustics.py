"""The acoustic correlates' heat map and report section (analyze.py --acoustics; the numbers:
:mod:`analysis.acoustic_correlates`, their meaning and calibration: docs/acoustics.md)."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from analysis.acoustic_correlates import COMBINED, FOLLOWS_R2, MEASURES
from analysis.labels import md_text
from common import layout

NAMES = {"intensity_db": "intensity", "cog_hz": "centre of gravity", "f0_hz": "F0",
         "f1_hz": "F1", "f2_hz": "F2", "measures": "all five", "time": "mean trace",
         "word": "word", "word+measures": "word + all five"}
HEAT_COLUMNS = MEASURES + ("measures", "word", "word+measures")


def heat_map(table: pd.DataFrame, folder: str, name: str = layout.ACOUSTIC_CORRELATES
             ) -> Dict[str, str]:
    """Layers (rows) x measures (columns), colour and text = cross-validated R² (negative:
    shown as such, coloured as 0); returns {'png': path, 'pdf': path}."""
    import matplotlib.pyplot as plt

    from analysis.style import figure, plot_text, save_figure

    layers = list(pd.unique(table["layer"]))
    grid = table.pivot(index="layer", columns="measure", values="r2_cv").reindex(
        index=layers, columns=list(HEAT_COLUMNS))
    vals = grid.to_numpy(float)
    fig, axes = figure("double", height_in=1.2 + 0.3 * len(layers))
    ax = axes[0, 0]
    im = ax.imshow(np.ma.masked_invalid(np.clip(vals, 0, 1)), cmap="viridis", vmin=0, vmax=1,
                   aspect="auto")
    for i in range(len(layers)):
        for j in range(len(HEAT_COLUMNS)):
            v = vals[i, j]
            ax.text(j, i, "" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                    color="black" if np.isfinite(v) and v > 0.6 else "white")
    ax.set_xticks(range(len(HEAT_COLUMNS)), [NAMES[c] for c in HEAT_COLUMNS], rotation=30,
                  ha="right")
    ax.set_yticks(range(len(layers)), [plot_text(x) for x in layers])
    fig.colorbar(im, ax=ax, label="cross-validated R\u00b2")
    ax.set_title("variance of each layer's averaged trace explained (folds by speaker)",
                 fontsize=7)
    paths = save_figure(fig, folder, name)
    plt.close(fig)
    return {os.path.splitext(p)[1][1:]: p for p in paths}


def _fmt(r2: float) -> str:
    return "n/a" if not np.isfinite(r2) else f"{r2:.2f}"


def layer_sentence(rows: pd.DataFrame) -> str:
    """One sentence per layer: which measure it follows (R² and lag), or that it follows
    none, and what the measures add to the word."""
    layer = str(rows["layer"].iloc[0])
    r = rows.set_index("measure")
    alone = r.loc[list(MEASURES)]
    best = alone["r2_cv"].astype(float).idxmax()
    b = alone.loc[best]
    if float(b["r2_cv"]) >= FOLLOWS_R2:
        others = [NAMES[m] for m in MEASURES if m != best and
                  float(alone.loc[m, "r2_cv"]) >= FOLLOWS_R2]
        text = (f"{md_text(layer)} follows {NAMES[best]}, R\u00b2 {_fmt(b['r2_cv'])} at "
                f"{b['lag_ms']:.3g} ms")
        if others:
            text += " (also " + ", ".join(others) + ")"
    else:
        text = (f"{md_text(layer)} follows none of the measures (best: {NAMES[best]}, "
                f"R\u00b2 {_fmt(b['r2_cv'])})")
    w, wm, allm = (float(r.loc[k, "r2_cv"]) for k in ("word", "word+measures", "measures"))
    text += (f"; all five together {_fmt(allm)}, the word {_fmt(w)}, the word and the "
             f"measures {_fmt(wm)}")
    if np.isfinite(w) and np.isfinite(wm):
        gain = wm - w
        text += (": the measures add " + _fmt(gain) + " to the word" if gain >= FOLLOWS_R2
                 else ": the measures add nothing to the word")
        if np.isfinite(allm) and wm - allm >= FOLLOWS_R2:
            text += f"; the word adds {_fmt(wm - allm)} to the measures (the layer encodes " \
                    "the word beyond these acoustics)"
    return text + "."


def acoustics_section(table: pd.DataFrame, failures: Optional[dict] = None,
                      figure: Optional[str] = None) -> str:
    """The report section: one sentence per layer, the table of R², Praat's failures."""
    lines: List[str] = ["## Acoustic correlates of each layer", "",
                        "How much of each layer's averaged trace each acoustic measure of the "
                        "input (Praat: intensity, spectral centre of gravity, F0, F1, F2 on "
                        "the layer's own time axis) explains, as cross-validated R\u00b2 with "
                        "folds by speaker; the lag (over the layer's receptive field, positive: "
                        "the layer follows the measure) is chosen inside each training fold. "
                        f"A layer \"follows\" a measure at R\u00b2 >= {FOLLOWS_R2:g}; a layer "
                        "that follows nothing scores about 0 (docs/acoustics.md).", ""]
    layers = table[table["layer"] != layout.INPUT_LAYER]
    for _, rows in layers.groupby("layer", sort=False):
        lines.append("* " + layer_sentence(rows))
    inp = table[table["layer"] == layout.INPUT_LAYER].set_index("measure")
    if len(inp):
        lines.append(f"* input (the input's intensity envelope as the trace): the word explains "
                     f"R\u00b2 {_fmt(float(inp.loc['word', 'r2_cv']))}, the mean time course "
                     f"{_fmt(float(inp.loc['time', 'r2_cv']))}: a layer's word R\u00b2 reads "
                     "against it.")
    lines += ["", "| layer | " + " | ".join(NAMES[c] for c in MEASURES + COMBINED) +
              " | lags (ms) |", "|---" + "|---:" * (len(MEASURES) + len(COMBINED)) + "|---|"]
    for layer, rows in layers.groupby("layer", sort=False):
        r = rows.set_index("measure")
        lags = ", ".join(f"{NAMES[m]} {r.loc[m, 'lag_ms']:.3g}" for m in MEASURES)
        lines.append(f"| {md_text(layer)} | " + " | ".join(
            _fmt(float(r.loc[c, "r2_cv"])) for c in MEASURES + COMBINED) + f" | {lags} |")
    first = layers.iloc[0]
    lines += ["", f"{int(first['n_tokens'])} tokens, {int(first['n_speakers'])} speakers, "
              f"{int(first['n_folds'])} folds by {first['fold_by']}; table: "
              f"`{layout.ACOUSTIC_CORRELATES_CSV}`."]
    if failures:
        lines.append("Praat could not measure every token (tokens per reason, their measures "
                     "NaN except for clipping, which is measured and only counted): " +
                     ", ".join(f"{md_text(k)} {v}" for k, v in sorted(failures.items())) + ".")
    else:
        lines.append("Praat measured every token (no silence, clipping or failure).")
    lines.append("The layer `input` of the mixed models and of the contrast matrix, where they "
                 "are shown, is the input's intensity (dB, Praat) on the finest layer's axis, "
                 "tested like the layers and in their correction families: a difference "
                 "encoded at a layer reads against one already present in the input's "
                 "loudness.")
    if figure:
        lines += ["", f"![acoustic correlates]({figure})"]
    return "\n".join(lines) + "\n"


def acoustics_outputs(args, records, out: str, progress, timings: dict) -> str:
    """analyze.py --acoustics: acoustic_correlates.csv and its heat map into ``out``; returns
    the report section (Praat's failures from extract_info.json)."""
    import time

    from analysis.acoustic_correlates import acoustic_correlates
    from common.atomic import atomic_write_csv

    t0 = time.perf_counter()
    progress("acoustic correlates: cross-validated R\u00b2 per layer and measure")
    table = acoustic_correlates(args.activations, records.info, records.sample_rate,
                                threads=args.nthreads, progress=progress)
    atomic_write_csv(table, os.path.join(out, layout.ACOUSTIC_CORRELATES_CSV))
    fig = None
    if args.figures:
        heat_map(table, os.path.join(out, layout.FIGURES_DIR))
        fig = f"{layout.FIGURES_DIR}/{layout.ACOUSTIC_CORRELATES}.png"
    timings["acoustic correlates"] = time.perf_counter() - t0
    failures = (records.info.get("counts") or {}).get("acoustic_failures") or {}
    progress("acoustic correlates done", t0)
    return acoustics_section(table, failures, figure=fig)
