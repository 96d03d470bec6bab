"""A baseline for the spectra's band tests (issue 27): what they give when the words mean
nothing.

A layer's channel-mean trace differs between words somewhere in time, and any such difference
shows in some band of its spectrum, so "20 of 20 bands differ" says little on its own. Here
the word labels are shuffled (within speakers when most tokens share a speaker, so the
speaker structure is kept; across tokens otherwise) ``n_perm`` times and every band's one-way
F of band power by word is compared with its shuffled values: an exact permutation p with the
floor 1 / (n_perm + 1), Holm-corrected over all layers x bands, and the words' range of mean
band power against the 95th percentile of the range among shuffled words.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.corrections import holm
from analysis.spectra_welch import (DEFAULT_NPERSEG, _band, _layers, band_edges, band_power,
                                    token_spectra)
from analysis.labels import md_text
from analysis.tables import format_number, format_p

BASELINE_COLUMNS = ["layer", "band", "f_low", "f_high", "F", "p_perm", "p_perm_holm",
                    "range_db", "range_db_null95", "n_perm", "shuffle"]


def _f_statistics(y: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """One-way ANOVA F of the columns of y [T, B] by group codes [T] (0..G-1): [B]."""
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    sums = np.zeros((n_groups, y.shape[1]))
    np.add.at(sums, codes, y)
    means = sums / counts[:, None]
    grand = y.mean(axis=0)
    ssb = (counts[:, None] * (means - grand) ** 2).sum(axis=0)
    ssw = ((y - means[codes]) ** 2).sum(axis=0)
    dfb, dfw = n_groups - 1, len(y) - n_groups
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ssb / dfb) / (ssw / dfw)


def shuffled_words(words: np.ndarray, speakers: np.ndarray, rng) -> Tuple[np.ndarray, str]:
    """The word labels shuffled: within each speaker when most tokens share a speaker with
    another token (the speaker structure kept), else across all tokens. Returns (labels,
    'within speakers' | 'across tokens'). Vectorised (one sort per shuffle, any number of
    speakers): the tokens in speaker order receive the words of the same speakers' tokens
    in a random order within each speaker."""
    codes, counts = np.unique(np.asarray(speakers), return_inverse=True, return_counts=True)[1:]
    if (counts[codes] > 1).mean() >= 0.5:
        order = np.argsort(codes, kind="stable")          # tokens grouped by speaker
        mixed = np.lexsort((rng.random(len(codes)), codes))  # same groups, random within
        out = np.empty_like(words)
        out[order] = words[mixed]
        return out, "within speakers"
    return words[rng.permutation(len(words))], "across tokens"


def band_baseline(acts: pd.DataFrame, rates: Mapping[str, float],
                  layers: Optional[Sequence[str]] = None, n_bands: int = 4,
                  nperseg: int = DEFAULT_NPERSEG, n_perm: int = 200,
                  seed: int = 0) -> pd.DataFrame:
    """What the band tests give when the words mean nothing: per layer x band the one-way F
    of band power by word, its permutation p over ``n_perm`` shuffles of the word labels
    (:func:`shuffled_words`; p = (1 + #{F_shuffled >= F}) / (n_perm + 1), floor
    1 / (n_perm + 1)), Holm-corrected over the table, and the word range in dB against the
    95th percentile of the range under shuffling. Columns: layer, band, f_low, f_high, F,
    p_perm, p_perm_holm, range_db, range_db_null95, n_perm, shuffle."""
    rng = np.random.default_rng(seed)
    rows = []
    for layer in _layers(acts, rates, layers):
        f, tok, p = token_spectra(acts, layer, rates[layer], nperseg)
        edges = band_edges(rates[layer], n_bands)
        bp = band_power(f, p, edges)
        words = tok["word"].to_numpy().astype(str)
        ok = np.isfinite(bp).all(axis=0)
        names, codes = np.unique(words, return_inverse=True)
        if len(names) < 2 or not ok.any():
            continue
        y = bp[:, ok]
        obs_f = _f_statistics(y, codes, len(names))
        obs_range = _ranges(y, codes, len(names))
        ge = np.zeros(y.shape[1])
        null_ranges = np.empty((int(n_perm), y.shape[1]))
        how = ""
        for i in range(int(n_perm)):
            perm, how = shuffled_words(words, tok["speaker"].to_numpy().astype(str), rng)
            pc = np.searchsorted(names, perm)
            ge += _f_statistics(y, pc, len(names)) >= obs_f - 1e-12
            null_ranges[i] = _ranges(y, pc, len(names))
        for j, b in enumerate(np.flatnonzero(ok)):
            rows.append({"layer": layer, "band": int(b) + 1, "f_low": edges[b],
                         "f_high": edges[b + 1], "F": float(obs_f[j]),
                         "p_perm": float((1 + ge[j]) / (int(n_perm) + 1)),
                         "range_db": float(obs_range[j]),
                         "range_db_null95": float(np.quantile(null_ranges[:, j], 0.95)),
                         "n_perm": int(n_perm), "shuffle": how})
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    out["p_perm_holm"] = holm(out["p_perm"].to_numpy(float))
    return out[BASELINE_COLUMNS]


def _ranges(y: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Largest minus smallest group mean of each column of y: [B]."""
    sums = np.zeros((n_groups, y.shape[1]))
    np.add.at(sums, codes, y)
    means = sums / np.bincount(codes, minlength=n_groups)[:, None]
    return means.max(axis=0) - means.min(axis=0)


def baseline_lines(bands: pd.DataFrame, base: pd.DataFrame, alpha: float) -> List[str]:
    """The baseline: what shuffled words give, so that 'N of M bands differ' has a
    reference."""
    n_perm = int(base["n_perm"].iloc[0])
    how = str(base["shuffle"].iloc[0])
    n_sig = int((bands["p_holm"] < alpha).sum())
    n_perm_sig = int((base["p_perm_holm"] < alpha).sum())
    above = int((base["range_db"] > base["range_db_null95"]).sum())
    lines = [f"Baseline (shuffled words): the word labels shuffled {how} {n_perm} times. "
             f"{n_sig} of {len(bands)} bands differ by the test above; by the permutation test "
             f"of the one-way F against the shuffles, {n_perm_sig} of {len(base)} (Holm; the "
             f"smallest p {n_perm} shuffles can give is 1/{n_perm + 1} = "
             f"{1 / (n_perm + 1):.4f}); in {above} of {len(base)} bands the words' range of "
             "mean band power exceeds the 95th percentile of the range among shuffled words. "
             "Every layer's trace differs between words somewhere in time, and such a "
             "difference shows in some band: the spectra say *at which rates* the words "
             "differ, not that a layer encodes the words spectrally.", "",
             "| layer | band (Hz) | F | p (permutation) | p (permutation, Holm) | word range "
             "(dB) | shuffled range, 95th pct (dB) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in base.itertuples(index=False):
        lines.append(f"| {md_text(r.layer)} | {_band(r)} | {format_number(r.F)} | "
                     f"{format_p(r.p_perm)} | {format_p(r.p_perm_holm)} | "
                     f"{format_number(r.range_db, 2)} | {format_number(r.range_db_null95, 2)} |")
    return lines + [""]
