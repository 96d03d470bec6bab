"""Mean-activation mixed models: estimates against hand-computed group means, planted/null."""

import pytest

from synthetic.activations import make_activations

pytestmark = pytest.mark.needs_r


@pytest.fixture(scope="module")
def acts():
    pytest.importorskip("rpy2")
    from analysis.rbridge import r_available
    if not r_available(("lme4", "lmerTest")):
        pytest.skip("R with lme4/lmerTest not available")
    # 4 speakers balanced over words (token % 4), so GLS estimates = differences of means
    return make_activations(("ask", "carry", "dark", "greasy"), tokens_per_word=8, seed=0)[0]


def _diff_of_means(df, layer, word, ref="ask"):
    m = df[df["layer"] == layer].groupby(["token_id", "word"])["value"].mean().reset_index()
    return m[m["word"] == word]["value"].mean() - m[m["word"] == ref]["value"].mean()


def test_token_means_model(acts):
    from analysis.lmm import COEF_COLUMNS, fit_mean_lmm
    r = fit_mean_lmm(acts, "conv5", "ask")
    assert r.formula == "Mean ~ Word + (1 | Speaker)" and r.n_obs == 32
    assert list(r.coefficients.columns) == COEF_COLUMNS
    co = r.coefficients.set_index("term")
    for w in ("carry", "dark", "greasy"):
        assert co.loc[f"Word{w}", "Estimate"] == pytest.approx(_diff_of_means(acts, "conv5", w),
                                                               abs=1e-8)
    assert co.loc["Wordcarry", "Pr(>|t|)"] < 0.001       # planted +1.0
    assert co.loc["Wordgreasy", "Pr(>|t|)"] > 0.05       # null
    assert r.p < 0.001 and r.df1 == 3


def test_rows_with_token_intercepts_and_null_layer(acts):
    from analysis.lmm import compare_layers, fit_mean_lmm
    r = fit_mean_lmm(acts, "conv5", "ask", mean_by_token=False)
    assert r.formula == "Value ~ Word + (1 | UniqueWord)" and r.n_obs == 32 * 16
    co = r.coefficients.set_index("term")
    assert co.loc["Wordcarry", "Estimate"] == pytest.approx(
        _diff_of_means(acts, "conv5", "carry"), abs=1e-6)
    t = compare_layers(acts, ["conv4", "conv5"], "ask")
    p = t.groupby("layer")["p_word"].first()
    assert p["conv4"] > 0.05 and p["conv5"] < 0.001     # no word effect planted at conv4


def test_single_speaker_falls_back_to_lm(acts):
    from analysis.lmm import fit_mean_lmm
    r = fit_mean_lmm(acts.assign(speaker="only"), "conv5", "ask")
    assert r.formula == "Mean ~ Word" and r.backend.startswith("stats::lm")
    assert r.coefficients.set_index("term").loc["Wordcarry", "df"] == 28
