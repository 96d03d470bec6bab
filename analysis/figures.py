"""Figures of the paper (matplotlib Agg + seaborn), each saved as PNG and PDF.

* Fig. 2 :func:`fig_waveforms`: per word one token, the waveform and under it each layer's
  upsampled trace (``upsampled.parquet``);
* Fig. 3 :func:`fig_word_curves`: raw values per word over Sample (left) and the GAMM's
  predicted smooths with 95 % CI, random smooths excluded (right);
* Fig. 4 :func:`fig_phone_contrast`: per layer, predicted curves of the two phones over
  normalised time with CI;
* Fig. 5 :func:`fig_difference`: predictions of two words (top) and their difference with CI,
  significant regions shaded (bottom);
* :func:`fig_confusion`: heat map of Q's code per word (``confusion.csv``).

Every function takes tables (no fitting) and returns the written paths. Writes are atomic.
Labels from the data (words, tokens, phones, layers) are drawn through :func:`plot_text`, so
none is read as mathtext or hidden from a legend; file names never come from labels.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.tables import visible  # noqa: E402
from common.atomic import atomic_path  # noqa: E402
from common.constants import SAMPLE_RATE  # noqa: E402

FORMATS = ("png", "pdf")


def plot_text(label: object) -> str:
    """A data label as matplotlib text: one line (:func:`analysis.tables.visible`), '$'
    escaped (an even number of them would start mathtext, which can fail to parse), and a
    leading '_' shielded (matplotlib leaves such labels out of legends)."""
    text = visible(label).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def save_figure(fig, folder: str, name: str, formats: Sequence[str] = FORMATS,
                dpi: int = 150) -> List[str]:
    """Save ``fig`` as <folder>/<name>.<fmt> for each format (atomically); close it.
    ``name`` is a plain file name chosen by the code, never a path."""
    if not name or name in (".", "..") or os.path.basename(name) != name:
        raise ValueError(f"figure name {name!r} must be a plain file name")
    paths = []
    try:
        for fmt in formats:
            path = os.path.join(folder, f"{name}.{fmt}")
            with atomic_path(path, suffix="." + fmt) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def _palette(levels: Sequence[str]) -> Dict[str, tuple]:
    return dict(zip(levels, sns.color_palette("tab10", n_colors=max(len(levels), 1))))


def fig_waveforms(upsampled: pd.DataFrame, folder: str, name: str = "fig2_waveforms",
                  words: Optional[Sequence[str]] = None,
                  sample_rate: int = SAMPLE_RATE) -> List[str]:
    """Fig. 2: columns = words (first token of each), rows = 'input' then conv1.. traces."""
    words = list(words) if words else sorted(upsampled["word"].astype(str).unique())
    layers = [lay for lay in ["input"] + sorted(set(upsampled["layer"]) - {"input"})
              if lay in set(upsampled["layer"])]
    fig, axes = plt.subplots(len(layers), len(words), figsize=(2.2 * len(words) + 1,
                             1.1 * len(layers) + 0.8), sharex=True, squeeze=False,
                             layout="constrained")
    for j, w in enumerate(words):
        sub = upsampled[upsampled["word"].astype(str) == w]
        tok = sub["token_id"].iloc[0] if len(sub) else None
        for i, lay in enumerate(layers):
            ax = axes[i, j]
            g = sub[(sub["token_id"] == tok) & (sub["layer"] == lay)].sort_values("sample")
            ax.plot(g["sample"] / sample_rate, g["value"], lw=0.6,
                    color="0.2" if lay == "input" else "C0")
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(f"{plot_text(w)} (token {plot_text(tok)})", fontsize=8)
            if j == 0:
                ax.set_ylabel(plot_text(lay), fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=7)
    fig.suptitle("Waveform and upsampled layer activations (one token per word)", fontsize=9)
    return save_figure(fig, folder, name)


def fig_word_curves(data: pd.DataFrame, predictions: pd.DataFrame, folder: str,
                    name: str = "fig3_word_curves", layer: str = "conv5") -> List[str]:
    """Fig. 3. data: prepare_gamm_data output (Value, Sample, Word, UniqueWord);
    predictions: Word, Sample, fit, lower, upper."""
    levels = [str(x) for x in pd.unique(predictions["Word"].astype(str))]
    pal = _palette(levels)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for w in levels:
        sub = data[data["Word"].astype(str) == w]
        for _, g in sub.groupby("UniqueWord", observed=True):
            a1.plot(g["Sample"], g["Value"], color=pal[w], alpha=0.15, lw=0.6)
        mean = sub.groupby("Sample")["Value"].mean()
        a1.plot(mean.index, mean.values, color=pal[w], lw=1.8, label=plot_text(w))
        p = predictions[predictions["Word"].astype(str) == w]
        a2.plot(p["Sample"], p["fit"], color=pal[w], lw=1.8, label=plot_text(w))
        a2.fill_between(p["Sample"], p["lower"], p["upper"], color=pal[w], alpha=0.2, lw=0)
    a1.set(title=f"Raw {plot_text(layer)} values (thin: tokens, thick: mean)", xlabel="Sample",
           ylabel="mean activation")
    a2.set(title="GAMM predictions, 95% CI (random smooths excluded)", xlabel="Sample",
           ylabel="predicted value")
    a2.legend(fontsize=7, ncol=2)
    return save_figure(fig, folder, name)


def fig_phone_contrast(phone_predictions: pd.DataFrame, folder: str,
                       name: str = "fig4_phone_contrast") -> List[str]:
    """Fig. 4. phone_predictions: layer, Phone, norm_time, fit, lower, upper."""
    layers = list(pd.unique(phone_predictions["layer"]))
    fig, axes = plt.subplots(1, max(1, len(layers)), figsize=(3.2 * max(1, len(layers)), 3.2),
                             squeeze=False, layout="constrained")
    phones = [str(p) for p in pd.unique(phone_predictions["Phone"].astype(str))]
    pal = _palette(phones)
    for ax, lay in zip(axes[0], layers):
        sub = phone_predictions[phone_predictions["layer"] == lay]
        for ph in phones:
            p = sub[sub["Phone"].astype(str) == ph]
            ax.plot(p["norm_time"], p["fit"], color=pal[ph], label=plot_text(ph))
            ax.fill_between(p["norm_time"], p["lower"], p["upper"], color=pal[ph], alpha=0.2,
                            lw=0)
        ax.set(title=plot_text(lay), xlabel="normalised time")
    axes[0][0].set_ylabel("predicted value")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Phone contrast per layer (GAMM predictions, 95% CI)", fontsize=10)
    return save_figure(fig, folder, name)


def fig_difference(predictions: pd.DataFrame, diff: pd.DataFrame, word1: str, word2: str,
                   folder: str, name: str = "fig5_difference",
                   regions: Optional[List[dict]] = None) -> List[str]:
    """Fig. 5. predictions: Word, Sample, fit, lower, upper; diff: Sample, difference, lower,
    upper; regions: significant_regions output (shaded)."""
    pal = _palette([word1, word2])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for w in (word1, word2):
        p = predictions[predictions["Word"].astype(str) == w]
        a1.plot(p["Sample"], p["fit"], color=pal[w], label=plot_text(w))
        a1.fill_between(p["Sample"], p["lower"], p["upper"], color=pal[w], alpha=0.2, lw=0)
    a1.set(ylabel="predicted value", title=f"{plot_text(word1)} and {plot_text(word2)}")
    a1.legend(fontsize=8)
    a2.plot(diff["Sample"], diff["difference"], color="k")
    a2.fill_between(diff["Sample"], diff["lower"], diff["upper"], color="0.5", alpha=0.3, lw=0)
    a2.axhline(0, color="r", lw=0.8, ls="--")
    for r in regions or []:
        for ax in (a1, a2):
            ax.axvspan(r["start"], r["end"], color="gold", alpha=0.25, lw=0)
    a2.set(xlabel="Sample", ylabel=f"{plot_text(word1)} - {plot_text(word2)}",
           title="Difference, 95% CI; shaded: CI excludes 0")
    return save_figure(fig, folder, name)


def fig_confusion(confusion: pd.DataFrame, folder: str, name: str = "confusion") -> List[str]:
    """Heat map of counts (rows word, columns code), annotated."""
    fig, ax = plt.subplots(figsize=(1 + 0.6 * confusion.shape[1], 1 + 0.45 * confusion.shape[0]))
    shown = confusion.rename(index=plot_text, columns=plot_text)
    sns.heatmap(shown, annot=True, fmt="g", cmap="Blues", cbar=False, ax=ax)
    ax.set(xlabel="Q code (argmax)", ylabel="word", title="Q classification of words")
    return save_figure(fig, folder, name)
