"""extract --acoustics: Praat's measures on each layer's axis (extraction.acoustics), planted
tones and failures; the acoustics table of an extraction run; bad input."""

import numpy as np
import pandas as pd
import pytest

from common import layout
from extraction.acoustics import measure_acoustics, onto_axis

SR = 16000
L = 16384
FRAMES = {"conv2": (1024, 16 / SR, 10 / SR), "conv5": (16, 1024 / SR, 682 / SR)}


def tone(f0: float, start: int, n: int, amp: float = 0.5) -> np.ndarray:
    """A harmonic tone at f0 (four harmonics) with a Hann envelope in [start, start + n)."""
    t = np.arange(n) / SR
    x = np.zeros(L)
    x[start:start + n] = amp * np.hanning(n) * sum(
        np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))
    return x


def test_planted_tones_and_failures():
    audio = np.stack([tone(150, 1000, 8000), tone(220, 4000, 6000), np.zeros(L),
                      np.clip(4 * tone(200, 1000, 8000), -0.5, 0.5), tone(150, 1000, 8000)])
    audio[4, 100] = np.nan
    table, failures = measure_acoustics(audio, SR, FRAMES)
    assert list(table.columns) == ["token", "layer", "frame", "time_s",
                                   *layout.ACOUSTIC_MEASURES]
    assert len(table) == 5 * (1024 + 16)
    assert failures == {"silence": 1, "non_finite": 1, "clipping": 1}
    c2 = table[table.layer == "conv2"]
    t0 = c2[c2.token == 0].set_index("frame")
    # F0 planted at 150 Hz where the tone is loud, NaN (unvoiced) in the padding
    mid = (t0.time_s > 0.2) & (t0.time_s < 0.5)
    assert np.nanmedian(t0.f0_hz[mid]) == pytest.approx(150, rel=0.02)
    assert t0.f0_hz[t0.time_s > 0.8].isna().all()
    # intensity: loud inside the tone, at the floor in the padding
    assert t0.intensity_db[mid].min() > t0.intensity_db[t0.time_s > 0.8].max() + 40
    t1 = c2[c2.token == 1]
    assert np.nanmedian(t1.f0_hz[(t1.time_s > 0.35) & (t1.time_s < 0.55)]) == \
        pytest.approx(220, rel=0.02)
    assert c2[c2.token == 2][list(layout.ACOUSTIC_MEASURES)].isna().all().all()  # silence
    assert c2[c2.token == 4][list(layout.ACOUSTIC_MEASURES)].isna().all().all()  # NaN audio
    # conv5's coarse axis: window means of the same track, close to conv2's average there
    c5 = table[(table.layer == "conv5") & (table.token == 0)]
    assert c5.time_s.to_numpy() == pytest.approx((682 + 1024 * np.arange(16)) / SR)
    assert np.nanmedian(c5.f0_hz) == pytest.approx(150, rel=0.02)


def test_onto_axis_window_and_interpolation():
    times = np.arange(10) * 0.01
    values = times * 100.0
    values[7] = np.nan
    fine = onto_axis(times, values, np.array([0.015, 0.065, 0.2]), jump=0.001)
    assert fine[0] == pytest.approx(1.5) and np.isnan(fine[1]) and fine[2] == 9.0
    coarse = onto_axis(times, values, np.array([0.02, 0.07]), jump=0.05)
    assert coarse[0] == pytest.approx(np.mean([0, 1, 2, 3, 4]))
    assert coarse[1] == pytest.approx(np.mean([5, 6, 8, 9]))   # NaN frame left out


def test_extraction_writes_acoustics(tmp_path):
    pytest.importorskip("tensorflow")
    from extraction.run import run_extraction
    from extraction.sources import ArraySource
    from extraction_helpers import tiny_ciwgan_models

    config, G, D, Q = tiny_ciwgan_models(3)
    audio = np.stack([tone(150, 1000, 8000), tone(220, 2000, 8000),
                      np.zeros(L)]).astype(np.float32)
    src = ArraySource(audio, ["a", "b", "a"], ["s1", "s2", "s2"], batch_size=2)
    info = run_extraction(Q, config, src, str(tmp_path / "acts"), progress=False, n_perm=5,
                          layers=["conv3", "conv5"], csv=False, acoustics=True)
    assert "acoustics.parquet" in info["files"]
    assert info["counts"]["acoustic_failures"] == {"silence": 1}
    from extraction.run import summary
    assert ", Praat failures (silence=1)" in summary({"info": info, "out": "o", "prefix": "p"})
    assert info["counts"]["rows"]["acoustics"] == 3 * (256 + 16)
    ac = pd.read_parquet(tmp_path / "acts" / "acoustics.parquet")
    assert tuple(ac.columns) == layout.LONG_TABLES[layout.ACOUSTICS].names
    act = pd.read_parquet(tmp_path / "acts" / "activations.parquet")
    keys = ["token_id", "layer", "sample"]
    merged = act.merge(ac, on=keys, suffixes=("", "_ac"))
    assert len(merged) == len(act) and np.allclose(merged.time, merged.time_ac)


def test_network_g_acoustics_is_refused():
    from common.errors import InputError
    from extraction.extract_options import ExtractOptions

    with pytest.raises(InputError, match="--acoustics needs input audio"):
        ExtractOptions(checkpoint="c", out="o", network="G", codes=["0"], acoustics=True)


def test_network_g_acoustics_cli_is_one_line_exit_2(tmp_path, capsys):
    from extraction_helpers import extract_cli

    rc = extract_cli(f"--checkpoint={tmp_path}/none", f"--out={tmp_path}/o", "--network=G",
                     "--codes=0", "--acoustics")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("extract.py: error: --acoustics "
                                                           "needs input audio")


# --------------------------------------------------------------------------- analysis

def test_planted_correlates_intensity_at_conv2_nothing_at_conv4(tmp_path):
    """#26 item 3: conv2 follows the input's intensity 2 frames (2 ms) late, conv4 follows
    nothing: the correlates name intensity at conv2 at 2 ms, and no measure at conv4."""
    import json

    from analysis.acoustic_correlates import FOLLOWS_R2, acoustic_correlates
    from synthetic.acoustic import make_acoustic_folder

    make_acoustic_folder(str(tmp_path), layers=("conv2", "conv4"), follows={"conv2": (1.0, 2)},
                         seed=3)
    info = json.loads((tmp_path / "extract_info.json").read_text())
    table = acoustic_correlates(str(tmp_path), info, 16000).set_index(["layer", "measure"])
    alone = list(layout.ACOUSTIC_MEASURES)
    c2 = table.loc["conv2"]
    assert c2.loc[alone, "r2_cv"].idxmax() == "intensity_db"
    assert c2.loc["intensity_db", "r2_cv"] > 0.3
    assert c2.loc["intensity_db", "lag_ms"] == pytest.approx(2.0)
    assert c2.loc["intensity_db", "lag_agreement"] == 1.0
    assert (c2.loc[[m for m in alone if m != "intensity_db"], "r2_cv"] < FOLLOWS_R2).all()
    assert c2.loc["word+measures", "r2_cv"] > c2.loc["word", "r2_cv"] + 0.3
    c4 = table.loc["conv4"]
    assert (c4.loc[alone + ["measures"], "r2_cv"] < FOLLOWS_R2).all()
    assert c4.loc["word+measures", "r2_cv"] <= c4.loc["word", "r2_cv"] + FOLLOWS_R2
    assert (table["fold_by"] == "speaker").all() and (table["n_tokens"] == 54).all()


@pytest.fixture(scope="module")
def syn_acoustics(tmp_path_factory):
    from synthetic.acoustic import add_acoustics
    from synthetic.activations import write_synthetic_folder

    d = tmp_path_factory.mktemp("acts")
    write_synthetic_folder(str(d / "plain"), words=("ask", "carry", "dark", "greasy"),
                           tokens_per_word=8, seed=0, csv=False)
    import shutil
    shutil.copytree(d / "plain", d / "with")
    add_acoustics(str(d / "with"), seed=1)
    return d


def test_analyze_acoustics_without_the_table_is_one_line_exit_2(syn_acoustics, tmp_path):
    from analysis_helpers import run_analyze

    out = tmp_path / "an"
    res = run_analyze([f"--activations={syn_acoustics / 'plain'}", f"--out={out}",
                       "--acoustics"])
    assert res.returncode == 2, res.stderr[-2000:]
    err = [line for line in res.stderr.splitlines() if line.startswith("analyze.py: error:")]
    assert len(err) == 1 and "extracted without --acoustics" in err[0]
    assert not out.exists()


@pytest.mark.needs_r
def test_analyze_acoustics_end_to_end(syn_acoustics, tmp_path):
    from analysis.acoustic_correlates import COLUMNS, ROWS
    from analysis_helpers import r_ok, run_analyze

    if not r_ok():
        pytest.skip("R with mgcv/lme4/lmerTest not available")
    out = tmp_path / "an"
    res = run_analyze([f"--activations={syn_acoustics / 'with'}", f"--out={out}",
                       "--acoustics", "--phone_layers=", "--contrasts=s:sh"])
    assert res.returncode == 0, res.stderr[-3000:]
    table = pd.read_csv(out / layout.ACOUSTIC_CORRELATES_CSV)
    assert list(table.columns) == COLUMNS
    assert list(table["layer"].unique()) == ["input", "conv1", "conv2", "conv3", "conv4",
                                             "conv5"]
    assert set(table["measure"]) == set(ROWS)
    # the input baseline's rows: its intensity explained by the time course and the word
    assert set(table.loc[table.layer == "input", "measure"]) == {"time", "word"}
    # the acoustics are a null here: no measure explains anything (the word does)
    alone = table[table["measure"].isin(layout.ACOUSTIC_MEASURES)]
    layers = table[table.layer != "input"]
    assert (alone["r2_cv"] < 0.05).all() and (layers.loc[layers.measure == "word", "r2_cv"]
                                              > 0.3).all()
    assert (out / "figures" / "acoustic_correlates.png").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "## Acoustic correlates of each layer" in report
    assert "conv1 follows none of the measures" in report
    # the input baseline: a layer 'input' in the mixed models and the contrast matrix
    assert "input" in set(pd.read_csv(out / "lmm.csv")["layer"])
    assert "input" in set(pd.read_csv(out / "contrast_matrix.csv")["layer"])


def test_layer_frames_from_extract_info_entries():
    from extraction.acoustics import layer_frames_of
    from synthetic.acoustic import layer_entries

    frames = layer_frames_of(list(layer_entries().values()), SR)
    assert frames["conv1"] == (4096, 4 / SR, 2 / SR)
    assert frames["conv5"] == (16, 1024 / SR, 682 / SR)


def test_reading_only_the_scored_samples_gives_the_same_numbers(tmp_path):
    """read_layer with the layer's length reads the scored frames and their lags' samples
    only: the same R² as from every sample."""
    from analysis.acoustic_correlates import layer_correlates, read_layer
    from synthetic.acoustic import make_acoustic_folder

    make_acoustic_folder(str(tmp_path), layers=("conv2",), seed=5)
    full = read_layer(str(tmp_path), "conv2")
    part = read_layer(str(tmp_path), "conv2", length=1024, max_lag=3)
    assert full["Y"].shape[1] == 1024 and part["Y"].shape[1] == 128
    assert part["X"]["f0_hz"].shape[1] < 1024
    pd.testing.assert_frame_equal(layer_correlates(full, 3), layer_correlates(part, 3))


@pytest.mark.needs_festival
@pytest.mark.skipif(__import__("shutil").which("text2wave") is None,
                    reason="festival not installed")
def test_real_speech_water(tmp_path):
    """Festival's 'water' (a male voice): F0 of a male voice where voiced, [wɔ]'s F1 and
    F2 below 1,500 Hz in the loudest stretch, the padding silent."""
    import subprocess

    import soundfile as sf

    wav = tmp_path / "water.wav"
    subprocess.run(["text2wave", "-o", str(wav), "-otype", "riff", "-F", str(SR)],
                   input=b"water", check=True, capture_output=True)
    x, sr = sf.read(str(wav))
    x = x if x.ndim == 1 else x.mean(1)
    assert sr == SR
    audio = np.zeros(L)
    n = min(len(x), L - 400)
    audio[400:400 + n] = x[:n] / np.abs(x).max()
    table, failures = measure_acoustics(audio[None], SR, {"conv4": (64, 256 / SR, 170 / SR)})
    assert failures == {}
    t = table.set_index("frame")
    loud = t["intensity_db"] >= t["intensity_db"].max() - 6
    assert 70 < np.nanmedian(t.loc[loud, "f0_hz"]) < 180
    assert 300 < np.nanmedian(t.loc[loud, "f1_hz"]) < 900
    assert 600 < np.nanmedian(t.loc[loud, "f2_hz"]) < 1500
    assert (t.loc[t["time_s"] > (400 + n) / SR + 0.15, "intensity_db"] == 0).all()
