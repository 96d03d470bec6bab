"""Difference curves: hand-computed cases, regions, and a planted effect through mgcv."""

import numpy as np
import pytest

from analysis.diffcurves import (difference, linear_prediction, regions_table,
                                 significant_regions, z_value)


def test_z_value():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.5)


def test_prediction_hand_case():
    X = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    b = np.array([1.0, 2.0, 3.0])
    V = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 4.0]])
    # row 0: fit 1 + 6 = 7, var = 1 + 4*4 = 17; row 1: fit 3, var = 1 + 2 + 2*0.5 = 4
    out = linear_prediction(X, b, V)
    np.testing.assert_allclose(out["fit"], [7.0, 3.0])
    np.testing.assert_allclose(out["se"], [np.sqrt(17.0), 2.0])
    np.testing.assert_allclose(out["upper"] - out["fit"], z_value() * out["se"])
    # excluding column 2 (a "random effect"): row 0 -> fit 1, var 1
    ex = linear_prediction(X, b, V, exclude=np.array([False, False, True]))
    np.testing.assert_allclose(ex["fit"], [1.0, 3.0])
    np.testing.assert_allclose(ex["se"], [1.0, 2.0])


def test_difference_hand_case():
    X1 = np.array([[1.0, 1.0], [1.0, 1.0]])
    X2 = np.array([[1.0, 0.0], [1.0, 0.0]])
    b = np.array([0.5, 2.0])
    V = np.array([[9.0, 1.0], [1.0, 0.25]])
    # D = [0, 1]: diff = 2, se = sqrt(0.25) = 0.5 -> CI (1.02, 2.98): significant
    d = difference(X1, X2, b, V)
    np.testing.assert_allclose(d["difference"], [2.0, 2.0])
    np.testing.assert_allclose(d["se"], [0.5, 0.5])
    assert d["significant"].all()
    with pytest.raises(ValueError, match="differ in shape"):
        difference(X1, X2[:1], b, V)
    with pytest.raises(ValueError, match="shape mismatch"):
        linear_prediction(X1, b[:1], V)


def test_significant_regions_runs_and_signs():
    x = np.arange(10.0)
    lo = np.array([-1, 0.1, 0.2, -0.1, -1, -3, -2, -1, 0.5, 0.4])
    hi = np.array([1, 2.0, 2.0, 1.0, -0.1, -0.5, 1, 2, 2, 2])
    regs = significant_regions(x, lo, hi)
    assert regs == [{"start": 1.0, "end": 2.0, "sign": 1, "n_points": 2},
                    {"start": 4.0, "end": 5.0, "sign": -1, "n_points": 2},
                    {"start": 8.0, "end": 9.0, "sign": 1, "n_points": 2}]
    assert significant_regions(x, -np.ones(10), np.ones(10)) == []
    t = regions_table(regs)
    assert list(t.columns) == ["start", "end", "sign", "n_points"] and len(t) == 3
    # adjacent runs of opposite sign are split
    regs2 = significant_regions([0, 1, 2], [1, 1, -5], [2, 2, -1])
    assert [(r["start"], r["end"], r["sign"]) for r in regs2] == [(0, 1, 1), (2, 2, -1)]


@pytest.mark.needs_r
def test_planted_region_is_found():
    pytest.importorskip("rpy2")
    from analysis.rbridge import r_available
    if not r_available():
        pytest.skip("R/mgcv not available")
    from analysis.diffcurves import difference_curve
    from analysis.gamm import fit_word_gamm
    from synthetic.activations import make_activations
    df, truth = make_activations(("ask", "dark", "greasy"), tokens_per_word=8, seed=11,
                                 level={}, bump={"dark": (1.5, 5.0, 1.2)})
    fit = fit_word_gamm(df, "conv5", "ask", k=10)
    x = np.linspace(0, 15, 61)
    d = difference_curve(fit, "dark", "ask", x)
    regs = d.attrs["regions"]
    lo, hi = truth.planted_region("dark", x, frac=0.5)  # where bump >= half its height
    assert any(r["start"] <= lo and r["end"] >= hi and r["sign"] == 1 for r in regs), regs
    # nothing significant far from the bump (> 4 widths away)
    far = np.abs(x - 5.0) > 4 * 1.2
    assert not d["significant"].to_numpy()[far].any()
    # null contrast: no significant region at all
    assert difference_curve(fit, "greasy", "ask", x).attrs["regions"] == []
