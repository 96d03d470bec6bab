"""Multiple-testing corrections, one home for every table of the report (pure functions).

``holm`` controls the family-wise error (the chance of any false positive in the family);
``benjamini_hochberg`` the false discovery rate (the expected share of false positives among
the tests called significant). NaN p-values (tests not made) stay NaN and are not counted in
the family. Both are checked against hand-computed cases and against
``scipy.stats.false_discovery_control`` (tests/test_contrasts.py).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["ALPHA", "POLICY", "POLICY_LABEL", "adjust", "benjamini_hochberg", "holm"]


def _finite_order(p: Sequence[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as floats [m], an all-NaN output [m], the indices of the finite p in ascending order
    (stable: ties keep their input order)): the family of a correction is its finite p."""
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), ok[np.argsort(p[ok], kind="mergesort")]


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values [m], in the input order; NaN stays NaN and is not
    counted in the family. With the finite p sorted p_(1) <= ... <= p_(m):
    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))."""
    p, out, order = _finite_order(p)
    m = len(order)
    if m == 0:
        return out
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values [m] (q-values), in the input order; NaN stays NaN
    and is not counted. With the finite p sorted: adj_(i) = min_{j >= i} min(1, m p_(j) / j)."""
    p, out, order = _finite_order(p)
    m = len(order)
    if m == 0:
        return out
    adj = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    out[order] = np.minimum.accumulate(adj[::-1])[::-1]
    return out


# The report's one correction policy (issue 27): Holm's step-down correction of the family-wise
# error within each table's family of tests, at ALPHA. The families: Table 1 (every word's
# level and shape test), the phone contrast (every layer's level and shape test), the contrast
# matrix (every cell's two tests), the spectra (every layer x band), the mixed models (every
# layer's omnibus test, and every layer x word estimate). Benjamini-Hochberg stays in the CSVs
# of the contrast matrix and the spectra (p_*_bh) for readers who want the FDR.
POLICY = "holm"
POLICY_LABEL = "Holm"
ALPHA = 0.05


def adjust(p: Sequence[float]) -> np.ndarray:
    """The report's policy applied to one family: :func:`holm` (NaN stays NaN)."""
    return holm(p)
