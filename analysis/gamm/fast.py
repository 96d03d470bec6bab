"""The fast engine: an mgcv-equivalent fit of the word GAMM (Beguš & Zhou 2022, Table 1).

Model (see :mod:`analysis.gamm.data`), one row per (token, Sample)::

    Value ~ Word + s(Sample, k) + s(Sample, by=WordOrdered, k) + s(Sample, UniqueWord, bs="fs", m=1, k)

fitted like ``mgcv::bam(method="fREML", discrete=TRUE)`` twice (plain, then AR1 with rho = the
lag-1 autocorrelation of the first fit's residuals). mgcv works with dense p x p matrices
(p = 80 + k * n_tokens), so its cost grows with the cube of the number of tokens. Here the
coefficients are split into the fixed part ``a`` (parametric + s(Sample) + difference smooths,
P_A = 8 + 9 + 7 * 9 = 80 columns) and one k-vector ``b_j`` per token (the fs term), and every
quantity is computed from the arrowhead structure of the penalised normal equations::

    H = X'X + S = [[H_AA, B_1 ... B_T], [B_j', D_j (block diagonal)]]
    H_AA = A'A + S_A (P_A x P_A),  B_j = A_j'Z_j (P_A x k),  D_j = Z_j'Z_j + l1 diag(s1) + l2 diag(s2)
    Sc = H_AA - sum_j B_j D_j^-1 B_j'          (Schur complement, P_A x P_A)
    log|H| = sum_j log|D_j| + log|Sc|
    a = Sc^-1 (A'y - sum_j B_j D_j^-1 Z_j'y),  b_j = D_j^-1 (Z_j'y - B_j' a)

so one REML evaluation costs O(T k^3 + T P_A^2 k + P_A^3): linear in the number of tokens, and
the data enter only through sufficient statistics accumulated in token chunks (bounded memory
for 256 or 1,024 samples per token).

AR1 (bam's ``rho``/``AR.start``): inside each token row t > 0 becomes
``(x_t - rho x_{t-1}) / sqrt(1 - rho^2)``, applied to y and to every column; this keeps the block
structure.

REML (mgcv fREML, scale phi profiled out, Mp = number of unpenalised coefficients)::

    D_p(l) = ||y - X beta||^2 + beta' S beta = y'y - beta' X'y
    V(rho) = (n - Mp) log D_p - log|S|_+ + log|H|        (rho = log smoothing parameters)
    dV/drho_k = l_k beta'S_k beta / phi - rank(S_k) + l_k tr(H^-1 S_k),  phi = D_p / (n - Mp)

minimised with L-BFGS-B and polished with Newton steps (Hessian by differences of the
analytic gradient). The summary statistics follow ``mgcv::summary.gam`` (see
:mod:`analysis.gamm.fast_stats`). The model's bases, constraints and penalties are mgcv's own
(:mod:`analysis.gamm.fast_setup`), so the numbers match a direct mgcv fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

import analysis.gamm.fast_stats as stats
from analysis.gamm.data import (AnalysisInputError, GammFit, build_formula,
                                lag1_autocorrelation, prepare_gamm_data)
from analysis.gamm.fast_design import (ROWS_PER_CHUNK, Design, Stats, accumulate_stats,
                                       build_design, token_segments)
from analysis.gamm.fast_setup import mgcv_setup

LOG_SP_BOUNDS = (-30.0, 30.0)


# --------------------------------------------------------------------------- REML

@dataclass
class Solution:
    """Penalised least squares at fixed smoothing parameters (see module docstring)."""
    lam: np.ndarray
    a: np.ndarray          # [P_A]
    b: np.ndarray          # [T, q]
    Dinv: np.ndarray       # [T, q, q]
    W: np.ndarray          # [T, P_A, q] = B_j D_j^-1
    Sc_inv: np.ndarray     # [P_A, P_A]
    SA: np.ndarray         # [P_A, P_A] fixed penalty
    s_fs: np.ndarray       # [q] fs penalty diagonal l1 s1 + l2 s2
    logdetH: float
    Dp: float
    crit: float
    grad: np.ndarray


def flat_blocks(M: np.ndarray) -> np.ndarray:
    """[T, P, q] -> [P, T * q] (token blocks side by side)."""
    T, P, q = M.shape
    return np.transpose(M, (1, 0, 2)).reshape(P, T * q)


def _log_det_S_plus(design: Design, lam: np.ndarray, T: int) -> float:
    """log|S_lambda|_+ up to a constant: sum_t rank_t log l_t + T (r1 log l1 + r2 log l2)."""
    nfix = len(design.smooth_S)
    val = float(np.sum(np.array(design.smooth_rank) * np.log(lam[:nfix])))
    r1 = int(np.sum(design.fs_S[0] > 0))
    r2 = int(np.sum(design.fs_S[1] > 0))
    return val + T * (r1 * np.log(lam[nfix]) + r2 * np.log(lam[nfix + 1]))


def solve_pls(design: Design, st: Stats, log_lam: np.ndarray, with_grad: bool = True
              ) -> Solution:
    """Solve the penalised normal equations and evaluate the profiled REML and its gradient."""
    lam = np.exp(np.asarray(log_lam, dtype=float))
    nfix = len(design.smooth_S)
    T = st.B.shape[0]
    SA = design.penalty_fixed(lam[:nfix])
    s_fs = lam[nfix] * design.fs_S[0] + lam[nfix + 1] * design.fs_S[1]
    D = st.ZZ + np.eye(design.q)[None] * s_fs[None, None, :]
    L = np.linalg.cholesky(D)
    logdetD = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    Dinv = np.linalg.inv(D)
    Dinv = 0.5 * (Dinv + np.transpose(Dinv, (0, 2, 1)))
    q = design.q
    W = np.matmul(st.B, Dinv)
    Wf = flat_blocks(W)
    Bf = flat_blocks(st.B)
    Sc = st.AA + SA - Wf @ Bf.T
    Sc = 0.5 * (Sc + Sc.T)
    Lc = np.linalg.cholesky(Sc)
    logdetSc = 2.0 * float(np.sum(np.log(np.diag(Lc))))
    Sc_inv = np.linalg.inv(Sc)
    Sc_inv = 0.5 * (Sc_inv + Sc_inv.T)
    f = st.Ay - Wf @ st.Zy.reshape(-1)
    a = Sc_inv @ f
    r = st.Zy - (Bf.T @ a).reshape(T, q)
    b = np.matmul(Dinv, r[:, :, None])[:, :, 0]
    Dp = st.yy - float(a @ st.Ay) - float(np.sum(b * st.Zy))
    Mp = design.n_unpenalised
    nr = st.n - Mp
    logdetH = logdetD + logdetSc
    crit = nr * np.log(Dp) - _log_det_S_plus(design, lam, T) + logdetH
    grad = np.zeros(len(lam))
    if with_grad:
        phi = Dp / nr
        for t, ((c0, c1), St) in enumerate(zip(design.smooth_cols, design.smooth_S)):
            at = a[c0:c1]
            grad[t] = (lam[t] * float(at @ St @ at) / phi - design.smooth_rank[t]
                       + lam[t] * float(np.sum(Sc_inv[c0:c1, c0:c1] * St)))
        diagH = (np.diagonal(Dinv, axis1=1, axis2=2)
                 + np.sum(Wf * (Sc_inv @ Wf), axis=0).reshape(T, q))
        for m in range(2):
            s = design.fs_S[m]
            lk = lam[nfix + m]
            rk = int(np.sum(s > 0))
            grad[nfix + m] = (lk * float(np.sum(b * b * s[None, :])) / phi - T * rk
                              + lk * float(np.sum(diagH * s[None, :])))
    return Solution(lam=lam, a=a, b=b, Dinv=Dinv, W=W, Sc_inv=Sc_inv, SA=SA, s_fs=s_fs,
                    logdetH=logdetH, Dp=Dp, crit=float(crit), grad=grad)


def initial_log_sp(design: Design, st: Stats) -> np.ndarray:
    """Starting log smoothing parameters: penalty scaled to the data's curvature (as mgcv's
    initial.sp: lambda such that lambda * mean diag(S) ~ mean diag(X'X) of the term)."""
    out = []
    for (c0, c1), St in zip(design.smooth_cols, design.smooth_S):
        xx = np.mean(np.diag(st.AA)[c0:c1])
        ss = np.mean(np.diag(St)[np.diag(St) > 0]) if np.any(np.diag(St) > 0) else 1.0
        out.append(np.log(max(xx, 1e-12) / ss))
    zz = np.mean(np.diagonal(st.ZZ, axis1=1, axis2=2), axis=0)
    for m in range(2):
        s = design.fs_S[m]
        pos = s > 0
        out.append(np.log(max(float(np.mean(zz[pos])), 1e-12) / float(np.mean(s[pos]))))
    return np.array(out)


def fit_reml(design: Design, st: Stats, log_lam0: Optional[np.ndarray] = None,
             newton_steps: int = 20, gtol: float = 1e-7) -> Solution:
    """Minimise the profiled REML over log smoothing parameters; return the solution."""
    x0 = initial_log_sp(design, st) if log_lam0 is None else np.asarray(log_lam0, float)
    lo, hi = LOG_SP_BOUNDS

    def fg(x):
        try:
            s = solve_pls(design, st, x)
        except np.linalg.LinAlgError:  # numerically indefinite: push the optimiser back
            return 1e300, np.zeros_like(x)
        return s.crit, s.grad

    res = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B",
                            bounds=[(lo, hi)] * len(x0),
                            options={"maxiter": 500, "ftol": 1e-14, "gtol": 1e-9})
    x = np.clip(res.x, lo, hi)
    sol = solve_pls(design, st, x)
    # Newton polishing on the coordinates that are not stuck at a bound.
    for _ in range(newton_steps):
        free = (x > lo + 1e-6) & (x < hi - 1e-6) & (np.abs(sol.grad) > 0)
        if not np.any(free) or np.max(np.abs(sol.grad[free])) < gtol:
            break
        idx = np.flatnonzero(free)
        h = 1e-5
        Hs = np.zeros((len(idx), len(idx)))
        for c, i in enumerate(idx):
            xp = x.copy()
            xp[i] += h
            xm = x.copy()
            xm[i] -= h
            Hs[:, c] = (solve_pls(design, st, xp).grad[idx]
                        - solve_pls(design, st, xm).grad[idx]) / (2 * h)
        Hs = 0.5 * (Hs + Hs.T)
        ev, evec = np.linalg.eigh(Hs)
        ev = np.maximum(ev, 1e-8 * max(1.0, float(np.max(np.abs(ev)))))
        step = -evec @ ((evec.T @ sol.grad[idx]) / ev)
        step = np.clip(step, -5.0, 5.0)
        improved = False
        for _half in range(30):
            xn = x.copy()
            xn[idx] = np.clip(x[idx] + step, lo, hi)
            sn = solve_pls(design, st, xn)
            if sn.crit <= sol.crit + 1e-12 * abs(sol.crit):
                x, sol, improved = xn, sn, True
                break
            step = step / 2
        if not improved:
            break
    return sol


# --------------------------------------------------------------------------- fitting

@dataclass
class FitState:
    """Everything the summary needs from one fit."""
    design: Design
    st: Stats
    sol: Solution
    fitted: np.ndarray
    y: np.ndarray
    rho: float


def _fitted(design: Design, sol: Solution, u: np.ndarray, w_tok: np.ndarray,
            seg: np.ndarray) -> np.ndarray:
    """Fitted values [n] (untransformed scale) computed in token chunks."""
    n = int(seg[-1])
    out = np.empty(n)
    T = len(seg) - 1
    tok_of_row = np.repeat(np.arange(T), np.diff(seg))
    for s in range(0, n, ROWS_PER_CHUNK):
        e = min(n, s + ROWS_PER_CHUNK)
        tr = tok_of_row[s:e]
        A = design.fixed_rows(u[s:e], w_tok[tr])
        Z = design.fs_base[u[s:e]]
        out[s:e] = A @ sol.a + np.sum(Z * sol.b[tr], axis=1)
    return out


def _fit_once(design: Design, y, u, w_tok, seg, rho, log_lam0, progress) -> FitState:
    st = accumulate_stats(design, y, u, w_tok, seg, rho=rho, progress=progress)
    sol = fit_reml(design, st, log_lam0)
    fitted = _fitted(design, sol, u, w_tok, seg)
    return FitState(design=design, st=st, sol=sol, fitted=fitted, y=y, rho=rho)


def fit_word_gamm_fast(df: pd.DataFrame, layer: str = "conv5", ref_word: str = "ask",
                       k: int = 10, ar1: bool = True, rho_method: str = "global",
                       words: Optional[Sequence[str]] = None, full_vp: bool = True,
                       progress: bool = False, blas_threads: Optional[int] = 1) -> GammFit:
    """Fit the paper's word GAMM with the block-structured REML engine (engine='fast').

    df: long activations table (token_id, word, layer, sample, value) as for
    :func:`analysis.gamm.fit_word_gamm`. Same model, AR1 procedure and GammFit fields as the mgcv
    engine. ``full_vp=False`` returns the fixed part only: ``coef``, ``coef_names``, ``Vp``
    and ``lpmatrix`` without the by-token random smooths' T * k coefficients (the tables are
    unchanged; predictions and difference curves exclude those coefficients anyway), which
    saves p^2 * 8 bytes (0.9 GB at 1,067 tokens, 2.9 GB at 1,890). Needs R + mgcv for the model set-up
    (bases and constraints at the unique Sample values; a few seconds). ``blas_threads``:
    BLAS threads during the fit (threadpoolctl; None leaves the setting alone).
    """
    with _blas_threads(blas_threads):
        return _fit_word_gamm_fast(df, layer, ref_word, k, ar1, rho_method, words, full_vp,
                                   progress)


class _blas_threads:
    """Limit BLAS threads during the fit (the products are small and thin: one thread is
    fastest, and OpenBLAS threads collapse under CPU contention). No-op without threadpoolctl."""

    def __init__(self, n: Optional[int]):
        self.n, self.ctx = n, None

    def __enter__(self):
        if self.n:
            try:
                from threadpoolctl import threadpool_limits
                self.ctx = threadpool_limits(limits=int(self.n), user_api="blas")
            except ImportError:
                self.ctx = None
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.restore_original_limits()
        return False


def fit_prepared_word_gamm_fast(data: pd.DataFrame, layer: str, k: int = 10, ar1: bool = True,
                                rho_method: str = "global", full_vp: bool = True,
                                progress: bool = False,
                                blas_threads: Optional[int] = 1) -> GammFit:
    """:func:`fit_word_gamm_fast` on rows already prepared as
    :func:`analysis.gamm.data.prepare_gamm_data` returns them (``Value``, ``Sample``, ``Word``
    and ``WordOrdered`` with the reference first, ``UniqueWord`` in row order, ``start_event``;
    sorted by token, then Sample; every token with more than k samples). The contrast matrix
    passes a phone model's prepared rows renamed, instead of preparing them a second time."""
    with _blas_threads(blas_threads):
        return _fit_prepared(data, layer, _checked_k(k), ar1, rho_method, full_vp, progress,
                             time.perf_counter())


def _checked_k(k) -> int:
    if int(k) < 3:
        raise AnalysisInputError(f"k must be at least 3, got {int(k)}")
    return int(k)


def _fit_word_gamm_fast(df, layer, ref_word, k, ar1, rho_method, words, full_vp, progress):
    t0 = time.perf_counter()
    k = _checked_k(k)
    data = prepare_gamm_data(df, layer, ref_word, k=k, words=words)
    return _fit_prepared(data, layer, k, ar1, rho_method, full_vp, progress, t0)


def _fit_prepared(data, layer, k, ar1, rho_method, full_vp, progress, t0) -> GammFit:
    formula = build_formula(k)
    setup = mgcv_setup(data, formula)
    design = build_design(setup)
    levels = design.word_levels
    y = data["Value"].to_numpy(float)
    u = setup["row_index"]
    seg = token_segments(data["start_event"].to_numpy(bool))
    tok_codes = data["UniqueWord"].cat.codes.to_numpy()
    if np.any(np.diff(tok_codes[seg[:-1]]) == 0) or len(seg) - 1 != data["UniqueWord"].nunique():
        raise AnalysisInputError("rows of each token must be contiguous (sorted by token)")
    w_row = data["Word"].cat.codes.to_numpy()
    w_tok = w_row[seg[:-1]]
    fit0 = _fit_once(design, y, u, w_tok, seg, 0.0, None, progress)
    rho = 0.0
    final = fit0
    if ar1:
        rho = lag1_autocorrelation(y - fit0.fitted, data["start_event"].to_numpy(bool),
                                   rho_method)
        final = _fit_once(design, y, u, w_tok, seg, rho, np.log(fit0.sol.lam), progress)
    summ = stats.summarise(final)
    T = len(seg) - 1
    q = design.q
    coef_names = (list(design.para_names)
                  + [f"{lab}.{i + 1}" for lab, (c0, c1) in
                     zip(design.smooth_labels, design.smooth_cols) for i in range(c1 - c0)]
                  + [f"{design.fs_label}.{i + 1}" for i in range(T * q)])
    coef = np.concatenate([final.sol.a, final.sol.b.reshape(-1)])
    if not full_vp:  # the fixed part: the first P_A coefficients
        coef, coef_names = coef[:design.n_fixed], coef_names[:design.n_fixed]
    Vp = stats.posterior_cov(final, full=full_vp)
    lp = _make_lpmatrix(design, levels, len(coef))
    r_call = (f'm <- bam({formula}, data = d, method = "fREML", discrete = TRUE'
              + (f', rho = {rho:.10g}, AR.start = d$start_event)' if ar1 else ")")
              + f"  # sp = c({', '.join(f'{v:.8g}' for v in final.sol.lam)})")
    return GammFit(
        parametric=summ["parametric"], smooths=summ["smooths"], rho=float(rho),
        n_tokens=T, n_rows=int(len(y)), dev_expl=summ["dev_expl"], r_sq=summ["r_sq"],
        formula=formula, r_call=r_call, coef=coef, Vp=Vp, coef_names=coef_names,
        lpmatrix=lp, engine="fast", predictor="Sample", factor="Word", levels=list(levels),
        random_factor="UniqueWord", k=k, layer=str(layer),
        rho_method=rho_method if ar1 else "none", fit_seconds=time.perf_counter() - t0,
        notes=list(summ["notes"]) + [f"sp = {np.array2string(final.sol.lam, precision=6)}",
                                     f"scale = {summ['scale']:.8g}"],
        data=data)


def _make_lpmatrix(design: Design, levels: List[str], p: int):
    """lpmatrix(newdata) [n, p]: fixed part from mgcv's bases (interpolated exactly only at
    the model's Sample values; other values are evaluated by :func:`_basis_at`), random
    columns zero (predictions exclude the by-token smooths)."""

    def lpmatrix(newdata: pd.DataFrame) -> np.ndarray:
        if "Sample" not in newdata.columns or "Word" not in newdata.columns:
            raise AnalysisInputError("lpmatrix: newdata needs columns 'Sample' and 'Word'")
        wd = newdata["Word"].astype(str).to_numpy()
        unknown = sorted(set(wd) - set(levels))
        if unknown:
            raise AnalysisInputError(f"lpmatrix: unknown Word level(s) {unknown}; levels are "
                                     f"{levels}")
        x = pd.to_numeric(newdata["Sample"]).to_numpy(float)
        w = np.array([levels.index(v) for v in wd], dtype=np.int64)
        uidx = _basis_index(design, x)
        out = np.zeros((len(x), p))
        out[:, :design.n_fixed] = design.fixed_rows(uidx, w)
        return out

    return lpmatrix


def _basis_index(design: Design, x: np.ndarray) -> np.ndarray:
    """Index into design.xu of each x; x must be one of the model's Sample values."""
    idx = np.searchsorted(design.xu, x)
    idx = np.clip(idx, 0, len(design.xu) - 1)
    ok = np.isclose(design.xu[idx], x, rtol=0, atol=1e-9 * max(1.0, float(np.ptp(design.xu))))
    if not np.all(ok):
        bad = np.unique(x[~ok])[:5]
        raise AnalysisInputError(
            f"lpmatrix (fast engine): Sample values {bad.tolist()} are not among the fitted "
            f"model's Sample values ({len(design.xu)} values from {design.xu[0]:g} to "
            f"{design.xu[-1]:g}); predict on those values")
    return idx
