"""The fast engine's design and sufficient statistics (see :mod:`analysis.gamm.fast`).

The word GAMM's coefficients split into the fixed part (parametric + s(Sample) + difference
smooths, P_A columns) and one k-vector per token (the by-token random smooth); the data enter
the REML fit only through the statistics accumulated here in token chunks (A'A, A'y, the
per-token blocks B_j = A_j'Z_j, Z_j'Z_j, Z_j'y and y'y), so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from analysis.gamm.data import AnalysisInputError

ROWS_PER_CHUNK = 200_000

# --------------------------------------------------------------------------- design

@dataclass
class Design:
    """Model design in block form (all per-row quantities are indexed by unique Sample u).

    para_names [P]; para_rows [W, P]: parametric row for each word (treatment coding).
    smooth_cols: list of (start, stop) of each fixed smooth in the fixed part (P_A columns).
    smooth_bases: [U, m_t] each; smooth_word: word index the smooth applies to (None: all).
    smooth_S [m_t, m_t]; smooth_rank; fs_base [U, q]; fs_S [2, q].
    """
    para_names: List[str]
    para_rows: np.ndarray
    smooth_labels: List[str]
    smooth_cols: List[tuple]
    smooth_bases: List[np.ndarray]
    smooth_word: List[Optional[int]]
    smooth_S: List[np.ndarray]
    smooth_rank: List[int]
    fs_label: str
    fs_base: np.ndarray
    fs_S: np.ndarray
    xu: np.ndarray
    word_levels: List[str]

    @property
    def n_fixed(self) -> int:
        return self.smooth_cols[-1][1] if self.smooth_cols else len(self.para_names)

    @property
    def q(self) -> int:
        return self.fs_base.shape[1]

    @property
    def n_unpenalised(self) -> int:
        """Mp: parametric columns + null-space dimensions of the fixed smooths (fs has none)."""
        return len(self.para_names) + sum(S.shape[0] - r for S, r in
                                          zip(self.smooth_S, self.smooth_rank))

    def fixed_rows(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Fixed-part design rows [r, P_A] for unique-Sample indices u [r] and word codes w [r]."""
        out = np.zeros((len(u), self.n_fixed))
        P = len(self.para_names)
        out[:, :P] = self.para_rows[w]
        for (a, b), base, word in zip(self.smooth_cols, self.smooth_bases, self.smooth_word):
            if word is None:
                out[:, a:b] = base[u]
            else:
                sel = w == word
                out[sel, a:b] = base[u[sel]]
        return out

    def penalty_fixed(self, lam: np.ndarray) -> np.ndarray:
        """S_A(lambda) [P_A, P_A] for the fixed smooths' smoothing parameters lam [n_smooth]."""
        S = np.zeros((self.n_fixed, self.n_fixed))
        for (a, b), St, l in zip(self.smooth_cols, self.smooth_S, lam):
            S[a:b, a:b] += l * St
        return S


def build_design(setup: Dict) -> Design:
    """Turn :func:`analysis.gamm.fast_setup.mgcv_setup` output into a :class:`Design`."""
    levels = setup["word_levels"]
    P = len(setup["para_names"])
    if P != len(levels):
        raise RuntimeError(f"expected {len(levels)} parametric columns, mgcv has {P}")
    para_rows = np.zeros((len(levels), P))
    para_rows[:, 0] = 1.0
    for i in range(1, len(levels)):
        para_rows[i, i] = 1.0
    cols, a = [], P
    for base in setup["smooth_bases"]:
        cols.append((a, a + base.shape[1]))
        a += base.shape[1]
    words = [None if lv is None else levels.index(lv) for lv in setup["smooth_level"]]
    return Design(para_names=list(setup["para_names"]), para_rows=para_rows,
                  smooth_labels=list(setup["smooth_labels"]), smooth_cols=cols,
                  smooth_bases=list(setup["smooth_bases"]), smooth_word=words,
                  smooth_S=list(setup["smooth_S"]), smooth_rank=list(setup["smooth_rank"]),
                  fs_label=setup["fs_label"], fs_base=setup["fs_base"], fs_S=setup["fs_S"],
                  xu=setup["xu"], word_levels=list(levels))


# --------------------------------------------------------------------------- data statistics

@dataclass
class Stats:
    """Sufficient statistics of the (AR1-transformed) data.

    AA [P_A, P_A] = A'A; Ay [P_A]; B [T, P_A, q] = A_j'Z_j; ZZ [T, q, q]; Zy [T, q]; yy; n.
    """
    AA: np.ndarray
    Ay: np.ndarray
    B: np.ndarray
    ZZ: np.ndarray
    Zy: np.ndarray
    yy: float
    n: int


def token_segments(start_event: np.ndarray) -> np.ndarray:
    """Start offsets [T + 1] of the tokens (AR.start segments) from start_event [n]."""
    s = np.flatnonzero(np.asarray(start_event, dtype=bool))
    if len(s) == 0 or s[0] != 0:
        raise AnalysisInputError("start_event must be True on the first row")
    return np.append(s, len(start_event))


def _ar_transform(M: np.ndarray, rho: float) -> np.ndarray:
    """AR1 transform along axis 1 of M [t, L, ...]: row 0 kept, row i -> (M_i - rho M_{i-1})/s."""
    if rho == 0.0:
        return M
    out = M.copy()
    out[:, 1:] = (M[:, 1:] - rho * M[:, :-1]) / np.sqrt(1.0 - rho * rho)
    return out


def accumulate_stats(design: Design, y: np.ndarray, u: np.ndarray, w_tok: np.ndarray,
                     seg: np.ndarray, rho: float = 0.0, progress: bool = False) -> Stats:
    """Sufficient statistics over token chunks; tokens of equal length are batched.

    y [n] response, u [n] unique-Sample index per row, w_tok [T] word code per token,
    seg [T + 1] token offsets. Memory is O(ROWS_PER_CHUNK * P_A), whatever n is.
    """
    T = len(seg) - 1
    PA, q = design.n_fixed, design.q
    AA = np.zeros((PA, PA))
    Ay = np.zeros(PA)
    B = np.zeros((T, PA, q))
    ZZ = np.zeros((T, q, q))
    Zy = np.zeros((T, q))
    yy = 0.0
    lengths = np.diff(seg)
    groups = [np.flatnonzero(lengths == L) for L in np.unique(lengths)]
    chunks = []
    for toks in groups:
        L = int(lengths[toks[0]])
        per = max(1, ROWS_PER_CHUNK // L)
        for i in range(0, len(toks), per):
            chunks.append((L, toks[i:i + per]))
    it = chunks
    if progress:
        from tqdm import tqdm
        it = tqdm(chunks, desc="GAMM statistics", leave=False)
    for L, toks in it:
        rows = (seg[toks][:, None] + np.arange(L)[None, :]).reshape(-1)
        wr = np.repeat(w_tok[toks], L)
        A = design.fixed_rows(u[rows], wr).reshape(len(toks), L, PA)
        Z = design.fs_base[u[rows]].reshape(len(toks), L, q)
        yv = y[rows].reshape(len(toks), L)
        A = _ar_transform(A, rho)
        Z = _ar_transform(Z, rho)
        yv = _ar_transform(yv, rho)
        A2 = A.reshape(-1, PA)
        AA += A2.T @ A2
        Ay += A2.T @ yv.reshape(-1)
        Zt = np.transpose(Z, (0, 2, 1))
        B[toks] = np.matmul(np.transpose(A, (0, 2, 1)), Z)
        ZZ[toks] = np.matmul(Zt, Z)
        Zy[toks] = np.matmul(Zt, yv[:, :, None])[:, :, 0]
        yy += float(np.sum(yv * yv))
    return Stats(AA=AA, Ay=Ay, B=B, ZZ=ZZ, Zy=Zy, yy=yy, n=int(seg[-1]))
