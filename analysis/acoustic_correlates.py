"""Acoustic correlates of each layer (``analyze.py --acoustics``; docs/acoustics.md).

For each layer, how much of the averaged trace's variance (the rows of ``activations``) each
acoustic measure of the input (the rows of ``acoustics``, extract.py --acoustics, on the same
layer axis) explains, as cross-validated R² with folds by speaker:

    <measure>       value[t] ~ 1 + x[t - lag] for each acoustic measure alone, fitted and
                    scored on the frames where x is defined (f0: voiced; cog, f1, f2: not
                    silent; ``missing_share`` says how many frames are left out)
    measures        all five together, each at the lag chosen for it alone, an undefined
                    value replaced by the measure's training mean (no missing-value indicator:
                    it would stand for "inside the word", i.e. for the mean time course)
    time            the mean trace over training tokens (frame means): no acoustics, no word
    word            the word's mean trace over training tokens (word x frame cell means)
    word+measures   the word's mean trace plus all five measures (the measures' slopes within
                    word x frame cells): what the measures add to the word

Lags run over the layer's receptive field, -floor((width - 1) / 2 / jump) .. +that, in the
layer's own frames; a positive lag means the trace follows the measure (x earlier).  The lag is
chosen inside each training fold (by the training fold's own R²), never on the fold it is
scored on (nested), because picking the best of 2L+1 lags on the same data inflates R²; the
reported ``lag_ms`` is the lag most folds chose, ``lag_agreement`` the share that chose it and
``r2_in_sample`` the whole data's R² at that lag (the optimistic number, for comparison).

R² = 1 - SSE(model) / SSE(training mean), both over out-of-fold predictions: 0 is "no better
than the training folds' mean", and a null layer scores slightly below 0 (docs/acoustics.md).
Long layers are scored on at most :data:`MAX_FRAMES` evenly spaced frames per token (the lags
still use every frame).
"""

from __future__ import annotations

import collections
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.columns import open_table
from analysis.gamm.data import AnalysisInputError
from common import layout

MEASURES = layout.ACOUSTIC_MEASURES
COMBINED = ("measures", "time", "word", "word+measures")
ROWS = MEASURES + COMBINED
COLUMNS = ["layer", "measure", "r2_cv", "lag_ms", "lag_frames", "lag_agreement",
           "r2_in_sample", "n_tokens", "n_speakers", "n_folds", "fold_by", "frames_scored",
           "frame_ms", "max_lag_ms", "missing_share"]
MAX_FRAMES = 128
N_FOLDS = 5
# A layer "follows" a measure when that measure alone reaches this cross-validated R² (the
# null's 99th percentile is far below it: docs/acoustics.md, bench/acoustic_null.py).
FOLLOWS_R2 = 0.05


class AcousticsInputError(AnalysisInputError):
    """--acoustics on a folder without the acoustics table (or with one that does not match
    the activations)."""


def check_acoustics_folder(folder: str) -> str:
    """The acoustics table's path in ``folder``; an :class:`AcousticsInputError` (exit 2) when
    the folder was extracted without --acoustics."""
    from analysis.columns import table_path
    path = table_path(folder, layout.ACOUSTICS)
    if path is None:
        raise AcousticsInputError(
            f"--acoustics: {folder} has no {layout.ACOUSTICS}.parquet (it was extracted "
            "without --acoustics: run extract.py --acoustics)")
    return path


# --------------------------------------------------------------------------- data

def layer_info(info: dict, layer: str, sample_rate: int) -> dict:
    """{jump, width, frame_ms, max_lag, length}: the layer's hop and receptive field from
    extract_info.json's ``layers`` (width absent: the hop only, one frame of lag)."""
    for entry in (info or {}).get("layers", []) or []:
        if isinstance(entry, dict) and str(entry.get("name")) == str(layer):
            jump = float(entry.get("jump", entry.get("stride", 1.0)))
            width = float(entry.get("width", jump))
            max_lag = max(1, int(np.floor((width - 1) / 2.0 / jump)))
            length = entry.get("length")
            return {"jump": jump, "width": width, "frame_ms": 1000.0 * jump / sample_rate,
                    "max_lag": max_lag, "length": int(length) if length else None}
    raise AcousticsInputError(f"--acoustics: extract_info.json has no entry for layer "
                              f"{layer!r} (its hop and receptive field)")


def scored_samples(length: int, max_lag: int, max_frames: int = MAX_FRAMES) -> tuple:
    """(frames scored: at most ``max_frames`` evenly spaced samples of 0..length-1, the
    samples the measures are needed at: those frames shifted by every lag, clipped)."""
    frames = np.unique(np.linspace(0, length - 1, min(length, max_frames)).round()
                       .astype(np.int64))
    needed = np.unique(np.clip(frames[:, None] - np.arange(-max_lag, max_lag + 1)[None, :],
                               0, length - 1))
    return frames, needed


def read_layer(folder: str, layer: str, threads: int = 2, length: Optional[int] = None,
               max_lag: int = 0, max_frames: int = MAX_FRAMES) -> dict:
    """One layer's traces and measures as matrices over the tokens both tables hold:
    {'Y': [N, F], 'frames': the F samples of Y's columns, 'X': {measure: [N, S]},
    'x_samples': the S samples of X's columns, 'length', 'words', 'speakers', 'token_ids'}.
    With the layer's ``length`` only the scored frames and the samples their lags need are
    read (:func:`scored_samples`); without it every sample."""
    frames = needed = None
    if length:
        frames, needed = scored_samples(int(length), max_lag, max_frames)
    with open_table(folder, layout.ACTIVATIONS, threads=threads) as table:
        act = table.rows({"layer": [layer], "sample": None if frames is None else
                          frames.tolist()},
                         [c for c in ("token_id", "word", "speaker", "sample", "value")
                          if c in table.columns])
    with open_table(folder, layout.ACOUSTICS, threads=threads) as table:
        ac = table.rows({"layer": [layer], "sample": None if needed is None else
                         needed.tolist()}, ["token_id", "sample", *MEASURES])
    if act.empty or ac.empty:
        raise AcousticsInputError(f"--acoustics: layer {layer} has no rows in "
                                  f"{'activations' if act.empty else 'acoustics'}")
    tokens = np.intersect1d(act["token_id"].unique(), ac["token_id"].unique())
    T = int(length or max(act["sample"].max(), ac["sample"].max()) + 1)
    if frames is None:
        frames = needed = np.arange(T)

    def matrix(df, col, samples):
        out = np.full((len(tokens), len(samples)), np.nan)
        keep = (df["token_id"].isin(tokens) & df["sample"].isin(samples)).to_numpy()
        i = np.searchsorted(tokens, df["token_id"].to_numpy()[keep])
        j = np.searchsorted(samples, df["sample"].to_numpy()[keep])
        out[i, j] = df[col].to_numpy(np.float64)[keep]
        return out

    first = act.drop_duplicates("token_id").set_index("token_id").loc[tokens]
    speakers = (first["speaker"].astype(str).to_numpy() if "speaker" in first else
                np.array(["NA"] * len(tokens)))
    return {"Y": matrix(act, "value", frames), "frames": frames,
            "X": {m: matrix(ac, m, needed) for m in MEASURES}, "x_samples": needed,
            "length": T, "words": first["word"].astype(str).to_numpy(),
            "speakers": speakers, "token_ids": tokens}


# --------------------------------------------------------------------------- folds, lags

def speaker_folds(speakers: Sequence[str], n_folds: int = N_FOLDS) -> tuple:
    """(fold id per token, 'speaker' | 'token'): speakers dealt to the folds, largest first
    (each speaker's tokens in one fold); with fewer than 2 speakers, tokens dealt in turn."""
    speakers = np.asarray(speakers).astype(str)
    counts = collections.Counter(speakers.tolist())
    if len(counts) < 2:
        return np.arange(len(speakers)) % max(2, min(n_folds, len(speakers))), "token"
    k = min(n_folds, len(counts))
    load = np.zeros(k)
    fold_of = {}
    for spk, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        f = int(np.argmin(load))
        fold_of[spk] = f
        load[f] += n
    return np.array([fold_of[s] for s in speakers]), "speaker"


def shift(X: np.ndarray, lag: int) -> np.ndarray:
    """X[:, t - lag] at each t (the trace at t against the measure ``lag`` frames earlier);
    the edges repeat the first / last frame."""
    T = X.shape[1]
    return X[:, np.clip(np.arange(T) - lag, 0, T - 1)]


def filled(x: np.ndarray, tr: np.ndarray) -> np.ndarray:
    """x with NaN replaced by its mean over the training tokens ``tr`` (0 if none)."""
    ok = np.isfinite(x[tr])
    mean = float(x[tr][ok].mean()) if ok.any() else 0.0
    return np.where(np.isfinite(x), x, mean)


# --------------------------------------------------------------------------- models

def _ols(cols: List[np.ndarray], y: np.ndarray, tr: np.ndarray, te: np.ndarray,
         intercept: bool = True) -> tuple:
    """(training predictions, test predictions) of OLS of y on cols (each [N, F], rows
    ``tr`` / ``te`` flattened)."""
    def design(rows):
        parts = [c[rows].ravel() for c in cols]
        if intercept:
            parts.append(np.ones(parts[0].size if parts else y[rows].size))
        return np.column_stack(parts)
    A = design(tr)
    beta = np.linalg.lstsq(A, y[tr].ravel(), rcond=None)[0]
    return A @ beta, design(te) @ beta


def _ols_defined(x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> tuple:
    """(training R², test predictions [len(te), F] with NaN where x is undefined, their
    baseline: the training mean of y on the frames where x is defined) of y ~ 1 + x on the
    frames where x is defined."""
    m_tr, m_te = np.isfinite(x[tr]), np.isfinite(x[te])
    pred = np.full(x[te].shape, np.nan)
    if m_tr.sum() < 3:
        return -np.inf, pred, np.nan
    xt, yt = x[tr][m_tr], y[tr][m_tr]
    A = np.column_stack([xt, np.ones_like(xt)])
    beta = np.linalg.lstsq(A, yt, rcond=None)[0]
    pred[m_te] = x[te][m_te] * beta[0] + beta[1]
    return _r2(yt, A @ beta, yt.mean()), pred, float(yt.mean())


def _cell_means(A: np.ndarray, w: np.ndarray, n_words: int, tr: np.ndarray) -> np.ndarray:
    """[n_words, F] means over training tokens per word (a word absent from training: the
    training mean trace)."""
    onehot = np.zeros((len(tr), n_words))
    onehot[np.arange(len(tr)), w[tr]] = 1.0
    cnt = onehot.sum(0)
    means = (onehot.T @ A[tr]) / np.maximum(cnt, 1)[:, None]
    means[cnt == 0] = A[tr].mean(0)
    return means


def _r2(y, pred, base) -> float:
    """1 - SSE(pred) / SSE(base) over the entries where ``pred`` is finite."""
    y, pred, base = (np.broadcast_to(np.asarray(a, np.float64), np.shape(y)).ravel()
                     for a in (y, pred, base))
    ok = np.isfinite(pred)
    den = float(((y[ok] - base[ok]) ** 2).sum())
    return float(1.0 - ((y[ok] - pred[ok]) ** 2).sum() / den) if den > 0 else np.nan


def layer_correlates(data: dict, max_lag: int, n_folds: int = N_FOLDS,
                     max_frames: int = MAX_FRAMES) -> pd.DataFrame:
    """Cross-validated R² of each model of the module docstring for one layer's matrices
    (:func:`read_layer`; or full [N, T] matrices 'Y' and 'X' without 'frames' and
    'x_samples'); rows :data:`ROWS`, columns measure, r2_cv, lag_frames, lag_agreement,
    r2_in_sample, missing_share, n_tokens, n_speakers, n_folds, fold_by, frames_scored."""
    Y = np.asarray(data["Y"], np.float64)
    cols = np.asarray(data.get("frames", np.arange(Y.shape[1])))
    T = int(data.get("length") or Y.shape[1])
    x_samples = np.asarray(data.get("x_samples", np.arange(T)))
    pick = np.unique(np.linspace(0, len(cols) - 1, min(len(cols), max_frames)).round()
                     .astype(int))
    frames = cols[pick]
    ok_tok = np.isfinite(Y[:, pick]).all(1)
    if ok_tok.sum() < 4:
        raise AcousticsInputError(f"--acoustics: {int(ok_tok.sum())} token(s) with a complete "
                                  "trace; at least 4 are needed")
    Y = Y[ok_tok][:, pick]
    lags = range(-max_lag, max_lag + 1)
    # the measure at frame t - k (edges repeat the first / last sample; see shift())
    at = {k: np.searchsorted(x_samples, np.clip(frames - k, 0, T - 1)) for k in lags}
    Xs = {m: {k: np.asarray(data["X"][m], np.float64)[ok_tok][:, at[k]] for k in lags}
          for m in MEASURES}
    words = np.asarray(data["words"])[ok_tok]
    levels, w = np.unique(words, return_inverse=True)
    folds, fold_by = speaker_folds(np.asarray(data["speakers"])[ok_tok], n_folds)
    K = int(folds.max()) + 1
    oof = {r: np.zeros_like(Y) for r in ROWS}
    base = np.zeros_like(Y)
    base_m = {m: np.zeros_like(Y) for m in MEASURES}   # each measure's own baseline
    chosen = {m: [] for m in MEASURES}
    for f in range(K):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        base[te] = Y[tr].mean()
        best = {}
        for m in MEASURES:
            fits = [(*_ols_defined(Xs[m][k], Y, tr, te), k) for k in lags]
            r2, p_te, base_m[m][te], k = max(fits, key=lambda t: (t[0], -abs(t[3])))
            best[m] = k
            chosen[m].append(k)
            oof[m][te] = p_te
        cols = [filled(Xs[m][best[m]], tr) for m in MEASURES]
        oof["measures"][te] = _ols(cols, Y, tr, te)[1].reshape(len(te), -1)
        oof["time"][te] = Y[tr].mean(0)
        cm_y = _cell_means(Y, w, len(levels), tr)
        oof["word"][te] = cm_y[w[te]]
        # word + measures: the measures' slopes within word x frame cells (training means)
        res_cols = [c - _cell_means(c, w, len(levels), tr)[w] for c in cols]
        y_res = Y - cm_y[w]
        oof["word+measures"][te] = cm_y[w[te]] + _ols(res_cols, y_res, tr, te,
                                                     intercept=False)[1].reshape(len(te), -1)
    rows = []
    for r in ROWS:
        row = {"measure": r, "r2_cv": _r2(Y, oof[r], base_m.get(r, base))}
        if r in MEASURES:
            counts = collections.Counter(chosen[r])
            lag, n = max(counts.items(), key=lambda kv: (kv[1], -abs(kv[0])))
            everyone = np.arange(len(Y))
            row.update(lag_frames=int(lag), lag_agreement=n / K,
                       r2_in_sample=_ols_defined(Xs[r][lag], Y, everyone, everyone[:0])[0],
                       missing_share=float((~np.isfinite(Xs[r][0])).mean()))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.assign(n_tokens=len(Y), n_speakers=len(set(np.asarray(data["speakers"])[ok_tok])),
                      n_folds=K, fold_by=fold_by, frames_scored=len(frames))


def acoustic_correlates(folder: str, info: dict, sample_rate: int,
                        layers: Optional[Sequence[str]] = None, threads: int = 2,
                        progress=None) -> pd.DataFrame:
    """acoustic_correlates.csv's table (:data:`COLUMNS`) for every layer of the acoustics
    table (or ``layers``), in network order."""
    from analysis.contrasts import natural_layers
    check_acoustics_folder(folder)
    with open_table(folder, layout.ACOUSTICS, threads=threads) as table:
        present = natural_layers(table.distinct("layer"))
    layers = [str(x) for x in layers] if layers else present
    tables = []
    for layer in layers:
        geo = layer_info(info, layer, sample_rate)
        data = read_layer(folder, layer, threads, geo["length"], geo["max_lag"])
        res = layer_correlates(data, geo["max_lag"])
        res.insert(0, "layer", layer)
        res["lag_ms"] = res["lag_frames"] * geo["frame_ms"]
        res["frame_ms"] = geo["frame_ms"]
        res["max_lag_ms"] = geo["max_lag"] * geo["frame_ms"]
        tables.append(res)
        if progress:
            progress(f"acoustic correlates of {layer} done")
        if layer == present[0]:  # the input baseline: its intensity on the finest axis
            tables.insert(0, input_rows(data, geo))
        del data
    return pd.concat(tables, ignore_index=True).reindex(columns=COLUMNS)


def input_rows(data: dict, geo: dict) -> pd.DataFrame:
    """The ``input`` baseline's rows: the input's intensity envelope (on the finest layer's
    axis) as the trace, explained by the mean time course (``time``) and by the word
    (``word``), cross-validated as the layers are: what the word already explains of the
    input's loudness."""
    nan = {m: np.full_like(data["X"][m], np.nan) for m in MEASURES}
    frames = np.asarray(data["frames"])
    y = data["X"]["intensity_db"][:, np.searchsorted(data["x_samples"], frames)]
    d = {**data, "Y": y, "X": nan}
    res = layer_correlates(d, geo["max_lag"])
    res = res[res["measure"].isin(["time", "word"])].copy()
    res.insert(0, "layer", layout.INPUT_LAYER)
    return res.assign(frame_ms=geo["frame_ms"])

