"""Predicted curves and difference curves with confidence intervals (pure numpy).

This is what itsadug's ``get_predictions``/``plot_smooth(rm.ranef=TRUE)`` and
``get_difference``/``plot_diff`` compute, from mgcv's linear-predictor matrix:

    fit  = X b                          X [n, p] lpmatrix rows = prediction points, b [p]
    se   = sqrt(diag(X V X^T))          V [p, p] Bayesian covariance (mgcv ``Vp``)
    CI   = fit +/- z * se               z = Phi^-1(1 - (1 - level) / 2) (1.96 for 95 %)
    diff = (X1 - X2) b,  se_d = sqrt(diag((X1 - X2) V (X1 - X2)^T))

Random-effect columns are *excluded* by zeroing them in X (itsadug ``rm.ranef``). A region is
significant where the CI of the difference excludes zero; contiguous runs of grid points are
reported with their first and last x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm


def z_value(level: float = 0.95) -> float:
    """Two-sided normal quantile for a ``level`` confidence interval (0.95 -> 1.959964)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return float(norm.ppf(1.0 - (1.0 - level) / 2.0))


def _check(X: np.ndarray, coef: np.ndarray, V: np.ndarray, exclude: Optional[np.ndarray]):
    X = np.atleast_2d(np.asarray(X, dtype=float))
    coef = np.asarray(coef, dtype=float).ravel()
    V = np.asarray(V, dtype=float)
    p = coef.shape[0]
    if X.shape[1] != p or V.shape != (p, p):
        raise ValueError(f"shape mismatch: X {X.shape}, coef {coef.shape}, V {V.shape}")
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool).ravel()
        if exclude.shape != (p,):
            raise ValueError(f"exclude mask has shape {exclude.shape}, expected ({p},)")
        X = X.copy()
        X[:, exclude] = 0.0
    return X, coef, V


def linear_prediction(X: np.ndarray, coef: np.ndarray, V: np.ndarray,
                      exclude: Optional[np.ndarray] = None, level: float = 0.95
                      ) -> pd.DataFrame:
    """Prediction with CI for the rows of X.

    X [n, p], coef [p], V [p, p], exclude [p] bool (columns zeroed, e.g. random smooths).
    Returns DataFrame [n] with fit = X b, se = sqrt(diag(X V X^T)), lower/upper = fit -/+ z se.
    """
    X, coef, V = _check(X, coef, V, exclude)
    fit = X @ coef
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    z = z_value(level)
    return pd.DataFrame({"fit": fit, "se": se, "lower": fit - z * se, "upper": fit + z * se})


def difference(X1: np.ndarray, X2: np.ndarray, coef: np.ndarray, V: np.ndarray,
               exclude: Optional[np.ndarray] = None, level: float = 0.95) -> pd.DataFrame:
    """Difference of two conditions at matching rows: (X1 - X2) b with CI.

    X1, X2 [n, p] (same prediction points, two factor levels). Returns DataFrame [n]:
    difference, se = sqrt(diag(D V D^T)) with D = X1 - X2, lower, upper, significant
    (CI excludes 0).
    """
    X1 = np.atleast_2d(np.asarray(X1, dtype=float))
    X2 = np.atleast_2d(np.asarray(X2, dtype=float))
    if X1.shape != X2.shape:
        raise ValueError(f"X1 {X1.shape} and X2 {X2.shape} differ in shape")
    out = linear_prediction(X1 - X2, coef, V, exclude, level)
    out = out.rename(columns={"fit": "difference"})
    out["significant"] = (out["lower"] > 0) | (out["upper"] < 0)
    return out


def significant_regions(x: Sequence[float], lower: Sequence[float], upper: Sequence[float]
                        ) -> List[dict]:
    """Contiguous runs of grid points where [lower, upper] excludes zero.

    x, lower, upper [n] (x increasing). Returns a list of dicts {start, end, sign, n_points}
    where start/end are the x of the first/last significant point of each run and sign is
    +1 (CI above 0) or -1 (below). A run also breaks where the sign flips.
    """
    x = np.asarray(x, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if not (x.shape == lo.shape == hi.shape):
        raise ValueError(f"x {x.shape}, lower {lo.shape}, upper {hi.shape} differ in shape")
    sign = np.where(lo > 0, 1, np.where(hi < 0, -1, 0))
    regions = []
    i, n = 0, len(x)
    while i < n:
        if sign[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < n and sign[j + 1] == sign[i]:
            j += 1
        regions.append({"start": float(x[i]), "end": float(x[j]), "sign": int(sign[i]),
                        "n_points": int(j - i + 1)})
        i = j + 1
    return regions


def regions_table(regions: List[dict]) -> pd.DataFrame:
    """significant_regions output as a DataFrame with columns start, end, sign, n_points."""
    return pd.DataFrame(regions, columns=["start", "end", "sign", "n_points"])


def predict_levels(fit, levels: Sequence[str], x: Sequence[float], level: float = 0.95,
                   exclude_random: bool = True) -> pd.DataFrame:
    """Population-level predicted curves of a GammFit for several factor levels.

    Returns long DataFrame: <factor>, <predictor>, fit, se, lower, upper.
    """
    x = np.asarray(x, dtype=float)
    exclude = fit.random_columns() if exclude_random else None
    parts = []
    for lev in levels:
        X = fit.lpmatrix(fit.newdata(lev, x))
        pred = linear_prediction(X, fit.coef, fit.Vp, exclude, level)
        pred.insert(0, fit.predictor, x)
        pred.insert(0, fit.factor, str(lev))
        parts.append(pred)
    return pd.concat(parts, ignore_index=True)


def difference_curve(fit, level1: str, level2: str, x: Sequence[float], level: float = 0.95,
                     simultaneous: bool = False, n_sim: int = 10000, seed: int = 0
                     ) -> pd.DataFrame:
    """level1 - level2 of a GammFit over x (random smooths excluded), with CI and flags.

    Returns DataFrame: <predictor>, difference, se, lower, upper, significant, plus
    attrs['regions'] (list from :func:`significant_regions`). With ``simultaneous`` also
    columns lower_simultaneous, upper_simultaneous (:func:`simultaneous_multiplier` from
    ``n_sim`` draws with ``seed``) and attrs 'regions_simultaneous', 'multiplier'.
    """
    x = np.asarray(x, dtype=float)
    X1 = fit.lpmatrix(fit.newdata(level1, x))
    X2 = fit.lpmatrix(fit.newdata(level2, x))
    exclude = fit.random_columns()
    out = difference(X1, X2, fit.coef, fit.Vp, exclude, level)
    out.insert(0, fit.predictor, x)
    out.attrs["regions"] = significant_regions(x, out["lower"], out["upper"])
    out.attrs["comparison"] = f"{level1} - {level2}"
    if simultaneous:
        D, _, V = _check(np.asarray(X1, float) - np.asarray(X2, float), fit.coef, fit.Vp,
                         exclude)
        c = simultaneous_multiplier(D, V, level, n_sim, seed)
        out["lower_simultaneous"] = out["difference"] - c * out["se"]
        out["upper_simultaneous"] = out["difference"] + c * out["se"]
        out.attrs["multiplier"] = c
        out.attrs["regions_simultaneous"] = significant_regions(
            x, out["lower_simultaneous"], out["upper_simultaneous"])
    return out


def simultaneous_multiplier(D: np.ndarray, V: np.ndarray, level: float = 0.95,
                            n_sim: int = 10000, seed: int = 0) -> float:
    """The critical value c of a simultaneous band ``d(x) +/- c se(x)`` over the rows of D.

    D [n, p]: the difference's linear-predictor rows (random columns zeroed), V [p, p] the
    coefficients' covariance. Under the model's normal approximation the estimation error of
    the curve is D u with u ~ N(0, V); c is the ``level`` quantile of max_x |D(x) u| / se(x)
    over ``n_sim`` draws (Ruppert, Wand & Carroll 2003, ch. 6.5; as gratia's
    ``confint(type = "simultaneous")``). Pointwise bands use c = z (1.96); c >= z always."""
    D = np.atleast_2d(np.asarray(D, dtype=float))
    V = np.asarray(V, dtype=float)
    used = np.flatnonzero(np.any(D != 0.0, axis=0))
    if len(used) == 0:
        return z_value(level)
    D, V = D[:, used], V[np.ix_(used, used)]
    w, Q = np.linalg.eigh((V + V.T) / 2.0)
    root = Q * np.sqrt(np.clip(w, 0.0, None))          # V = root root^T
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, V, D), 0.0))
    ok = se > 0
    if not ok.any():
        return z_value(level)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((root.shape[1], int(n_sim)))   # [p, n_sim]
    dev = (D[ok] @ root) @ z / se[ok, None]                 # [n_ok, n_sim]
    return float(max(np.quantile(np.max(np.abs(dev), axis=0), level), z_value(level)))


def contrast_regions(fits, level1: str, level2: str, x: Sequence[float],
                     level: float = 0.95) -> dict:
    """{name: regions} of ``level1 - level2`` for several fits of the same contrast (e.g. the
    phone GAMMs per layer over norm_time): :func:`difference_curve`'s ``attrs['regions']``."""
    return {name: difference_curve(fit, level1, level2, x, level).attrs["regions"]
            for name, fit in fits.items()}


@dataclass(frozen=True)
class LayerTime:
    """Where a layer's Sample indices lie in the input, in ms:
    ``ms(sample) = offset_ms + sample * ms_per_sample`` (the centre of the input span the
    index covers; extract.py: ``time = (centre0 + sample * jump) / sample_rate``)."""
    offset_ms: float
    ms_per_sample: float

    @classmethod
    def from_layer_info(cls, info: dict, sample_rate: float) -> Optional["LayerTime"]:
        """From a ``layers`` entry of extract_info.json (``jump``, ``centre0``: input
        samples); None when either is missing."""
        try:
            jump, centre0 = float(info["jump"]), float(info["centre0"])
        except (KeyError, TypeError, ValueError):
            return None
        return cls(1000.0 * centre0 / sample_rate, 1000.0 * jump / sample_rate)

    @classmethod
    def from_times(cls, samples: Sequence[float], seconds: Sequence[float]
                   ) -> Optional["LayerTime"]:
        """Least-squares line through (sample, time in s) pairs of one layer (the activations'
        ``time`` column); None with fewer than two distinct samples."""
        s = np.asarray(samples, dtype=float)
        t = np.asarray(seconds, dtype=float)
        ok = np.isfinite(s) & np.isfinite(t)
        s, t = s[ok], t[ok]
        if len(np.unique(s)) < 2:
            return None
        slope, intercept = np.polyfit(s, t, 1)
        return cls(1000.0 * float(intercept), 1000.0 * float(slope))

    def ms(self, sample):
        """Time in ms of Sample value(s) (scalar or array)."""
        return self.offset_ms + np.asarray(sample, dtype=float) * self.ms_per_sample \
            if np.ndim(sample) else self.offset_ms + float(sample) * self.ms_per_sample

    def sample(self, ms):
        """Inverse of :meth:`ms`."""
        return (np.asarray(ms, dtype=float) - self.offset_ms) / self.ms_per_sample \
            if np.ndim(ms) else (float(ms) - self.offset_ms) / self.ms_per_sample
