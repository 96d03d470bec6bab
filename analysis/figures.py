"""Figures of the paper, each saved as PNG (300 dpi) and PDF at a journal page size.

* Fig. 2 :func:`fig_waveforms` (:mod:`analysis.figure_waveforms`): per word one token cropped
  to its speech, the waveform with phone boundaries, each layer's upsampled trace
  (``upsampled.parquet``) and Q's logits, time in ms (two columns wide);
* Fig. 3 :func:`fig_word_curves`: raw values per word over Sample (left) and the GAMM's
  predicted smooths with 95 % CI, random smooths excluded (right), one y label and one shared
  legend (two columns);
* Fig. 4 :func:`fig_phone_contrast`: per layer, predicted curves of the two phones (IPA) over
  normalised time with CI, shaded where the CI of their difference excludes zero, one shared
  legend (two columns);
* Fig. 5 :func:`fig_differences`: predictions of the words of several pairs (top) and each
  pair's difference with its pointwise CI (and a simultaneous band when asked), significant
  regions shaded (one column);
* :func:`fig_confusion`: heat map of Q's code per word (``confusion.csv``), the one-to-one
  mapping's cells outlined (one column).

Every function takes tables (no fitting) and returns the written paths. Sizes, fonts, colours
and saving come from :mod:`analysis.style` (also the home of :func:`plot_text` and
:func:`save_figure`, re-exported here); phone names from :mod:`common.phones`. Labels from
the data (words, tokens, phones, layers) are drawn through :func:`plot_text`, so none is read
as mathtext or hidden from a legend; file names never come from labels. Activations are channel
means of the layer's feature maps: arbitrary units (a.u.).
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import pandas as pd
from matplotlib.patches import Rectangle

from analysis.diffcurves import LayerTime
from common.phones import phone_label
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.figure_waveforms import fig_waveforms, phone_spans
from analysis.style import (CI_ALPHA, FORMATS, SIGNIFICANT_LABEL, add_ms_axis, figure,
                            italicise, phone_colours, plot_text, save_figure, shade_regions,
                            shared_legend, significance_handle, word_colours)

__all__ = ["FORMATS", "fig_confusion", "fig_difference", "fig_differences",
           "fig_phone_contrast", "fig_waveforms", "fig_word_curves", "phone_spans",
           "plot_text", "save_figure"]

ACTIVATION_UNIT = "a.u."


def _sample_label(layer: str) -> str:
    return f"{plot_text(layer)} sample (index)"


def fig_word_curves(data: pd.DataFrame, predictions: pd.DataFrame, folder: str,
                    name: str = "fig3_word_curves", layer: str = "conv5",
                    layer_time: Optional[LayerTime] = None,
                    colours: Optional[Mapping[str, str]] = None) -> List[str]:
    """Fig. 3. data: prepare_gamm_data output (Value, Sample, Word, UniqueWord);
    predictions: Word, Sample, fit, lower, upper. ``layer_time``: adds an ms axis on top.
    ``colours``: {word: colour} (:func:`analysis.style.word_colours`, the report's)."""
    levels = [str(x) for x in pd.unique(predictions["Word"].astype(str))]
    pal = dict(colours) if colours else word_colours(levels)
    fig, axes = figure("double", height_in=3.2, nrows=1, ncols=2, sharey=True)
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
    shared_legend(fig, axes, loc="outside upper center", ncol=min(len(levels), 8),
                  italic=levels)
    return save_figure(fig, folder, name)


def fig_phone_contrast(phone_predictions: pd.DataFrame, folder: str,
                       name: str = "fig4_phone_contrast",
                       regions: Optional[Mapping[str, List[dict]]] = None,
                       fields_ms: Optional[Mapping[str, float]] = None) -> List[str]:
    """Fig. 4. phone_predictions: layer, Phone, norm_time, fit, lower, upper. ``regions``:
    {layer: regions over norm_time where the CI of the phone difference excludes zero}
    (:func:`analysis.diffcurves.contrast_regions`), shaded; None draws no shading.
    ``fields_ms``: {layer: receptive field in ms}, in each panel's title. One x label for all
    panels (each panel's own would collide at two columns' width)."""
    layers = list(pd.unique(phone_predictions["layer"]))
    n = max(1, len(layers))
    fig, axes = figure("double", height_in=2.5, nrows=1, ncols=n)
    phones = [str(p) for p in pd.unique(phone_predictions["Phone"].astype(str))]
    pal = phone_colours(phones)
    for i, (ax, lay) in enumerate(zip(axes[0], layers)):
        sub = phone_predictions[phone_predictions["layer"] == lay]
        for ph in phones:
            p = sub[sub["Phone"].astype(str) == ph]
            ax.plot(p["norm_time"], p["fit"], color=pal[ph], label=plot_text(phone_label(ph)))
            ax.fill_between(p["norm_time"], p["lower"], p["upper"], color=pal[ph],
                            alpha=CI_ALPHA, lw=0)
        ax.set_xlim(0.0, 1.0)
        if regions is not None:
            shade_regions(ax, regions.get(lay, []))
        field = (fields_ms or {}).get(str(lay))
        ax.set_title(plot_text(lay) + (f" (field {field:.0f} ms)" if field else ""))
        if i == 0:
            ax.set_ylabel(f"activation ({ACTIVATION_UNIT})")
        ax.set_xticks([0.0, 0.5, 1.0], ["0", "0.5", "1"])
    fig.supxlabel("time in the phone (normalised, 0-1)")
    extra = [significance_handle(f"{SIGNIFICANT_LABEL} ("
                                 + " - ".join(plot_text(phone_label(p))
                                              for p in reversed(phones[:2])) + ")")] \
        if regions is not None and len(phones) >= 2 else []
    shared_legend(fig, axes, extra=extra)
    return save_figure(fig, folder, name)


def fig_differences(predictions: pd.DataFrame, diff: pd.DataFrame, pairs: Sequence[dict],
                    folder: str, name: str = "fig5_difference", layer: str = "",
                    layer_time: Optional[LayerTime] = None,
                    colours: Optional[Mapping[str, str]] = None) -> List[str]:
    """Fig. 5 with several pairs: the predictions of every word of ``pairs`` (top) and one
    panel per pair below with its difference, pointwise 95% CI (grey), simultaneous band
    (dashed, when the pair has one) and the regions where the pointwise CI excludes zero.
    predictions: Word, Sample, fit, lower, upper; diff: comparison ('w1 - w2'), Sample,
    difference, lower, upper[, lower_simultaneous, upper_simultaneous]; pairs: [{'pair':
    (w1, w2), 'regions': [...]}] (:func:`analysis.differences.difference_tables`)."""
    words = list(dict.fromkeys(str(w) for d in pairs for w in d["pair"]))
    pal = dict(colours) if colours else word_colours(words)
    fig, axes = figure("single", height_in=1.9 + 1.35 * len(pairs), nrows=1 + len(pairs),
                       ncols=1, sharex=True)
    top = axes[0, 0]
    for w in words:
        p = predictions[predictions["Word"].astype(str) == w]
        top.plot(p["Sample"], p["fit"], color=pal.get(w, "k"), label=plot_text(w))
        top.fill_between(p["Sample"], p["lower"], p["upper"], color=pal.get(w, "k"),
                         alpha=CI_ALPHA, lw=0)
    top.set_ylabel(f"predicted ({ACTIVATION_UNIT})")
    add_ms_axis(top, layer_time)
    handles = [Line2D([], [], color="k", lw=1.2, label="difference"),
               Patch(color="0.5", alpha=0.3, lw=0, label="pointwise 95% CI")]
    if any(d.get("simultaneous") is not None for d in pairs):
        handles.append(Line2D([], [], color="k", lw=0.8, ls="--",
                              label="simultaneous 95% band"))
    handles.append(significance_handle("pointwise CI excludes 0"))
    for ax, d in zip(axes[1:, 0], pairs):
        w1, w2 = (str(x) for x in d["pair"])
        c = diff[diff["comparison"].astype(str) == f"{w1} - {w2}"] \
            if "comparison" in diff.columns else diff
        ax.plot(c["Sample"], c["difference"], color="k")
        ax.fill_between(c["Sample"], c["lower"], c["upper"], color="0.5", alpha=0.3, lw=0)
        if "lower_simultaneous" in c.columns and d.get("simultaneous") is not None:
            ax.plot(c["Sample"], c["lower_simultaneous"], color="k", lw=0.8, ls="--")
            ax.plot(c["Sample"], c["upper_simultaneous"], color="k", lw=0.8, ls="--")
        ax.axhline(0, color="0.3", lw=0.6, ls=":")
        shade_regions(ax, d.get("regions"))
        ax.set_title(f"{plot_text(w1)} \u2212 {plot_text(w2)}", fontstyle="italic")
        ax.set_ylabel(f"difference ({ACTIVATION_UNIT})")
    axes[-1, 0].set_xlabel(_sample_label(layer) if layer else "Sample (index)")
    word_handles = [Line2D([], [], color=pal.get(w, "k"), label=plot_text(w)) for w in words]
    shared_legend(fig, handles=word_handles + handles, ncol=2, italic=words)
    return save_figure(fig, folder, name)


def fig_difference(predictions: pd.DataFrame, diff: pd.DataFrame, word1: str, word2: str,
                   folder: str, name: str = "fig5_difference",
                   regions: Optional[List[dict]] = None, layer: str = "",
                   layer_time: Optional[LayerTime] = None,
                   colours: Optional[Mapping[str, str]] = None) -> List[str]:
    """Fig. 5 for one pair: :func:`fig_differences` with ``word1 - word2``."""
    return fig_differences(predictions, diff, [{"pair": (word1, word2),
                                                "regions": regions or []}], folder, name,
                           layer, layer_time, colours)


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
    italicise(ax.get_yticklabels(), rows)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    ax.set(xlabel="Q code (argmax; tokens)", ylabel="word")
    if mapping:
        ax.set_title("outlined: one-to-one word-code mapping", fontsize=7)
    return save_figure(fig, folder, name)


def _cell_outline(x: float, y: float) -> Rectangle:
    """An outline around cell (x, y) of an imshow grid."""
    return Rectangle((x - 0.5, y - 0.5), 1.0, 1.0, fill=False, lw=1.2, ec="#D55E00")


def paper_figures(folder: str, *, records, upsampled: Optional[pd.DataFrame], word_data,
                  predictions: pd.DataFrame, layer: str, layer_time: Optional[LayerTime],
                  colours: Optional[Mapping[str, str]],
                  phone_predictions: Optional[pd.DataFrame],
                  phone_regions: Optional[Mapping[str, List[dict]]],
                  differences: pd.DataFrame, pairs: Sequence[dict],
                  nthreads: int = 2) -> dict:
    """The analysis' figures into ``folder`` (Fig. 2 when the activations folder has
    upsampled traces, Fig. 3, Fig. 4 when there are phone predictions, Fig. 5, Q's confusion
    when recorded), every word in its ``colours``; returns {key: path relative to the report
    ('figures/<name>.png')}."""
    from analysis.figure_waveforms import fig2_inputs
    from analysis.provenance import layer_fields
    fields_ms = {lf.name: lf.field_ms for lf in layer_fields(records) if lf.field_ms}
    written = {}
    if upsampled is not None:
        spans, logits, _ = fig2_inputs(records.folder, upsampled, records, nthreads)
        fig_waveforms(upsampled, folder, sample_rate=records.sample_rate, spans=spans,
                      logits=logits, colours=colours, fields_ms=fields_ms)
        written["fig2"] = "fig2_waveforms"
    fig_word_curves(word_data, predictions, folder, layer=layer, layer_time=layer_time,
                    colours=colours)
    written["fig3"] = "fig3_word_curves"
    if phone_predictions is not None:
        fig_phone_contrast(phone_predictions, folder, regions=phone_regions,
                           fields_ms=fields_ms)
        written["fig4"] = "fig4_phone_contrast"
    fig_differences(predictions, differences, pairs, folder, layer=layer,
                    layer_time=layer_time, colours=colours)
    written["fig5"] = "fig5_difference"
    if records.confusion is not None:
        fig_confusion(records.confusion, folder,
                      mapping=(records.classification or {}).get("mapping"))
        written["confusion"] = "confusion"
    return {key: f"figures/{name}.png" for key, name in written.items()}
