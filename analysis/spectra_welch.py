"""The spectral arithmetic the spectra (:mod:`analysis.spectra`) and their baseline
(:mod:`analysis.spectra_baseline`) share: each token's Welch spectrum of one layer's trace,
the layers checked against their rates, equal-width bands and band power (see
:mod:`analysis.spectra` for the formulas). Pure numpy/scipy, no R.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy import signal

from analysis.contrast_choice import natural_layers
from analysis.gamm.data import AnalysisInputError

DEFAULT_NPERSEG = 256      # Welch segment (samples) for whole-token traces


def segment_length(n: int, nperseg: int = DEFAULT_NPERSEG) -> int:
    """Welch segment for an n-sample trace: min(n, max(16, min(nperseg, n // 4)))."""
    return int(min(n, max(16, min(int(nperseg), n // 4))))


def _welch(x: np.ndarray, rate: float, nperseg: int) -> Tuple[np.ndarray, np.ndarray]:
    """Welch PSD of rows x [m, n] with segments of exactly min(n, nperseg) samples."""
    n = x.shape[-1]
    return signal.welch(x, fs=rate, window="hann", nperseg=min(n, int(nperseg)),
                        detrend="constant", axis=-1)


def token_spectra(acts: pd.DataFrame, layer: str, rate: float,
                  nperseg: int = DEFAULT_NPERSEG) -> Tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """(frequencies [F], tokens (token_id, word, speaker) [T], PSD [T, F]) of ``layer``:
    each token's trace sorted by sample. Tokens of another length than the most common one
    are left out (extract.py gives every token the same length per layer)."""
    sub = acts[acts["layer"].astype(str) == str(layer)]
    if sub.empty:
        raise AnalysisInputError(f"spectra: layer {layer!r} has no rows")
    sub = sub.sort_values(["token_id", "sample"], kind="mergesort")
    lengths = sub.groupby("token_id", sort=False).size()
    n = int(lengths.mode().iloc[0])
    keep = lengths.index[lengths == n]
    sub = sub[sub["token_id"].isin(keep)]
    if n < 4:
        raise AnalysisInputError(f"spectra: layer {layer!r} has {n} samples per token "
                                 "(need 4)")
    x = sub["value"].to_numpy(float).reshape(len(keep), n)
    first = sub.drop_duplicates("token_id")
    tokens = pd.DataFrame({"token_id": first["token_id"].to_numpy(),
                           "word": first["word"].astype(str).to_numpy(),
                           "speaker": (first["speaker"].astype(str).to_numpy()
                                       if "speaker" in first.columns else "NA")})
    f, p = _welch(x, rate, segment_length(n, nperseg))
    return f, tokens, p


def _db(p: np.ndarray) -> np.ndarray:
    tiny = np.finfo(float).tiny
    return 10.0 * np.log10(np.maximum(p, tiny))


def _layers(table: pd.DataFrame, rates: Mapping[str, float],
            layers: Optional[Sequence[str]]) -> List[str]:
    present = natural_layers(table["layer"].astype(str).unique())
    chosen = [str(x) for x in layers] if layers else present
    missing = [x for x in chosen if x not in present]
    if missing:
        raise AnalysisInputError(f"spectra: layer(s) {missing} have no rows (present: "
                                 f"{present})")
    norate = [x for x in chosen if not rates.get(x)]
    if norate:
        raise AnalysisInputError(f"spectra: no sampling rate for layer(s) {norate}: give "
                                 "extract_info.json (layers with 'jump') or a 'time' column")
    return chosen


def band_edges(rate: float, n_bands: int) -> np.ndarray:
    """n_bands + 1 equal-width edges from 0 to the Nyquist frequency rate / 2."""
    return np.linspace(0.0, rate / 2.0, int(n_bands) + 1)


def band_power(f: np.ndarray, psd: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[T, B] band power in dB: 10 log10 of the mean PSD over the bins with
    edges[b] < f <= edges[b + 1] (DC, f = 0, is in no band: detrending removes it). A band
    with no bin is NaN."""
    out = np.full((psd.shape[0], len(edges) - 1), np.nan)
    for b in range(len(edges) - 1):
        sel = (f > edges[b]) & (f <= edges[b + 1])
        if sel.any():
            out[:, b] = _db(psd[:, sel].mean(axis=1))
    return out


def _band_text(low: float, high: float) -> str:
    return f"{low:.4g}-{high:.4g}"


def _band(row) -> str:
    """A band's edges in Hz to 4 significant digits ('0-500', '7.812-15.62')."""
    return _band_text(row.f_low, row.f_high)
