"""The report's results items and the figures' page format, on small hand-built cases (no R).

Fits are GammFit stubs whose tables are written by hand, so every number the report prints
is checked against a value computed here from those tables (95% CIs from the normal / t
quantiles as printed in statistical tables: 1.959964 and t(0.975, 10) = 2.228139).
"""

import html
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import figures as F
from analysis import style
from analysis.diffcurves import LayerTime
from analysis.gamm import GammFit
from common.phones import TIMIT_TO_IPA, ipa, phone_label
from analysis.tables import format_number
from analysis.records import read_activations_records, read_layer_time
from analysis.report import (ReportInputs, build_markdown, direction_sentence,
                             markdown_to_html, write_report)

Z975 = 1.959964
T975_DF10 = 2.228139


def _fit(parametric, smooths, levels, factor="Word", predictor="Sample", k=10, notes=(),
         data=None, rho=-0.25, engine="mgcv"):
    par = pd.DataFrame(parametric, columns=["term", "Estimate", "Std. Error", "t value",
                                            "Pr(>|t|)"])
    smo = pd.DataFrame(smooths, columns=["term", "edf", "Ref.df", "F", "p-value"])
    return GammFit(parametric=par, smooths=smo, rho=rho, n_tokens=5, n_rows=80,
                   dev_expl=0.9, r_sq=0.85, formula="Value ~ Word", r_call="bam(...)",
                   coef=np.zeros(2), Vp=np.eye(2), coef_names=["a", "b"],
                   lpmatrix=lambda nd: np.zeros((len(nd), 2)), engine=engine,
                   predictor=predictor, factor=factor, levels=list(levels), k=k,
                   notes=list(notes), data=data)


# token ids 0-1 ask, 2 carry, 3-4 dark
WORD_DATA = pd.DataFrame({"token_id": [0, 1, 2, 3, 4],
                          "Word": ["ask", "ask", "carry", "dark", "dark"]})


def _word_fit():
    return _fit([("(Intercept)", 0.1, 0.1, 1.0, 0.3),
                 ("Wordcarry", 1.0, 0.25, 4.0, 1e-5),
                 ("Worddark", -0.5, 0.2, -2.5, 0.012)],
                [("s(Sample)", 5.0, 6.0, 20.0, 1e-6),
                 ("s(Sample):WordOrderedcarry", 1.0, 1.0, 0.1, 0.75),
                 ("s(Sample):WordOrdereddark", 3.2, 4.0, 6.0, 0.001),
                 ("s(Sample,UniqueWord)", 20.0, 40.0, 3.0, 1e-4)],
                ["ask", "carry", "dark"], data=WORD_DATA)


def _phone_fit(k=10, notes=()):
    # [s] only from ask (tokens 0, 1: three intervals) and carry (token 2: one interval);
    # [ʃ] only from dark (tokens 3, 4: three intervals)
    intervals = [("0_s0", 0, "s"), ("0_s1", 0, "s"), ("1_s0", 1, "s"), ("2_s0", 2, "s"),
                 ("3_sh0", 3, "sh"), ("4_sh0", 4, "sh"), ("4_sh1", 4, "sh")]
    data = pd.DataFrame([{"UniqueInterval": u, "token_id": t, "Phone": p, "norm_time": x}
                         for u, t, p in intervals for x in (0.1, 0.5, 0.9)])
    fit = _fit([("(Intercept)", 0.0, 0.1, 0.0, 1.0), ("Phonesh", 0.3, 0.1, 3.0, 0.004)],
               [("s(norm_time)", 2.0, 2.5, 5.0, 0.01),
                ("s(norm_time):PhoneOrderedsh", 2.0, 2.4, 4.0, 0.002)],
               ["s", "sh"], factor="Phone", predictor="norm_time", k=k, notes=notes,
               data=data)
    fit.n_tokens = len(intervals)  # as mgcv's fit counts them: random-smooth groups
    return fit


def _lmm():
    return pd.DataFrame({
        "layer": ["conv5"] * 3, "formula": ["Mean ~ Word + (1 | Speaker)"] * 3,
        "term": ["(Intercept)", "Wordcarry", "Worddark"], "Estimate": [0.2, 0.6, -0.05],
        "Std. Error": [0.1, 0.2, 0.2], "df": [10.0, 10.0, 10.0], "t value": [2.0, 3.0, -0.25],
        "Pr(>|t|)": [0.07, 0.013, 0.81], "F_word": [5.0] * 3, "p_word": [0.03] * 3,
        "singular": [True] * 3})


def _folder(tmp_path, classification=None, confusion=None, layers=None):
    d = tmp_path / "acts"
    d.mkdir(parents=True)
    info = {"checkpoint": "runs/train", "checkpoint_step": 684, "network": "Q",
            "sample_rate": 16000, "counts": {"tokens": 5},
            "layers": layers if layers is not None else
            [{"name": "conv5", "stride": 4, "length": 16, "jump": 1024, "centre0": 511.5}]}
    (d / "extract_info.json").write_text(json.dumps(info))
    if classification is not None:
        (d / "classification.json").write_text(json.dumps(classification))
    if confusion is not None:
        confusion.to_csv(d / "confusion.csv", index_label="word")
    return str(d)


CONFUSION = pd.DataFrame([[0, 0, 5, 0], [0, 0, 4, 0], [3, 1, 0, 0], [0, 4, 1, 0]],
                         index=pd.Index(["ask", "dark", "rag", "wash"], name="word"),
                         columns=["0", "1", "2", "3"])
CLASSIFICATION = {"accuracy": 0.6, "n_tokens": 18, "chance": 0.278,
                  "mapping": {"ask": 2, "rag": 0, "wash": 1},
                  "permutation_chance": {"mean": 0.33, "p95": 0.44, "n_perm": 200, "seed": 0}}


def _inputs(folder, **kw):
    base = dict(activations=folder, layer="conv5", ref_word="ask", word_fit=_word_fit(),
                diff_words=("carry", "ask"),
                diff_regions=[{"start": 0.0, "end": 9.0, "sign": 1, "n_points": 37},
                              {"start": 12.0, "end": 13.5, "sign": -1, "n_points": 7}],
                phone_fits={"conv2": _phone_fit(),
                            "conv4": _phone_fit(k=5, notes=[
                                "conv4: k lowered from 10 to 5 (shortest interval has 6 "
                                "samples; k must be below it)"])},
                phones=("s", "sh"),
                phone_regions={"conv2": [{"start": 0.2, "end": 0.6, "sign": 1}], "conv4": []},
                lmm=_lmm(), lmm_backend="lme4", engine_requested="auto")
    base.update(kw)
    return ReportInputs(**base)


# ------------------------------------------------------------------------ report items

def test_word_levels_with_hand_checked_ci_and_direction(tmp_path):
    md = build_markdown(_inputs(_folder(tmp_path)))
    lo, hi = 1.0 - Z975 * 0.25, 1.0 + Z975 * 0.25
    assert (f"| *carry* | 1.000 | {lo:.3f} to {hi:.3f} | < 0.0001 | < 0.0001 | 1.00 | 0.7500 | "
            "0.7500 |") in md
    assert (f"- conv5: *carry* is higher than *ask* by 1.000 (95% CI {lo:.3f} to {hi:.3f}, "
            "p < 0.0001, Holm p < 0.0001).") in md
    # a negative difference: "lower by |d|" with the CI of |d|
    lo, hi = 0.5 - Z975 * 0.2, 0.5 + Z975 * 0.2
    # Holm over the 4 tests: p 0.012 is the third smallest of (1e-5, 0.012, 0.75, 0.001) -> x 2
    assert (f"- conv5: *dark* is lower than *ask* by 0.500 (95% CI {lo:.3f} to {hi:.3f}, "
            "p = 0.0120, Holm p = 0.0240).") in md
    assert "the shape of *dark* over time differs from that of *ask*" in md
    assert "p = 0.0010, Holm p = 0.0030" in md  # second smallest: x 3
    assert "Engine mgcv, chosen automatically (--engine=auto: mgcv up to 250 tokens" in md
    assert "AR1 ρ = -0.250, estimated from the residuals of a first fit" in md


def test_direction_sentence_not_significant():
    s = direction_sentence("conv3", "'a'", "'b'", -0.02, -0.4, 0.36, 0.9)
    assert s == ("conv3: 'a' does not differ reliably from 'b' (difference -0.02, 95% CI "
                 "-0.400 to 0.360, p = 0.9000)")


def test_difference_regions_in_samples_and_ms(tmp_path):
    md = build_markdown(_inputs(_folder(tmp_path)))
    # centre0 511.5 input samples and jump 1024 at 16 kHz: 31.97 ms + 64 ms per sample
    ms = [(511.5 + s * 1024) / 16.0 for s in (0.0, 9.0, 12.0, 13.5)]
    assert (f"- Samples 0.00 to 9.00 = {ms[0]:.0f} to {ms[1]:.0f} ms (centres of the input "
            "spans; one sample = 64 ms): *carry* is higher than *ask*.") in md
    assert f"- Samples 12.00 to 13.50 = {ms[2]:.0f} to {ms[3]:.0f} ms" in md
    assert "*ask* is higher than *carry*." in md
    assert "32 to 608 ms" in md  # written out by hand: 31.97 -> 32, 607.97 -> 608


def test_layer_time_from_the_time_column_when_extract_info_lacks_it(tmp_path):
    folder = _folder(tmp_path, layers=[{"name": "conv5", "stride": 1024, "length": 4}])
    acts = pd.DataFrame({"token_id": [0] * 4 + [1] * 4, "word": "w", "speaker": "s",
                         "layer": "conv5", "sample": list(range(4)) * 2,
                         "time": [(s * 1024 + 512) / 16000 for s in range(4)] * 2,
                         "value": 0.0})
    records = read_activations_records(folder)
    lt = read_layer_time(records, "conv5", rows=acts)
    assert lt.ms_per_sample == pytest.approx(64.0) and lt.offset_ms == pytest.approx(32.0)
    assert lt.ms(9) == pytest.approx(608.0) and lt.sample(608.0) == pytest.approx(9.0)
    assert read_layer_time(records, "conv1", rows=acts) is None
    assert read_layer_time(records, "conv5") is None  # no rows given: the table is not read
    info = {"sample_rate": 8000, "layers": [{"name": "c", "jump": 16, "centre0": 7.5}]}
    lt = LayerTime.from_layer_info(info["layers"][0], 8000)
    assert (lt.offset_ms, lt.ms_per_sample) == (pytest.approx(0.9375), pytest.approx(2.0))


def test_phone_confound_note_with_cell_counts_and_k_caveat(tmp_path):
    md = build_markdown(_inputs(_folder(tmp_path)))
    assert ("Design note (every layer): the phones come from disjoint sets of words (\\[s\\] "
            "only from *ask*, *carry*; \\[ʃ\\] only from *dark*), so the phone contrast is "
            "confounded with word") in md
    for row in ("| \\[s\\] | ask | 3 | 2 |", "| \\[s\\] | carry | 1 | 1 |",
                "| \\[ʃ\\] | dark | 3 | 2 |", "| \\[s\\] | all | 4 | 3 |",
                "| \\[ʃ\\] | all | 3 | 2 |"):
        assert row in md, row
    # the table counts intervals and tokens apart (7 intervals from 5 tokens)
    assert "| conv4 | 5 | 7 | 5 | 0.300" in md
    lo, hi = 0.3 - Z975 * 0.1, 0.3 + Z975 * 0.1
    # Holm over the 4 tests of both layers (all 0.004 or 0.002): 0.002 x 4, 0.004 x 2 -> 0.008
    assert (f"| conv2 | 10 | 7 | 5 | 0.300 ({lo:.3f} to {hi:.3f}) | 0.0040 | 0.0080 | 0.0020 | "
            "0.0080 |") in md
    conv4 = [line for line in md.splitlines() if line.startswith("- conv4:")][0]
    assert "k lowered from 10 to 5" in conv4 and "Caveat: conv4: k lowered" in conv4
    assert "indicative only" in conv4 and "Caveat: confounded with word" in conv4
    conv2 = [line for line in md.splitlines() if line.startswith("- conv2:")][0]
    assert f"\\[ʃ\\] is higher than \\[s\\] by 0.300 (95% CI {lo:.3f} to {hi:.3f}" in conv2
    assert "excludes zero at normalised time 0.20-0.60 (higher)" in conv2
    assert "k lowered" not in conv2
    page = markdown_to_html(md)
    assert "[ʃ] only from <em>dark</em>" in page


def test_no_confound_note_when_every_word_has_both_phones(tmp_path):
    pf = _phone_fit()
    pf.data = pf.data.assign(token_id=pf.data["token_id"].map({0: 0, 1: 3, 2: 2, 3: 1,
                                                                4: 4}))
    md = build_markdown(_inputs(_folder(tmp_path), phone_fits={"conv2": pf},
                                phone_regions={"conv2": []}))
    # ask: tokens 0 ([s]) and 1 ([ʃ]); dark: 3 ([s]) and 4 ([ʃ]); carry: 2 ([s]) only
    assert "partly confounded with word: only *ask*, *dark* contribute both; *carry* only" \
        in md
    pf.data = pf.data[pf.data["token_id"] != 2]
    md = build_markdown(_inputs(_folder(tmp_path / "b"), phone_fits={"conv2": pf},
                                phone_regions={"conv2": []}))
    assert "Design note" not in md


def test_lmm_estimates_with_t_based_ci(tmp_path):
    md = build_markdown(_inputs(_folder(tmp_path)))
    lo, hi = 0.6 - T975_DF10 * 0.2, 0.6 + T975_DF10 * 0.2
    assert f"| conv5 | *carry* | 0.600 | {lo:.3f} to {hi:.3f} | 10.0 | 0.0130 | 0.0260 |" in md
    lo0, hi0 = 0.2 - T975_DF10 * 0.1, 0.2 + T975_DF10 * 0.1
    assert (f"| conv5 | *ask* (reference mean) | 0.200 | {format_number(lo0)} to "
            f"{format_number(hi0)} | 10.0 |") in md
    assert (f"- conv5: *carry* is higher than *ask* by 0.600 (95% CI {lo:.3f} to {hi:.3f}, "
            "p = 0.0130, Holm p = 0.0260).") in md
    assert "*dark* is lower than *ask* by 0.0500" not in md  # p = 0.81: no direction claimed
    assert "Caveat (conv5): singular fit" in md


def test_classification_mapping_baseline_and_checkpoint(tmp_path):
    folder = _folder(tmp_path, CLASSIFICATION, CONFUSION)
    md = build_markdown(_inputs(folder))
    assert "Checkpoint `runs/train`, training step 684; network Q; 5 tokens." in md
    assert ("Accuracy 0.600 under the best one-to-one word-to-code mapping (18 tokens); "
            "chance (always the most frequent word) 0.278.") in md
    assert "mean 0.330, 95th percentile 0.440." in md
    assert "so the one-sided permutation p < 0.05" in md
    assert "| *ask* | 5 | 2 (5, 100 %) | 2 (5) |" in md
    assert "| *dark* | 4 | 2 (4, 100 %) | none |" in md
    assert "| *rag* | 4 | 0 (3, 75 %) | 0 (3) |" in md
    assert "| *wash* | 5 | 1 (4, 80 %) | 1 (4) |" in md
    assert "- Shared codes: *ask* and *dark* most often go to the same code 2." in md
    assert "- Words the one-to-one mapping leaves without a code: *dark*." in md
    assert "- Codes Q never chose: 3; codes chosen but matched to no word: none." in md
    assert "Q classification of generated audio" in md and "Not available here" in md
    # below the 95th percentile; an exact p when classification.json has one
    low = dict(CLASSIFICATION, accuracy=0.4)
    md = build_markdown(_inputs(_folder(tmp_path / "b", low, CONFUSION)))
    assert "(permutation p >= 0.05): Q's codes are not shown to track the words." in md
    exact = dict(CLASSIFICATION, permutation_chance=dict(CLASSIFICATION["permutation_chance"],
                                                         p=0.01))
    md = build_markdown(_inputs(_folder(tmp_path / "c", exact, CONFUSION)))
    assert ("One-sided permutation p = 0.0100 (the smallest p 200 shuffles can give is 1/201 = "
            "0.0050): Q's codes track the words above chance.") in md


def test_generated_accuracy_per_code(tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    pd.DataFrame({"file": list("abcde"), "code": ["code_0"] * 2 + ["code_1"] * 3,
                  "q_code": ["code_0", "code_1", "code_1", "code_1", "code_0"],
                  "q_agrees": [True, False, True, True, False]}).to_csv(
        gen / "generated.csv", index=False)
    md = build_markdown(_inputs(_folder(tmp_path, CLASSIFICATION, CONFUSION),
                                generated=str(gen)))
    # the word of each code from classification.json's mapping ({ask: 2, rag: 0, wash: 1})
    assert "| code\\_0 | *rag* | 2 | 1 | 50 % |" in md and "| code\\_1 | *wash* | 3 | 2 | 67 % |" in md
    assert "Overall Q recovers the code of 60 % of 5 generated clips." in md


def test_missing_files_omit_their_parts_and_html_stays_clean(tmp_path):
    folder = str(tmp_path / "empty")
    os.makedirs(folder)
    r = _inputs(folder, lmm=None, phone_fits={}, figures={"fig5": "figures/fig5.png"})
    md = build_markdown(r)
    assert "## Q classification" not in md and "Design note" not in md
    assert "(No timing for this layer" in md and "Samples 0.00 to 9.00:" in md
    assert "(PDF: `figures/fig5.pdf`)" in md
    paths = write_report(str(tmp_path), r)
    page = open(paths["html"], encoding="utf-8").read()
    tags = {t for _, t in re.findall(r"<(/?)([!\w]+)", page)}
    assert tags <= {"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2",
                    "h3", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "img",
                    "code", "nav", "a", "strong", "em"}


def test_hostile_phone_label_is_text(tmp_path):
    pf = _phone_fit()
    evil = "sh|`<b>$x$"
    pf.data = pf.data.assign(Phone=pf.data["Phone"].replace({"sh": evil}))
    pf.parametric.loc[1, "term"] = f"Phone{evil}"
    pf.levels = ["s", evil]
    md = build_markdown(_inputs(_folder(tmp_path), phones=("s", evil),
                                phone_fits={"conv2": pf}, phone_regions={"conv2": []}))
    page = markdown_to_html(md)
    assert html.escape(f"[{evil}]") in page
    assert "<b>" not in page


# ------------------------------------------------------------------------ IPA

def test_ipa_map():
    assert ipa("sh") == "ʃ" and ipa("SH") == "ʃ" and ipa("s") == "s" and ipa("r") == "ɹ"
    assert phone_label("sh") == "[ʃ]" and phone_label("s") == "[s]"
    assert phone_label("pau") == "[pau]"  # not speech: shown as it is
    assert len(TIMIT_TO_IPA) == 58  # TIMIT's 61 symbols less h#, pau, epi
    assert all(v and isinstance(v, str) for v in TIMIT_TO_IPA.values())


# ------------------------------------------------------------------------ figures

def _tables():
    rng = np.random.default_rng(0)
    words = ["ask", "dark"]
    xs = np.arange(8.0)
    data = pd.DataFrame([{"Value": rng.normal(), "Sample": x, "Word": w,
                          "UniqueWord": f"{w}{t}"} for w in words for t in range(2)
                         for x in xs])
    preds = pd.DataFrame([{"Word": w, "Sample": x, "fit": i + np.sin(x), "lower": i - 1,
                           "upper": i + 1} for i, w in enumerate(words) for x in xs])
    diff = pd.DataFrame({"Sample": xs, "difference": -1.0, "lower": -1.5, "upper": -0.5})
    pp = pd.DataFrame([{"layer": lay, "Phone": ph, "norm_time": t, "fit": j * t,
                        "lower": j * t - 0.2, "upper": j * t + 0.2}
                       for lay in ("conv1", "conv2") for j, ph in enumerate(["s", "sh"])
                       for t in np.linspace(0, 1, 11)])
    up = pd.DataFrame([{"token_id": i, "word": w, "layer": lay, "sample": s,
                        "value": rng.normal()} for i, w in enumerate(words)
                       for lay in ("input", "conv1") for s in range(64)])
    conf = pd.DataFrame([[3, 1], [0, 4]], index=words, columns=["0", "1"])
    return data, preds, diff, pp, up, conf


@pytest.fixture
def captured(monkeypatch):
    """Figures saved through figures.save_figure, with the style checks of each."""
    seen = {}
    real = F.save_figure

    def spy(fig, folder, name, *a, **k):
        texts = [t.get_text() for t in fig.findobj(style.Text) if t.get_visible()]
        seen[name] = {"problems": style.figure_problems(fig), "texts": texts,
                      "legends": len(fig.legends) + sum(ax.get_legend() is not None
                                                        for ax in fig.axes),
                      "shaded": sum(1 for ax in fig.axes for p in ax.patches
                                    if p.get_facecolor()[:3] == style.matplotlib.colors
                                    .to_rgb(style.SIGNIFICANT_COLOUR))}
        return real(fig, folder, name, *a, **k)

    from analysis import figure_waveforms
    monkeypatch.setattr(F, "save_figure", spy)
    monkeypatch.setattr(figure_waveforms, "save_figure", spy)
    return seen


def test_figures_png_pdf_page_sizes_units_legends(tmp_path, captured):
    data, preds, diff, pp, up, conf = _tables()
    out = str(tmp_path)
    lt = LayerTime(32.0, 64.0)
    F.fig_waveforms(up, out, sample_rate=16000)
    F.fig_word_curves(data, preds, out, layer="conv5", layer_time=lt)
    F.fig_phone_contrast(pp, out, regions={"conv1": [{"start": 0.2, "end": 0.5}],
                                           "conv2": []})
    F.fig_difference(preds, diff, "ask", "dark", out, layer="conv5", layer_time=lt,
                     regions=[{"start": 0.0, "end": 7.0, "sign": -1}])
    F.fig_confusion(conf, out, mapping={"ask": "0", "dark": "1"})
    widths = {"fig2_waveforms": 7.0, "fig3_word_curves": 7.0, "fig4_phone_contrast": 7.0,
              "fig5_difference": 3.4, "confusion": 3.4}
    for name, w in widths.items():
        png = os.path.join(out, f"{name}.png")
        with Image.open(png) as im:
            assert im.size[0] == round(w * style.DPI), name
            assert im.size[1] <= style.MAX_HEIGHT_IN * style.DPI
        pdf = open(os.path.join(out, f"{name}.pdf"), "rb").read()
        assert pdf.startswith(b"%PDF")
        box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ", pdf)
        assert box and float(box.group(1)) == pytest.approx(w * 72), name
        assert captured[name]["problems"] == [], (name, captured[name]["problems"])
    texts = {k: " ".join(v["texts"]) for k, v in captured.items()}
    assert "time (ms)" in texts["fig2_waveforms"] and "(a.u.)" in texts["fig2_waveforms"]
    for name in ("fig3_word_curves", "fig5_difference"):
        assert "time (ms)" in texts[name] and "sample (index)" in texts[name]
        assert "(a.u.)" in texts[name]
    assert "[ʃ]" in texts["fig4_phone_contrast"] and "[s]" in texts["fig4_phone_contrast"]
    assert "normalised" in texts["fig4_phone_contrast"]
    assert "sh" not in texts["fig4_phone_contrast"].replace("shaded", "")
    for name in ("fig3_word_curves", "fig4_phone_contrast", "fig5_difference"):
        assert captured[name]["legends"] >= 1, name
    assert captured["fig4_phone_contrast"]["shaded"] == 1  # conv1's region only
    # the pair's own panel (with several pairs the predictions panel is shared by all)
    assert captured["fig5_difference"]["shaded"] == 1
    assert "excludes 0" in texts["fig4_phone_contrast"]


def test_style_api():
    fig, axes = style.figure("single", height_in=2.0, nrows=1, ncols=2)
    assert axes.shape == (1, 2) and tuple(fig.get_size_inches()) == (3.4, 2.0)
    axes[0, 0].text(0.5, 0.5, "tiny", fontsize=5)
    assert any("tiny" in p for p in style.figure_problems(fig))
    style.matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError):
        style.figure(8.0)
    fig, _ = style.figure("double", height_in=20)
    assert fig.get_size_inches()[1] == style.MAX_HEIGHT_IN
    style.matplotlib.pyplot.close(fig)
    pal = style.palette(["a", "b"])
    assert list(pal) == ["a", "b"] and pal["a"] != pal["b"]
    assert len(set(style.palette([str(i) for i in range(12)]).values())) == 12
    assert F.save_figure is style.save_figure and F.plot_text is style.plot_text


def test_phone_words_from_the_phone_table_when_given(tmp_path):
    # the word GAMM fitted only 'ask' and 'carry'; the phone table knows every token's word
    fit = _word_fit()
    fit.data = WORD_DATA[WORD_DATA["Word"] != "dark"]
    md = build_markdown(_inputs(_folder(tmp_path), word_fit=fit))
    assert "Design note" not in md  # tokens 3, 4 unknown: no note rather than a wrong one
    table = pd.DataFrame({"token_id": [0, 1, 2, 3, 4, 4],
                          "word": ["ask", "ask", "carry", "dark", "dark", "dark"]})
    md = build_markdown(_inputs(_folder(tmp_path / "b"), word_fit=fit, phone_table=table))
    assert "| \\[ʃ\\] | dark | 3 | 2 |" in md
