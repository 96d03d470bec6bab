"""The paper's models stay available for replication (issue 22): ``--phone_model=paper
--word_model=paper`` writes the tables the paper's GAMMs wrote before the calibrated defaults
(tests/fixtures/paper_models, written by that code on the same synthetic folder)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis_helpers import r_ok, run_analyze
from synthetic.activations import write_synthetic_folder

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "paper_models"
CSV_TABLES = ["table1.csv", "phone_contrast.csv", "contrast_matrix.csv", "lmm.csv",
              "difference.csv", "difference_regions.csv", "spectra_bands.csv"]
TEXT_TABLES = ["table1.md", "table1.tex", "phone_contrast.md", "phone_contrast.tex",
               "contrast_matrix.md"]


def _same_table(path_a, path_b):
    a = pd.read_csv(path_a, keep_default_na=False)
    b = pd.read_csv(path_b, keep_default_na=False)
    assert list(a.columns) == list(b.columns), path_a.name
    assert a.shape == b.shape, path_a.name
    for col in a.columns:
        x = pd.to_numeric(a[col], errors="coerce")
        y = pd.to_numeric(b[col], errors="coerce")
        if x.notna().all() and y.notna().all() and a[col].astype(str).str.len().gt(0).all():
            # BLAS may differ in the last bits between CPUs
            np.testing.assert_allclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-6,
                                       atol=1e-12, err_msg=f"{path_a.name}: {col}")
        else:
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), \
                f"{path_a.name}: {col}"


@pytest.mark.needs_r
@pytest.mark.slow
def test_paper_flags_reproduce_the_papers_tables(tmp_path):
    if not r_ok():
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    acts = tmp_path / "acts"
    write_synthetic_folder(str(acts), tokens_per_word=6, seed=5, csv=False)
    out = tmp_path / "out"
    # --diff names the pair the default chose when the fixture was written (the default is
    # now the paper's pairs, tests/fixtures/paper_models/README.md)
    res = run_analyze([f"--activations={acts}", f"--out={out}", "--contrasts=s:sh",
                       "--min_intervals=5", "--spectra", "--phone_model=paper",
                       "--word_model=paper", "--diff=dark,water", "--noprogress"], timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in CSV_TABLES:
        _same_table(out / name, FIXTURE / name)
    for name in TEXT_TABLES:
        assert (out / name).read_text(encoding="utf-8") == \
            (FIXTURE / name).read_text(encoding="utf-8"), name
    # nothing of the calibrated models is written
    for name in ("table1_paper.csv", "word_units.csv", "phone_units.csv",
                 "phone_contrast_paper.csv"):
        assert not (out / name).exists(), name
    for name in ("table1_refit.R", "phone_contrast_refit.R", "contrast_matrix_refit.R",
                 "lmm_refit.R", "spectra_bands_refit.R"):
        assert os.path.exists(out / name), name
