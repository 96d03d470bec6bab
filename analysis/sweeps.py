"""Latent sweeps (docs/sweeps.md): which code drives which layer, and where in time.

An activations folder written by ``extract.py --codes=all --values=0,1,2,5`` holds, for each
code i, value v and shared noise draw j (``noise_index``; extraction.sweep), one trace per
layer, Y[j, v, t]. For each (layer, code) cell this module tests whether the trace changes
with the code's value, WITHIN noise draws: the unit of replication is the draw j (the same z
apart from the code), so every test compares the values of one draw and then asks whether
the changes are consistent across draws.

Per cell, with the values sorted (reference = the lowest) and the trace's time on [-1, 1]:

- ``p_level``: the token's time-mean m[j, v]; the differences d_j = m[j, v] - m[j, ref]
  (V - 1 of them) are tested for a zero mean by Hotelling's T^2 over the draws.
- ``p_shape``: the trace minus its time-mean, smoothed onto Legendre polynomials of degree
  1..k-1 of time (a regression spline of time, the same basis for every value: a tensor
  product of a smooth of time and the value factor); the differences of the (V - 1) x (k - 1)
  coefficients from the reference value's are tested by Hotelling's T^2 over the draws.

Hotelling's test is exact when the draws' differences are independent and normal; the
effective dimension is the rank of their covariance (so a component that never changes costs
nothing), and k is lowered when a sweep has too few draws for it (n draws must exceed the
dimension). A cell whose traces do not change with the value at all (differences zero to
rounding) gets p = 1. Both p of every fitted cell form one family, corrected by Holm and by
Benjamini-Hochberg (:mod:`analysis.corrections`); a cell is ``driven`` when either corrected
p is below alpha. The calibration (type-I error on null sweeps, fixed seeds) is
``bench/sweep_bench.py --calibration`` and docs/sweeps.md.

Effect and time: ``effect_size`` = mean over draws of the top value's time-mean minus the
reference's, in SDs of the token means (pooled within values); ``peak_time_s`` the time where
the mean difference curve (top - reference) is largest in absolute value, ``peak_effect`` its
value in the same SDs; ``region_start_s``/``region_end_s`` the first and last time where a
paired t-test of that difference, over draws, is significant at alpha / n_times (Bonferroni
along the curve; NaN when nowhere).

Statistics only: numpy, scipy and pandas (no TensorFlow).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.corrections import ALPHA, benjamini_hochberg, holm
from analysis.gamm.data import AnalysisInputError
from common import layout

STATUS_FITTED = "fitted"
DEFAULT_K = 6
CURVE_POINTS = 256        # at most this many times per (code, layer, value) in sweep_curves
ENCODED = ("holm", "bh")


# --------------------------------------------------------------------------- reading

def read_sweep_info(folder: str, flag: str = "--activations") -> Tuple[dict, pd.DataFrame]:
    """(extract_info.json's record, the sweep_tokens table) of a sweep folder; a
    FolderKindError (exit 2) for a folder of word tokens, AnalysisInputError when the sweep's
    files are missing."""
    from analysis.records import read_json

    info = read_json(os.path.join(folder, layout.EXTRACT_INFO_JSON))
    if info is None:
        raise AnalysisInputError(f"{flag}={folder}: no {layout.EXTRACT_INFO_JSON} (not an "
                                 "activations folder written by extract.py)")
    layout.check_folder_kind(info, folder, layout.FOLDER_SWEEP, flag)
    path = os.path.join(folder, layout.SWEEP_TOKENS_CSV)
    try:
        tokens = pd.read_csv(path, dtype={"code": str}, keep_default_na=False)
    except OSError as exc:
        raise AnalysisInputError(f"{flag}={folder}: cannot read {layout.SWEEP_TOKENS_CSV} "
                                 f"({exc}); extract the sweep again") from None
    missing = set(layout.SWEEP_TOKENS.names) - set(tokens.columns)
    if missing:
        raise AnalysisInputError(f"{path}: lacks column(s) {sorted(missing)}")
    return info, tokens


def read_cubes(folder: str, layers: Sequence[str], tokens: pd.DataFrame, lengths: dict,
               batch_rows: int = 1 << 20) -> dict:
    """The layers of a sweep folder as arrays, in one streamed pass over activations.parquet
    (memory: the arrays, float32, plus one batch of rows): {layer: {'cube': float32
    [codes, values, draws, T] (NaN where a token was skipped), 'codes', 'values' (ascending),
    'times' [T] (s)}}; ``lengths``: {layer: T} (extract_info.json)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = os.path.join(folder, f"{layout.ACTIVATIONS}.parquet")
    codes = list(dict.fromkeys(tokens["code"].astype(str)))
    values = sorted(set(tokens["code_value"].astype(float)))
    draws = int(tokens["noise_index"].max()) + 1
    pos = np.full(int(tokens["token_id"].max()) + 1, -1, np.int64)
    pos[tokens["token_id"].to_numpy(np.int64)] = (
        (pd.Index(codes).get_indexer(tokens["code"].astype(str)) * len(values) +
         pd.Index(values).get_indexer(tokens["code_value"].astype(float))) * draws +
        tokens["noise_index"].to_numpy(np.int64))
    flat = {n: np.full((len(codes) * len(values) * draws, int(lengths[n])), np.nan,
                       np.float32) for n in layers}
    times = {n: np.full(int(lengths[n]), np.nan) for n in layers}
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=batch_rows,
                                  columns=["token_id", "layer", "sample", "time", "value"])
        for batch in batches:
            lay = batch.column("layer")
            if not pa.types.is_dictionary(lay.type):
                lay = pc.dictionary_encode(lay)
            index = lay.indices.to_numpy(zero_copy_only=False)
            tid = batch.column("token_id").to_numpy()
            sample = batch.column("sample").to_numpy()
            for i, name in enumerate(lay.dictionary.to_pylist()):
                if name not in flat:
                    continue
                rows = np.flatnonzero(index == i)
                row_pos = pos[tid[rows]]
                ok = row_pos >= 0
                rows, row_pos = rows[ok], row_pos[ok]
                flat[name][row_pos, sample[rows]] = \
                    batch.column("value").to_numpy()[rows]
                times[name][sample[rows]] = batch.column("time").to_numpy()[rows]
    except (OSError, ValueError, IndexError) as exc:
        raise AnalysisInputError(f"cannot read {path}: {exc}") from None
    shape = (len(codes), len(values), draws)
    return {n: {"cube": flat[n].reshape(*shape, -1), "codes": codes, "values": values,
                "times": times[n]} for n in layers}


# --------------------------------------------------------------------------- the tests

def hotelling(d: np.ndarray, tol: float = 1e-10) -> Tuple[float, float, int]:
    """(F, p, dimension) of Hotelling's one-sample T^2 test of mean 0 for d [n, q] (rows
    independent). The dimension r is the rank of d's covariance; p = 1 when d is zero to
    rounding; NaN when r >= n - 1 (the draws span every dimension they can: too few)."""
    from scipy import stats

    d = np.asarray(d, float)
    n = len(d)
    scale = float(np.abs(d).max()) if d.size else 0.0
    if n < 2 or scale == 0.0:
        return (0.0, 1.0, 0) if n >= 2 else (np.nan, np.nan, 0)
    mean = d.mean(0)
    cov = np.atleast_2d(np.cov(d, rowvar=False))
    w, vecs = np.linalg.eigh(cov)
    keep = w > tol * max(float(w.max()), 0.0) if w.max() > 0 else np.zeros_like(w, bool)
    r = int(keep.sum())
    if r == 0:
        # every draw changes by the same amount: no spread to test against
        return (np.inf, 0.0, 0) if np.abs(mean).max() > tol * scale else (0.0, 1.0, 0)
    if n - 1 <= r:
        # as many dimensions as the draws can span: the covariance's rank says nothing about
        # the changes' true dimension (n must exceed it by 2, Hotelling's n > q with room)
        return np.nan, np.nan, r
    proj = vecs[:, keep].T @ mean
    t2 = n * float(np.sum(proj ** 2 / w[keep]))
    f = (n - r) / (r * (n - 1)) * t2
    return f, float(stats.f.sf(f, r, n - r)), r


def legendre_basis(n_t: int, k: int) -> np.ndarray:
    """[n_t, k - 1] Legendre polynomials of degree 1..k-1 on n_t equally spaced times in
    [-1, 1] (the shape part of a smooth of time; degree 0, the level, is tested apart)."""
    x = np.linspace(-1.0, 1.0, n_t) if n_t > 1 else np.zeros(1)
    return np.polynomial.legendre.legvander(x, max(k - 1, 1))[:, 1:k]


def test_cell(y: np.ndarray, times: np.ndarray, k: int = DEFAULT_K,
              alpha: float = ALPHA) -> dict:
    """The tests and effects of one (layer, code) cell. ``y`` [draws, values, T] with the
    values ascending (index 0 the reference); draws with any NaN are left out."""
    from scipy import stats

    keep = np.isfinite(y).all(axis=(1, 2))
    y = y[keep]
    n, n_v, n_t = y.shape
    out = {"n_draws": int(n), "n_values": int(n_v), "n_times": int(n_t)}
    if n_v < 2:
        return {**out, "status": "one value: nothing to compare"}
    if n < 3:
        return {**out, "status": f"{n} draw(s): too few to test"}
    m = y.mean(2)                                          # [n, V] token means
    _, out["p_level"], out["df_level"] = hotelling(m[:, 1:] - m[:, :1])
    # the largest k whose shape dimension (V - 1)(k - 1) stays below n - 1
    k_eff = int(min(k, n_t, 1 + (n - 2) // (n_v - 1)))
    if k_eff >= 2:
        basis = legendre_basis(n_t, k_eff)
        coef = (y - m[..., None]) @ np.linalg.pinv(basis).T   # [n, V, k-1]
        d = (coef[:, 1:] - coef[:, :1]).reshape(n, -1)
        _, out["p_shape"], out["df_shape"] = hotelling(d)
    else:
        out["p_shape"], out["df_shape"] = np.nan, 0
    out["k"] = k_eff
    sd = float(np.sqrt(np.mean(np.var(m, axis=0, ddof=1))))
    diff = y[:, -1] - y[:, 0]                              # [n, T] top - reference
    curve = diff.mean(0)
    level = float(diff.mean())
    out["difference"] = level
    out["effect_size"] = level / sd if sd > 0 else (0.0 if level == 0 else np.nan)
    peak = int(np.argmax(np.abs(curve)))
    out["peak_time_s"] = float(times[peak])
    out["peak_effect"] = float(curve[peak] / sd) if sd > 0 else np.nan
    se = diff.std(0, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.where(se > 0, curve / se, np.where(curve != 0, np.inf, 0.0))
    crit = stats.t.isf(alpha / (2 * n_t), n - 1)
    sig = np.flatnonzero(np.abs(tval) > crit)
    out["region_start_s"] = float(times[sig[0]]) if len(sig) else np.nan
    out["region_end_s"] = float(times[sig[-1]]) if len(sig) else np.nan
    out["status"] = STATUS_FITTED
    return out


def correct(matrix: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Holm and BH over the family of every fitted cell's p_level and p_shape together;
    ``driven_<method>`` True when either corrected p is below alpha (NA where not fitted)."""
    out = matrix.copy()
    n = len(out)
    fitted = (out["status"] == STATUS_FITTED).to_numpy()
    both = np.concatenate([np.where(fitted, out["p_level"].to_numpy(float), np.nan),
                           np.where(fitted, out["p_shape"].to_numpy(float), np.nan)])
    for method, fn in (("holm", holm), ("bh", benjamini_hochberg)):
        adj = fn(both)
        out[f"p_level_{method}"] = adj[:n]
        out[f"p_shape_{method}"] = adj[n:]
        driven = (np.nan_to_num(adj[:n], nan=1.0) < alpha) | \
            (np.nan_to_num(adj[n:], nan=1.0) < alpha)
        col = f"driven_{method}"
        out[col] = pd.array(driven, dtype="boolean")
        out.loc[~fitted, col] = pd.NA
    out.attrs["alpha"] = alpha
    return out


def sweep_matrix_from_cubes(cubes, k: int = DEFAULT_K,
                            alpha: float = ALPHA) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """(the code x layer matrix, long table, corrected; the mean curves) from
    {layer: :func:`read_cubes`' dicts} or an iterable of (layer, that dict) pairs (one layer
    in memory at a time)."""
    rows, curves = [], []
    for layer, c in (cubes.items() if isinstance(cubes, dict) else cubes):
        values = c["values"]
        stride = max(1, len(c["times"]) // CURVE_POINTS)
        for i, code in enumerate(c["codes"]):
            y = np.moveaxis(c["cube"][i], 1, 0).astype(np.float64)   # [draws, values, T]
            res = test_cell(y, c["times"], k=k, alpha=alpha)
            rows.append({"code": code, "layer": layer, "reference_value": values[0],
                         "top_value": values[-1], **res})
            mean = np.nanmean(c["cube"][i][:, :, ::stride], axis=1)   # [values, T']
            for v, curve in zip(values, mean):
                curves.append(pd.DataFrame({"code": code, "layer": layer, "code_value": v,
                                            "time": c["times"][::stride], "mean": curve}))
    cols = ["code", "layer", "status", "n_draws", "n_values", "reference_value", "top_value",
            "k", "p_level", "df_level", "p_shape", "df_shape", "difference", "effect_size",
            "peak_time_s", "peak_effect", "region_start_s", "region_end_s", "n_times"]
    matrix = pd.DataFrame(rows)
    matrix = matrix.reindex(columns=cols + [c for c in matrix.columns if c not in cols])
    return correct(matrix, alpha), (pd.concat(curves, ignore_index=True) if curves else
                                    pd.DataFrame(columns=["code", "layer", "code_value",
                                                          "time", "mean"]))


def sweep_layers(info: dict, wanted: Optional[Sequence[str]] = None) -> list:
    """The layers of a sweep folder (extract_info.json's order), restricted to ``wanted``."""
    layers = [a["name"] for a in info.get("layers", [])]
    if wanted:
        bad = [w for w in wanted if w not in layers]
        if bad:
            raise AnalysisInputError(f"--contrast_layers: {bad} not in the sweep's layers "
                                     f"{layers}")
        layers = [a for a in layers if a in wanted]
    return layers


def sweep_matrix(folder: str, layers: Optional[Sequence[str]] = None, k: int = DEFAULT_K,
                 alpha: float = ALPHA) -> Tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(matrix, curves, extract_info) of a sweep folder, one layer read at a time."""
    info, tokens = read_sweep_info(folder)
    layers = sweep_layers(info, layers)
    lengths = {a["name"]: a["length"] for a in info["layers"]}
    matrix, curves = sweep_matrix_from_cubes(read_cubes(folder, layers, tokens, lengths),
                                             k=k, alpha=alpha)
    return matrix, curves, info
