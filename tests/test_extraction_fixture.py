"""End to end against the original TF1 ciwGAN: the traces written by the extraction for the
fixture's ``x`` equal the reference channel means ``q_avg_conv1..5`` (and ``Q_x``) to 1e-5.

Reference: the tf1_ciwgan_dim8 fixture found by tests/conftest.py (see docs/reference.md).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import TF1_DIM8, require_fixture

FIXTURE = str(TF1_DIM8)
CKPT = os.path.join(FIXTURE, "model.ckpt-3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="module")
def _fixture_present():
    require_fixture(TF1_DIM8)


def _wavegan():
    try:
        import wavegan
        wavegan.load_models  # noqa: B018
    except (ImportError, AttributeError) as e:
        pytest.skip(f"wavegan.load_models not importable yet ({e})")
    return wavegan


@pytest.fixture(scope="module")
def ref(_fixture_present):
    return dict(np.load(os.path.join(FIXTURE, "reference.npz")))


@pytest.fixture(scope="module")
def wav_folder(tmp_path_factory, ref):
    """x as 32-bit float WAVs, one word folder per token so that token_id i is x[i]."""
    root = tmp_path_factory.mktemp("fixture_wavs")
    for i, x in enumerate(ref["x"]):
        (root / f"w{i}").mkdir()
        sf.write(root / f"w{i}" / f"tok_{i}.wav", x, 16000, subtype="FLOAT")
    return str(root)


def _traces(folder, layer):
    df = pd.read_parquet(os.path.join(folder, "activations.parquet"))
    sub = df[df.layer == layer]
    return sub.pivot(index="token_id", columns="sample", values="value").to_numpy()


def test_traces_equal_tf1_reference(tmp_path, ref, wav_folder):
    wavegan = _wavegan()
    from extraction.run import run_extraction
    from extraction.sources import open_source
    config, G, D, Q, _ = wavegan.load_models(CKPT)
    out = tmp_path / "act"
    source = open_source(wav_folder, "test", 3, config.slice_len)   # batches 3 + 1
    run_extraction(Q, config, source, str(out), normalize="none", progress=False,
                      checkpoint=CKPT, n_perm=10)
    for k in range(1, 6):
        got = _traces(out, f"conv{k}")
        assert got.shape == ref[f"q_avg_conv{k}"].shape
        np.testing.assert_allclose(got, ref[f"q_avg_conv{k}"], atol=1e-5, rtol=0,
                                   err_msg=f"conv{k}")
    q = pd.read_csv(out / "q_outputs.csv")
    np.testing.assert_allclose(q[[f"logit_{k}" for k in range(8)]], ref["Q_x"], atol=1e-5)
    assert q.word.tolist() == ["w0", "w1", "w2", "w3"]


def test_discriminator_traces_equal_tf1_reference(tmp_path, ref, wav_folder):
    wavegan = _wavegan()
    from extraction.run import run_extraction
    from extraction.sources import open_source
    config, G, D, Q, _ = wavegan.load_models(CKPT)
    source = open_source(wav_folder, "test", 4, config.slice_len)
    run_extraction(D, config, source, str(tmp_path / "d"), network="D", normalize="none",
                      progress=False, layers="conv1,conv5")
    for k in (1, 5):
        np.testing.assert_allclose(_traces(tmp_path / "d", f"conv{k}"), ref[f"d_avg_conv{k}"],
                                   atol=1e-5, rtol=0)
    d = pd.read_csv(tmp_path / "d" / "d_outputs.csv")
    np.testing.assert_allclose(d.logit, ref["D_x"], atol=1e-5)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, ref, wav_folder):
    """``python extract.py`` as a user runs it (x has peak 1, so --normalize=peak changes
    nothing beyond rounding)."""
    _wavegan()
    out = tmp_path / "cli"
    cmd = [sys.executable, os.path.join(ROOT, "extract.py"), f"--checkpoint={CKPT}",
           f"--data={wav_folder}", f"--out={out}", "--batch_size=2", "--noprogress"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "wrote" in res.stdout and "4 tokens" in res.stdout
    for k in range(1, 6):
        np.testing.assert_allclose(_traces(out, f"conv{k}"), ref[f"q_avg_conv{k}"], atol=1e-5)
    info = json.loads((out / "extract_info.json").read_text())
    assert info["checkpoint"] == CKPT and info["model"]["dim"] == 8
    # refuses to clobber, with a clear message and exit status 2
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "earlier extract output; pass --overwrite" in res.stderr
    bad = subprocess.run(cmd[:2] + [f"--checkpoint={tmp_path}/nope.ckpt-1",
                                    f"--data={wav_folder}", f"--out={tmp_path}/x"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--checkpoint=" in bad.stderr


def test_traces_via_prepared_dataset(tmp_path, ref, wav_folder):
    """The same check through corpus.build.run (word folders, no padding) and the
    dataset reader, with the default --normalize=peak (x already has peak 1)."""
    wavegan = _wavegan()
    build = pytest.importorskip("corpus.build")
    from corpus.prepare_options import PrepareOptions
    from extraction.run import run_extraction
    from extraction.sources import open_source
    config, G, D, Q, _ = wavegan.load_models(CKPT)
    data = tmp_path / "data"
    build.run(PrepareOptions(out=str(data), folder_dir=wav_folder, words="all", pad_ms=0.0,
                             test_fraction=0.5, seed=0, progress=False))
    info = json.loads((data / "dataset.json").read_text())
    got = {}
    for split, n in info["splits"].items():
        if n == 0:
            continue
        out = tmp_path / f"act_{split}"
        run_extraction(Q, config, open_source(str(data), split, 3, config.slice_len),
                          str(out), progress=False, n_perm=5)
        df = pd.read_parquet(out / "activations.parquet")
        for (word, layer), sub in df.groupby(["word", "layer"]):
            got[word, layer] = sub.sort_values("sample").value.to_numpy()
    assert {w for w, _ in got} == {"w0", "w1", "w2", "w3"}
    for i in range(4):
        for k in range(1, 6):
            np.testing.assert_allclose(got[f"w{i}", f"conv{k}"], ref[f"q_avg_conv{k}"][i],
                                       atol=1e-5, err_msg=f"w{i} conv{k}")
