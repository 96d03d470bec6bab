"""Spectra of the averaged feature maps (issue 16, the paper's "acoustic analysis on spectra of
the averaged feature maps").

Each layer's trace (the channel-averaged feature map of one token, extract.py's activations
table) is a signal sampled at the layer's own rate, ``sample_rate / jump`` (jump = the
cumulative stride: conv1 4000 Hz, conv2 1000 Hz, conv3 250 Hz, conv4 62.5 Hz, conv5 15.6 Hz
for the 16 kHz Q network). Per token and layer:

    PSD_token(f) = scipy.signal.welch(trace, fs=rate, window='hann', nperseg=L,
                                      detrend='constant')     (50 % overlap)
    L = min(n, max(16, min(nperseg, n // 4)))   n samples per token, nperseg 256 by default
    dB_token(f)  = 10 log10(PSD_token(f))

(L: at least 7 half-overlapping segments where the trace is long enough, which cuts the
variance of a token's spectrum ~5-fold against one periodogram; conv5's 16 samples make one
segment and 9 bins), averaged per word (mean dB over tokens, 95 % band = mean +-
t_{0.975, n-1} SE) and, with a phone table, per phone (the same on each phone interval's
stretch of the trace with segments of ``phone_nperseg`` samples, shorter intervals left out).
Power is averaged in dB because spectra are positive and right-skewed: the mean of logs is the
log of the geometric mean, and a band symmetric in dB is not pulled up by a few loud tokens.

Word differences in band power: each layer's frequency axis (0 to Nyquist, DC excluded) is cut
into ``n_bands`` equal bands; a token's band power is 10 log10 of its mean PSD over the band's
bins. Per layer and band::

    BandPower ~ Word + (1 | Speaker)     lmerTest (analysis.lmm, Satterthwaite F test of Word)

(``test='lmm'``, the default: tokens of one speaker share a voice, so they are not
independent, as for the mean-activation comparison of :mod:`analysis.lmm`, whose R session
and fallback to ``lm`` when no speaker repeats are reused). ``test='anova'`` is a one-way ANOVA
(scipy, no R; treats tokens as independent). A GAMM over frequency was not chosen: adjacent
Welch bins are correlated by the window (leakage), the per-token random smooths over
frequency would cost as much as the word GAMM itself at every layer, and band powers answer
the question (which range of the spectrum differs between words) in a few interpretable
numbers. The p-values of all layers x bands are corrected together (Holm and
Benjamini-Hochberg, :mod:`analysis.contrasts`).

Entry points: :func:`layer_rates`, :func:`word_spectra`, :func:`phone_spectra`,
:func:`band_tests`, :func:`spectral_peaks`, :func:`fig_spectra`,
:func:`spectra_report_section`, :func:`run_spectra` (all of it into a folder).
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import signal, stats

from analysis.corrections import benjamini_hochberg, holm
from analysis.gamm.data import AnalysisInputError
from analysis.records import info_sample_rate
# the shared spectral arithmetic (re-exported: tests and callers import it from here)
from analysis.spectra_welch import (DEFAULT_NPERSEG, _band, _band_text, _db,  # noqa: F401
                                    _layers, _welch, band_edges, band_power, segment_length,
                                    token_spectra)
from analysis.labels import md_text
from analysis.tables import format_number, format_p

__all__ = ["BAND_COLUMNS", "SPECTRUM_COLUMNS", "band_power", "band_tests", "fig_spectra",
           "layer_rates", "phone_spectra", "run_spectra", "spectra_report_section",
           "spectral_peaks", "token_spectra", "word_spectra"]

DEFAULT_PHONE_NPERSEG = 16  # Welch segment for phone stretches (conv3: 16 samples = 64 ms)
SPECTRUM_COLUMNS = ["layer", "by", "group", "frequency", "mean_db", "lower", "upper", "n"]
BAND_COLUMNS = ["layer", "band", "f_low", "f_high", "test", "formula", "F", "df1", "df2", "p",
                "p_holm", "p_bh", "range_db", "n_tokens"]
# The axis the spectra have: not acoustic frequency, but the rate at which the channel-mean
# trace of a layer changes over time.
FREQUENCY_LABEL = "modulation frequency of the trace (Hz)"


# --------------------------------------------------------------------------- rates

def layer_rates(acts: Optional[pd.DataFrame] = None,
                info: Optional[Mapping] = None) -> Dict[str, float]:
    """{layer: rate in Hz}: from extract_info.json's ``layers`` (``sample_rate / jump``) when
    given; layers it lacks (or without ``jump``) from the activations table's ``time``
    column (1 / the median step between consecutive samples of a token)."""
    rates: Dict[str, float] = {}
    if info:
        sr = float(info_sample_rate(info))
        for entry in info.get("layers", []) or []:
            if isinstance(entry, Mapping) and entry.get("jump"):
                rates[str(entry["name"])] = sr / float(entry["jump"])
    if acts is not None and "time" in acts.columns:
        for layer, g in acts.groupby(acts["layer"].astype(str), sort=False):
            if layer in rates:
                continue
            tok = g["token_id"].iloc[0]
            t = np.sort(g.loc[g["token_id"] == tok, "time"].to_numpy(float))
            steps = np.diff(t)
            steps = steps[steps > 0]
            if len(steps):
                rates[layer] = 1.0 / float(np.median(steps))
    return rates


# --------------------------------------------------------------------------- spectra

def _group_means(layer: str, by: str, groups: np.ndarray, f: np.ndarray,
                 db: np.ndarray) -> pd.DataFrame:
    """Mean dB per group with t-based 95 % bands: long rows of SPECTRUM_COLUMNS."""
    parts = []
    for g in pd.unique(groups):
        rows = db[groups == g]
        n = len(rows)
        mean = rows.mean(axis=0)
        if n > 1:
            half = stats.t.ppf(0.975, n - 1) * rows.std(axis=0, ddof=1) / np.sqrt(n)
        else:
            half = np.full_like(mean, np.nan)
        parts.append(pd.DataFrame({"layer": layer, "by": by, "group": str(g), "frequency": f,
                                   "mean_db": mean, "lower": mean - half,
                                   "upper": mean + half, "n": n}))
    return pd.concat(parts, ignore_index=True)


def word_spectra(acts: pd.DataFrame, rates: Mapping[str, float],
                 layers: Optional[Sequence[str]] = None,
                 nperseg: int = DEFAULT_NPERSEG) -> pd.DataFrame:
    """Mean dB spectrum per word and layer (SPECTRUM_COLUMNS, by='word')."""
    parts = []
    for layer in _layers(acts, rates, layers):
        f, tok, p = token_spectra(acts, layer, rates[layer], nperseg)
        parts.append(_group_means(layer, "word", tok["word"].to_numpy(), f, _db(p)))
    return pd.concat(parts, ignore_index=True)


def phone_spectra(phone_table: pd.DataFrame, rates: Mapping[str, float],
                  layers: Optional[Sequence[str]] = None,
                  nperseg: int = DEFAULT_PHONE_NPERSEG) -> pd.DataFrame:
    """Mean dB spectrum per phone and layer (SPECTRUM_COLUMNS, by='phone'): Welch with a fixed
    segment of ``nperseg`` samples on each interval's stretch (shorter intervals left out, so
    every interval has the same frequency grid). Layers where no interval is long enough are
    absent."""
    parts = []
    t = phone_table.sort_values(["layer", "token_id", "phone", "phone_index", "sample"],
                                kind="mergesort")
    for layer in _layers(phone_table, rates, layers):
        sub = t[t["layer"].astype(str) == layer]
        keys = ["token_id", "phone", "phone_index"]
        n_of = sub.groupby(keys, sort=False, observed=True)["value"].transform("size").to_numpy()
        sub = sub[n_of >= nperseg]
        n_of = n_of[n_of >= nperseg]
        dbs, phones = [], []
        f = None
        # intervals of equal length in one Welch call: rows [m, n]
        for n in np.unique(n_of):
            g = sub[n_of == n]
            x = g["value"].to_numpy(float).reshape(-1, int(n))
            f, p = _welch(x, rates[layer], nperseg)
            dbs.append(_db(p))
            phones.append(g["phone"].astype(str).to_numpy()[::int(n)])
        if dbs:
            parts.append(_group_means(layer, "phone", np.concatenate(phones), f,
                                      np.vstack(dbs)))
    if not parts:
        return pd.DataFrame(columns=SPECTRUM_COLUMNS)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- bands

def band_tests(acts: pd.DataFrame, rates: Mapping[str, float],
               layers: Optional[Sequence[str]] = None, n_bands: int = 4,
               test: str = "lmm", nperseg: int = DEFAULT_NPERSEG,
               ref_word: Optional[str] = None, keep: Optional[list] = None) -> pd.DataFrame:
    """Word differences in band power, one row per layer x band (:data:`BAND_COLUMNS`).

    test 'lmm': BandPower ~ Word + (1 | Speaker) through :func:`analysis.lmm.fit_mean_lmm`
    (lm when no speaker repeats); 'anova': one-way ANOVA (scipy.stats.f_oneway). ``range_db``
    is the largest minus the smallest word mean of the band power. p_holm / p_bh: corrected
    over every layer x band of the table. ``keep``: a list that receives, per tested layer x
    band, (label, rows with Word, Speaker, BandPower, Word's levels, formula) for the refit
    script (:func:`analysis.refits.write_lmm_refit`)."""
    if test not in ("lmm", "anova"):
        raise AnalysisInputError(f"spectra test must be 'lmm' or 'anova', got {test!r}")
    if int(n_bands) < 1:
        raise AnalysisInputError(f"--spectra_bands={n_bands} must be at least 1")
    rows, notes = [], []
    for layer in _layers(acts, rates, layers):
        f, tok, p = token_spectra(acts, layer, rates[layer], nperseg)
        edges = band_edges(rates[layer], n_bands)
        bp = band_power(f, p, edges)
        words = tok["word"].to_numpy()
        ref = ref_word if ref_word is not None else sorted(set(words))[0]
        for b in range(bp.shape[1]):
            y = bp[:, b]
            row = {"layer": layer, "band": b + 1, "f_low": edges[b], "f_high": edges[b + 1],
                   "test": test, "n_tokens": int(np.isfinite(y).sum())}
            if not np.isfinite(y).all() or len(set(words)) < 2:
                row.update({"formula": "", "F": np.nan, "df1": np.nan, "df2": np.nan,
                            "p": np.nan, "range_db": np.nan})
                rows.append(row)
                continue
            means = pd.Series(y).groupby(words).mean()
            row["range_db"] = float(means.max() - means.min())
            levels = [ref] + sorted(w for w in set(words) if w != ref)
            if test == "anova":
                groups = [y[words == w] for w in means.index]
                res = stats.f_oneway(*groups)
                row.update({"formula": "BandPower ~ Word (one-way ANOVA)",
                            "F": float(res.statistic), "df1": len(groups) - 1,
                            "df2": len(y) - len(groups), "p": float(res.pvalue)})
                fitted = "BandPower ~ Word"
            else:
                from analysis.lmm import fit_mean_lmm
                one = pd.DataFrame({"token_id": tok["token_id"].to_numpy(), "word": words,
                                    "speaker": tok["speaker"].to_numpy(), "layer": "band",
                                    "sample": 0, "value": y})
                r = fit_mean_lmm(one, "band", ref_word=ref)
                notes.extend(f"{layer} band {b + 1}: {n}" for n in r.notes)
                row.update({"formula": r.formula.replace("Mean", "BandPower"), "F": r.F,
                            "df1": r.df1, "df2": r.df2, "p": r.p})
                fitted = row["formula"]
            if keep is not None:
                keep.append((f"{layer} band {b + 1} ({_band_text(edges[b], edges[b + 1])} Hz)",
                             pd.DataFrame({"Word": words, "Speaker": tok["speaker"].to_numpy(),
                                           "BandPower": y}), levels, fitted))
            rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=BAND_COLUMNS)
    out["p_holm"] = holm(out["p"].to_numpy(float))
    out["p_bh"] = benjamini_hochberg(out["p"].to_numpy(float))
    out.attrs["notes"] = notes
    return out


# --------------------------------------------------------------------------- peaks

def spectral_peaks(spectra: pd.DataFrame, prominence_db: float = 6.0) -> pd.DataFrame:
    """Peaks of every mean spectrum (layer, by, group): local maxima whose prominence
    (scipy.signal.find_peaks) is at least ``prominence_db`` dB. The DC bin (f = 0) is left
    out: detrending empties it, and its dip would make the lowest frequencies look like a
    peak. Columns layer, by, group, frequency, mean_db, prominence_db."""
    out = []
    for (layer, by, group), g in spectra.groupby(["layer", "by", "group"], sort=False):
        g = g[g["frequency"] > 0].sort_values("frequency")
        y = g["mean_db"].to_numpy(float)
        idx, props = signal.find_peaks(y, prominence=prominence_db)
        for i, prom in zip(idx, props["prominences"]):
            out.append({"layer": layer, "by": by, "group": group,
                        "frequency": float(g["frequency"].iloc[i]), "mean_db": float(y[i]),
                        "prominence_db": float(prom)})
    return pd.DataFrame(out, columns=["layer", "by", "group", "frequency", "mean_db",
                                      "prominence_db"])


# --------------------------------------------------------------------------- figures

def _figure_name(layer: str, i: int) -> str:
    """File name of a layer's figure: 'spectra_<layer>' for plain names (conv1), else by
    position, so a name from the data never becomes a path."""
    return f"spectra_{layer}" if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", layer) else \
        f"spectra_layer{i + 1}"


def fig_spectra(spectra: pd.DataFrame, folder: str,
                colours: Optional[Mapping[str, str]] = None) -> Dict[str, List[str]]:
    """One figure per layer: mean dB spectrum per word (left) and per phone (right, when the
    table has phone rows), 95 % bands shaded, over the modulation frequency of the trace;
    each word in its report colour (``colours``, :func:`analysis.style.word_colours`), in
    italics; the legends below the panels, off the data. Returns {layer: written paths}."""
    from common.phones import phone_label
    from analysis.style import (figure, italicise, phone_colours, plot_text, save_figure,
                                word_colours)

    out = {}
    words = spectra.loc[spectra["by"] == "word", "group"].astype(str).unique()
    word_pal = dict(colours) if colours else word_colours(words)
    for i, layer in enumerate(pd.unique(spectra["layer"])):
        sub = spectra[spectra["layer"] == layer]
        kinds = [b for b in ("word", "phone") if (sub["by"] == b).any()]
        fig, axes = figure("double" if len(kinds) > 1 else "single", height_in=3.4,
                           ncols=len(kinds))
        for ax, by in zip(axes[0], kinds):
            s = sub[sub["by"] == by]
            groups = [str(g) for g in pd.unique(s["group"].astype(str))]
            colours_by = word_pal if by == "word" else phone_colours(groups)
            for g in groups:
                d = s[s["group"].astype(str) == g].sort_values("frequency")
                c = colours_by.get(g, "k")
                name = plot_text(phone_label(g)) if by == "phone" else plot_text(g)
                ax.plot(d["frequency"], d["mean_db"], color=c, label=name)
                ax.fill_between(d["frequency"], d["lower"], d["upper"], color=c, alpha=0.2,
                                lw=0)
            ax.set(xlabel=FREQUENCY_LABEL, ylabel="power (dB)",
                   title=f"{plot_text(layer)}: mean per {by}, 95% band")
            legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2),
                               ncol=4, handlelength=1.2, columnspacing=0.8)
            if by == "word":
                italicise(legend.get_texts(), groups)
        out[str(layer)] = save_figure(fig, folder, _figure_name(str(layer), i))
    return out


# --------------------------------------------------------------------------- report

def spectra_report_section(bands: pd.DataFrame, alpha: float = 0.05,
                           figures: Optional[Mapping[str, str]] = None, level: int = 2,
                           baseline: Optional[pd.DataFrame] = None) -> str:
    """Markdown: which layers and bands differ between words (Holm over the table), the band
    table, the shuffled-words baseline (:func:`band_baseline`) when given, and the figures
    ({layer: relative path}). Pure function of its inputs."""
    h = "#" * level
    test = str(bands["test"].iloc[0]) if len(bands) else "lmm"
    model = ("BandPower ~ Word + (1 | Speaker) (lmerTest; lm when no speaker repeats)"
             if test == "lmm" else "a one-way ANOVA of BandPower by Word")
    lines = [f"{h} Spectra of the averaged feature maps", "",
             "Welch power spectra of each token's channel-mean trace on the layer's own rate, "
             "averaged in dB per word. The frequency axis is the *modulation frequency of the "
             "trace* (how fast the layer's mean activation changes over time), not acoustic "
             f"frequency. Word differences in band power tested by {model}, Holm-corrected "
             f"over all layers and bands (alpha {alpha:g}).", ""]
    for layer in pd.unique(bands["layer"]):
        sub = bands[bands["layer"] == layer]
        sig = sub[sub["p_holm"] < alpha]
        if len(sig):
            which = ", ".join(f"{_band(r)} Hz" for r in sig.itertuples(index=False))
            lines.append(f"- **{md_text(layer)}**: words differ in band(s) {which}.")
        else:
            lines.append(f"- **{md_text(layer)}**: no band differs between words.")
    lines += ["", "| layer | band (Hz) | F | df | p | p (Holm) | p (BH) | word range (dB) |",
              "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in bands.itertuples(index=False):
        df = "" if np.isnan(r.df1) else f"{format_number(r.df1, 1)}, {format_number(r.df2, 1)}"
        lines.append(f"| {md_text(r.layer)} | {_band(r)} | {format_number(r.F)} | {df} | "
                     f"{format_p(r.p)} | {format_p(r.p_holm)} | {format_p(r.p_bh)} | "
                     f"{format_number(r.range_db, 2)} |")
    lines.append("")
    if baseline is not None and len(baseline):
        from analysis.spectra_baseline import baseline_lines
        lines += baseline_lines(bands, baseline, alpha)
    for layer, path in (figures or {}).items():
        lines += [f"![Spectra {md_text(layer)}]({path})", ""]
    return "\n".join(lines)


def run_spectra(acts: pd.DataFrame, folder: str, info: Optional[Mapping] = None,
                phone_table: Optional[pd.DataFrame] = None,
                layers: Optional[Sequence[str]] = None, n_bands: int = 4, test: str = "lmm",
                alpha: float = 0.05, figures: bool = True, figure_folder: str = "figures",
                rates: Optional[Mapping[str, float]] = None,
                nperseg: int = DEFAULT_NPERSEG,
                phone_nperseg: int = DEFAULT_PHONE_NPERSEG,
                colours: Optional[Mapping[str, str]] = None, n_perm: int = 200,
                ref_word: Optional[str] = None) -> Dict[str, object]:
    """Everything into ``folder`` (the caller's output folder; atomic writes):
    ``spectra.csv`` (word and phone mean spectra, SPECTRUM_COLUMNS), ``spectra_bands.csv``
    (:func:`band_tests`), ``spectra_peaks.csv`` (:func:`spectral_peaks`), ``spectra.md`` (the
    report section) and ``<figure_folder>/spectra_<layer>.{png,pdf}``. ``info``: the parsed
    extract_info.json (for the rates); ``rates`` overrides. Returns {'paths': {...},
    'bands': DataFrame, 'spectra': DataFrame}."""
    from common.atomic import atomic_write_csv, atomic_write_text

    rates = dict(rates) if rates else layer_rates(acts, info)
    layers = _layers(acts, rates, layers)
    spec = word_spectra(acts, rates, layers, nperseg)
    if phone_table is not None and len(phone_table):
        ph_layers = [x for x in layers if x in set(phone_table["layer"].astype(str))]
        if ph_layers:
            spec = pd.concat([spec, phone_spectra(phone_table, rates, ph_layers,
                                                  phone_nperseg)], ignore_index=True)
    kept: list = []
    bands = band_tests(acts, rates, layers, n_bands, test, nperseg, ref_word, keep=kept)
    from analysis.spectra_baseline import band_baseline
    baseline = band_baseline(acts, rates, layers, n_bands, nperseg, n_perm)
    peaks = spectral_peaks(spec)
    paths = {name: os.path.join(folder, f"{name}.csv")
             for name in ("spectra", "spectra_bands", "spectra_peaks")}
    atomic_write_csv(spec, paths["spectra"])
    atomic_write_csv(bands, paths["spectra_bands"])
    atomic_write_csv(peaks, paths["spectra_peaks"])
    paths["spectra_baseline"] = os.path.join(folder, "spectra_baseline.csv")
    atomic_write_csv(baseline, paths["spectra_baseline"])
    from analysis.refits import write_lmm_refit
    paths.update({f"refit_{k}": v for k, v in write_lmm_refit(
        folder, "spectra_bands", kept, "BandPower",
        "the spectra's band-power tests (spectra_bands.csv)").items()})
    rel = {}
    if figures:
        fdir = os.path.join(folder, figure_folder)
        os.makedirs(fdir, exist_ok=True)
        written = fig_spectra(spec, fdir, colours)
        rel = {lay: f"{figure_folder}/{os.path.basename(p[0])}" for lay, p in written.items()}
    paths["md"] = os.path.join(folder, "spectra.md")
    atomic_write_text(paths["md"], spectra_report_section(bands, alpha, rel,
                                                          baseline=baseline))
    return {"paths": paths, "bands": bands, "spectra": spec, "peaks": peaks,
            "baseline": baseline}
