"""analyze.py end to end on a synthetic activations folder, and its error handling."""

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from analysis.report import markdown_to_html
from analysis.tables import TABLE_COLUMNS
from analysis_helpers import child_process_env, r_ok, run_analyze
from synthetic.activations import write_synthetic_folder

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
                 "report.md", "report.html", "gamm_data.csv", "table1_refit.R",
                 "table1_paper.csv", "table1_paper.md", "table1_paper.tex",
                 "table1_paper_refit.R", "word_units.csv", "phone_contrast_paper.csv",
                 "phone_units.csv", "phone_contrast_refit.R"):
        assert (out / name).is_file(), name
    for fig in ("fig2_waveforms", "fig3_word_curves", "fig4_phone_contrast", "fig5_difference",
                "confusion"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{fig}.{ext}").stat().st_size > 1000
    # Table 1 holds the calibrated word model, table1_paper the paper's GAMM
    from analysis.calibrated_tables import PHONE_TABLE_COLUMNS, WORD_TABLE_COLUMNS
    cal = pd.read_csv(out / "table1.csv")
    assert list(cal.columns) == WORD_TABLE_COLUMNS
    cal = cal.set_index("word")
    assert cal.loc["carry", "p_level"] < 0.001 and cal.loc["carry", "estimate"] > 0.5
    t1 = pd.read_csv(out / "table1_paper.csv")
    assert list(t1.columns) == ["layer"] + TABLE_COLUMNS
    par = t1[t1["section"] == "parametric"].set_index("term")
    assert par.loc["Wordcarry", "p-value"] < 0.001
    pc = pd.read_csv(out / "phone_contrast.csv")
    assert list(pc.columns) == PHONE_TABLE_COLUMNS
    assert sorted(pc["layer"].unique()) == ["conv2", "conv4"]
    assert sorted(pd.read_csv(out / "phone_contrast_paper.csv")["layer"].unique()) == \
        ["conv2", "conv4"]
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns) == ["Word", "Sample", "fit", "se", "lower", "upper"]
    assert sorted(preds["Word"].unique()) == sorted(WORDS) and len(preds) == 4 * 61
    diff = pd.read_csv(out / "difference.csv")
    assert list(diff.columns) == ["comparison", "Sample", "difference", "se", "lower", "upper",
                                  "significant"]
    # default: the paper's pairs the data have (ask:greasy; no 'wash' here), each b - a
    assert list(pd.unique(diff["comparison"])) == ["greasy - ask"]
    assert list(pd.read_csv(out / "difference_regions.csv").columns) == [
        "comparison", "start", "end", "sign", "n_points"]
    info = json.loads((out / "fit_info.json").read_text())
    assert info["engine"] == "mgcv" and info["k"] == 10
    assert info["models"] == {"word": "calibrated", "phone": "calibrated"}
    assert info["phone_fits"]["conv4"]["k"] == 5
    report = (out / "report.md").read_text()
    assert f"ρ = {info['rho']:.3f}" in report
    assert f"{par.loc['Wordcarry', 'Estimate']:.3f}" in report
    assert f"{cal.loc['carry', 'estimate']:.3f}" in report and "Model: calibrated" in report
    assert "figures/fig5_difference.png" in report
    assert "<table>" in (out / "report.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # the written R scripts refit both tables from their data with the same numbers
    if shutil.which("Rscript"):
        r = subprocess.run(["Rscript", "table1_refit.R"], cwd=out, capture_output=True,
                           text=True, timeout=300, env=child_process_env())
        assert r.returncode == 0, r.stderr[-2000:]
        level = r.stdout.split("== all: level")[1]
        line = [l for l in level.splitlines() if l.startswith("Wordcarry")][0]
        assert float(line.split()[1]) == pytest.approx(cal.loc["carry", "estimate"], rel=1e-6)
        assert float(line.split()[5]) == pytest.approx(cal.loc["carry", "p_level"], rel=1e-4)
        r = subprocess.run(["Rscript", "phone_contrast_refit.R"], cwd=out, capture_output=True,
                           text=True, timeout=300, env=child_process_env())
        assert r.returncode == 0, r.stderr[-2000:]
        for lay, row in pc.set_index("layer").iterrows():
            if row["status"] != "fitted":
                continue
            block = r.stdout.split(f"== {lay}: level")[1]
            line = [l for l in block.splitlines() if l.startswith("Phonesh")][0]
            assert float(line.split()[1]) == pytest.approx(row["estimate"], rel=1e-6)
        r = subprocess.run(["Rscript", "table1_paper_refit.R"], cwd=out, capture_output=True,
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
    assert '<td><code>x | y</code></td>\n<td style="text-align:right">2</td>' in h
    assert "<li>item <code>c</code></li>" in h and '<img src="f.png" alt="cap">' in h
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


@pytest.mark.needs_r
@pytest.mark.slow
def test_every_refit_script_reproduces_its_table(tmp_path):
    """Each model the report fits has an R script beside its table that refits it from the
    rows written with it (analysis.refits): the paper's phone GAMMs, the mixed models, the
    contrast matrix's cells (calibrated and the paper's), the spectra's band tests."""
    if not r_ok() or not shutil.which("Rscript"):
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    from analysis_helpers import r_anova_f, r_coefficient, refit_blocks, run_rscript
    acts = tmp_path / "acts"
    write_synthetic_folder(str(acts), tokens_per_word=6, seed=5, csv=False)
    out = tmp_path / "out"
    res = run_analyze([f"--activations={acts}", f"--out={out}", "--phone_layers=conv2",
                       "--contrasts=s:sh", "--contrast_layers=conv2,conv3", "--min_intervals=5",
                       "--lmm_layers=conv2,conv5", "--spectra", "--spectra_layers=conv3",
                       "--spectra_bands=2", "--nofigures", "--noprogress"], timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    data = pd.read_csv(out / "gamm_data.csv", keep_default_na=False)
    assert data["Speaker"].nunique() > 1  # the rows carry their speaker
    # the software that made the numbers, in fit_info.json and the report
    versions = json.loads((out / "fit_info.json").read_text())["versions"]
    assert {"Python", "numpy", "pandas", "R", "mgcv", "lme4", "lmerTest"} <= set(versions)
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions["R"]) and versions["mgcv"].startswith("1.")
    software = (out / "report.md").read_text(encoding="utf-8").split("## Software")[1]
    assert f"mgcv `{versions['mgcv']}`" in software and f"R `{versions['R']}`" in software

    def run(script):
        r = run_rscript(script, out)
        assert r.returncode == 0, (script, r.stderr[-2000:])
        return refit_blocks(r.stdout)

    pc = pd.read_csv(out / "phone_contrast_paper.csv")
    blocks = run("phone_contrast_paper_refit.R")
    assert list(blocks) == ["1: conv2"]
    ours = pc[(pc["layer"] == "conv2") & (pc["term"] == "Phonesh")].iloc[0]
    assert r_coefficient(blocks["1: conv2"], "Phonesh") == pytest.approx(ours["Estimate"],
                                                                         rel=1e-4)
    lmm = pd.read_csv(out / "lmm.csv")
    blocks = run("lmm_refit.R")
    for g, (lay, t) in enumerate(lmm.groupby("layer", sort=False), start=1):
        block = blocks[f"{g}: {lay}"]
        row = t[t["term"] == "Worddark"].iloc[0]
        assert r_coefficient(block, "Worddark") == pytest.approx(row["Estimate"], rel=1e-6)
        assert r_anova_f(block) == pytest.approx(row["F_word"], rel=1e-4)
    matrix = pd.read_csv(out / "contrast_matrix.csv")
    fitted = matrix[matrix["status"] == "fitted"].reset_index(drop=True)
    assert len(fitted) == 2
    blocks = run("contrast_matrix_refit.R")
    for g, row in enumerate(fitted.itertuples(index=False), start=1):
        assert r_coefficient(blocks[f"{g}: level"], "Phonesh") == pytest.approx(row.estimate,
                                                                                rel=1e-6)
    blocks = run("contrast_matrix_paper_refit.R")
    for g, row in enumerate(fitted.itertuples(index=False), start=1):
        # the matrix fits its cells with the fast engine: with AR1 it agrees with mgcv to
        # about two significant digits (docs/fast_gamm.md)
        assert r_coefficient(blocks[f"{g}: s:sh at {row.layer}"], "Wordsh") == \
            pytest.approx(row.estimate_paper, rel=2e-2)
    bands = pd.read_csv(out / "spectra_bands.csv")
    blocks = run("spectra_bands_refit.R")
    assert len(blocks) == len(bands) == 2
    for (header, block), f in zip(blocks.items(), bands["F"]):
        assert r_anova_f(block) == pytest.approx(f, rel=1e-4), header
