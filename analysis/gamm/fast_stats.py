"""summary.gam statistics of the fast engine's fit (:mod:`analysis.gamm.fast`), as mgcv 1.8-41.

``fit`` below is the fast engine's FitState; only its fields (design, st, sol, fitted, y) are
read, so this module needs none of the engine's code. Notation (see analysis.gamm.fast): fixed
part A (P_A coefficients a), token blocks j (b_j, q each), H = X'X + S (X the AR1-transformed
design), Sc = H_AA - sum_j B_j D_j^-1 B_j', W_j = B_j D_j^-1, phi the REML scale. Blocks of
H^-1:
  [H^-1]_AA = Sc^-1,  [H^-1]_Aj = -Sc^-1 W_j,  [H^-1]_jk = delta_jk D_j^-1 + W_j' Sc^-1 W_k.

- Vp = phi H^-1; parametric rows: Estimate, SE = sqrt(diag Vp), t, 2 P(t_{n - sum edf} > |t|).
- edf_i = diag(F)_i with F = H^-1 X'X = I - H^-1 S;  edf1_i = 1 - [(H^-1 S)^2]_ii, where
  [(H^-1 S)^2]_AA = Sc^-1 S_A Sc^-1 S_A + Sc^-1 (sum_j W_j S_j W_j') Sc^-1 S_A.
- s(Sample) and difference smooths: mgcv ``testStat`` (Wood 2013, type 0) with R_t the
  Cholesky factor of (X'X)_tt, V = Vp_tt, rank = min(m_t, edf1_t), residual df n - sum edf.
- fs term (null.space.dim 0, so summary.gam calls ``reTest``): stat = b' Sc_m b / phi with
  Sc_m = D - B' H_AA^-1 B the Schur complement of the other coefficients;
  eigenvalues ev of Sc_m Ve_mm / phi = I - Sc_m^-1 (S_m + B' H_AA^-1 S_A H_AA^-1 B) (generalised
  symmetric eigenproblem, dense up to DENSE_RE_MAX coefficients); Ref.df = #ev > max ev *
  eps^0.8; F = stat / Ref.df; p = P(sum ev_i chi2_1 - stat/k chi2_k > 0), k = round(n - sum edf).
- p-values of sums of chi-squares: mgcv uses Davies' algorithm (accuracy 2e-5); here Imhof's
  integral (scipy quad), the same probability to ~1e-8.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import pandas as pd
from scipy import integrate, linalg, stats as sps

from analysis.gamm.data import PARAMETRIC_COLUMNS, SMOOTH_COLUMNS

DENSE_RE_MAX = 3000
EPS = np.finfo(float).eps


# --------------------------------------------------------------------------- chi-square sums

def psum_chisq_upper(q: float, lb: np.ndarray, df: np.ndarray) -> float:
    """P(sum_i lb_i chi2_{df_i} > q) by Imhof's (1961) inversion formula.

    P(Q > q) = 1/2 + (1/pi) int_0^inf sin(theta(u)) / (u rho(u)) du,
    theta(u) = 1/2 sum df_i atan(lb_i u) - q u / 2,  rho(u) = prod (1 + lb_i^2 u^2)^(df_i / 4).
    """
    lb = np.asarray(lb, dtype=float)
    df = np.asarray(df, dtype=float)
    keep = lb != 0
    lb, df = lb[keep], df[keep]
    if len(lb) == 0:
        return float(q < 0)
    if len(lb) == 1:
        # One term: exact. (Imhof's integrand for a lone chi2 with small df decays so slowly
        # that quad runs out of subdivisions: 1e-5 error and tens of seconds for chi2_1.)
        x = q / lb[0]
        return float(sps.chi2.sf(x, df[0]) if lb[0] > 0 else sps.chi2.cdf(x, df[0]))

    def f(u):
        if u == 0.0:
            return 0.5 * (float(np.sum(df * lb)) - q)
        th = 0.5 * float(np.sum(df * np.arctan(lb * u))) - 0.5 * q * u
        lr = 0.25 * float(np.sum(df * np.log1p((lb * u) ** 2)))
        return np.sin(th) * np.exp(-lr) / u

    scale = 1.0 / float(np.max(np.abs(lb)))
    total = 0.0
    a = 0.0
    # integrate in growing pieces until the envelope exp(-log rho)/u is negligible
    for width in scale * 2.0 ** np.arange(0, 30):
        b = a + width
        val, _ = integrate.quad(f, a, b, limit=400, epsabs=1e-13, epsrel=1e-10)
        total += val
        a = b
        env = np.exp(-0.25 * float(np.sum(df * np.log1p((lb * a) ** 2)))) / a
        if env < 1e-12:
            break
    p = 0.5 + total / np.pi
    return float(min(1.0, max(0.0, p)))


# --------------------------------------------------------------------------- testStat

def test_stat(p: np.ndarray, R: np.ndarray, V: np.ndarray, rank: float, res_df: float
              ) -> Dict[str, float]:
    """mgcv:::testStat(p, X, V, rank, type=0, res.df) given R (qr.R(X), upper triangular).

    p [m] coefficients, R [m, m] with R'R = X'X for the term, V [m, m] Bayesian covariance.
    Returns stat (d), rank, pval.
    """
    Vr = R @ V @ R.T
    Vr = 0.5 * (Vr + Vr.T)
    vals, vecs = np.linalg.eigh(Vr)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    siv = np.sign(vecs[0, :])
    siv[siv == 0] = 1
    vecs = vecs * siv[None, :]
    k = max(0, int(np.floor(rank)))
    nu = abs(rank - k)
    k1 = k + 1 if nu > 0 else k
    r_est = int(np.sum(vals > np.max(vals) * EPS ** 0.9))
    if r_est < k1:
        k1 = k = r_est
        nu = 0.0
        rank = float(r_est)
    vec = vecs[:, :k1].copy() if k1 < vecs.shape[1] else vecs.copy()
    if nu > 0 and k > 0:
        if k > 1:
            vec[:, :k - 1] = vec[:, :k - 1] / np.sqrt(vals[:k - 1])[None, :]
        b12 = np.sqrt(max(0.0, 0.5 * nu * (1 - nu)))
        Bm = np.array([[1.0, b12], [b12, nu]])
        ev = np.diag(vals[k - 1:k1] ** -0.5)
        Bm = ev @ Bm @ ev
        eb_val, eb_vec = np.linalg.eigh(Bm)
        rB = eb_vec @ np.diag(np.sqrt(eb_val)) @ eb_vec.T
        vec1 = vec.copy()
        vec1[:, k - 1:k1] = (rB @ np.diag([-1.0, 1.0]) @ vec[:, k - 1:k1].T).T
        vec[:, k - 1:k1] = (rB @ vec[:, k - 1:k1].T).T
    else:
        if k == 0:
            vec = vec * np.sqrt(1.0 / vals[0])
        else:
            vec = vec / np.sqrt(vals[:k])[None, :]
        vec1 = vec
        if k == 1:
            rank = 1.0
    Rp = R @ p
    d = float(np.sum((vec.T @ Rp) ** 2))
    d1 = float(np.sum((vec1.T @ Rp) ** 2))
    rank1 = rank
    pval = 2.0
    if nu > 0:
        if k1 == 1:
            rank1 = 1.0
            val = np.array([1.0])
        else:
            val = np.ones(k1)
            rp = nu + 1
            val[k - 1] = (rp + np.sqrt(rp * (2 - rp))) / 2
            val[k1 - 1] = rp - val[k - 1]
        if res_df <= 0:
            pval = (psum_chisq_upper(d, val, np.ones_like(val))
                    + psum_chisq_upper(d1, val, np.ones_like(val))) / 2
        else:
            k0 = max(1, int(round(res_df)))
            dfs = np.append(np.ones(len(val)), k0)
            pval = (psum_chisq_upper(0.0, np.append(val, -d / k0), dfs)
                    + psum_chisq_upper(0.0, np.append(val, -d1 / k0), dfs)) / 2
    if pval > 1:
        if res_df <= 0:
            pval = (sps.chi2.sf(d, rank1) + sps.chi2.sf(d1, rank1)) / 2
        else:
            pval = (sps.f.sf(d / rank1, rank1, res_df) + sps.f.sf(d1 / rank1, rank1, res_df)) / 2
    return {"stat": d, "rank": float(rank), "pval": float(min(1.0, pval))}


# --------------------------------------------------------------------------- pieces

def scale_estimate(fit) -> float:
    """phi = D_p / (n - Mp) (the REML scale at the optimum)."""
    return fit.sol.Dp / (fit.st.n - fit.design.n_unpenalised)


def edf_parts(fit):
    """edf [P_A] and edf1 [P_A] of the fixed coefficients; total edf of the fs term."""
    sol = fit.sol
    ScS = sol.Sc_inv @ sol.SA
    edf_A = 1.0 - np.diag(ScS)
    T, PA, q = sol.W.shape
    Wf = np.transpose(sol.W, (1, 0, 2)).reshape(PA, T * q)
    Q = (Wf * np.tile(sol.s_fs, T)[None, :]) @ Wf.T
    M2 = ScS @ ScS + sol.Sc_inv @ Q @ sol.Sc_inv @ sol.SA
    edf1_A = 1.0 - np.diag(M2)
    diagH = _diag_hinv_mm(sol)
    edf_fs = float(np.sum(1.0 - diagH * sol.s_fs[None, :]))
    return edf_A, edf1_A, edf_fs, diagH


def re_test(fit, phi: float, res_df: float, dense_max: int = DENSE_RE_MAX) -> Dict:
    """mgcv:::reTest for the fs term (see module docstring); dense eigenproblem up to
    dense_max coefficients, beyond that a per-token block approximation of the eigenvalues
    rescaled to the exact trace (Ref.df then = coefficients - parametric columns)."""
    sol, st, d = fit.sol, fit.st, fit.design
    T, PA, q = st.B.shape
    HAA = st.AA + sol.SA
    HAA_inv = np.linalg.inv(HAA)
    HAA_inv = 0.5 * (HAA_inv + HAA_inv.T)
    D = st.ZZ + np.eye(q)[None] * sol.s_fs[None, None, :]
    Bf = np.transpose(st.B, (1, 0, 2)).reshape(PA, T * q)
    uvec = Bf @ sol.b.reshape(-1)
    Db = np.matmul(D, sol.b[:, :, None])[:, :, 0]
    bSb = float(np.sum(sol.b * Db)) - float(uvec @ HAA_inv @ uvec)
    stat = bSb / phi
    G = HAA_inv @ sol.SA @ HAA_inv
    k0 = max(1, int(round(res_df)))
    notes: List[str] = []
    pm = T * q
    if pm <= dense_max:
        Bf = np.transpose(st.B, (1, 0, 2)).reshape(PA, pm)
        Sc_m = linalg.block_diag(*D) - Bf.T @ HAA_inv @ Bf
        K = np.diag(np.tile(sol.s_fs, T)) + Bf.T @ G @ Bf
        mu = linalg.eigh(0.5 * (K + K.T), 0.5 * (Sc_m + Sc_m.T), eigvals_only=True)
        ev = 1.0 - mu
        ev[ev < 0] = 0.0
        rank = int(np.sum(ev > np.max(ev) * EPS ** 0.8))
    else:
        # exact trace of Sc_m^-1 K: tr([H^-1]_mm K)
        tr_s = float(np.sum(_diag_hinv_mm(sol) * sol.s_fs[None, :]))
        Wf = np.transpose(sol.W, (1, 0, 2)).reshape(PA, T * q)
        BDB = Wf @ Bf.T
        WB = BDB
        tr_e = float(np.sum(G * BDB)) + float(np.trace(sol.Sc_inv @ WB @ G @ WB.T))
        Bt = np.transpose(st.B, (0, 2, 1))
        Ko = np.eye(q)[None] * sol.s_fs[None, None, :] + np.matmul(np.matmul(Bt, G), st.B)
        Sco = D - np.matmul(np.matmul(Bt, HAA_inv), st.B)
        mus = []
        for j in range(T):
            mus.append(linalg.eigh(Ko[j], Sco[j], eigvals_only=True))
        mu = np.concatenate(mus)
        mu = np.clip(mu, 0.0, 1.0)
        tr_exact = tr_s + tr_e
        if np.sum(mu) > 0:
            mu = mu * (tr_exact / float(np.sum(mu)))
        ev = np.clip(1.0 - mu, 0.0, None)
        rank = pm - len(d.para_names)
        notes.append(f"{d.fs_label}: {pm} coefficients > {dense_max}: its p-value uses per-token "
                     "block eigenvalues scaled to the exact trace (F and Ref.df are exact)")
    pval = psum_chisq_upper(0.0, np.append(ev, -stat / k0), np.append(np.ones(len(ev)), k0))
    return {"stat": stat, "rank": float(rank), "pval": pval, "notes": notes}


def _diag_hinv_mm(sol) -> np.ndarray:
    T, PA, q = sol.W.shape
    Wf = np.transpose(sol.W, (1, 0, 2)).reshape(PA, T * q)
    return (np.diagonal(sol.Dinv, axis1=1, axis2=2)
            + np.sum(Wf * (sol.Sc_inv @ Wf), axis=0).reshape(T, q))


def posterior_cov(fit, full: bool = True) -> np.ndarray:
    """Vp = phi H^-1 [p, p] (mgcv's Bayesian covariance); with full=False only its fixed
    block [P_A, P_A] (the parametric and smooth coefficients, without the by-token random
    smooths: all that population-level predictions and difference curves need, and
    p^2 / P_A^2 times less memory: 2.9 GB -> 7 kB at 1,890 tokens of 3 words, k = 10)."""
    sol = fit.sol
    phi = scale_estimate(fit)
    T, PA, q = fit.st.B.shape
    if not full:
        return phi * sol.Sc_inv
    p = PA + T * q
    Vp = np.empty((p, p))
    Vp[:PA, :PA] = phi * sol.Sc_inv
    Wf = np.transpose(sol.W, (1, 0, 2)).reshape(PA, T * q)
    cross = -phi * (sol.Sc_inv @ Wf)
    Vp[:PA, PA:] = cross
    Vp[PA:, :PA] = cross.T
    R = Vp[PA:, PA:]
    tmp = sol.Sc_inv @ Wf
    np.matmul(Wf.T, tmp, out=R)
    R *= phi
    for j in range(T):
        s = PA + j * q
        Vp[s:s + q, s:s + q] += phi * sol.Dinv[j]
    return Vp


def summarise(fit) -> Dict:
    """Parametric and smooth tables, deviance explained, adjusted R^2, scale (summary.gam)."""
    d, sol, st = fit.design, fit.sol, fit.st
    phi = scale_estimate(fit)
    edf_A, edf1_A, edf_fs, _ = edf_parts(fit)
    n = st.n
    res_df = n - (float(np.sum(edf_A)) + edf_fs)
    P = len(d.para_names)
    est = sol.a[:P]
    se = np.sqrt(phi * np.diag(sol.Sc_inv)[:P])
    tval = est / se
    pv = 2 * sps.t.sf(np.abs(tval), res_df)
    parametric = pd.DataFrame({"term": d.para_names, "Estimate": est, "Std. Error": se,
                               "t value": tval, "Pr(>|t|)": pv})[PARAMETRIC_COLUMNS]
    rows = []
    for lab, (c0, c1) in zip(d.smooth_labels, d.smooth_cols):
        R = np.linalg.cholesky(st.AA[c0:c1, c0:c1]).T
        V = phi * sol.Sc_inv[c0:c1, c0:c1]
        rank = min(c1 - c0, float(np.sum(edf1_A[c0:c1])))
        ts = test_stat(sol.a[c0:c1], R, V, rank, res_df)
        rows.append({"term": lab, "edf": float(np.sum(edf_A[c0:c1])), "Ref.df": ts["rank"],
                     "F": ts["stat"] / ts["rank"], "p-value": ts["pval"]})
    rt = re_test(fit, phi, res_df)
    rows.append({"term": d.fs_label, "edf": edf_fs, "Ref.df": rt["rank"],
                 "F": rt["stat"] / rt["rank"], "p-value": rt["pval"]})
    smooths = pd.DataFrame(rows)[SMOOTH_COLUMNS]
    y, mu = fit.y, fit.fitted
    dev = float(np.sum((y - mu) ** 2))
    null = float(np.sum((y - y.mean()) ** 2))
    r_sq = 1.0 - np.var(y - mu, ddof=1) * (n - 1) / (np.var(y, ddof=1) * res_df)
    return {"parametric": parametric, "smooths": smooths, "dev_expl": (null - dev) / null,
            "r_sq": float(r_sq), "scale": phi, "residual_df": res_df, "notes": rt["notes"]}
