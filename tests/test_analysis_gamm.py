"""GAMM fitting: input validation, rho, planted effects, and agreement with a direct R fit."""

import json
import shutil
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest

from analysis.gamm import choose_engine, fit_phone_gamm, fit_word_gamm
from analysis.gamm.data import (AnalysisInputError, GammFit, build_formula,
                                lag1_autocorrelation, prepare_gamm_data, prepare_phone_data)
from synthetic.activations import make_activations, make_phone_activations

WORDS = ("ask", "carry", "dark", "greasy")  # carry: level +1, dark: bump, greasy: null


@pytest.fixture(scope="module")
def acts():
    df, truth = make_activations(WORDS, tokens_per_word=8, seed=0)
    return df, truth


@pytest.fixture(scope="module")
def word_fit(acts):
    pytest.importorskip("rpy2")
    from analysis.rbridge import r_available
    if not r_available():
        pytest.skip("R/mgcv not available")
    return fit_word_gamm(acts[0], layer="conv5", ref_word="ask", k=10)


# ----------------------------------------------------------------------------- validation

def _conv5(acts):
    return acts[0][acts[0]["layer"] == "conv5"].copy()


def test_prepare_sorts_and_builds_factors(acts):
    df = _conv5(acts).sample(frac=1.0, random_state=1)  # shuffled input
    d = prepare_gamm_data(df, "conv5", "greasy")
    assert list(d["Word"].cat.categories) == ["greasy", "ask", "carry", "dark"]
    assert d["WordOrdered"].cat.ordered
    tok = d["token_id"].to_numpy()
    assert np.all(np.diff(tok) >= 0)
    for _, g in d.groupby("UniqueWord", observed=True):
        assert np.all(np.diff(g["Sample"].to_numpy()) > 0)
    assert d["start_event"].sum() == df["token_id"].nunique() == d["UniqueWord"].nunique()
    assert d["start_event"].to_numpy()[np.r_[0, np.flatnonzero(np.diff(tok)) + 1]].all()
    assert set(["Value", "Sample", "Word", "WordOrdered", "UniqueWord",
                "start_event"]) <= set(d.columns)


@pytest.mark.parametrize("mutate, pattern", [
    (lambda d: d.drop(columns=["value"]), r"missing column.*value"),
    (lambda d: d[d["word"] != "ask"], r"reference word 'ask' is absent"),
    (lambda d: d[d["word"] == "ask"], r"at least two words"),
    (lambda d: d.assign(layer="conv4"), r"layer 'conv5' has no rows.*conv4"),
    (lambda d: d[d["sample"] < 8], r"k=10 needs more than k unique Sample.*32 token"),
    (lambda d: pd.concat([d, d.iloc[:3]]), r"3 duplicated"),
    (lambda d: d.assign(word=pd.Categorical(d["word"], categories=list(WORDS) + ["zebra"])),
     r"\['zebra'\] have no tokens"),
])
def test_bad_input_raises_clear_error(acts, mutate, pattern):
    with pytest.raises(AnalysisInputError, match=pattern):
        prepare_gamm_data(mutate(_conv5(acts)), "conv5", "ask", k=10)


def test_non_finite_values_are_counted_by_token(acts):
    d = _conv5(acts)
    idx = d.index[(d["token_id"] == 3) & (d["sample"].isin([2, 5]))]
    d.loc[idx[0], "value"] = np.nan
    d.loc[idx[1], "value"] = np.inf
    with pytest.raises(AnalysisInputError, match=r"2 non-finite value.*1 token.*: 3"):
        prepare_gamm_data(d, "conv5", "ask")


def test_declared_word_without_tokens(acts):
    with pytest.raises(AnalysisInputError, match=r"\['zebra'\] have no tokens"):
        prepare_gamm_data(_conv5(acts), "conv5", "ask", words=["ask", "carry", "zebra"])


def test_input_error_is_value_error():
    assert issubclass(AnalysisInputError, ValueError)
    with pytest.raises(ValueError, match="k must be at least 3"):
        fit_word_gamm(pd.DataFrame(), k=2)


def test_phone_preparation_drops_short_intervals(acts):
    ph = make_phone_activations(acts[0], acts[1])  # conv4: 6 samples per interval
    d = prepare_phone_data(ph, "conv4", ("s", "sh"), min_samples=4)
    assert d.attrs["dropped_intervals"] == 0
    assert list(d["Phone"].cat.categories) == ["s", "sh"]
    assert d["start_event"].sum() == d["UniqueInterval"].nunique() == 32
    with pytest.raises(AnalysisInputError, match="no interval"):
        prepare_phone_data(ph, "conv4", ("s", "sh"), min_samples=7)
    with pytest.raises(AnalysisInputError, match=r"\['zh'\] have no tokens"):
        prepare_phone_data(ph, "conv1", ("s", "zh"))


# ----------------------------------------------------------------------------- rho

def test_lag1_autocorrelation_hand_case():
    e = np.array([1.0, -1.0, 1.0, -1.0])
    start = np.array([True, False, True, False])
    # mean 0, sum e^2 = 4; within pairs (1,0), (3,2): -1 - 1 -> -0.5; global adds (2,1): -0.75
    assert lag1_autocorrelation(e, start, "within") == pytest.approx(-0.5)
    assert lag1_autocorrelation(e, start, "global") == pytest.approx(-0.75)
    with pytest.raises(ValueError):
        lag1_autocorrelation(e, start, "bogus")


def test_lag1_autocorrelation_recovers_ar1_within_groups():
    rng = np.random.default_rng(5)
    series, starts = [], []
    for _ in range(400):  # independent AR(0.6) series
        x = np.empty(30)
        x[0] = rng.normal() / np.sqrt(1 - 0.36)
        for t in range(1, 30):
            x[t] = 0.6 * x[t - 1] + rng.normal()
        series.append(x)
        starts.append(np.r_[True, np.zeros(29, bool)])
    e = np.concatenate(series)
    assert lag1_autocorrelation(e, np.concatenate(starts)) == pytest.approx(0.6, abs=0.03)


def test_engine_choice():
    assert choose_engine("mgcv", 10_000) == "mgcv"
    assert choose_engine("auto", 20) == "mgcv"
    with pytest.raises(AnalysisInputError):
        choose_engine("turbo", 10)
    import importlib.util
    if importlib.util.find_spec("analysis.gamm.fast") is None:
        with pytest.warns(RuntimeWarning, match="cube"):
            assert choose_engine("auto", 500) == "mgcv"
    else:
        assert choose_engine("auto", 500) == "fast"


@pytest.mark.needs_r
def test_missing_r_package_names_install_command():
    pytest.importorskip("rpy2")
    from analysis.rbridge import RUnavailableError, get_r, r_available
    if not r_available():
        pytest.skip("R not available")
    with pytest.raises(RUnavailableError, match=r"apt-get install -y --no-install-recommends "
                                                r"r-base-core r-cran-mgcv.*pip install rpy2"):
        get_r(("surelyNotAnRPackage",))


# ----------------------------------------------------------------------------- fits (R)

@pytest.mark.needs_r
def test_word_fit_recovers_planted_effects(word_fit):
    f = word_fit
    assert isinstance(f, GammFit) and f.engine == "mgcv"
    par = f.parametric.set_index("term")
    smo = f.smooths.set_index("term")
    assert list(f.parametric.columns) == ["term", "Estimate", "Std. Error", "t value",
                                          "Pr(>|t|)"]
    assert list(f.smooths.columns) == ["term", "edf", "Ref.df", "F", "p-value"]
    # planted level difference (+1.0 for carry)
    assert par.loc["Wordcarry", "Pr(>|t|)"] < 0.001
    assert abs(par.loc["Wordcarry", "Estimate"] - 1.0) < 3 * par.loc["Wordcarry", "Std. Error"]
    # planted shape difference (bump for dark)
    assert smo.loc["s(Sample):WordOrdereddark", "p-value"] < 0.001
    # null contrast (greasy == ask)
    assert par.loc["Wordgreasy", "Pr(>|t|)"] > 0.05
    assert smo.loc["s(Sample):WordOrderedgreasy", "p-value"] > 0.05
    assert f.n_tokens == 32 and f.n_rows == 32 * 16
    p = len(f.coef)
    assert f.Vp.shape == (p, p) and len(f.coef_names) == p
    assert f.random_columns().sum() == 10 * 32
    X = f.lpmatrix(f.newdata("dark", np.arange(16)))
    assert X.shape == (16, p)
    assert f.formula == build_formula(10)
    assert f.formula in f.r_call and "AR.start" in f.r_call
    assert -1 < f.rho < 1 and 0 < f.dev_expl <= 1
    with pytest.raises(AnalysisInputError, match="unknown Word"):
        f.lpmatrix(f.newdata("zebra", [0.0]))


R_SCRIPT = textwrap.dedent(r"""
    suppressMessages(library(mgcv))
    d <- read.csv("data.csv", stringsAsFactors = FALSE)
    d <- d[order(d$token_id, d$Sample), ]
    d$Word <- factor(d$Word, levels = c("ask", "carry", "dark", "greasy"))
    d$WordOrdered <- factor(d$Word, levels = levels(d$Word), ordered = TRUE)
    contrasts(d$WordOrdered) <- "contr.treatment"
    d$UniqueWord <- factor(d$token_id)
    d$start_event <- c(TRUE, diff(d$token_id) != 0)
    f <- Value ~ Word + s(Sample, k = 10) + s(Sample, by = WordOrdered, k = 10) +
         s(Sample, UniqueWord, bs = "fs", m = 1, k = 10)
    m0 <- suppressWarnings(bam(f, data = d, method = "fREML", discrete = TRUE, nthreads = 2))
    rho <- acf(resid(m0), plot = FALSE)$acf[2]   # itsadug's start_value_rho
    m <- suppressWarnings(bam(f, data = d, method = "fREML", discrete = TRUE, nthreads = 2,
                              rho = rho, AR.start = d$start_event))
    s <- summary(m)
    write.csv(s$p.table, "p.csv")
    write.csv(s$s.table, "s.csv")
    x <- seq(0, 15, length.out = 31)
    nd <- function(w) data.frame(Sample = x, Word = factor(w, levels = levels(d$Word)),
                                 WordOrdered = factor(w, levels = levels(d$Word), ordered = TRUE),
                                 UniqueWord = factor(levels(d$UniqueWord)[1],
                                                     levels = levels(d$UniqueWord)))
    pr <- predict(m, nd("dark"), se.fit = TRUE, exclude = "s(Sample,UniqueWord)")
    X1 <- predict(m, nd("dark"), type = "lpmatrix")
    X2 <- predict(m, nd("ask"), type = "lpmatrix")
    D <- X1 - X2
    D[, grepl("UniqueWord", colnames(D))] <- 0
    dif <- D %*% coef(m)
    se <- sqrt(rowSums((D %*% m$Vp) * D))
    write.csv(data.frame(x = x, fit = pr$fit, se = pr$se.fit, diff = dif, diff_se = se),
              "curves.csv", row.names = FALSE)
    cat(sprintf('{"rho": %.12g, "dev": %.12g, "r2": %.12g}', rho, s$dev.expl, s$r.sq),
        file = "info.json")
""")


@pytest.mark.needs_r
def test_matches_direct_r_fit(word_fit, acts, tmp_path):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not on PATH")
    from analysis.diffcurves import difference_curve, predict_levels
    conv5 = _conv5(acts).rename(columns={"value": "Value", "sample": "Sample", "word": "Word"})
    conv5.sample(frac=1.0, random_state=3).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "fit.R").write_text(R_SCRIPT)
    subprocess.run(["Rscript", "fit.R"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=300)
    info = json.loads((tmp_path / "info.json").read_text())
    f = word_fit
    assert f.rho == pytest.approx(info["rho"], rel=1e-6)
    assert f.dev_expl == pytest.approx(info["dev"], rel=1e-3)
    assert f.r_sq == pytest.approx(info["r2"], rel=1e-3)
    p_r = pd.read_csv(tmp_path / "p.csv", index_col=0)
    s_r = pd.read_csv(tmp_path / "s.csv", index_col=0)
    ours_p = f.parametric.set_index("term")
    ours_s = f.smooths.set_index("term")
    assert list(ours_p.index) == list(p_r.index)
    assert list(ours_s.index) == list(s_r.index)
    # same numbers to (better than) 3 significant digits
    np.testing.assert_allclose(ours_p.to_numpy(float), p_r.to_numpy(float), rtol=1e-3,
                               atol=1e-12)
    np.testing.assert_allclose(ours_s.to_numpy(float), s_r.to_numpy(float), rtol=1e-3,
                               atol=1e-12)
    cur = pd.read_csv(tmp_path / "curves.csv")
    pred = predict_levels(f, ["dark"], cur["x"])
    np.testing.assert_allclose(pred["fit"], cur["fit"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(pred["se"], cur["se"], rtol=1e-6, atol=1e-9)
    diff = difference_curve(f, "dark", "ask", cur["x"])
    np.testing.assert_allclose(diff["difference"], cur["diff"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(diff["se"], cur["diff_se"], rtol=1e-6, atol=1e-9)


@pytest.mark.needs_r
def test_phone_fit_planted_and_k_choice(acts):
    pytest.importorskip("rpy2")
    from analysis.rbridge import r_available
    if not r_available():
        pytest.skip("R/mgcv not available")
    ph = make_phone_activations(acts[0], acts[1])  # sh - s = sin(pi t) at conv1..3, 0 at conv4
    f2 = fit_phone_gamm(ph, "conv2", ("s", "sh"), k=10)
    smo = f2.smooths.set_index("term")
    par = f2.parametric.set_index("term")
    assert smo.loc["s(norm_time):PhoneOrderedsh", "p-value"] < 0.001
    assert par.loc["Phonesh", "Pr(>|t|)"] < 0.01
    assert f2.k == 10 and f2.predictor == "norm_time" and f2.n_tokens == 32
    f4 = fit_phone_gamm(ph, "conv4", ("s", "sh"), k=10)
    assert f4.k == 5 and any("k lowered from 10 to 5" in n for n in f4.notes)
    assert f4.parametric.set_index("term").loc["Phonesh", "Pr(>|t|)"] > 0.05


def test_engines_depend_only_on_the_shared_modules():
    """The GAMM engines import (anywhere in their files, functions included) only the shared
    data/result modules and analysis.rbridge: never each other, never the package that
    chooses between them, and nothing of TensorFlow."""
    import ast
    import pathlib
    folder = pathlib.Path(__file__).resolve().parents[1] / "analysis" / "gamm"
    shared = {"analysis.gamm.data", "analysis.gamm.rcode", "analysis.rbridge"}
    allowed = {"mgcv": shared,
               "fast": shared | {"analysis.gamm.fast_setup", "analysis.gamm.fast_stats",
                                  "analysis.gamm.fast_design"},
               "fast_design": shared,
               "fast_setup": shared, "fast_stats": shared, "data": set(),
               "rcode": {"analysis.gamm.data"}}
    for name, ok in allowed.items():
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}.py: relative import"
                found.add(node.module)
        project = {m for m in found if m.split(".")[0] in ("analysis", "common")}
        assert project - {"common.errors", "common.layout"} <= ok, (name, sorted(project - ok))
        assert not {m for m in found if m.split(".")[0] in ("tensorflow", "keras")}, name
