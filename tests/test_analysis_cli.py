"""analyze.py end to end on a synthetic activations folder, and its error handling."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from analysis.report import markdown_to_html
from analysis.tables import TABLE_COLUMNS
from analysis_helpers import child_process_env, r_ok, run_analyze
from synthetic_activations import write_synthetic_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("ask", "carry", "dark", "greasy")


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    d = tmp_path_factory.mktemp("acts")
    truth = write_synthetic_folder(str(d), words=WORDS, tokens_per_word=8, seed=0, csv=False)
    return str(d), truth


@pytest.mark.needs_r
def test_end_to_end_with_figures(syn, tmp_path):
    if not r_ok():
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    out = tmp_path / "analysis"
    res = run_analyze([f"--activations={syn[0]}", f"--out={out}", "--phone_layers=conv2,conv4"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "word GAMM done" in res.stderr and "s)" in res.stderr  # progress with elapsed time
    summary = res.stdout.strip().splitlines()[-1]  # the closing line names the report
    assert summary.startswith(f"wrote {out}: word GAMM at conv5 (engine ") and \
        f"report {out}/report.html" in summary
    for name in ("table1.csv", "table1.md", "table1.tex", "phone_contrast.csv",
                 "phone_contrast.md", "phone_contrast.tex", "predictions.csv", "difference.csv",
                 "difference_regions.csv", "phone_predictions.csv", "lmm.csv", "fit_info.json",
                 "report.md", "report.html", "gamm_data.csv", "table1_refit.R"):
        assert (out / name).is_file(), name
    for fig in ("fig2_waveforms", "fig3_word_curves", "fig4_phone_contrast", "fig5_difference",
                "confusion"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{fig}.{ext}").stat().st_size > 1000
    t1 = pd.read_csv(out / "table1.csv")
    assert list(t1.columns) == ["layer"] + TABLE_COLUMNS
    par = t1[t1["section"] == "parametric"].set_index("term")
    assert par.loc["Wordcarry", "p-value"] < 0.001
    pc = pd.read_csv(out / "phone_contrast.csv")
    assert sorted(pc["layer"].unique()) == ["conv2", "conv4"]
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns) == ["Word", "Sample", "fit", "se", "lower", "upper"]
    assert sorted(preds["Word"].unique()) == sorted(WORDS) and len(preds) == 4 * 61
    diff = pd.read_csv(out / "difference.csv")
    assert list(diff.columns) == ["comparison", "Sample", "difference", "se", "lower", "upper",
                                  "significant"]
    # default pair = largest parametric difference: carry (+1) against the lowest estimate
    est = {"ask": 0.0, **{t[4:]: v for t, v in par["Estimate"].items() if t != "(Intercept)"}}
    assert diff["comparison"].iloc[0] == f"carry - {min(est, key=est.get)}"
    info = json.loads((out / "fit_info.json").read_text())
    assert info["engine"] == "mgcv" and info["k"] == 10
    assert info["phone_fits"]["conv4"]["k"] == 5
    report = (out / "report.md").read_text()
    assert f"rho = {info['rho']:.3f}" in report
    assert f"{par.loc['Wordcarry', 'Estimate']:.3f}" in report
    assert "figures/fig5_difference.png" in report
    assert "<table>" in (out / "report.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # the written R script refits Table 1's model from gamm_data.csv with the same numbers
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "table1_refit.R"], cwd=out, capture_output=True,
                           text=True, timeout=300, env=child_process_env())
        assert r.returncode == 0, r.stderr[-2000:]
        line = [l for l in r.stdout.splitlines() if l.startswith("Wordcarry")][0]
        assert float(line.split()[1]) == pytest.approx(par.loc["Wordcarry", "Estimate"],
                                                       rel=1e-4)
        srow = [l for l in r.stdout.splitlines() if l.startswith("s(Sample,UniqueWord)")][0]
        smo = t1[t1["section"] == "smooth"].set_index("term")
        assert float(srow.split()[2]) == pytest.approx(
            smo.loc["s(Sample,UniqueWord)", "Ref.df"], rel=1e-4)


@pytest.mark.needs_r
def test_bad_input_one_line_error_and_no_output(syn, tmp_path):
    if not r_ok():
        pytest.skip("R not available")
    out = tmp_path / "analysis"
    res = run_analyze([f"--activations={syn[0]}", f"--out={out}", "--ref_word=zebra",
                       "--nofigures", "--phone_layers=", "--lmm_layers=none"])
    assert res.returncode == 2
    err = [l for l in res.stderr.splitlines() if l.startswith("analyze.py: error:")]
    assert len(err) == 1 and "reference word 'zebra' is absent" in err[0]
    assert not out.exists() and not list(tmp_path.iterdir())
    res = run_analyze([f"--activations={tmp_path}/nope", f"--out={out}"])
    assert res.returncode == 2 and "is not a folder" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_analyze([f"--activations={empty}", f"--out={out}"])
    assert res.returncode == 2 and "no activations.parquet or activations.csv" in res.stderr
    res = run_analyze([f"--activations={syn[0]}", f"--out={out}", "--k=ten"])
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        "analyze.py: error: flag --k=ten: invalid literal for int() with base 10: 'ten'"]


def test_missing_rpy2_names_install_commands(syn, tmp_path):
    fake = tmp_path / "fake"
    (fake / "rpy2").mkdir(parents=True)
    (fake / "rpy2" / "__init__.py").write_text("raise ImportError('simulated missing rpy2')\n")
    res = run_analyze([f"--activations={syn[0]}", f"--out={tmp_path / 'o'}"],
                      env_extra={"PYTHONPATH": os.pathsep.join([str(fake), ROOT])})
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("analyze.py: error: rpy2 is not installed")
    assert "apt-get install -y --no-install-recommends r-base-core r-cran-mgcv" in line
    assert "pip install rpy2==3.5.17" in line


def test_markdown_to_html_tables_and_pipes():
    md = "# T\n\n| a | b |\n|---|---:|\n| `x \\| y` | 2 |\n\n- item `c`\n\n![cap](f.png)\n\ntext"
    h = markdown_to_html(md)
    assert "<h1>T</h1>" in h and "<th>a</th>" in h
    assert "<td><code>x | y</code></td><td>2</td>" in h
    assert "<li>item <code>c</code></li>" in h and "<img src='f.png'" in h
    assert "<p>text</p>" in h and "---" not in h


# ------------------------------------------------------------------------ flag vocabulary

def _options(*flags):
    """analyze.py's flags parsed in a fresh interpreter: (AnalysisOptions as a dict, stderr)."""
    code = ("import json, sys, dataclasses\n"
            "from absl import flags\n"
            "from analysis.analyze_options import AnalysisOptions\n"
            "from common.cli import define_option_flags, parse_options, run_main\n"
            "fv = flags.FlagValues(); define_option_flags(AnalysisOptions, fv)\n"
            "rest = fv(['analyze.py'] + sys.argv[1:])\n"
            "sys.exit(run_main('analyze.py', lambda: print(json.dumps(dataclasses.asdict("
            "parse_options('analyze.py', AnalysisOptions, rest, fv))))))\n")
    res = subprocess.run([sys.executable, "-c", code, "--activations=a", "--out=b", *flags],
                         cwd=ROOT, env=child_process_env(), capture_output=True, text=True,
                         timeout=120)
    return (json.loads(res.stdout) if res.returncode == 0 else None), res.stderr


def test_figures_and_progress_flags_and_the_deprecated_no_figures():
    opts, err = _options()
    assert opts["figures"] is True and opts["progress"] is True and err == ""
    opts, err = _options("--nofigures", "--noprogress")
    assert opts["figures"] is False and opts["progress"] is False and err == ""
    # the old name still works, with one notice naming the new one
    opts, err = _options("--no_figures")
    assert opts["figures"] is False
    assert err.splitlines() == ["analyze.py: note: --no_figures is deprecated; use --nofigures"]
    opts, err = _options("--no_figures", "--nofigures")
    assert opts["figures"] is False
    opts, err = _options("--no_figures", "--figures")
    assert opts is None and ("--no_figures=true and --figures disagree" in err)


def test_bad_flags_combination_is_one_line_exit_2(syn, tmp_path):
    res = run_analyze([f"--activations={syn[0]}", f"--out={tmp_path / 'o'}", "--no_figures",
                       "--figures"])
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(
        "analyze.py: error: --no_figures=true and --figures disagree")


@pytest.mark.needs_r
def test_noprogress_prints_only_the_error(syn, tmp_path):
    if not r_ok():
        pytest.skip("R not available")
    args = [f"--activations={syn[0]}", f"--out={tmp_path / 'o'}", "--ref_word=zebra",
            "--nofigures", "--phone_layers=", "--lmm_layers=none"]
    res = run_analyze(args)
    # the reference word is checked on the per-token summary, before any fit: the progress
    # line of that read comes first
    assert res.returncode == 2 and "[analyze] read " in res.stderr
    assert "fitting word GAMM" not in res.stderr
    res = run_analyze(args + ["--noprogress"])
    assert res.returncode == 2
    assert [line for line in res.stderr.splitlines() if line.strip()] == [
        "analyze.py: error: activations (layer conv5): reference word 'zebra' is absent "
        "(present: ['ask', 'carry', 'dark', 'greasy'])"]


def test_sample_rate_comes_from_extract_info(tmp_path):
    from analysis.gamm.data import AnalysisInputError
    from analysis.records import read_activations_records
    from common.constants import SAMPLE_RATE
    # no extract_info.json
    assert read_activations_records(str(tmp_path)).sample_rate == SAMPLE_RATE
    write_synthetic_folder(str(tmp_path / "acts"), words=WORDS, tokens_per_word=2,
                           csv=False, sample_rate=8000)
    assert read_activations_records(str(tmp_path / "acts")).sample_rate == 8000
    for bad in ('"fast"', "0", "-16000"):
        (tmp_path / "extract_info.json").write_text(f'{{"sample_rate": {bad}}}')
        with pytest.raises(AnalysisInputError,
                           match="extract_info.json: sample_rate must be a positive number"):
            read_activations_records(str(tmp_path))
