"""The contrast matrix (analysis/contrasts.py): corrections against hand-computed values and an
independent step-down procedure, --contrasts parsing, the report section from a hand-built
matrix (no R), and planted truth through the fast engine (R's mgcv set-up)."""

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.contrast_report import (contrast_report_section, encoding_summary,
                                      fig_contrast_matrix, write_contrast_outputs)
from analysis.contrast_choice import ContrastInputError, interval_counts, parse_contrasts
from analysis.contrasts import (CALIBRATED_COLUMNS, MATRIX_COLUMNS, contrast_matrix,
                                correct_matrix, pooled_interval_sd)
from analysis.corrections import benjamini_hochberg, holm
from common.errors import InputError
from synthetic.planted import LAYER_JUMPS, make_contrast_phones


# --------------------------------------------------------------------------- corrections

def test_holm_and_bh_hand_computed():
    # sorted: 0.005 (#3), 0.01 (#0), 0.03 (#2), 0.04 (#1), m = 4
    # Holm: 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    # BH:   0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 (running min from top)
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    # capped at 1; BH's running minimum pulls the first down to 0.6
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(benjamini_hochberg([0.5, 0.6]), [0.6, 0.6])


def test_corrections_leave_nan_out_of_the_family():
    p = [np.nan, 0.01, 0.04, np.nan, 0.03, 0.005]
    h, b = holm(p), benjamini_hochberg(p)
    assert np.isnan(h[[0, 3]]).all() and np.isnan(b[[0, 3]]).all()
    np.testing.assert_allclose(h[[1, 2, 4, 5]], [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(b[[1, 2, 4, 5]], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(holm([np.nan])).all() and len(holm([])) == 0


def _holm_rejects(p, alpha):
    """Holm's procedure as published: step down while p_(j) <= alpha / (m - j + 1)."""
    order = np.argsort(p)
    rejected = np.zeros(len(p), bool)
    for j, i in enumerate(order):
        if p[i] <= alpha / (len(p) - j):
            rejected[i] = True
        else:
            break
    return rejected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrections_match_independent_references(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.002, 10)])
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p),
                               rtol=1e-12)
    for alpha in (0.01, 0.05, 0.2):
        np.testing.assert_array_equal(holm(p) <= alpha, _holm_rejects(p, alpha))


def _matrix(rows):
    """A matrix from (contrast, layer, status, p_param, p_smooth, effect_size) tuples."""
    recs = []
    for c, lay, st, pp, ps, eff in rows:
        a, b = c.split(":")
        recs.append({"contrast": c, "reference": a, "phone": b, "layer": lay, "status": st,
                     "p_param": pp, "p_smooth": ps, "effect_size": eff})
    return correct_matrix(pd.DataFrame(recs).reindex(columns=MATRIX_COLUMNS), alpha=0.05)


HAND = [("s:sh", "conv1", "fitted", 0.001, 0.5, 1.5),
        ("s:sh", "conv2", "fitted", 0.4, 0.002, 0.1),
        ("s:sh", "conv3", "fitted", 0.3, 0.2, -0.2),
        ("s:sh", "conv4", "too few intervals: s 3, sh 2", np.nan, np.nan, np.nan),
        ("p:b", "conv1", "fitted", 0.04, 0.9, 0.3),
        ("p:b", "conv2", "fitted", 0.6, 0.7, 0.0),
        ("p:b", "conv3", "fitted", 0.03, 0.05, 0.4),
        ("p:b", "conv4", "fitted", 0.8, 0.8, -0.1)]


def test_correct_matrix_uses_every_p_of_the_matrix_as_one_family():
    m = _matrix(HAND)
    # 7 fitted cells x 2 p-values = family of 14; 0.001 is the smallest: Holm 14 * 0.001
    assert m.loc[0, "p_param_holm"] == pytest.approx(0.014)
    assert m.loc[1, "p_smooth_holm"] == pytest.approx(13 * 0.002)
    assert np.isnan(m.loc[3, "p_param_holm"]) and pd.isna(m.loc[3, "encoded_holm"])
    assert m["encoded_holm"].tolist()[:3] == [True, True, False]
    # p:b conv1 (0.04) is not encoded after correction though below 0.05 alone
    assert not m.loc[4, "encoded_holm"] and not m.loc[4, "encoded_bh"]


# --------------------------------------------------------------------------- --contrasts

def _interval_table(counts):
    """phone_activations rows: ``counts[phone]`` intervals of 5 samples each, one layer."""
    rows = []
    tok = 0
    for ph, n in counts.items():
        for _ in range(n):
            for j in range(5):
                rows.append((tok, "w", "spk", "conv1", ph, 0, j, (j + 0.5) / 5, 0.0))
            tok += 1
    return pd.DataFrame(rows, columns=["token_id", "word", "speaker", "layer", "phone",
                                       "phone_index", "sample", "norm_time", "value"])


def test_parse_contrast_list():
    assert parse_contrasts("s:sh, p:b,iy:ih") == [("s", "sh"), ("p", "b"), ("iy", "ih")]


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("s", "not a pair"), ("s:sh:z", "not a pair"), ("s:", "not a pair"),
    ("s:s", "itself"), ("s:sh,sh:s", "twice"), ("s:sh,,p:b", "not a pair")])
def test_parse_contrasts_refuses_bad_text(text, words):
    with pytest.raises(ContrastInputError, match=words) as e:
        parse_contrasts(text)
    assert isinstance(e.value, InputError) and "--contrasts" in str(e.value)


def test_parse_contrasts_names_phones_missing_from_the_table():
    table = _interval_table({"s": 3, "sh": 2})
    with pytest.raises(ContrastInputError, match=r"\['zh'\].*extract.py --phones"):
        parse_contrasts("s:sh,s:zh", table)


def test_auto_pairs_sorted_by_power_and_capped():
    table = _interval_table({"a": 30, "b": 25, "c": 20, "d": 5})
    assert interval_counts(table).to_dict() == {"a": 30, "b": 25, "c": 20, "d": 5}
    # d has < 10 intervals; pairs by smaller count: (a,b) 25, then (a,c) and (b,c) at 20,
    # tie broken by the larger count (30 before 25)
    assert parse_contrasts("auto", table, min_intervals=10) == [("a", "b"), ("a", "c"),
                                                                 ("b", "c")]
    assert parse_contrasts("AUTO", table, min_intervals=10, max_auto=2) == [("a", "b"),
                                                                            ("a", "c")]
    assert len(parse_contrasts("auto", table, min_intervals=5, max_auto=100)) == 6
    with pytest.raises(ContrastInputError, match="fewer than two phones"):
        parse_contrasts("auto", table, min_intervals=26)
    with pytest.raises(ContrastInputError, match="needs a phone_activations"):
        parse_contrasts("auto", None)
    with pytest.raises(ContrastInputError, match="--min_intervals"):
        parse_contrasts("auto", table, min_intervals=1)


def test_pooled_interval_sd_hand_computed():
    # intervals means: a: 1, 3 (mean 2); b: 10, 14, 12 (mean 12); SS = 2 + 8 = 10, df = 5 - 2
    data = pd.DataFrame({"UniqueInterval": ["i1", "i1", "i2", "j1", "j2", "j3"],
                         "Phone": ["a", "a", "a", "b", "b", "b"],
                         "Value": [0.0, 2.0, 3.0, 10.0, 14.0, 12.0]})
    assert pooled_interval_sd(data) == pytest.approx(np.sqrt(10 / 3))


# --------------------------------------------------------------------------- unfitted cells

def test_cells_without_enough_intervals_are_reported_not_dropped():
    df, _ = make_contrast_phones(n_tokens=30, phones=("s", "sh", "p", "b"), seed=3)
    m = contrast_matrix(df, [("s", "sh"), ("p", "b")], min_intervals=1000)
    assert list(m.columns) == CALIBRATED_COLUMNS
    assert (m["status_paper"] == m["status"]).all()
    assert m["encoded_paper_holm"].isna().all()
    paper = contrast_matrix(df, [("s", "sh"), ("p", "b")], min_intervals=1000, model="paper")
    assert list(paper.columns) == MATRIX_COLUMNS
    assert len(m) == 2 * 4 and list(pd.unique(m["layer"])) == ["conv1", "conv2", "conv3",
                                                                 "conv4"]
    assert m["status"].str.startswith("too few intervals").all()
    assert m[["estimate", "p_param", "p_smooth", "effect_size"]].isna().all().all()
    assert m["encoded_holm"].isna().all()
    # the counts are those of the table (intervals with >= 4 samples at the layer)
    n_s = (df[(df.layer == "conv1") & (df.phone == "s")]
           .groupby(["token_id", "phone_index"]).size() >= 4).sum()
    assert m.loc[0, "n_reference"] == n_s
    with pytest.raises(ContrastInputError, match="conv9"):
        contrast_matrix(df, [("s", "sh")], layers=["conv9"])
    # settings that would fail every cell are refused before any fit
    with pytest.raises(ContrastInputError, match="--engine=gam"):
        contrast_matrix(df, [("s", "sh")], engine="gam")
    with pytest.raises(ContrastInputError, match="--k=2"):
        contrast_matrix(df, [("s", "sh")], k=2)
    with pytest.raises(ContrastInputError, match="--phone_model=gamm"):
        contrast_matrix(df, [("s", "sh")], model="gamm")


# --------------------------------------------------------------------------- report, figure

def test_report_section_names_first_layer_and_the_layers_without_encoding():
    m = _matrix(HAND)
    summ = encoding_summary(m).set_index("contrast")
    assert summ.loc["s:sh", "first_encoded"] == "conv1"
    assert summ.loc["s:sh", "not_encoded"] == ["conv3"]
    assert summ.loc["s:sh", "not_fitted"] == ["conv4"]
    assert summ.loc["p:b", "first_encoded"] is None
    text = contrast_report_section(m)
    # each contrast named by its difference, the sign of its numbers: [ʃ] - [s]
    assert ("- **\\[ʃ\\] \u2212 \\[s\\]**: first encoded at conv1; not encoded at conv3; not "
            "fitted at conv4 (too few intervals).") in text
    assert ("- **\\[b\\] \u2212 \\[p\\]**: encoded at no layer; not encoded at conv1, conv2, "
            "conv3, conv4.") in text
    assert "| \\[ʃ\\] \u2212 \\[s\\] | 1.50\\* | 0.10\\* | -0.20 | n/f |" in text
    # under BH (less strict) p:b conv3 (0.03, 0.05) stays unencoded but the order holds
    assert encoding_summary(m, "bh").set_index("contrast").loc["s:sh", "first_encoded"] == \
        "conv1"


def test_report_section_escapes_labels():
    rows = [("a*:b_", "conv1", "fitted", 0.001, 0.5, 1.0)]
    text = contrast_report_section(_matrix(rows))
    assert "**\\[b\\_\\] \u2212 \\[a\\*\\]**" in text and "**[b_]" not in text


def test_outputs_written(tmp_path):
    m = _matrix(HAND)
    paths = write_contrast_outputs(m, str(tmp_path))
    back = pd.read_csv(paths["csv"])
    assert list(back.columns) == MATRIX_COLUMNS and len(back) == len(HAND)
    assert os.path.getsize(tmp_path / "figures" / "contrast_matrix.png") > 1000
    assert (tmp_path / "figures" / "contrast_matrix.pdf").exists()
    assert "figures/contrast_matrix.png" in open(paths["md"]).read()
    with pytest.raises(ValueError):
        fig_contrast_matrix(m, str(tmp_path), method="bonferroni")


# --------------------------------------------------------------------------- planted truth

# disjoint phone pairs: s:sh planted at conv1 and conv2, p:b at conv2 and conv3, iy:ih never
PLANTED_EFFECT = {"conv1": {"sh": 0.6}, "conv2": {"sh": 0.6, "b": 0.6}, "conv3": {"b": 0.6}}
PAIRS = [("s", "sh"), ("p", "b"), ("iy", "ih")]


@pytest.mark.needs_r
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_planted_contrasts_are_found_at_their_layers(seed):
    pytest.importorskip("rpy2")
    # six words per phone: from five on the calibrated model's df are Satterthwaite's; with
    # fewer they are Kenward-Roger's, which holds the level but has the df of the words
    # (about 3 with 4 words) and would need a larger effect (docs/calibration.md)
    df, truth = make_contrast_phones(n_tokens=120, phones=[p for ab in PAIRS for p in ab],
                                     effect=PLANTED_EFFECT, layers=LAYER_JUMPS[:4],
                                     words=("ask", "dark", "suit", "year", "wash", "oily"),
                                     seed=100 + seed)
    m = contrast_matrix(df, PAIRS, engine="fast")
    assert (m["status"] == "fitted").all(), m["status"].tolist()
    planted = np.array([truth.planted(a, b, lay) for a, b, lay in
                        zip(m["reference"], m["phone"], m["layer"])])
    assert planted.sum() == 4
    assert m.loc[planted, "encoded_holm"].all(), m.loc[planted]
    assert not m.loc[~planted, "encoded_holm"].any(), m.loc[~planted]
    # layers differ 10-fold in scale (conv1 0.1 ... conv4 100): the planted effect is the
    # same in SD units, so the effect sizes agree while the raw estimates do not
    eff = m.loc[planted, "effect_size"].to_numpy()
    est = m.loc[planted, "estimate"].abs().to_numpy()
    assert (eff > 0).all() and eff.max() / eff.min() < 1.6
    assert est.max() / est.min() > 50
    assert (np.abs(m.loc[~planted, "effect_size"]) < 0.6).all()
    summ = encoding_summary(m).set_index("contrast")
    assert summ.loc["s:sh", "first_encoded"] == "conv1"
    assert summ.loc["p:b", "first_encoded"] == "conv2"
    assert summ.loc["iy:ih", "first_encoded"] is None


@pytest.mark.needs_r
def test_effect_size_does_not_change_with_the_layers_scale():
    pytest.importorskip("rpy2")
    df, _ = make_contrast_phones(n_tokens=60, phones=("s", "sh"), effect={"conv2": {"sh": 0.5}},
                                 layers=LAYER_JUMPS[1:2], seed=7)
    big = df.assign(value=df["value"] * 1000.0)
    a = contrast_matrix(df, [("s", "sh")], engine="fast").iloc[0]
    b = contrast_matrix(big, [("s", "sh")], engine="fast").iloc[0]
    assert b["estimate"] == pytest.approx(1000 * a["estimate"], rel=1e-4)
    assert b["estimate_paper"] == pytest.approx(1000 * a["estimate_paper"], rel=1e-4)
    for col in ("effect_size", "shape_size", "p_param", "p_smooth", "df", "effect_size_paper",
                "shape_size_paper", "p_param_paper", "edf_paper"):
        assert b[col] == pytest.approx(a[col], rel=1e-3, abs=1e-8), col


@pytest.mark.needs_r
@pytest.mark.slow
def test_fast_and_mgcv_cells_agree():
    pytest.importorskip("rpy2")
    df, _ = make_contrast_phones(n_tokens=30, phones=("s", "sh"), effect={"conv2": {"sh": 0.5}},
                                 layers=LAYER_JUMPS[1:2], max_samples=8, seed=5)
    fast = contrast_matrix(df, [("s", "sh")], engine="fast", model="paper").iloc[0]
    mgcv = contrast_matrix(df, [("s", "sh")], engine="mgcv", model="paper").iloc[0]
    assert (fast["engine"], mgcv["engine"]) == ("fast", "mgcv")
    for col in ("estimate", "se", "edf", "F", "effect_size", "shape_size", "rho"):
        assert fast[col] == pytest.approx(mgcv[col], rel=2e-2, abs=1e-3), col


def test_phone_rows_renamed_are_the_word_model_rows():
    """as_word_model (the contrast cell's shortcut) gives exactly what preparing the cell's
    rows as a word model gives: the same values, order, levels and token labels."""
    from analysis.contrasts import as_word_model
    from analysis.gamm.data import prepare_gamm_data, prepare_phone_model
    df, _ = make_contrast_phones(n_tokens=40, phones=("s", "sh", "p"),
                                 effect={"conv2": {"sh": 0.5}}, layers=LAYER_JUMPS[1:3], seed=3)
    data, k_eff, _ = prepare_phone_model(df, "conv2", ("sh", "s"), k=10)
    rows = pd.DataFrame({"token_id": data["UniqueInterval"].astype(str).to_numpy(),
                         "word": data["Phone"].astype(str).to_numpy(), "layer": "conv2",
                         "sample": data["norm_time"].to_numpy(float),
                         "value": data["Value"].to_numpy(float)})
    expected = prepare_gamm_data(rows, "conv2", "sh", k=k_eff, words=["sh", "s"])
    renamed = as_word_model(data)
    assert list(renamed["Word"].cat.categories) == ["sh", "s"]
    for col in ("Value", "Sample", "Word", "WordOrdered", "UniqueWord", "start_event"):
        pd.testing.assert_series_equal(renamed[col], expected[col], check_exact=True)
    assert renamed["start_event"].sum() == data["UniqueInterval"].nunique() > 10


@pytest.mark.needs_r
def test_contrast_cell_fit_equals_the_word_model_fit():
    pytest.importorskip("rpy2")
    from analysis.contrasts import as_word_model
    from analysis.gamm.data import prepare_phone_model
    from analysis.gamm.fast import fit_prepared_word_gamm_fast, fit_word_gamm_fast
    df, _ = make_contrast_phones(n_tokens=40, phones=("s", "sh"), effect={"conv2": {"sh": 0.5}},
                                 layers=LAYER_JUMPS[1:2], seed=4)
    data, k_eff, _ = prepare_phone_model(df, "conv2", ("s", "sh"), k=10)
    rows = pd.DataFrame({"token_id": data["UniqueInterval"].astype(str).to_numpy(),
                         "word": data["Phone"].astype(str).to_numpy(), "layer": "conv2",
                         "sample": data["norm_time"].to_numpy(float),
                         "value": data["Value"].to_numpy(float)})
    long_fit = fit_word_gamm_fast(rows, "conv2", "s", k=k_eff, words=["s", "sh"], full_vp=False)
    cell_fit = fit_prepared_word_gamm_fast(as_word_model(data), "conv2", k=k_eff, full_vp=False)
    pd.testing.assert_frame_equal(cell_fit.parametric, long_fit.parametric, check_exact=True)
    pd.testing.assert_frame_equal(cell_fit.smooths, long_fit.smooths, check_exact=True)
    assert cell_fit.rho == long_fit.rho and np.array_equal(cell_fit.coef, long_fit.coef)


def test_listed_phones_in_any_phone_set_map_to_the_tables_labels():
    """--contrasts=ʃ:s or SH:S name the table's sh and s (common.phones, the one table)."""
    from analysis.contrast_choice import choose_contrasts, parse_contrast_text
    df, _ = make_contrast_phones(n_tokens=30, phones=("s", "sh", "iy", "ih"), seed=3)
    for text in ("ʃ:s,i:ɪ", "SH:S,IY1:IH0", "sh:s,iy:ih"):
        assert choose_contrasts(parse_contrast_text(text), df) == [("sh", "s"), ("iy", "ih")], \
            text
    with pytest.raises(ContrastInputError, match="zz"):
        choose_contrasts(parse_contrast_text("zz:s"), df)
