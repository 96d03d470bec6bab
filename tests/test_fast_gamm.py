"""Tests of the block-structured GAMM engine (analysis.gamm.fast) against independent
references: dense linear algebra on a small hand-made design, chi-square distributions, and
direct mgcv fits of the same model."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.gamm import fast as fg
from analysis.gamm import fast_stats as fst
from analysis.gamm.fast_setup import discretise_sample
from analysis_helpers import r_ok
from synthetic.activations import make_synthetic_activations


# --------------------------------------------------------------------------- no R needed

def _toy_design(rng, U=12, q=4, words=3):
    """A small Design with random bases: 3 words, s(x) with 3 columns, 2 difference smooths."""
    sb = [rng.normal(size=(U, 3)) for _ in range(words)]
    S = []
    for _ in range(words):
        M = rng.normal(size=(3, 2))
        S.append(M @ M.T)  # rank 2
    cols = [(words + 3 * i, words + 3 * i + 3) for i in range(words)]
    para_rows = np.zeros((words, words))
    para_rows[:, 0] = 1
    for i in range(1, words):
        para_rows[i, i] = 1
    fs_S = np.zeros((2, q))
    fs_S[0, :q - 1] = rng.uniform(1, 3, size=q - 1)
    fs_S[1, q - 1] = 2.0
    return fg.Design(para_names=["(Intercept)"] + [f"Word{i}" for i in range(1, words)],
                     para_rows=para_rows, smooth_labels=[f"s{i}" for i in range(words)],
                     smooth_cols=cols, smooth_bases=sb, smooth_word=[None] + list(range(1, words)),
                     smooth_S=S, smooth_rank=[2] * words, fs_label="fs",
                     fs_base=rng.normal(size=(U, q)), fs_S=fs_S, xu=np.arange(U, dtype=float),
                     word_levels=[f"w{i}" for i in range(words)])


def _toy_data(rng, design, T=9, L=7):
    U = len(design.xu)
    seg = np.arange(T + 1) * L
    u = np.concatenate([np.sort(rng.choice(U, size=L, replace=False)) for _ in range(T)])
    w_tok = np.arange(T) % len(design.word_levels)
    y = rng.normal(size=T * L)
    return y, u, w_tok, seg


def _dense(design, y, u, w_tok, seg, rho):
    """Full design [n, p] with the AR1 transform applied row by row (the reference)."""
    T = len(seg) - 1
    q = design.q
    n = len(y)
    tok = np.repeat(np.arange(T), np.diff(seg))
    A = design.fixed_rows(u, w_tok[tok])
    Z = np.zeros((n, T * q))
    for j in range(T):
        Z[seg[j]:seg[j + 1], j * q:(j + 1) * q] = design.fs_base[u[seg[j]:seg[j + 1]]]
    X = np.hstack([A, Z])
    C = np.eye(n)
    s = np.sqrt(1 - rho ** 2)
    for i in range(1, n):
        if i not in seg:
            C[i, i] = 1 / s
            C[i, i - 1] = -rho / s
    return C @ X, C @ y


def _dense_penalty(design, lam, T):
    PA, q = design.n_fixed, design.q
    S = np.zeros((PA + T * q, PA + T * q))
    S[:PA, :PA] = design.penalty_fixed(lam[:-2])
    d = lam[-2] * design.fs_S[0] + lam[-1] * design.fs_S[1]
    S[PA:, PA:] = np.diag(np.tile(d, T))
    return S


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_statistics_and_solution_match_dense_algebra(rho):
    rng = np.random.default_rng(3)
    design = _toy_design(rng)
    y, u, w_tok, seg = _toy_data(rng, design)
    X, yt = _dense(design, y, u, w_tok, seg, rho)
    st = fg.accumulate_stats(design, y, u, w_tok, seg, rho=rho)
    T, PA, q = st.B.shape
    XX = X.T @ X
    assert np.allclose(st.AA, XX[:PA, :PA])
    assert np.allclose(fg.flat_blocks(st.B), XX[:PA, PA:])
    for j in range(T):
        assert np.allclose(st.ZZ[j], XX[PA + j * q:PA + (j + 1) * q, PA + j * q:PA + (j + 1) * q])
    assert np.isclose(st.yy, yt @ yt)
    log_lam = rng.normal(size=len(design.smooth_S) + 2)
    sol = fg.solve_pls(design, st, log_lam)
    H = XX + _dense_penalty(design, np.exp(log_lam), T)
    beta = np.linalg.solve(H, X.T @ yt)
    assert np.allclose(sol.a, beta[:PA])
    assert np.allclose(sol.b.reshape(-1), beta[PA:])
    assert np.isclose(sol.logdetH, np.linalg.slogdet(H)[1])
    Dp = np.sum((yt - X @ beta) ** 2) + beta @ _dense_penalty(design, np.exp(log_lam), T) @ beta
    assert np.isclose(sol.Dp, Dp)
    # analytic gradient against central differences of the criterion
    h = 1e-6
    for i in range(len(log_lam)):
        e = np.zeros_like(log_lam)
        e[i] = h
        num = (fg.solve_pls(design, st, log_lam + e).crit
               - fg.solve_pls(design, st, log_lam - e).crit) / (2 * h)
        assert np.isclose(sol.grad[i], num, rtol=1e-5, atol=1e-6)
    # posterior covariance = phi H^-1 and edf = diag(H^-1 X'X)
    fit = fg.FitState(design=design, st=st, sol=sol, fitted=np.zeros_like(y), y=y, rho=rho)
    phi = fst.scale_estimate(fit)
    Hinv = np.linalg.inv(H)
    assert np.allclose(fst.posterior_cov(fit), phi * Hinv)
    # the fixed part alone (what analyze.py keeps): the [P_A, P_A] block of the same inverse
    assert np.allclose(fst.posterior_cov(fit, full=False), phi * Hinv[:PA, :PA])
    F = Hinv @ XX
    edf_A, edf1_A, edf_fs, _ = fst.edf_parts(fit)
    assert np.allclose(edf_A, np.diag(F)[:PA])
    assert np.allclose(edf1_A, (2 * np.diag(F) - np.sum(F * F.T, axis=1))[:PA])
    assert np.isclose(edf_fs, np.trace(F[PA:, PA:]))


def test_reml_optimum_has_zero_gradient():
    rng = np.random.default_rng(5)
    design = _toy_design(rng)
    y, u, w_tok, seg = _toy_data(rng, design, T=15, L=8)
    st = fg.accumulate_stats(design, y, u, w_tok, seg, rho=0.2)
    sol = fg.fit_reml(design, st)
    x = np.log(sol.lam)
    inside = (x > fg.LOG_SP_BOUNDS[0] + 1e-3) & (x < fg.LOG_SP_BOUNDS[1] - 1e-3)
    assert np.all(np.abs(sol.grad[inside]) < 1e-4)
    for i in range(len(x)):  # no coordinate move lowers the criterion
        for step in (-0.05, 0.05):
            xx = x.copy()
            xx[i] = np.clip(xx[i] + step, *fg.LOG_SP_BOUNDS)
            assert fg.solve_pls(design, st, xx).crit >= sol.crit - 1e-8 * abs(sol.crit)


def test_chisq_sum_probabilities():
    # one term (exact branch): scaled, and with a negative weight
    assert np.isclose(fst.psum_chisq_upper(3.0, [2.0], [3]), sps.chi2.sf(1.5, 3), atol=1e-12)
    assert np.isclose(fst.psum_chisq_upper(-1.0, [-1.0], [2]), sps.chi2.cdf(1.0, 2), atol=1e-12)
    # Imhof's integral: equal weights add up to one chi2 with the summed df (from 5 df on the
    # integrand decays fast enough for quad; the engine's F form always has a large-df term)
    for q, n in [(0.5, 6), (3.0, 6), (10.0, 8), (4.0, 5)]:
        assert np.isclose(fst.psum_chisq_upper(q, np.ones(n), np.ones(n)), sps.chi2.sf(q, n),
                          atol=1e-9)
    # F-type form used by mgcv: P(chi2_3 - (d/k) chi2_k > 0) = P(F_{3,k} > d/3)
    d, k = 7.5, 40
    assert np.isclose(fst.psum_chisq_upper(0.0, [1, 1, 1, -d / k], [1, 1, 1, k]),
                      sps.f.sf(d / 3, 3, k), atol=1e-7)
    # unequal weights: Monte Carlo reference
    rng = np.random.default_rng(0)
    lb = np.array([2.0, 0.7, 0.3])
    sim = (rng.chisquare(1, size=(400_000, 3)) * lb).sum(1) - 0.2 * rng.chisquare(10, 400_000)
    assert abs(fst.psum_chisq_upper(0.0, np.append(lb, -0.2), [1, 1, 1, 10])
               - np.mean(sim > 0)) < 3e-3


def test_test_stat_integer_rank_is_wald_f():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(6, 3))
    R = np.linalg.qr(M, mode="r")
    V = np.linalg.inv(R.T @ R) * 0.3
    p = rng.normal(size=3)
    res = fst.test_stat(p, R, V, rank=3.0, res_df=50)
    wald = p @ np.linalg.inv(V) @ p
    assert np.isclose(res["stat"], wald)
    assert np.isclose(res["pval"], sps.f.sf(wald / 3, 3, 50))


def test_discretise_sample_follows_mgcv_rule():
    xu, idx = discretise_sample(np.array([3., 1., 2., 1.]))
    assert xu.tolist() == [1, 2, 3] and idx.tolist() == [2, 0, 1, 0]
    x = np.arange(1024, dtype=float)
    xu, idx = discretise_sample(x)
    assert len(xu) == 1000 and np.max(np.abs(xu[idx] - x)) <= 1023 / 999 / 2 + 1e-12


def test_synthetic_data_shape_and_determinism():
    a = make_synthetic_activations(16, 8, seed=4)
    b = make_synthetic_activations(16, 8, seed=4)
    assert len(a) == 128 and a.equals(b)
    assert set(a["word"]) == {"ask", "carry", "dark", "greasy", "oily", "suit", "water", "year"}


# --------------------------------------------------------------------------- against mgcv

needs_mgcv = pytest.mark.skipif(not r_ok(("mgcv",)), reason="R/mgcv not available")


def _compare(fast, ref, rtol, ptol, srtol=None):
    srtol = rtol if srtol is None else srtol
    for col in ("Estimate", "Std. Error", "t value"):
        np.testing.assert_allclose(fast.parametric[col], ref.parametric[col], rtol=rtol,
                                   atol=1e-9, err_msg=col)
    np.testing.assert_allclose(fast.parametric["Pr(>|t|)"], ref.parametric["Pr(>|t|)"],
                               rtol=rtol, atol=ptol)
    assert list(fast.smooths["term"]) == list(ref.smooths["term"])
    for col in ("edf", "Ref.df", "F"):
        np.testing.assert_allclose(fast.smooths[col], ref.smooths[col], rtol=srtol, err_msg=col)
    np.testing.assert_allclose(fast.smooths["p-value"], ref.smooths["p-value"], rtol=srtol,
                               atol=ptol)
    assert np.isclose(fast.dev_expl, ref.dev_expl, rtol=rtol)
    assert np.isclose(fast.r_sq, ref.r_sq, rtol=rtol)


@pytest.fixture(scope="module")
def df60():
    return make_synthetic_activations(80, 16, seed=3)


@pytest.mark.needs_r
@needs_mgcv
def test_equals_mgcv_without_ar(df60):
    from analysis.gamm import fit_word_gamm
    ref = fit_word_gamm(df60, ar1=False, engine="mgcv")
    fast = fg.fit_word_gamm_fast(df60, ar1=False)
    # parametric table, deviance explained, R^2: 3 significant digits (measured ~1e-6).
    # Smooth table: mgcv stops its Newton iteration early where the REML surface is flat
    # (difference smooths heading to edf 1), measured up to 1.3e-3 relative here.
    _compare(fast, ref, rtol=1e-3, ptol=1e-3, srtol=3e-3)
    assert fast.coef_names == ref.coef_names
    np.testing.assert_allclose(fast.coef, ref.coef, rtol=1e-3, atol=1e-4 * np.abs(ref.coef).max())
    # Parametric block of Vp: what Table 1's standard errors come from, to 3 digits.
    par = np.array([not n.startswith("s(") for n in ref.coef_names])
    np.testing.assert_allclose(fast.Vp[np.ix_(par, par)], ref.Vp[np.ix_(par, par)],
                               rtol=2e-3, atol=1e-4 * np.abs(ref.Vp[np.ix_(par, par)]).max())
    # Smooth block: where mgcv stopped early at a finite smoothing parameter (see above) the
    # penalised-away directions keep a tiny variance in mgcv and ~0 here; normwise they agree.
    fixed = ~fast.random_columns()
    a, b = fast.Vp[np.ix_(fixed, fixed)], ref.Vp[np.ix_(fixed, fixed)]
    assert np.linalg.norm(a - b) <= 1e-2 * np.linalg.norm(b)
    nd = pd.DataFrame({"Sample": [0.0, 5.0, 15.0], "Word": ["ask", "suit", "dark"]})
    lp_ref = ref.lpmatrix(nd)
    lp_ref[:, ~fixed] = 0
    np.testing.assert_allclose(fast.lpmatrix(nd), lp_ref, atol=1e-8)


@pytest.mark.needs_r
@needs_mgcv
def test_ar1_close_to_mgcv(df60):
    """With AR1 the same rho is found; mgcv 1.8-41's discrete AR1 cross-products differ
    slightly from the exact AR1 transform used here (docs/fast_gamm.md), so the table agrees
    to ~2 significant digits rather than 3 (measured: 2e-4 to 2e-3 relative)."""
    from analysis.gamm import fit_word_gamm
    ref = fit_word_gamm(df60, ar1=True, engine="mgcv")
    fast = fg.fit_word_gamm_fast(df60, ar1=True)
    assert np.isclose(fast.rho, ref.rho, rtol=1e-3)
    _compare(fast, ref, rtol=1e-2, ptol=5e-3)


@pytest.mark.needs_r
@needs_mgcv
def test_planted_effects_are_found():
    df = make_synthetic_activations(120, 16, seed=7)
    fit = fg.fit_word_gamm_fast(df, ar1=True)
    p = fit.parametric.set_index("term")
    s = fit.smooths.set_index("term")
    assert abs(p.loc["Worddark", "Estimate"] - 0.5) < 0.25
    assert p.loc["Worddark", "Pr(>|t|)"] < 0.01
    assert s.loc["s(Sample):WordOrderedsuit", "p-value"] < 1e-6
    assert s.loc["s(Sample):WordOrderedcarry", "edf"] < 3
    assert fit.engine == "fast" and fit.n_tokens == 120 and fit.n_rows == 120 * 16


@pytest.mark.needs_r
@needs_mgcv
def test_fixed_part_fit_equals_the_full_fit_without_random_smooths(df60):
    """full_vp=False (analyze.py's fit) keeps the tables, the fixed coefficients and the fixed
    block of Vp of the full fit, and gives the same population curves and difference."""
    from analysis import diffcurves
    full = fg.fit_word_gamm_fast(df60, ar1=True)
    fixed = fg.fit_word_gamm_fast(df60, ar1=True, full_vp=False)
    keep = ~full.random_columns()
    assert not fixed.random_columns().any() and fixed.coef_names == \
        [n for n, k in zip(full.coef_names, keep) if k]
    np.testing.assert_allclose(fixed.coef, full.coef[keep])
    np.testing.assert_allclose(fixed.Vp, full.Vp[np.ix_(keep, keep)])
    pd.testing.assert_frame_equal(fixed.parametric, full.parametric)
    pd.testing.assert_frame_equal(fixed.smooths, full.smooths)
    x = np.sort(df60["sample"].unique()).astype(float)
    pd.testing.assert_frame_equal(diffcurves.predict_levels(fixed, fixed.levels, x),
                                  diffcurves.predict_levels(full, full.levels, x))
    a, b = full.levels[:2]
    d_fixed, d_full = (diffcurves.difference_curve(f, a, b, x) for f in (fixed, full))
    np.testing.assert_allclose(d_fixed[["difference", "se"]], d_full[["difference", "se"]])
