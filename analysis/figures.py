"""Figures of the paper, each saved as PNG (300 dpi) and PDF at a journal page size.

* Fig. 2 :func:`fig_waveforms`: per word one token, the waveform and under it each layer's
  upsampled trace (``upsampled.parquet``), time in ms (two columns wide);
* Fig. 3 :func:`fig_word_curves`: raw values per word over Sample (left) and the GAMM's
  predicted smooths with 95 % CI, random smooths excluded (right), one y label and one shared
  legend (two columns);
* Fig. 4 :func:`fig_phone_contrast`: per layer, predicted curves of the two phones (IPA) over
  normalised time with CI, shaded where the CI of their difference excludes zero, one shared
  legend (two columns);
* Fig. 5 :func:`fig_difference`: predictions of two words (top) and their difference with CI,
  significant regions shaded (bottom) (one column);
* :func:`fig_confusion`: heat map of Q's code per word (``confusion.csv``), the one-to-one
  mapping's cells outlined (one column).

Every function takes tables (no fitting) and returns the written paths. Sizes, fonts, colours
and saving come from :mod:`analysis.style` (also the home of :func:`plot_text` and
:func:`save_figure`, re-exported here); phone names from :mod:`analysis.phones`. Labels from
the data (words, tokens, phones, layers) are drawn through :func:`plot_text`, so none is read
as mathtext or hidden from a legend; file names never come from labels. Activations are channel
means of the layer's feature maps: arbitrary units (a.u.).
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import pandas as pd
from matplotlib.patches import Rectangle

from analysis.diffcurves import LayerTime
from analysis.phones import phone_label
from analysis.style import (CI_ALPHA, FORMATS, SIGNIFICANT_LABEL, add_ms_axis, figure,
                            palette, plot_text, save_figure, shade_regions, shared_legend,
                            significance_handle)
from common.constants import SAMPLE_RATE

__all__ = ["FORMATS", "fig_confusion", "fig_difference", "fig_phone_contrast", "fig_waveforms",
           "fig_word_curves", "plot_text", "save_figure"]

ACTIVATION_UNIT = "a.u."


def _sample_label(layer: str) -> str:
    return f"{plot_text(layer)} sample (index)"


def fig_waveforms(upsampled: pd.DataFrame, folder: str, name: str = "fig2_waveforms",
                  words: Optional[Sequence[str]] = None,
                  sample_rate: int = SAMPLE_RATE) -> List[str]:
    """Fig. 2: columns = words (first token of each), rows = 'input' then conv1.. traces,
    x in ms; each row shares its y scale across words (ticks on the first column)."""
    words = list(words) if words else sorted(upsampled["word"].astype(str).unique())
    present = set(upsampled["layer"].astype(str))
    layers = [lay for lay in ["input"] + sorted(present - {"input"}) if lay in present]
    fig, axes = figure("double", height_in=0.72 * len(layers) + 0.9, nrows=len(layers),
                       ncols=len(words), sharex=True, sharey="row")
    for j, w in enumerate(words):
        sub = upsampled[upsampled["word"].astype(str) == w]
        tok = sub["token_id"].iloc[0] if len(sub) else None
        for i, lay in enumerate(layers):
            ax = axes[i, j]
            g = sub[(sub["token_id"] == tok) & (sub["layer"].astype(str) == lay)]
            g = g.sort_values("sample")
            ax.plot(1000.0 * g["sample"] / sample_rate, g["value"], lw=0.5,
                    color="0.2" if lay == "input" else "#0072B2")
            ax.locator_params(axis="x", nbins=3)
            ax.locator_params(axis="y", nbins=3)
            if i == 0:
                ax.set_title(f"{plot_text(w)}\n(token {plot_text(tok)})")
            if j == 0:
                ax.set_ylabel("waveform\n(amplitude)" if lay == "input"
                              else f"{plot_text(lay)}\n({ACTIVATION_UNIT})")
    fig.supxlabel("time (ms)")
    return save_figure(fig, folder, name)


def fig_word_curves(data: pd.DataFrame, predictions: pd.DataFrame, folder: str,
                    name: str = "fig3_word_curves", layer: str = "conv5",
                    layer_time: Optional[LayerTime] = None) -> List[str]:
    """Fig. 3. data: prepare_gamm_data output (Value, Sample, Word, UniqueWord);
    predictions: Word, Sample, fit, lower, upper. ``layer_time``: adds an ms axis on top."""
    levels = [str(x) for x in pd.unique(predictions["Word"].astype(str))]
    pal = palette(levels)
    fig, axes = figure("double", height_in=3.0, nrows=1, ncols=2, sharey=True)
    a1, a2 = axes[0]
    for w in levels:
        if data is not None:
            sub = data[data["Word"].astype(str) == w]
            for _, g in sub.groupby("UniqueWord", observed=True):
                a1.plot(g["Sample"], g["Value"], color=pal[w], alpha=0.15, lw=0.4)
            mean = sub.groupby("Sample")["Value"].mean()
            a1.plot(mean.index, mean.values, color=pal[w], lw=1.4, label=plot_text(w))
        p = predictions[predictions["Word"].astype(str) == w]
        a2.plot(p["Sample"], p["fit"], color=pal[w], lw=1.4, label=plot_text(w))
        a2.fill_between(p["Sample"], p["lower"], p["upper"], color=pal[w], alpha=CI_ALPHA,
                        lw=0)
    a1.set(title="Tokens (thin) and word means (thick)", xlabel=_sample_label(layer),
           ylabel=f"{plot_text(layer)} activation ({ACTIVATION_UNIT})")
    a2.set(title="GAMM predictions, 95% CI (random smooths excluded)",
           xlabel=_sample_label(layer))
    for ax in (a1, a2):
        add_ms_axis(ax, layer_time)
    shared_legend(fig, axes, loc="outside right center", ncol=1)
    return save_figure(fig, folder, name)


def fig_phone_contrast(phone_predictions: pd.DataFrame, folder: str,
                       name: str = "fig4_phone_contrast",
                       regions: Optional[Mapping[str, List[dict]]] = None) -> List[str]:
    """Fig. 4. phone_predictions: layer, Phone, norm_time, fit, lower, upper. ``regions``:
    {layer: regions over norm_time where the CI of the phone difference excludes zero}
    (:func:`analysis.diffcurves.contrast_regions`), shaded; None draws no shading."""
    layers = list(pd.unique(phone_predictions["layer"]))
    n = max(1, len(layers))
    fig, axes = figure("double", height_in=2.4, nrows=1, ncols=n)
    phones = [str(p) for p in pd.unique(phone_predictions["Phone"].astype(str))]
    pal = palette(phones)
    for ax, lay in zip(axes[0], layers):
        sub = phone_predictions[phone_predictions["layer"] == lay]
        for ph in phones:
            p = sub[sub["Phone"].astype(str) == ph]
            ax.plot(p["norm_time"], p["fit"], color=pal[ph], label=plot_text(phone_label(ph)))
            ax.fill_between(p["norm_time"], p["lower"], p["upper"], color=pal[ph],
                            alpha=CI_ALPHA, lw=0)
        ax.set_xlim(0.0, 1.0)
        if regions is not None:
            shade_regions(ax, regions.get(lay, []))
        ax.set(title=plot_text(lay), xlabel="time in phone (normalised, 0-1)",
               ylabel=f"activation ({ACTIVATION_UNIT})")
        ax.locator_params(axis="x", nbins=3)
    extra = [significance_handle(f"{SIGNIFICANT_LABEL} ("
                                 + " - ".join(plot_text(phone_label(p))
                                              for p in reversed(phones[:2])) + ")")] \
        if regions is not None and len(phones) >= 2 else []
    shared_legend(fig, axes, extra=extra)
    return save_figure(fig, folder, name)


def fig_difference(predictions: pd.DataFrame, diff: pd.DataFrame, word1: str, word2: str,
                   folder: str, name: str = "fig5_difference",
                   regions: Optional[List[dict]] = None, layer: str = "",
                   layer_time: Optional[LayerTime] = None) -> List[str]:
    """Fig. 5. predictions: Word, Sample, fit, lower, upper; diff: Sample, difference, lower,
    upper; regions: significant_regions output (shaded in both panels). ``layer`` names the
    x axis; ``layer_time`` adds an ms axis on top."""
    pal = palette([word1, word2])
    fig, axes = figure("single", height_in=4.2, nrows=2, ncols=1, sharex=True)
    a1, a2 = axes[0, 0], axes[1, 0]
    for w in (word1, word2):
        p = predictions[predictions["Word"].astype(str) == w]
        a1.plot(p["Sample"], p["fit"], color=pal[str(w)], label=plot_text(w))
        a1.fill_between(p["Sample"], p["lower"], p["upper"], color=pal[str(w)],
                        alpha=CI_ALPHA, lw=0)
    a2.plot(diff["Sample"], diff["difference"], color="k",
            label=f"{plot_text(word1)} - {plot_text(word2)}")
    a2.fill_between(diff["Sample"], diff["lower"], diff["upper"], color="0.5", alpha=0.3,
                    lw=0, label="95% CI")
    a2.axhline(0, color="0.3", lw=0.6, ls="--")
    for ax in (a1, a2):
        shade_regions(ax, regions, label=SIGNIFICANT_LABEL if ax is a1 else None)
    xlabel = _sample_label(layer) if layer else "Sample (index)"
    a1.set(ylabel=f"predicted activation ({ACTIVATION_UNIT})")
    a2.set(xlabel=xlabel, ylabel=f"difference ({ACTIVATION_UNIT})")
    add_ms_axis(a1, layer_time)
    a1.legend(loc="best")
    a2.legend(loc="best")
    return save_figure(fig, folder, name)


def fig_confusion(confusion: pd.DataFrame, folder: str, name: str = "confusion",
                  mapping: Optional[Mapping[str, object]] = None) -> List[str]:
    """Heat map of counts (rows word, columns code), annotated; ``mapping`` ({word: code},
    classification.json's one-to-one mapping) outlines the matched cells."""
    counts = confusion.to_numpy(dtype=float)
    n_rows, n_cols = counts.shape
    fig, axes = figure("single", height_in=0.24 * n_rows + 1.1)
    ax = axes[0, 0]
    ax.imshow(counts, cmap="Blues", aspect="auto", vmin=0)
    top = counts.max() if counts.size else 0.0
    for i in range(n_rows):
        for j in range(n_cols):
            ax.text(j, i, f"{counts[i, j]:g}", ha="center", va="center", fontsize=7,
                    color="white" if top and counts[i, j] > 0.6 * top else "black")
    rows = [str(w) for w in confusion.index]
    cols = [str(c) for c in confusion.columns]
    for w, c in (mapping or {}).items():
        if str(w) in rows and str(c) in cols:
            ax.add_patch(_cell_outline(cols.index(str(c)), rows.index(str(w))))
    ax.set_xticks(range(n_cols), [plot_text(c) for c in cols])
    ax.set_yticks(range(n_rows), [plot_text(w) for w in rows])
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set(xlabel="Q code (argmax; tokens)", ylabel="word")
    if mapping:
        ax.set_title("outlined: one-to-one word-code mapping", fontsize=7)
    return save_figure(fig, folder, name)


def _cell_outline(x: float, y: float) -> Rectangle:
    """An outline around cell (x, y) of an imshow grid."""
    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, fill=False, lw=1.2, ec="#D55E00")
