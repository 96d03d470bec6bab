"""Table writers: documented columns, Markdown/LaTeX content, from a stub fit (no R)."""

import numpy as np
import pandas as pd
import pytest

from analysis.gamm import GammFit
from analysis.tables import (MODEL_ROWS, TABLE_COLUMNS, fits_table, format_p, write_tables)


def _stub_fit(shift=0.0):
    par = pd.DataFrame({"term": ["(Intercept)", "Wordcarry"], "Estimate": [0.1 + shift, 1.07],
                        "Std. Error": [0.15, 0.21], "t value": [0.62, 5.08],
                        "Pr(>|t|)": [0.536, 7.4e-7]})
    smo = pd.DataFrame({"term": ["s(Sample)", "s(Sample):WordOrderedcarry",
                                 "s(Sample,UniqueWord)"], "edf": [7.9, 1.44, 232.4],
                        "Ref.df": [8.2, 1.48, 317.0], "F": [41.5, 0.45, 27.8],
                        "p-value": [0.0, 0.7125, 0.0]})
    return GammFit(parametric=par, smooths=smo, rho=-0.356, n_tokens=32, n_rows=512,
                   dev_expl=0.982, r_sq=0.964, formula="Value ~ Word", r_call="bam(...)",
                   coef=np.zeros(3), Vp=np.eye(3), coef_names=["a", "b", "c"],
                   lpmatrix=lambda nd: np.zeros((len(nd), 3)), engine="stub", k=10,
                   levels=["ask", "carry"])


def test_fits_table_columns_and_rows():
    t = fits_table({"conv5": _stub_fit()})
    assert list(t.columns) == ["layer"] + TABLE_COLUMNS
    assert (t["section"] == "parametric").sum() == 2
    assert (t["section"] == "smooth").sum() == 3
    model = t[t["section"] == "model"].set_index("term")["Estimate"]
    assert list(model.index) == MODEL_ROWS
    assert model["rho"] == pytest.approx(-0.356) and model["n_rows"] == 512
    assert t.set_index("term").loc["Wordcarry", "p-value"] == pytest.approx(7.4e-7)
    assert t.set_index("term").loc["s(Sample)", "edf"] == pytest.approx(7.9)


def test_write_tables_files(tmp_path):
    paths = write_tables({"conv1": _stub_fit(), "conv2": _stub_fit(1.0)},
                         str(tmp_path / "phone_contrast"), title="Phone contrast")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == ["layer"] + TABLE_COLUMNS
    assert sorted(csv["layer"].unique()) == ["conv1", "conv2"]
    md = open(paths["md"]).read()
    # terms as a reader names them, the Holm-adjusted p beside the raw one (mgcv's names in
    # the CSV)
    assert "### layer conv2" in md and \
        "| Word = *carry* | 1.070 | 0.210 | 5.080 | < 0.0001 | < 0.0001 |" in md
    assert "Wordcarry" in set(csv["term"]) and "Wordcarry" not in md
    assert "AR1 ρ = -0.356; 32 tokens/intervals, 512 rows; k = 10" in md
    assert "deviance explained = 98.2 %" in md
    tex = open(paths["tex"]).read()
    assert tex.count(r"\begin{tabular}") == 2
    assert (r"s(Sample): Word = \textit{carry} (difference curve) & 1.440 & 1.480 & 0.450 & "
            r"0.7125 & ") in tex
    assert r"AR1 $\rho$ = -0.356" in tex and "rho =" not in tex
    assert r"98.2 \%" in tex
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_format_p():
    assert format_p(3e-5) == "< 0.0001"
    assert format_p(0.04567) == "0.0457"
    assert format_p(float("nan")) == ""


def test_ci_bounds_normal_and_t():
    from analysis.tables import ci_bounds
    # normal and Student t quantiles as printed in statistical tables
    assert ci_bounds(1.0, 0.5) == pytest.approx((1.0 - 1.959964 * 0.5, 1.0 + 1.959964 * 0.5))
    assert ci_bounds(0.0, 1.0, df=5) == pytest.approx((-2.570582, 2.570582), abs=1e-6)
    assert ci_bounds(0.0, 1.0, df=10, level=0.9) == pytest.approx((-1.812461, 1.812461),
                                                                 abs=1e-6)


def test_lmm_word_estimates_looks_words_up_by_term():
    from analysis.tables import format_ci, lmm_word_estimates, p_phrase
    lmm = pd.DataFrame({"layer": ["conv1"] * 3 + ["conv2"] * 2,
                        "term": ["(Intercept)", "Wordb:c", "Wordd", "(Intercept)", "Wordd"],
                        "Estimate": [0.5, 1.0, -2.0, 0.1, 0.3],
                        "Std. Error": [0.1, 0.2, 0.4, 0.1, 0.1],
                        "df": [4.0, 4.0, 4.0, 20.0, 20.0],
                        "Pr(>|t|)": [0.01, 0.02, 0.03, 0.4, 0.01]})
    est = lmm_word_estimates(lmm, ["a", "b:c", "d"])
    assert list(est["word"]) == ["a", "b:c", "d", "a", "d"]
    assert list(est["reference"]) == [True, False, False, True, False]
    row = est[(est["layer"] == "conv1") & (est["word"] == "b:c")].iloc[0]
    t4 = 2.776445  # t(0.975, 4)
    assert (row["lower"], row["upper"]) == pytest.approx((1.0 - t4 * 0.2, 1.0 + t4 * 0.2))
    row = est[(est["layer"] == "conv2") & (est["word"] == "d")].iloc[0]
    t20 = 2.085963  # t(0.975, 20)
    assert (row["lower"], row["upper"]) == pytest.approx((0.3 - t20 * 0.1, 0.3 + t20 * 0.1))
    assert format_ci(-0.5, 1.25) == "-0.500 to 1.250"
    assert p_phrase(0.5) == "p = 0.5000" and p_phrase(1e-6) == "p < 0.0001"
