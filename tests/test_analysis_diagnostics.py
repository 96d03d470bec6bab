"""analyze.py --contrasts and --spectra end to end (the CLI wiring of analysis.contrasts and
analysis.spectra): planted contrasts found at their layers in contrast_matrix.csv and named in
the report, a planted periodicity found as a peak in its layer, and the input errors of the
new flags (one line, exit 2, nothing written)."""

import os

import pandas as pd
import pytest

from analysis_helpers import r_ok, run_analyze
from synthetic.activations import write_synthetic_folder
from synthetic.planted import LAYER_JUMPS, make_contrast_phones, make_periodic_activations

WORDS = ("ask", "dark", "suit", "year")
# s:sh planted at conv2 only; p:b nowhere (an empty row of the matrix)
PLANTED = {"conv2": {"sh": 1.0}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A synthetic activations folder whose phone table carries planted contrasts and whose
    conv3 traces carry a periodicity (the rest as written by write_synthetic_folder)."""
    d = str(tmp_path_factory.mktemp("diag"))
    write_synthetic_folder(d, words=WORDS, tokens_per_word=8, seed=0, csv=False)
    phones, _ = make_contrast_phones(n_tokens=120, phones=("s", "sh", "p", "b"),
                                     effect=PLANTED, layers=LAYER_JUMPS[1:3], words=WORDS,
                                     seed=3)
    phones.to_parquet(os.path.join(d, "phone_activations.parquet"), index=False)
    # conv3 runs at 16000 / 64 = 250 Hz: a 60 Hz periodicity, below its Nyquist 125 Hz
    acts = make_periodic_activations(n_tokens=48, words=WORDS, periodic_layer="conv3",
                                     frequency=60.0, seed=5)
    acts.to_parquet(os.path.join(d, "activations.parquet"), index=False)
    return d


@pytest.mark.needs_r
def test_contrast_matrix_and_spectra_through_the_cli(folder, tmp_path):
    if not r_ok():
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    out = tmp_path / "analysis"
    res = run_analyze([f"--activations={folder}", f"--out={out}", "--phone_layers=", "--nofigures",
                       "--lmm_layers=none", "--engine=fast", "--contrasts=s:sh,p:b",
                       "--spectra", "--spectra_test=anova"], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    m = pd.read_csv(out / "contrast_matrix.csv")
    assert sorted(m["contrast"].unique()) == ["p:b", "s:sh"]
    assert sorted(m["layer"].unique()) == ["conv2", "conv3"]
    enc = m.set_index(["contrast", "layer"])["encoded_holm"].astype(bool)
    assert enc[("s:sh", "conv2")] and not enc[("s:sh", "conv3")]
    assert not enc[("p:b", "conv2")] and not enc[("p:b", "conv3")]
    md = (out / "report.md").read_text()
    assert "## Phone contrasts by layer" in md and "first encoded at conv2" in md
    assert "encoded at no layer" in md  # p:b
    assert (out / "spectra.csv").is_file() and (out / "spectra_bands.csv").is_file()
    peaks = pd.read_csv(out / "spectra_peaks.csv")
    assert len(peaks) and set(peaks["layer"].astype(str)) == {"conv3"}, peaks
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("flags, message", [
    (["--contrasts=s:zz"], "--contrasts"),
    (["--contrasts=s-sh"], "--contrasts"),
    (["--contrasts=auto", "--min_intervals=1"], "--min_intervals=1"),
])
def test_bad_contrast_flags_are_one_line_and_write_nothing(folder, tmp_path, flags, message):
    out = tmp_path / "never"
    res = run_analyze([f"--activations={folder}", f"--out={out}", "--phone_layers=", "--nofigures",
                       "--lmm_layers=none"] + flags)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("analyze.py: error: ") and message in last, last
    assert "Traceback" not in res.stderr and not out.exists()


def test_contrasts_without_a_phone_table_is_one_line(tmp_path):
    d = str(tmp_path / "acts")
    write_synthetic_folder(d, words=WORDS, tokens_per_word=4, seed=0, csv=False)
    os.remove(os.path.join(d, "phone_activations.parquet"))
    res = run_analyze([f"--activations={d}", f"--out={tmp_path / 'o'}", "--phone_layers=",
                       "--nofigures", "--lmm_layers=none", "--contrasts=s:sh"])
    assert res.returncode == 2, res.stderr[-2000:]
    assert "--contrasts needs" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()
