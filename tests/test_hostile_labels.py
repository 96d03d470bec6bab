"""Labels are data: hostile word, speaker and phone labels through the whole analyze.py path;
the safe-output rule of analyze.py's --out; R allocation failures as one line with advice."""

import csv
import hashlib
import html
import os
import random
import re
import shutil
import signal
import subprocess

import numpy as np
import pandas as pd
import pytest

from analysis.report import markdown_to_html
from analysis_helpers import (child_process_env, r_coefficient, r_ok, refit_blocks,
                              run_analyze, run_rscript)
from common.outputs import MARKER_NAME, check_output
from common.errors import OutputPathError
from synthetic.activations import write_synthetic_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYLOAD = "b\\\")); system('touch {pwned}'); #"          # b\")); system('touch ...'); #
WORDS = (
    PAYLOAD,                                               # the reference word
    "lone\\",                                              # ends with a lone backslash
    'new\nline "q" | `tick` ![x](y) <b>&amp;',             # Markdown, HTML, a newline
    "ʃé ../../up $x$ _u",                                  # non-ASCII, a path, mathtext
    "# h\r\t- i",                                          # a heading, CR, tab, a list
)
SPEAKERS = {"spk1": 'sp"k\\1', "spk2": "sp\nk2", "spk3": "spʃ'3", "spk4": "../sp4"}
# (--phones is a comma-separated list flag, which cannot carry a newline)
PHONES = {"s": "s\\\"'", "sh": "ʃ|$`"}
# How the report shows each non-reference word (written by hand: control characters as
# escapes, everything else as it is).
SHOWN = {WORDS[1]: "lone\\", WORDS[2]: 'new\\nline "q" | `tick` ![x](y) <b>&amp;',
         WORDS[3]: "ʃé ../../up $x$ _u", WORDS[4]: "# h\\r\\t- i"}
OUTPUT_FILES = {
    MARKER_NAME, "table1.csv", "table1.md", "table1.tex", "table1_refit.R", "word_units.csv",
    "table1_paper.csv", "table1_paper.md", "table1_paper.tex", "table1_paper_refit.R",
    "gamm_data.csv", "phone_contrast.csv", "phone_contrast.md", "phone_contrast.tex",
    "phone_contrast_refit.R", "phone_units.csv", "phone_contrast_paper.csv", "phone_contrast_paper.md", "phone_contrast_paper.tex",
    "phone_contrast_paper_data.csv", "phone_contrast_paper_refit.R", "predictions.csv",
    "difference.csv", "difference_regions.csv", "phone_predictions.csv", "lmm.csv",
    "lmm_data.csv", "lmm_refit.R", "fit_info.json", "report.md", "report.html"} | {
    f"figures/{name}.{ext}" for name in ("fig2_waveforms", "fig3_word_curves",
                                         "fig4_phone_contrast", "fig5_difference", "confusion")
    for ext in ("png", "pdf")}
# What markdown-it-py makes of Markdown syntax (raw HTML is off: no other tag can appear)
HTML_TAGS = {"!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3",
             "h4", "h5", "h6", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
             "td", "img", "code", "pre", "hr", "br", "blockquote", "em", "strong", "s", "nav",
             "a"}


def _tree(folder, skip=()):
    """{relative path: sha256} of every file under folder (folders in skip left out)."""
    out = {}
    for base, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if os.path.join(base, d) not in skip and d != "__pycache__"]
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _hostile_folder(folder, pwned):
    words = tuple(w.format(pwned=pwned) if w == PAYLOAD else w for w in WORDS)
    write_synthetic_folder(folder, words=words, tokens_per_word=3, seed=0, csv=False)
    for name, column, mapping in (("activations", "speaker", SPEAKERS),
                                  ("phone_activations", "speaker", SPEAKERS),
                                  ("phone_activations", "phone", PHONES)):
        path = os.path.join(folder, f"{name}.parquet")
        table = pd.read_parquet(path)
        table[column] = table[column].map(mapping)
        table.to_parquet(path, index=False)
    # confusion.csv as extract.py should write it: pandas' default CSV leaves the bare CR of
    # words[4] unquoted (the file is then ambiguous), so every text cell is quoted here
    confusion = pd.DataFrame(3 * np.eye(len(words), dtype=int), columns=range(len(words)),
                             index=pd.Index(words, name="word"))
    confusion.to_csv(os.path.join(folder, "confusion.csv"), quoting=csv.QUOTE_NONNUMERIC)
    return words


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One analyze.py run on hostile labels: (root, words, out, result, files before)."""
    if not r_ok():
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    root = tmp_path_factory.mktemp("hostile")
    pwned = root / "pwned"
    words = _hostile_folder(str(root / "acts"), str(pwned))
    (root / "cwd").mkdir()
    before = _tree(str(root))
    out = root / "out"
    res = run_analyze([f"--activations={root / 'acts'}", f"--out={out}",
                       f"--ref_word={words[0]}", f"--phones={PHONES['s']},{PHONES['sh']}",
                       "--phone_layers=conv4", "--lmm_layers=conv5"],
                      cwd=root / "cwd", timeout=900)
    return root, words, out, res, before


@pytest.mark.needs_r
def test_hostile_labels_are_data(hostile_run):
    root, words, out, res, before = hostile_run
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (root / "pwned").exists()
    # nothing written outside --out (the run's working folder included), no file named
    # after a label inside it
    assert _tree(str(root), skip={str(out)}) == before
    assert set(_tree(str(out))) == OUTPUT_FILES
    # every label reached R exactly: mgcv names its terms 'Word<label>' (the paper's GAMM;
    # Table 1 holds the calibrated model's by default)
    t1 = pd.read_csv(out / "table1_paper.csv", keep_default_na=False)
    assert set(t1.loc[t1["section"] == "parametric", "term"]) == \
        {"(Intercept)"} | {f"Word{w}" for w in words[1:]}
    phone_terms = set(pd.read_csv(out / "phone_contrast_paper.csv",
                                  keep_default_na=False)["term"])
    assert f"Phone{PHONES['sh']}" in phone_terms
    # the speakers' random intercepts were fitted (lmer, not the plain lm fallback)
    assert set(pd.read_csv(out / "lmm.csv")["formula"]) == {"Mean ~ Word + (1 | Speaker)"}
    for name in OUTPUT_FILES:
        if name.startswith("figures/"):
            assert (out / name).stat().st_size > 1000, name
    # the report shows the labels as text: escaped, on one line, no markup of their own
    page = (out / "report.html").read_text(encoding="utf-8")
    assert {tag for _, tag in re.findall(r"<(/?)([!\w]+)", page)} <= HTML_TAGS
    for shown in SHOWN.values():
        assert html.escape(shown) in page, shown
    assert page.count("<h1>") == 1 and "<h1>GAMM analysis of Q-network activations</h1>" in page
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "\r" not in md  # CommonMark ends a line at CR as well as LF
    assert [line for line in md.splitlines() if line.startswith("#")] == [
        line for line in md.splitlines() if re.match(
            r"#+ (GAMM analysis|Design|Reading this report|Word model|Difference curve|"
            r"Phone contrast|Mean activation|Q classification|Figures|Fig\. \d|Q's codes|"
            r"The paper's|Notes|Timings|Software|layer )", line)]
    tex = (out / "table1_paper.tex").read_text(encoding="utf-8")
    assert (r"Word = \textit{lone\textbackslash{}} & " in tex
            and r"Word = \textit{\# h\textbackslash{}r\textbackslash{}t-" in tex)
    for line in tex.splitlines():  # every table row stays on one line
        assert not line.strip() or line.endswith("\\\\") or line.startswith("\\"), line


@pytest.mark.needs_r
def test_written_r_script_holds_no_label_and_refits(hostile_run, tmp_path):
    root, words, out, res, _ = hostile_run
    assert res.returncode == 0, res.stderr[-3000:]
    # every R script the run wrote is ASCII and holds no label (labels reach R as data)
    for path in out.glob("*.R"):
        script = path.read_text(encoding="utf-8")
        assert script.isascii() and "system" not in script and "lone" not in script, path
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not on PATH")
    check = (f'invisible(parse("table1_paper_refit.R")); source("table1_paper_refit.R"); '
             f'write.csv(summary(m)$p.table, "{tmp_path}/p.csv", fileEncoding = "UTF-8"); '
             f'cat(length(coef(m)), file = "{tmp_path}/p.txt")')
    r = subprocess.run(["Rscript", "-e", check], cwd=out, capture_output=True, text=True,
                       timeout=600, env=child_process_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (root / "pwned").exists()
    refit = pd.read_csv(tmp_path / "p.csv", index_col=0, keep_default_na=False,
                        encoding="utf-8")
    t1 = pd.read_csv(out / "table1_paper.csv", keep_default_na=False)
    ours = t1[t1["section"] == "parametric"].set_index("term")["Estimate"].astype(float)
    # same words in the same level order (R's read.csv reads a carriage return as a newline)
    assert list(refit.index) == [term.replace("\r", "\n") for term in ours.index]
    np.testing.assert_allclose(refit["Estimate"].to_numpy(float), ours.to_numpy(), rtol=1e-4)
    # the size rule's coefficient count is mgcv's own
    from analysis.gamm.mgcv import mgcv_memory_bytes
    assert int((tmp_path / "p.txt").read_text()) == mgcv_memory_bytes(15, 5, 10)[0]
    # the mixed models' refit reads the hostile words and speakers as data, same estimates
    r = run_rscript("lmm_refit.R", out)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (root / "pwned").exists()
    lmm = pd.read_csv(out / "lmm.csv", keep_default_na=False)
    block = refit_blocks(r.stdout)["1: conv5"]
    first = lmm[lmm["term"] == "(Intercept)"]["Estimate"].astype(float).iloc[0]
    assert r_coefficient(block, "(Intercept)") == pytest.approx(first, rel=1e-6)


@pytest.mark.needs_r
def test_overwrite_replaces_only_an_analyze_output(hostile_run, tmp_path):
    root, words, out, res, _ = hostile_run
    assert res.returncode == 0, res.stderr[-3000:]
    mine = tmp_path / "analysis"
    shutil.copytree(out, mine)
    args = [f"--activations={root / 'acts'}", f"--out={mine}", f"--ref_word={words[0]}",
            "--nofigures", "--phone_layers=", "--lmm_layers=none"]
    kept = _tree(str(mine))
    res = run_analyze(args, cwd=tmp_path, timeout=900)
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        f"analyze.py: error: --out={mine} holds an earlier analyze output; pass --overwrite "
        "to replace it"]
    assert _tree(str(mine)) == kept
    res = run_analyze(args + ["--overwrite"], cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (mine / "figures").exists() and (mine / "report.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]  # no sibling left


def _refused(args, cwd, script=os.path.join(ROOT, "analyze.py")):
    """The one error line of an analyze.py run that must refuse its --out (exit 2)."""
    res = run_analyze(args, cwd=cwd, script=script, timeout=120)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("analyze.py: error: --out="), lines[0]
    return lines[0]


def test_out_refused_for_inputs_and_foreign_folders(tmp_path):
    acts = tmp_path / "acts"
    write_synthetic_folder(str(acts), words=("ask", "carry", "dark"), tokens_per_word=2,
                           csv=False)
    foreign = tmp_path / "runs"
    (foreign / "ckpt").mkdir(parents=True)
    (foreign / "ckpt" / "model.ckpt-1.index").write_text("precious")
    other_stage = tmp_path / "extracted"
    other_stage.mkdir()
    (other_stage / MARKER_NAME).write_text('{"stage": "extract", "complete": true}')
    before = _tree(str(tmp_path))
    for out, why in ((acts, "is the input --activations"),
                     (acts / "analysis", "lies inside the input --activations"),
                     (tmp_path, "contains the input --activations"),
                     (foreign, "is not an output of analyze"),
                     (other_stage, "is not an output of analyze")):
        line = _refused([f"--activations={acts}", f"--out={out}", "--overwrite"], tmp_path)
        assert why in line
    assert _tree(str(tmp_path)) == before


def test_out_never_a_folder_of_the_repository(tmp_path):
    real_analysis = os.path.join(ROOT, "analysis")
    # 1. the rule itself, which writes nothing
    with pytest.raises(OutputPathError, match="the project's own folder analysis/"):
        check_output(real_analysis, "analyze", {}, overwrite=True)
    with pytest.raises(OutputPathError, match="this repository"):
        check_output(ROOT, "analyze", {}, overwrite=True)
    acts = tmp_path / "acts"
    write_synthetic_folder(str(acts), words=("ask", "carry", "dark"), tokens_per_word=2,
                           csv=False)
    # 2. the script on a copy of the repository (not a git checkout: the rule then knows the
    #    folders by their Python packages)
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(os.path.join(ROOT, "analyze.py"), copy)
    for package in ("analysis", "common"):
        shutil.copytree(os.path.join(ROOT, package), copy / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    before = _tree(str(copy))
    for out in (copy / "analysis", copy / "common" / "x", copy):
        line = _refused([f"--activations={acts}", f"--out={out}", "--overwrite"], copy,
                        script=str(copy / "analyze.py"))
        assert "repository" in line or "project's own folder" in line
        assert _tree(str(copy)) == before
    # 3. the real script on the real folder, from the repository root as the README's command
    before = _tree(real_analysis)
    line = _refused([f"--activations={acts}", "--out=analysis", "--overwrite"], ROOT)
    assert "the project's own folder analysis/" in line
    assert _tree(real_analysis) == before
    assert not [n for n in os.listdir(ROOT) if n.startswith(".analysis.partial-")]


# ------------------------------------------------------------------------ reading labels

def test_csv_labels_are_read_as_written(tmp_path):
    from analysis.pipeline import read_table
    table = pd.DataFrame({"token_id": [1, 2], "word": ["nan", "NA"], "speaker": ["007", "null"],
                          "layer": ["conv5", "conv5"], "sample": [0, 0], "value": [0.5, np.nan]})
    table.to_csv(tmp_path / "activations.csv", index=False)
    back = read_table(str(tmp_path), "activations")
    assert back["word"].tolist() == ["nan", "NA"] and back["speaker"].tolist() == ["007", "null"]
    assert back["value"].iloc[0] == 0.5 and np.isnan(back["value"].iloc[1])


def test_nul_in_a_label_is_refused():
    from analysis.gamm.data import AnalysisInputError, prepare_gamm_data
    from synthetic.activations import make_activations
    df, _ = make_activations(("ask", "carry", "dark"), tokens_per_word=2, seed=0)
    df["word"] = df["word"].replace({"carry": "car\x00ry"})
    with pytest.raises(AnalysisInputError, match="NUL"):
        prepare_gamm_data(df, "conv5", "ask")


def test_r_string_round_trips_through_r():
    pytest.importorskip("rpy2")
    from analysis.gamm.rcode import r_string
    from analysis.rbridge import get_r, r_available
    if not r_available(()):
        pytest.skip("R not available")
    session = get_r(())
    for text in [w.format(pwned="/tmp/x") for w in WORDS] + list(SPEAKERS.values()) + [
            "", "\\", '"', "'", "\x01\x7f", "😀", "a\u2028b"]:
        literal = r_string(text)
        assert literal.isascii()
        assert list(session.r(literal)) == [text]


def test_rows_reach_r_column_by_column_with_their_labels():
    """pandas_to_r and pandas_to_r_factors (labels as integer codes, factors built in R): every
    column type, missing values, hostile labels as levels, and a label not among the levels
    (NA, as R's factor() makes it)."""
    pytest.importorskip("rpy2")
    from analysis.rbridge import (level_codes, pandas_to_r, pandas_to_r_factors, r_available,
                                  r_session)
    if not r_available(()):
        pytest.skip("R not available")
    ro = r_session(()).ro
    words = [w.format(pwned="/tmp/x") for w in WORDS]
    df = pd.DataFrame({
        "f": [1.5, np.nan, -3.0], "i": np.array([1, -2, 3], np.int64),
        "big": np.array([1, 2 ** 40, 3], np.int64), "b": [True, False, True],
        "t": [words[1], None, "c d"],
        "c": pd.Categorical([words[2], None, words[0]], categories=[words[0], words[2]]),
        "o": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
        "odd name:1": ["q", "r", "s"]})
    rd = pandas_to_r(df)
    get = ro.r("function(d, n) d[[n]]")
    assert list(ro.r("names")(rd)) == list(df.columns)
    assert list(ro.r("class")(get(rd, "i"))) == ["integer"] and \
        list(get(rd, "i")) == [1, -2, 3]
    assert list(ro.r("class")(get(rd, "big"))) == ["numeric"] and \
        list(get(rd, "big")) == [1.0, 2.0 ** 40, 3.0]
    assert list(ro.r("function(x) c(x[1], x[3], is.nan(x[2]))")(get(rd, "f"))) == [1.5, -3.0, 1]
    assert list(ro.r("as.character")(get(rd, "b"))) == ["TRUE", "FALSE", "TRUE"]
    assert list(ro.r("is.na")(get(rd, "t"))) == [False, True, False]
    assert ro.r("function(x) x[1]")(get(rd, "t"))[0] == words[1]
    assert list(ro.r("levels")(get(rd, "c"))) == [words[0], words[2]]
    assert list(ro.r("function(x) as.integer(x)")(get(rd, "c")))[::2] == [2, 1]
    assert list(ro.r("function(x) is.na(x)")(get(rd, "c"))) == [False, True, False]
    assert list(ro.r("class")(get(rd, "o"))) == ["ordered", "factor"]
    assert list(ro.r("dim")(rd)) == [3, 8]

    rows = pd.DataFrame({"Value": [0.1, 0.2, 0.3, 0.4],
                         "Word": [words[3], words[0], "not a level", words[3]],
                         "UniqueWord": pd.Categorical(["t2", "t1", "t1", "t2"])})
    assert list(level_codes(rows["Word"], [words[0], words[3]])) == [2, 1, 0, 2]
    assert list(level_codes(rows["UniqueWord"], ["t2", "t1"])) == [1, 2, 2, 1]
    rd = pandas_to_r_factors(rows, "Word", [words[0], words[3]], "WordOrdered", "UniqueWord",
                             ["t2", "t1"])
    text = ro.r("function(x) ifelse(is.na(x), '<NA>', as.character(x))")
    assert list(text(get(rd, "Word"))) == [words[3], words[0], "<NA>", words[3]]
    assert list(text(get(rd, "WordOrdered"))) == [words[3], words[0], "<NA>", words[3]]
    assert list(ro.r("class")(get(rd, "WordOrdered"))) == ["ordered", "factor"]
    assert list(ro.r("function(x) as.vector(contrasts(x))")(get(rd, "WordOrdered"))) == [0, 1]
    assert list(ro.r("levels")(get(rd, "UniqueWord"))) == ["t2", "t1"]
    assert list(text(get(rd, "UniqueWord"))) == ["t2", "t1", "t1", "t2"]


# ------------------------------------------------------------------------ Markdown -> HTML

def test_markdown_to_html_terminates_on_any_input():
    """Random strings built from the pieces the converter reacts to must each convert
    quickly (before the fix, '![x' alone never returned)."""
    pieces = ["![", "]", "(", ")", "#", "# ", "######", "|", "\\|", "`", "``", "\\", "- ",
              "\n", "\r\n", " ", "\t", "a", "é", "ʃ", "<", "&", "---", ":", "\u2028"]
    rng = random.Random(20240601)

    def timeout(signum, frame):
        raise TimeoutError(f"markdown_to_html did not return on {text!r}")

    previous = signal.signal(signal.SIGALRM, timeout)
    try:
        for _ in range(3000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
            signal.setitimer(signal.ITIMER_REAL, 2.0)
            page = markdown_to_html(text)
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert page.endswith("</body></html>")
            tags = {t for _, t in re.findall(r"<(/?)([!\w]+)", page)}
            assert tags <= HTML_TAGS, (text, tags)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_escaped_labels_render_as_themselves():
    """md_text / md_code of any label convert back to exactly the label's text (control
    characters shown as escapes), wherever the label starts: paragraph, code span, cell."""
    from analysis.labels import md_code, md_text
    rng = random.Random(7)
    alphabet = list("ab#|`\\*_[]()!<>&-+=.1") + ["\n", "é", "ʃ", "\t"]
    for _ in range(2000):
        label = rng.choice(alphabet) + "".join(rng.choice(alphabet + [" "])
                                               for _ in range(rng.randint(0, 12)))
        shown = html.escape(label.replace("\n", "\\n").replace("\t", "\\t"))
        body = markdown_to_html(md_text(label)).split("<body>\n")[1]
        # CommonMark strips a paragraph's leading and trailing spaces (HTML collapses them)
        assert body == f"<p>{shown.strip(' ')}</p>\n</body></html>", label
        assert f"<code>{shown}</code>" in markdown_to_html(f"see {md_code(label)} here"), label
        cell = markdown_to_html(f"| h |\n|---|\n| {md_text(label)} |")
        assert f"<td>{shown.rstrip(' ')}</td>" in cell, (label, cell)


# ------------------------------------------------------------------------ model size

def test_r_allocation_error_becomes_one_line_with_advice():
    from analysis.rbridge import RInputError, r_input_error
    from common.errors import InputError
    err = r_input_error("Error in bam(f, data = d):\n  cannot allocate vector of size 29.1 Gb\n",
                        "the phone GAMM at conv1 (62,500 intervals, k=10)",
                        "skip them with --phone_layers=")
    assert isinstance(err, RInputError) and isinstance(err, InputError)
    assert str(err) == ("the phone GAMM at conv1 (62,500 intervals, k=10): R ran out of memory "
                        "(cannot allocate vector of size 29.1 Gb); skip them with "
                        "--phone_layers=")
    assert r_input_error("Error: object 'x' not found", "w", "a") is None


def test_real_r_allocation_failure_is_mapped_and_not_printed(capfd):
    pytest.importorskip("rpy2")
    from analysis.rbridge import RInputError, get_r, r_available, r_errors
    if not r_available(()):
        pytest.skip("R not available")
    session = get_r(())
    with pytest.raises(RInputError, match=r"^huge: R ran out of memory \(cannot allocate "
                                          r"vector of size [0-9.]+ [GT]b\); use less$"):
        with r_errors("huge", "use less"):
            session.r("numeric(1e15)")  # 8 PB: beyond any machine
    assert "cannot allocate" not in capfd.readouterr().err


def test_mgcv_size_rule():
    from analysis.gamm.mgcv import ModelTooLargeError, check_mgcv_memory, mgcv_memory_bytes
    p, need = mgcv_memory_bytes(n_groups=30, n_levels=2, k=10)
    assert p == 320 and need == 3 * 8 * 320 ** 2
    check_mgcv_memory(30, 2, 10, "small", "advice", limit=need)  # fits exactly
    with pytest.raises(ModelTooLargeError, match=r"^big is too large for mgcv.*320 coefficients"
                                                  r".*; advice$"):
        check_mgcv_memory(30, 2, 10, "big", "advice", limit=need - 1)


def _big_activations(folder, n_tokens, n_words=4, n_samples=16):
    os.makedirs(folder)
    token = np.repeat(np.arange(n_tokens), n_samples)
    pd.DataFrame({"token_id": token,
                  "word": np.array([f"w{i}" for i in range(n_words)])[token % n_words],
                  "speaker": "s1", "layer": "conv5",
                  "sample": np.tile(np.arange(n_samples), n_tokens),
                  "value": np.random.default_rng(0).normal(size=token.size)}
                 ).to_parquet(os.path.join(folder, "activations.parquet"), index=False)


@pytest.mark.needs_r
def test_mgcv_on_paper_scale_fails_fast_with_advice(tmp_path):
    _big_activations(str(tmp_path / "acts"), 62_500)
    res = run_analyze([f"--activations={tmp_path / 'acts'}", f"--out={tmp_path / 'out'}",
                       "--engine=mgcv", "--ref_word=w0", "--phone_layers=", "--lmm_layers=none",
                       "--nofigures"], cwd=tmp_path, timeout=300)
    errors = [line for line in res.stderr.splitlines() if "error" in line]
    assert res.returncode == 2 and len(errors) == 1, res.stderr[-3000:]
    assert errors[0].startswith("analyze.py: error: the word GAMM at conv5 (62,500 tokens, "
                                "k=10) is too large for mgcv on this machine: it has 625,040 "
                                "coefficients")
    assert "--engine=fast" in errors[0]
    assert "word GAMM done" not in res.stderr and not (tmp_path / "out").exists()


def test_phone_models_are_sized_before_any_fit(monkeypatch):
    """analyze.py's pre-flight checks every listed phone GAMM with its own k before the first
    fit: conv4 (k lowered to 5) fits the memory given here, conv2 (k=10) does not."""
    from analysis import pipeline
    from analysis.gamm import mgcv
    from synthetic.activations import make_activations, make_phone_activations
    acts, truth = make_activations(("ask", "carry", "dark"), tokens_per_word=4, seed=0)
    phones = make_phone_activations(acts, truth)  # one s/sh interval per token: 12 per layer
    conv2_need = 3 * 8 * ((2 + 12) * 10) ** 2
    monkeypatch.setattr(mgcv, "memory_limit_bytes", lambda: conv2_need - 1)
    options = pipeline.AnalysisOptions(phone_layers=["conv4", "conv2"])
    with pytest.raises(mgcv.ModelTooLargeError, match=r"^the phone GAMM at conv2 \(12 "
                                                      r"intervals, k=10\).*--phone_layers="):
        pipeline.check_model_sizes(options, phones)
    pipeline.check_model_sizes(pipeline.AnalysisOptions(phone_layers=["conv4"]), phones)
    monkeypatch.setattr(mgcv, "memory_limit_bytes", lambda: conv2_need)
    pipeline.check_model_sizes(options, phones)
