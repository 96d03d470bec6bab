"""Stage options and the command-line parsers, fuzzed (hypothesis) and on hand-picked cases.

* Every numeric option of every stage: any value (integers far out of range, NaN, infinities,
  booleans) is accepted exactly when it lies in the option's declared range, and refused in
  one line naming the flag and the range otherwise.
* Any text given to a flag on the command line ends in a run or in one line and exit status
  2, never a traceback.
* The parsers of codes, words, label lines, contrasts and channels either give a result of the
  documented shape or raise their one bad-input error.
* The cases of issue 23 by hand: batch size 0 or negative, no D updates, a code of 0 entries,
  a negative step limit, a NaN time cap, a NaN or infinite code value.
"""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.analyze_options import AnalysisOptions
from ciwgan.generate_options import GenerateOptions
from ciwgan.train_options import TrainOptions
from common.cli import run_stage_command
from common.errors import InputError
from common.options import flag_name, option_fields
from corpus.demo_corpus_options import DemoCorpusOptions
from corpus.prepare_options import PrepareOptions
from extraction.extract_options import ExtractOptions

# Each class with the fewest settings that make it valid (its required fields).
VALID = {PrepareOptions: dict(timit_dir="corpus", out="out"),
         TrainOptions: dict(train_dir="run", data_dir="data"),
         GenerateOptions: dict(checkpoint="run", out="out"),
         ExtractOptions: dict(checkpoint="run", data="data", out="out"),
         AnalysisOptions: dict(activations="acts", out="out"),
         DemoCorpusOptions: dict(out="out")}
NUMERIC = [pytest.param(cls, field, option, id=f"{cls.__name__}.{field.name}")
           for cls in VALID for field, option in option_fields(cls)
           if option.kind in ("int", "float")]
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def in_range(option, value) -> bool:
    """The range as the help text states it, computed here on its own."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if option.kind == "int" and not isinstance(value, int):
        return False
    if not math.isfinite(value):
        return False
    if option.low is not None and (value <= option.low if option.low_open
                                   else value < option.low):
        return False
    if option.high is not None and (value >= option.high if option.high_open
                                    else value > option.high):
        return False
    return True


def edges(option) -> list:
    """Values at and around each bound: where an off-by-one or an open/closed mix-up shows."""
    found = []
    for bound in (option.low, option.high):
        if bound is None:
            continue
        found += [bound - 1, bound, bound + 1] if option.kind == "int" else [
            math.nextafter(bound, -math.inf), float(bound), math.nextafter(bound, math.inf),
            bound - 0.5, bound + 0.5]
    return found or [0]


def numbers(option):
    return st.one_of(st.integers(-2 ** 40, 2 ** 40), st.integers(-3, 70000),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0, -1, 1, 2 ** 31 - 1, float("nan"), float("inf"),
                                      -float("inf"), True, False, 0.5, 1e300]),
                     st.sampled_from(edges(option)))


@pytest.mark.parametrize("cls, field, option", NUMERIC)
@FUZZ
@given(data=st.data())
def test_a_number_is_accepted_exactly_within_its_range(cls, field, option, data):
    value = data.draw(numbers(option))
    flag = flag_name(field)
    try:
        cls(**VALID[cls], **{field.name: value})
    except InputError as err:
        text = str(err)
        assert "\n" not in text
        if in_range(option, value):
            # only a rule between fields may refuse an in-range value, never the range
            assert ": must be " not in text or not text.startswith(f"--{flag}="), text
        else:
            assert text.startswith(f"--{flag}=") and ": must be " in text, text
        return
    assert in_range(option, value), (flag, value)


@pytest.mark.parametrize("cls", list(VALID))
def test_the_help_states_every_range(cls):
    for field, option in option_fields(cls):
        if option.kind in ("int", "float") and (option.low is not None or
                                                option.high is not None):
            assert option.range_text() and option.range_text() in option.help_text(), field


def _command(cls, script, args):
    """The script's command line parsed and checked in this process, its run replaced by one
    that records the options: (exit status, options or None)."""
    seen = []
    argv = [script] + [f"--{flag_name(f)}={v}" for f in dataclasses.fields(cls)
                       for name, v in VALID[cls].items() if f.name == name] + list(args)
    code = run_stage_command(script, cls, lambda options, script: seen.append(options), argv)
    return code, (seen[0] if seen else None)


@pytest.mark.parametrize("cls, field, option", [p for p in NUMERIC][::3])
@FUZZ
@given(text=st.text(max_size=30))
def test_any_text_for_a_numeric_flag_runs_or_is_one_line(cls, field, option, text, capsys):
    if text.startswith("-") and not text[1:2].isdigit() and not text[1:2] == ".":
        text = " " + text          # absl would read it as the next flag
    code, options = _command(cls, "x.py", [f"--{flag_name(field)}={text}"])
    err = capsys.readouterr().err
    if code == 0:
        assert in_range(option, getattr(options, field.name))
    else:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("x.py: error: "), err


@pytest.mark.parametrize("cls, args, message", [
    (TrainOptions, ["--train_batch_size=0"], "--train_batch_size=0: must be an integer"),
    (TrainOptions, ["--batch_size=-4"], "--train_batch_size=-4: must be an integer"),
    (TrainOptions, ["--wavegan_disc_nupdates=0"], "--wavegan_disc_nupdates=0: must be"),
    (TrainOptions, ["--num_categ=0"], "--num_categ=0: must be an integer >= 1"),
    (TrainOptions, ["--model=fiwgan", "--num_categ=0"], "--num_categ=0: must be"),
    (TrainOptions, ["--max_steps=-1"], "--max_steps=-1: must be an integer >= 0"),
    (TrainOptions, ["--max_seconds=nan"], "--max_seconds=nan: must be a finite number > 0"),
    (TrainOptions, ["--max_seconds=0"], "--max_seconds=0.0: must be a finite number > 0"),
    (TrainOptions, ["--num_categ=100"], "--num_categ=100: the code must be shorter than z"),
    (GenerateOptions, ["--value=nan"], "--value=nan: must be a finite number"),
    (GenerateOptions, ["--value=inf"], "--value=inf: must be a finite number"),
    (GenerateOptions, ["--value=-inf"], "--value=-inf: must be a finite number"),
    (GenerateOptions, ["--n_per_code=0"], "--n_per_code=0: must be an integer >= 1"),
    (ExtractOptions, ["--value=nan"], "--value=nan: must be a finite number"),
    (ExtractOptions, ["--batch_size=0"], "--batch_size=0: must be an integer"),
    (PrepareOptions, ["--seed=-1"], "--seed=-1: must be an integer 0..4294967295"),
    (PrepareOptions, ["--test_fraction=1"], "--test_fraction=1.0: must be a finite number in "
                                            "[0, 1)"),
    (PrepareOptions, ["--pad_ms=600", "--slice_len=16000"], "--pad_ms=600 pads 9600 samples"),
    (AnalysisOptions, ["--k=2"], "--k=2: must be an integer 3..1000"),
    (AnalysisOptions, ["--nthreads=0"], "--nthreads=0: must be an integer 1..1024"),
])
def test_the_issues_absurd_numbers_are_one_line(cls, args, message, capsys):
    code, options = _command(cls, "x.py", args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and options is None and len(err) == 1, err
    assert err[0].startswith(f"x.py: error: {message}"), err


def test_wavegan_needs_no_code_size():
    assert TrainOptions(train_dir="r", data_dir="d", model="wavegan", num_categ=500).model_kind() \
        == "wavegan"
    assert TrainOptions(train_dir="r", data_dir="d", model="fiwgan").code_size() == 3
    assert TrainOptions(train_dir="r", data_dir="d").code_size() == 10


# --------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------
LABEL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@FUZZ
@given(texts=st.lists(LABEL, max_size=4), n=st.integers(1, 12),
       model=st.sampled_from(["ciwgan", "fiwgan"]))
def test_parse_codes_gives_codes_of_the_model_or_a_value_error(texts, n, model):
    from ciwgan.codes import code_label, parse_codes
    from wavegan.config import WaveGANConfig

    config = WaveGANConfig(model=model, num_categ=n)
    try:
        codes = parse_codes(config, texts)
    except ValueError as err:
        assert "\n" not in str(err)
        return
    limit = n if model == "ciwgan" else 2 ** n
    assert all(0 <= c < limit for c in codes)
    # every code read back from its own label
    assert parse_codes(config, [code_label(config, c) for c in codes]) == codes


@FUZZ
@given(text=st.text(max_size=40))
def test_parse_words_is_sorted_unique_lower_case_or_refused(text):
    from corpus.build import parse_words
    from corpus.corpus_errors import CorpusError

    try:
        words = parse_words(text)
    except CorpusError as err:
        assert "empty selection" in str(err)
        return
    if words is None:
        assert "all" in [w.strip().lower() for w in text.split(",")]
    else:
        assert words == sorted(set(words)) and all(w == w.strip().lower() and w
                                                   for w in words)


@FUZZ
@given(lines=st.lists(st.text(max_size=30), max_size=8))
def test_label_lines_are_each_read_or_reported(lines):
    from corpus.timit import parse_label_lines

    good, bad = parse_label_lines(lines)
    assert len(good) + len(bad) == sum(1 for line in lines if line.strip())
    assert all(isinstance(g.start, int) and isinstance(g.end, int) for g in good)


@FUZZ
@given(text=st.text(alphabet="ab:,sh ", max_size=20))
def test_contrast_text_is_pairs_or_one_error(text):
    from analysis.contrast_choice import ContrastInputError, parse_contrast_text

    try:
        pairs = parse_contrast_text(text)
    except ContrastInputError as err:
        assert str(err).startswith("--contrasts")
        return
    assert pairs is None or all(a != b and a and b for a, b in pairs)


@FUZZ
@given(text=st.text(alphabet="conv45:;,0123 x", max_size=24))
def test_channel_spec_is_channels_in_range_or_a_value_error(text):
    from extraction.plan import parse_channel_spec

    available = {"conv4": 3, "conv5": 5}
    try:
        spec = parse_channel_spec(text, available)
    except ValueError as err:
        assert str(err).startswith("--channels")
        return
    assert all(0 <= c < available[layer] for layer, chans in spec.items() for c in chans)
