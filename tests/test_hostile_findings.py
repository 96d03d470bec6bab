"""Regression tests for the hostile tester's findings (FINDINGS.md, F3-F12, F14), one small
case each: tiny synthetic folders with fixed seeds, refused before any fit or checked
in-process (no R unless marked)."""

import os

import numpy as np
import pandas as pd
import pytest

from common import layout


def _folder(tmp_path, name="acts", **kwargs):
    """A tiny synthetic activations folder (3 words x 3 tokens, seed 0, parquet only)."""
    from synthetic.activations import write_synthetic_folder
    folder = str(tmp_path / name)
    write_synthetic_folder(folder, words=["ask", "dark", "rag"], tokens_per_word=3, csv=False,
                           seed=0, **kwargs)
    return folder


def _edit(folder, name, change):
    path = os.path.join(folder, f"{name}.parquet")
    table = pd.read_parquet(path)
    table = change(table)
    table.to_parquet(path, index=False)


def _options(folder, tmp_path, **kwargs):
    from analysis.analyze_options import AnalysisOptions
    base = dict(activations=folder, out=str(tmp_path / "o"), phone_layers=[],
                lmm_layers=["none"], progress=False)
    base.update(kwargs)
    return AnalysisOptions(**base)


# ------------------------------------------------------------------------------------ F5, F14
def _flatten_tokens(table):
    five = table["layer"] == "conv5"
    table.loc[five, "value"] = table[five].groupby("token_id")["value"].transform("mean")
    return table


def test_f5_a_layer_flat_within_every_token_is_refused_naming_layer(tmp_path):
    from analysis.gamm.data import AnalysisInputError
    from analysis.pipeline import Progress, read_model_inputs
    folder = _folder(tmp_path)
    _edit(folder, layout.ACTIVATIONS, _flatten_tokens)
    with pytest.raises(AnalysisInputError, match=r"^layer conv5: every token's trace is "
                       r"constant over time \(no within-token variation\).*--layer$"):
        read_model_inputs(_options(folder, tmp_path), Progress(False))
    # the mixed models of token means still take it; another GAMM layer passes
    read_model_inputs(_options(folder, tmp_path, layer="conv4", lmm_layers=["conv5"]),
                      Progress(False))


def test_f5_flat_phone_intervals_refused_and_a_paper_cell_not_fitted(tmp_path):
    from analysis.contrasts import contrast_matrix
    from analysis.gamm.data import AnalysisInputError, prepare_phone_model
    from analysis.pipeline import Progress, read_model_inputs
    folder = _folder(tmp_path)
    keys = ["layer", "token_id", "phone", "phone_index"]

    def flat(table):
        table["value"] = table.groupby(keys)["value"].transform("mean")
        return table
    _edit(folder, layout.PHONE_ACTIVATIONS, flat)
    with pytest.raises(AnalysisInputError, match=r"^layer conv4 \(the phone GAMM's rows\): "
                       r"every phone interval's trace is constant.*--phone_layers$"):
        read_model_inputs(_options(folder, tmp_path, phone_layers=["conv4"]), Progress(False))
    table = pd.read_parquet(os.path.join(folder, f"{layout.PHONE_ACTIVATIONS}.parquet"))
    with pytest.raises(AnalysisInputError, match="no within-interval variation"):
        prepare_phone_model(table, "conv4", ("s", "sh"), k=5)
    matrix = contrast_matrix(table, [("s", "sh")], layers=["conv4"], k=5, model="paper",
                             min_intervals=2)
    assert matrix["status"].iloc[0].startswith("not fitted: phone activations (layer conv4): "
                                               "every phone interval's trace is constant")


def test_f14_a_constant_word_gamm_layer_names_layer_flag(tmp_path):
    from analysis.gamm.data import AnalysisInputError
    from analysis.pipeline import Progress, read_model_inputs
    folder = _folder(tmp_path)

    def const(table):
        table.loc[table["layer"] == "conv5", "value"] = 0.5
        return table
    _edit(folder, layout.ACTIVATIONS, const)
    with pytest.raises(AnalysisInputError, match=r"choose another --layer / --lmm_layers$"):
        read_model_inputs(_options(folder, tmp_path, lmm_layers=[]), Progress(False))


def test_f14_min_intervals_range_says_at_least_two():
    from analysis.analyze_options import AnalysisOptions
    from common.errors import InputError
    with pytest.raises(InputError, match="min_intervals"):
        AnalysisOptions(activations="a", out="b", min_intervals=1)
    AnalysisOptions(activations="a", out="b", min_intervals=2)


# ------------------------------------------------------------------------------------------ F4
@pytest.mark.parametrize("name, column, value, kind", [
    (layout.ACTIVATIONS, "word", None, r"a missing \(NULL\)"),
    (layout.ACTIVATIONS, "speaker", None, r"a missing \(NULL\)"),
    (layout.ACTIVATIONS, "word", "", r"an empty \(''\)"),
    (layout.PHONE_ACTIVATIONS, "phone", None, r"a missing \(NULL\)"),
])
def test_f4_a_missing_or_empty_label_is_one_line_naming_column(tmp_path, name, column, value,
                                                               kind):
    from analysis.columns import open_table
    from analysis.gamm.data import AnalysisInputError
    folder = _folder(tmp_path)

    def damage(table):
        table[column] = table[column].astype(object)
        table.loc[table["word"] == "dark", column] = value
        return table
    _edit(folder, name, damage)
    with pytest.raises(AnalysisInputError, match=rf"column '{column}' has {kind} label in "
                       r"[0-9,]+ row\(s\) \(token\(s\) 3, 4, 5\); every row needs one$"):
        open_table(folder, name)
    with open_table(folder, layout.ACTIVATIONS if name != layout.ACTIVATIONS
                    else layout.PHONE_ACTIVATIONS) as table:  # the other table is fine
        assert "token_id" in table.columns


def test_f4_a_null_token_id_is_refused(tmp_path):
    from analysis.columns import open_table
    from analysis.gamm.data import AnalysisInputError
    folder = _folder(tmp_path)

    def damage(table):
        table["token_id"] = table["token_id"].astype("Int64")
        table.loc[table.index[:3], "token_id"] = pd.NA
        return table
    _edit(folder, layout.ACTIVATIONS, damage)
    with pytest.raises(AnalysisInputError, match=r"column 'token_id' has a missing \(NULL\) "
                       r"label in 3 row\(s\) \(no token id\)"):
        open_table(folder, layout.ACTIVATIONS)


# ------------------------------------------------------------------------------------------ F3
def _report_inputs(p_level, p_shape):
    from types import SimpleNamespace
    tests = pd.DataFrame({"word": ["dark", "wash"], "p_level": p_level, "p_shape": p_shape})
    regions = [{"start": 0.0, "end": 15.0, "sign": 1}]
    return SimpleNamespace(layer="conv5", ref_word="ask", word_tests=tests, differences=[
        {"pair": ("wash", "ask"), "regions": regions, "simultaneous": None}])


def test_f3_difference_section_names_the_paper_gamm_and_the_calibrated_verdict():
    from analysis.report_models import difference_section
    text = "\n".join(difference_section(_report_inputs([0.01, 0.40], [0.5, 0.30]), None))
    assert ("From the paper's word GAMM: tokens independent, speakers ignored; pointwise CIs, "
            "not calibrated.") in text
    assert "The calibrated model (Table 1) does not confirm it" in text
    # a calibrated difference (shape, after Holm over 4 tests) keeps the sentence out
    text = "\n".join(difference_section(_report_inputs([0.5, 0.40], [0.5, 0.001]), None))
    assert "From the paper's word GAMM" in text and "does not confirm" not in text


def test_f3_summary_line_names_the_paper_gamm():
    from analysis.pipeline import summary
    line = summary({"diff": ("wash", "ask"), "out": "o", "layer": "conv5", "engine": "fast",
                    "rho": 0.1, "regions": [{}], "phone_fits": {}, "seconds": 1.0})
    assert "difference wash - ask (paper's word GAMM, pointwise CI): 1 region(s)" in line


# ------------------------------------------------------------------------------------------ F9
def test_f9_a_generated_path_without_generated_csv_is_refused(tmp_path):
    from analysis.gamm.data import AnalysisInputError
    from analysis.pipeline import run
    folder = _folder(tmp_path)
    (tmp_path / "empty").mkdir()
    for path, why in ((tmp_path / "absent", "no such file or folder"),
                      (tmp_path / "empty", "the folder has no generated.csv")):
        with pytest.raises(AnalysisInputError, match=rf"^--generated={path}: {why}"):
            run(_options(folder, tmp_path, generated=str(path)))
        assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------- F10
@pytest.mark.parametrize("args, message", [
    (["--data=a", "--data_dir=b"], "--data=a and --data_dir=b disagree"),
    (["--batch_size=4", "--train_batch_size=100"],
     "--batch_size=4 and --train_batch_size=100 disagree"),
])
def test_f10_train_flag_and_its_original_name_that_disagree_are_refused(args, message):
    from absl import flags
    from ciwgan.train_options import TrainOptions
    from common.cli import apply_renamed_flags, define_option_flags
    from common.errors import InputError
    fv = flags.FlagValues()
    define_option_flags(TrainOptions, fv)
    fv(["train.py"] + args)
    with pytest.raises(InputError, match=message):
        apply_renamed_flags("train.py", fv)


def test_f10_either_name_alone_or_both_agreeing_still_work(capsys):
    from absl import flags
    from ciwgan.train_options import TrainOptions
    from common.cli import apply_renamed_flags, define_option_flags
    for args in (["--data=a", "--batch_size=4"], ["--data_dir=a", "--train_batch_size=4"],
                 ["--data=a", "--data_dir=a", "--batch_size=4", "--train_batch_size=4"]):
        fv = flags.FlagValues()
        define_option_flags(TrainOptions, fv)
        fv(["train.py"] + args)
        apply_renamed_flags("train.py", fv)
        assert fv["data_dir"].value == "a" and fv["train_batch_size"].value == 4
    assert "deprecated" not in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- F11
def test_f11_word_tier_equal_to_phone_tier_is_refused():
    from common.errors import InputError
    from corpus.prepare_options import PrepareOptions
    for phone_tier in ("words", " WORDS"):
        with pytest.raises(InputError, match=r"--word_tier=words and --phone_tier=.* name the "
                                             r"same tier"):
            PrepareOptions(folder_dir="c", out="o", word_tier="words", phone_tier=phone_tier)
    PrepareOptions(folder_dir="c", out="o", word_tier="words", phone_tier="phones")
    PrepareOptions(folder_dir="c", out="o")                       # both automatic


# ----------------------------------------------------------------------------------------- F12
def test_f12_multi_speaker_textgrid_counts_a_speaker_without_phones(tmp_path):
    import collections
    import sys
    import soundfile as sf
    sys.path.insert(0, os.path.dirname(__file__))
    from textgrid_helpers import textgrid_text
    from corpus.aligned import AlignedUtterance, utterance_tokens
    from corpus.skip_report import Report
    w = [(0, 0.1, ""), (0.1, 0.4, "ask"), (0.4, 0.7, "dark"), (0.7, 1.0, "")]
    p = [(0, 0.1, ""), (0.1, 0.25, "æ"), (0.25, 0.4, "s"), (0.4, 0.55, "d"), (0.55, 0.7, "ɑ"),
         (0.7, 1.0, "")]
    tiers = [("A - words", "interval", w), ("A - phones", "interval", p),
             ("B - words", "interval", w)]
    wav, grid = tmp_path / "u.wav", tmp_path / "u.TextGrid"
    sf.write(str(wav), (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    grid.write_text(textgrid_text(tiers, 0, 1.0), encoding="utf-8")
    report = Report()
    tokens = utterance_tokens(AlignedUtterance(str(wav), str(grid), "rec", "u"), None, 0,
                              16384, report, collections.Counter())
    assert len(tokens) == 4
    assert report.warnings["missing_phone_tier"] == 1
    assert any("word tier 'B - words'" in m for m in report.messages)
