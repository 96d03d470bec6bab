"""Per-unit summaries of traces: level and shape coefficients (pure numpy).

The calibrated tests (:mod:`analysis.calibrated`) compare units (a phone interval, a token),
not samples: each unit's trace over its own normalised time x in [0, 1] is summarised by

    level   = mean of its values                                       (the unit's mean)
    shape_j = b_j of the least-squares fit  v(x) ~ b_0 + sum_{j=1..q} b_j L_j(x)

with L_j the Legendre polynomials shifted to [0, 1] and scaled to unit norm there
(int_0^1 L_i L_j dx = delta_ij): L_1 is a slope, L_2 a curvature, L_3 an S shape. Because the
basis is orthonormal, a difference curve d(x) = sum_j delta_j L_j(x) has root mean square
sqrt(sum_j delta_j^2) over [0, 1], and its mean is 0: the shape part only.

Samples inside a unit are autocorrelated (AR1 in the traces); a summary is one number per unit,
so that autocorrelation only changes the summary's noise, which the mixed model estimates as
its residual variance. This is the summary-statistics approach to repeated measures (Holmes &
Friston 1998), with orthogonal polynomials as in growth curve analysis (Mirman 2014).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

MAX_SHAPE_TERMS = 8


def legendre01(x: np.ndarray, q: int) -> np.ndarray:
    """[n, q + 1] orthonormal shifted Legendre polynomials L_0..L_q at x [n] in [0, 1]:
    L_j(x) = sqrt(2 j + 1) P_j(2 x - 1), P_j the Legendre polynomials
    ((j + 1) P_{j+1}(u) = (2 j + 1) u P_j(u) - j P_{j-1}(u)). L_0 = 1."""
    q = int(q)
    if not 0 <= q <= MAX_SHAPE_TERMS:
        raise ValueError(f"q must be in 0..{MAX_SHAPE_TERMS}, got {q}")
    u = 2.0 * np.asarray(x, dtype=float) - 1.0
    P = np.empty((u.size, q + 1))
    P[:, 0] = 1.0
    if q >= 1:
        P[:, 1] = u
    for j in range(1, q):
        P[:, j + 1] = ((2 * j + 1) * u * P[:, j] - j * P[:, j - 1]) / (j + 1)
    return P * np.sqrt(2.0 * np.arange(q + 1) + 1.0)[None, :]


def unit_summaries(x: np.ndarray, y: np.ndarray, unit: np.ndarray, n_units: int,
                   q: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level [G], shape [G, q], n [G]) of every unit (module docstring).

    x [N] normalised times in [0, 1], y [N] values, unit [N] integer unit index in
    0..n_units-1. A unit needs at least q + 1 distinct times for its shape; with fewer its
    shape row is NaN (the caller drops such units or lowers q). Memory: the rows' basis
    [N, q + 1] and per-unit normal equations [G, q + 1, q + 1]; one pass of bincounts."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    unit = np.asarray(unit, dtype=np.int64)
    G = int(n_units)
    n = np.bincount(unit, minlength=G).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.bincount(unit, weights=y, minlength=G) / n
    if q == 0:
        return level, np.empty((G, 0)), n
    B = legendre01(x, q)                                           # [N, q + 1]
    p = q + 1
    xtx = np.empty((G, p, p))
    xty = np.empty((G, p))
    for i in range(p):
        xty[:, i] = np.bincount(unit, weights=B[:, i] * y, minlength=G)
        for j in range(i, p):
            xtx[:, i, j] = xtx[:, j, i] = np.bincount(unit, weights=B[:, i] * B[:, j],
                                                      minlength=G)
    shape = np.full((G, q), np.nan)
    # a unit with fewer than p distinct times has a singular X'X: its shape stays NaN
    sv = np.linalg.svd(xtx, compute_uv=False) if G else np.zeros((0, p))   # [G, p] descending
    ok = sv[:, -1] > 1e-10 * np.maximum(sv[:, 0], 1e-300)
    if ok.any():
        coef = np.linalg.solve(xtx[ok], xty[ok][..., None])[..., 0]   # [G_ok, p]
        shape[ok] = coef[:, 1:]
    return level, shape, n


def curve_rms(delta: np.ndarray) -> float:
    """Root mean square over [0, 1] of sum_j delta_j L_j(x) (j >= 1): sqrt(sum delta_j^2)."""
    d = np.asarray(delta, dtype=float)
    return float(np.sqrt(np.sum(d * d)))


def normalised_position(sample: np.ndarray) -> np.ndarray:
    """A layer's sample index mapped to [0, 1] over the layer's range: the centre of sample
    s of s_min..s_max is (s - s_min + 0.5) / (s_max - s_min + 1)."""
    s = np.asarray(sample, dtype=float)
    lo, hi = float(np.min(s)), float(np.max(s))
    return (s - lo + 0.5) / (hi - lo + 1.0)
