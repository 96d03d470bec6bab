"""What the report states besides the fits (issue 27), on hand-built records (no R): the
design from the records, receptive fields and phone durations, one correction policy, term
names, the self-contained HTML, several difference curves and a simultaneous band, the
paper's contrast in --contrasts=auto, the spectra's shuffled-words baseline, and the words in
generate.py's file names."""

import base64
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import diffcurves, differences, report_design, tables, terms
from analysis.corrections import holm
from analysis.gamm.data import AnalysisInputError
from analysis.provenance import LayerField, read_design
from analysis.records import read_activations_records
from analysis.report import build_markdown, write_report
from analysis.report_html import markdown_to_html
from test_report import CLASSIFICATION, CONFUSION, _inputs, _word_fit

# extract_info.json's layers of the 16 kHz Q network (extraction.geometry): K = 25, stride 4
LAYERS = [{"name": f"conv{i}", "jump": 4 ** i, "width": 1 + 24 * sum(4 ** j for j in range(i)),
           "centre0": (1 + 24 * sum(4 ** j for j in range(i)) - 1) / 2 - 10 * sum(
               4 ** j for j in range(i))} for i in range(1, 6)]


def _chain(tmp_path, split="random"):
    """An activations folder whose extract_info.json names a prepared dataset (dataset.json,
    manifest.csv) made from a festival demo corpus (demo_corpus.json)."""
    corpus, data, acts = tmp_path / "corpus", tmp_path / "data", tmp_path / "acts"
    for d in (corpus, data, acts):
        d.mkdir(parents=True)
    speakers = [{"speaker": f"M{v}{k}", "voice": v} for k in range(2)
                for v in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")]
    (corpus / "demo_corpus.json").write_text(json.dumps({"n_speakers": 6, "seed": 0,
                                                         "speakers": speakers}))
    (data / "dataset.json").write_text(json.dumps({
        "source": f"timit:{corpus}", "split_method": split, "test_fraction": 0.2, "seed": 0,
        "splits": {"train": 20, "test": 4}, "n_speakers": {"train": 6, "test": 3},
        "pad_ms": 25.0}))
    pd.DataFrame({"speaker": ["a", "b", "c", "d", "a", "b", "e"],
                  "split": ["train"] * 4 + ["test"] * 3}).to_csv(data / "manifest.csv",
                                                                index=False)
    (acts / "extract_info.json").write_text(json.dumps({
        "checkpoint": "runs/train", "checkpoint_step": 800, "network": "Q",
        "model": {"model": "ciwgan", "num_categ": 8}, "data": str(data), "split": "test",
        "normalize": "peak", "sample_rate": 16000, "layers": LAYERS,
        "counts": {"tokens": 4, "tokens_per_word": {"ask": 1, "carry": 1, "dark": 2}}}))
    return str(acts)


def test_design_paragraph_from_the_records(tmp_path):
    acts = _chain(tmp_path)
    d = read_design(read_activations_records(acts))
    assert d.corpus == "festival" and d.voices == {"kal_diphone": 2, "ked_diphone": 2,
                                                    "cmu_us_slt_arctic_hts": 2}
    assert d.shared_speakers == 2  # test speakers a, b, e: a and b also in train
    md = build_markdown(_inputs(acts))
    design = md.split("## Design")[1].split("## Reading this report")[0]
    for text in ("synthetic speech: the festival demo corpus",
                 "kal\\_diphone: 2 speakers", "cmu\\_us\\_slt\\_arctic\\_hts: 2 speakers",
                 "Split (prepare.py --split=random, test fraction 0.2, seed 0): tokens "
                 "assigned to train/test at random within each word",
                 "train 20 tokens from 6 speakers", "test 4 tokens from 3 speakers",
                 "Analysed: the test split, 4 tokens of 3 words (1 to 2 tokens per word)",
                 "2 of these speakers also have tokens in the training split",
                 "each token scaled to peak amplitude 1",
                 "checkpoint `runs/train`, training step 800"):
        assert text in design, text
    # receptive fields: conv4 = 1 + 24 * (1 + 4 + 16 + 64) = 2041 samples = 127.6 ms, a step
    # of 256 samples = 16 ms
    assert "| conv4 | 256 | 16.00 | 2041 | 127.6 |" in design
    assert "| conv5 | 1024 | 64.00 | 8185 | 511.6 |" in design
    assert "Layer conv5: receptive field 512 ms, one sample every 64 ms." in md
    reading = md.split("## Reading this report")[1].split("\n## ")[0]
    assert "Holm" in reading and "Deviance explained" in reading and "negative" in reading
    assert "1/(200 + 1) = 0.0050" not in reading  # no classification.json: no permutation
    md = build_markdown(_inputs(_chain(tmp_path / "b", split="speaker")))
    assert "speaker-disjoint" in md


def test_design_says_what_is_not_recorded(tmp_path):
    acts = tmp_path / "acts"
    acts.mkdir()
    (acts / "extract_info.json").write_text(json.dumps({"checkpoint": "c", "layers": []}))
    (acts / "classification.json").write_text(json.dumps(CLASSIFICATION))
    CONFUSION.to_csv(acts / "confusion.csv", index_label="word")
    md = build_markdown(_inputs(str(acts)))
    assert "Corpus: not recorded" in md and "training step not recorded" in md
    assert "with 200 shuffles the smallest p is 1/(200 + 1) = 0.0050" in md


def test_interval_durations_and_the_receptive_field_flag():
    # an [s] of 1000 input samples (62.5 ms) from sample 100: conv1 centres 4j + 2, conv2
    # 16j + 10 inside it; an [ʃ] of 4000 samples (250 ms)
    rows = []
    for phone, start, length, token in (("s", 100, 1000, 0), ("sh", 2000, 4000, 1)):
        for lay, j, c0 in (("conv1", 4, 2), ("conv2", 16, 10)):
            for s in range(0, 2000):
                c = c0 + j * s
                if start <= c < start + length:
                    rows.append({"token_id": token, "phone": phone, "phone_index": 0,
                                 "layer": lay, "sample": s, "norm_time": (c - start) / length})
    rows = pd.DataFrame(rows)
    dur = report_design.interval_durations(rows, {"conv1": 4, "conv2": 16}, 16000)
    assert dur.set_index("phone")["duration_ms"].to_dict() == pytest.approx(
        {"s": 62.5, "sh": 250.0})
    fields = [LayerField("conv3", 64, 505, 16000), LayerField("conv4", 256, 2041, 16000)]
    counts = report_design.short_interval_counts(dur, fields, ["s", "sh"])
    got = {(r.phone, r.layer): r.shorter for r in counts.itertuples()}
    # fields of 31.6 ms (conv3) and 127.6 ms (conv4): only [s] (62.5 ms) at conv4 is shorter
    assert got == {("s", "conv3"): 0, ("s", "conv4"): 1, ("sh", "conv3"): 0,
                   ("sh", "conv4"): 0}
    fields = [LayerField("conv1", 4, 25, 16000), LayerField("conv2", 16, 121, 16000)] + fields
    lines = report_design.field_flag_lines(rows, fields, ["s", "sh"], 16000)
    text = "\n".join(lines)
    assert "| \\[s\\] | 62 ms | 0 / 1 | 0 / 1 | 0 / 1 | 1 / 1 |" in text
    assert "| \\[ʃ\\] | 250 ms | 0 / 1 | 0 / 1 | 0 / 1 | 0 / 1 |" in text
    assert "shorter than the field for \\[s\\] from conv4 on." in text


def test_one_policy_in_the_paper_tables_and_latex_names():
    fit = _word_fit()
    table = tables.fits_table({"conv5": fit})
    names, tested = terms.fit_term_names(fit), terms.tested_terms(fit)
    md = tables.markdown_table(table, "layer", "T", names, tested)
    tex = tables.latex_table(table, "layer", "T", names, tested)
    # the family: Wordcarry 1e-5, Worddark 0.012, the two difference smooths 0.75 and 0.001
    adj = holm([1e-5, 0.012, 0.75, 0.001])
    assert adj[1] == pytest.approx(0.024) and adj[3] == pytest.approx(0.003)
    assert "| Word = *dark* | -0.500 | 0.200 | -2.500 | 0.0120 | 0.0240 |" in md
    assert "| s(Sample): Word = *dark* (difference curve) | 3.200 | 4.000 | 6.000 | 0.0010 | " \
           "0.0030 |" in md
    assert "| Intercept: Word = *ask* | 0.100 | 0.100 | 1.000 | 0.3000 |  |" in md
    assert "s(Sample, token): random smooths per token" in md
    assert "Worddark" not in md and "WordOrdered" not in md
    assert r"Word = \textit{dark} & -0.500" in tex and "Worddark" not in tex
    assert r"AR1 $\rho$ = -0.250" in tex and r"adjusted $R^2$ = 0.850" in tex
    assert "rho" not in tex.replace(r"$\rho$", "") and r"R\^{}2" not in tex
    phone = terms.term_names("Phone", ["s", "sh"], "norm_time", "UniqueInterval")
    assert phone["Phonesh"].plain() == "Phone = [ʃ]"
    assert phone["s(norm_time):PhoneOrderedsh"].latex() == \
        r"s(norm\_time): Phone = [ʃ] (difference curve)"


def test_report_html_is_self_contained_with_contents_and_audio(tmp_path):
    acts = _chain(tmp_path)
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                           "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    for key in ("fig3_word_curves", "fig5_difference"):
        (out / "figures" / f"{key}.png").write_bytes(png)
    gen = tmp_path / "generated"
    gen.mkdir()
    import soundfile as sf
    sf.write(gen / "code_2_ask_z000.wav", np.zeros(160), 16000, subtype="PCM_16")
    pd.DataFrame({"file": ["code_2_ask_z000.wav"], "code": ["code_2"], "noise_index": [0],
                  "q_code": ["code_2"], "q_agrees": [True], "word": ["ask"]}).to_csv(
        gen / "generated.csv", index=False)
    r = _inputs(acts, generated=str(gen), figures={"fig5": "figures/fig5_difference.png",
                                                   "fig3": "figures/fig3_word_curves.png"})
    paths = write_report(str(out), r)
    md = open(paths["md"], encoding="utf-8").read()
    # the paper's order whatever the order given
    assert md.index("### Fig. 3") < md.index("### Fig. 5")
    assert "| code\\_2 | *ask* | 1 | 1 | 100 % | [code\\_2\\_ask\\_z000.wav](../generated/" \
           "code_2_ask_z000.wav) |" in md
    page = open(paths["html"], encoding="utf-8").read()
    # every image and the clip embedded; nothing else is fetched
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2
    assert '<audio controls preload="none" src="data:audio/wav;base64,' in page
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page)
    # a table of contents linking to every h2
    ids = re.findall(r'<h2 id="(s\d+)">', page)
    assert len(ids) >= 8 and all(f'href="#{i}"' in page for i in ids)
    assert page.index("<nav>") < page.index('<h2 id="s1">')
    # a source outside the report's folder is not read (only generate.py's clips may be)
    outside = markdown_to_html("![x](../secret.png)", folder=str(out))
    assert 'src="../secret.png"' in outside


def test_difference_pairs_from_the_flag_and_the_default():
    fit = _word_fit()  # levels ask, carry, dark; estimates carry +1, dark -0.5
    assert differences.parse_diff(["ask:wash", "ask:greasy"]) == [("wash", "ask"),
                                                                  ("greasy", "ask")]
    assert differences.parse_diff(["year", "dark"]) == [("year", "dark")]  # the old form
    assert differences.parse_diff([]) is None
    assert differences.choose_pairs(fit, ["ask:dark", "carry:dark"]) == [
        ("dark", "ask"), ("dark", "carry")]
    assert differences.choose_pairs(fit, []) == [("carry", "dark")]  # largest difference
    for bad, what in ((["ask:zebra"], "not in the data"), (["ask:ask"], "two different"),
                      (["a:b:c"], "not a pair"), (["ask", "dark", "carry"], "give pairs")):
        with pytest.raises(AnalysisInputError, match=what):
            differences.choose_pairs(fit, bad)
    fit.levels = ["ask", "greasy", "wash", "dark"]
    assert differences.choose_pairs(fit, []) == [("wash", "ask"), ("greasy", "ask")]


def test_simultaneous_band_multiplier_against_sidak():
    # independent points: max |z_i| over m standard normals; its 95% quantile is Sidak's
    for m in (1, 10):
        c = diffcurves.simultaneous_multiplier(np.eye(m), np.eye(m), n_sim=40000, seed=1)
        sidak = stats.norm.ppf((1 + 0.95 ** (1 / m)) / 2)
        assert c == pytest.approx(max(sidak, 1.959964), abs=0.03), m
    # perfectly correlated points: one normal, the pointwise z
    c = diffcurves.simultaneous_multiplier(np.ones((20, 1)), np.eye(1), n_sim=20000)
    assert c == pytest.approx(1.959964, abs=0.03)


def test_auto_contrasts_include_the_papers_contrast():
    from analysis.contrast_choice import choose_contrasts
    rows = []
    counts = {"a": 30, "b": 30, "c": 30, "s": 12, "sh": 11}
    for p, n in counts.items():
        for i in range(n):
            rows.append({"token_id": i, "word": "w", "layer": "conv1", "phone": p,
                         "phone_index": 0, "sample": 0, "norm_time": 0.0, "value": 0.0})
    table = pd.DataFrame(rows)
    plain = choose_contrasts(None, table, 10, 3)
    assert ("s", "sh") not in plain and len(plain) == 3
    with_paper = choose_contrasts(None, table, 10, 3, include=[("s", "sh")])
    assert with_paper[0] == ("s", "sh") and len(with_paper) == 3
    assert choose_contrasts(None, table, 10, 3, include=[("s", "zh")]) == plain


def test_spectra_baseline_on_a_null_and_a_planted_effect():
    from analysis.spectra_baseline import _f_statistics, band_baseline, shuffled_words
    rng = np.random.default_rng(3)
    # shuffles keep each speaker's words (within speakers), or all words (one token each)
    words = np.array(list("aabbccddee"))
    speakers = np.array(list("xyxyxyxyxz"))
    for _ in range(20):
        out, how = shuffled_words(words, speakers, rng)
        assert how == "within speakers"
        for sp in "xyz":
            assert sorted(out[speakers == sp]) == sorted(words[speakers == sp])
    out, how = shuffled_words(words, np.arange(10).astype(str), rng)
    assert how == "across tokens" and sorted(out) == sorted(words)
    y = rng.normal(size=(40, 3))
    codes = np.repeat(np.arange(4), 10)
    want = [stats.f_oneway(*[y[codes == g, b] for g in range(4)]).statistic for b in range(3)]
    np.testing.assert_allclose(_f_statistics(y, codes, 4), want, rtol=1e-10)

    def acts(effect):
        out = []
        for t in range(48):
            w = ["ask", "dark", "wash", "year"][t % 4]
            x = rng.normal(size=64) + (effect * np.sin(np.arange(64) * 2.5) if w == "dark"
                                       else 0.0)
            out.append(pd.DataFrame({"token_id": t, "word": w, "speaker": f"s{t // 4}",
                                     "layer": "conv3", "sample": np.arange(64), "value": x}))
        return pd.concat(out)
    null = band_baseline(acts(0.0), {"conv3": 250.0}, n_bands=4, n_perm=99)
    planted = band_baseline(acts(3.0), {"conv3": 250.0}, n_bands=4, n_perm=99)
    assert (null["p_perm_holm"] > 0.05).all() and set(null["shuffle"]) == {"within speakers"}
    # the sine at 2.5 rad/sample = 99.5 Hz at 250 Hz lies in band 4 (93.75-125 Hz)
    top = planted.set_index("band")
    assert top.loc[4, "p_perm"] == pytest.approx(1 / 100) and top.loc[4, "p_perm_holm"] < 0.05
    assert top.loc[4, "range_db"] > top.loc[4, "range_db_null95"]


def test_generated_files_name_the_word_of_their_code(tmp_path):
    pytest.importorskip("tensorflow")
    from ciwgan.generation import GenerationError, read_code_words, wav_name
    from wavegan.config import WaveGANConfig
    config = WaveGANConfig(model="ciwgan", num_categ=4)
    (tmp_path / "classification.json").write_text(json.dumps(
        {"mapping": {"dark": 1, "a/b": 2, "ask": 0}}))
    words = read_code_words(config, str(tmp_path))
    assert words == {"code_1": "dark", "code_2": "a/b", "code_0": "ask"}
    assert wav_name("code_1", 0, words["code_1"]) == "code_1_dark_z000.wav"
    assert wav_name("code_2", 3, words["code_2"]) == "code_2_z003.wav"  # not a plain word
    assert wav_name("code_3", 0, None) == "code_3_z000.wav"
    with pytest.raises(GenerationError, match="--classification="):
        read_code_words(config, str(tmp_path / "nope.json"))
    assert read_code_words(config, None) == {}
    assert os.path.basename(wav_name("-", 1)) == "z001.wav"
