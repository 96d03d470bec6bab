"""Latent sweeps (#26; docs/sweeps.md): extract.py --values, the sweep folder, the code x
layer matrix of analyze.py, its calibration on null sweeps, the acoustics of each value."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from common import layout
from common.errors import InputError


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize("values, message", [
    (["0", "nan"], "'nan' is not a finite number"),
    (["inf"], "'inf' is not a finite number"),
    (["1", "x"], "'x' is not a finite number"),
    (["1", "1.0"], "1 is listed twice"),
])
def test_values_must_be_distinct_finite_numbers(values, message):
    from extraction.extract_options import ExtractOptions
    with pytest.raises(InputError, match=message):
        ExtractOptions(checkpoint="c", out="o", codes=["all"], values=values)
    with pytest.raises(InputError, match="--values needs --codes"):
        ExtractOptions(checkpoint="c", out="o", data="d", values=["1"])
    opts = ExtractOptions(checkpoint="c", out="o", codes=["all"], values=["5", "-1", "0.5"])
    assert opts.sweep_values() == [5.0, -1.0, 0.5]


def test_bad_values_flag_is_one_line_before_tensorflow(capsys):
    from extraction_helpers import extract_command
    assert extract_command("--checkpoint=nowhere", "--out=/tmp/never-written", "--codes=all",
                           "--values=0,1e999") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["extract.py: error: --values: '1e999' is not a finite number (e.g. "
                   "--values=0,1,2,5)"]


# --------------------------------------------------------------------------- the latents

def test_sweep_latents_share_the_noise_of_code_latents():
    import wavegan
    from ciwgan.codes import code_latents
    from extraction.sweep import sweep_latents

    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=3, latent_dim=10)
    z, tokens = sweep_latents(config, [0, 2], [0.0, 5.0], n_per_code=4, seed=7)
    ref, _ = code_latents(config, [0, 2], n_per_code=4, value=5.0, seed=7)
    assert z.shape == (16, 10) and list(tokens.columns) == list(layout.SWEEP_TOKENS.names)
    # token (code 2, value 5, draw j) = row (1 * 2 + 1) * 4 + j
    np.testing.assert_array_equal(z[12:16], ref[4:8])
    np.testing.assert_array_equal(z[:4, 3:], z[12:16, 3:])        # one noise for all
    assert tokens.loc[13].tolist() == [13, "code_2", 5.0, 1]
    assert np.all(z[:4, :3] == 0) and np.all(z[4:8, 0] == 5.0)


# --------------------------------------------------------------------------- planted cell

@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A sweep of PlantedSweepGenerator (code 2 shifts upconv1) through the extraction."""
    import wavegan
    from extraction.run import run_extraction
    from extraction.sweep import SweepSource, finish_sweep
    from synthetic.planted_sweeps import PlantedSweepGenerator

    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=4, latent_dim=16)
    G = PlantedSweepGenerator(num_categ=4, latent_dim=16, code=2, block="upconv1",
                              effect=1.0, centre=0.3)
    src = SweepSource(G, config, None, [0.0, 1.0, 3.0], 10, 32, seed=3)
    out = str(tmp_path_factory.mktemp("planted") / "sweep")

    def fake_measure(audio, sample_rate, frames):
        # the sound is measured on Praat's 5 ms grid over the clip, not on a layer's axis
        assert frames == {"audio": (round(audio.shape[1] / sample_rate / 0.005), 0.005,
                                    0.0025)}
        n = len(audio)         # two frames per token: each half's peak
        halves = np.abs(audio).reshape(n, 2, -1).max(2)
        return pd.DataFrame({"token": np.repeat(np.arange(n), 2), "layer": "upconv2",
                             "frame": np.tile([0, 1], n), "time_s": np.tile([0.25, 0.75], n),
                             "intensity_db": 20 * np.log10(halves.ravel() + 1e-9),
                             "cog_hz": 440.0, "f0_hz": 440.0, "f1_hz": np.nan,
                             "f2_hz": np.nan}), {"f1": n}

    info = run_extraction(G, config, src, out, network="G", progress=False, csv=False,
                          finish=finish_sweep(src, measure=fake_measure))
    return out, info


def test_the_matrix_finds_the_planted_cell_and_no_other(planted):
    from analysis.sweeps import sweep_matrix

    out, info = planted
    assert info[layout.FOLDER_KIND_KEY] == layout.FOLDER_SWEEP
    assert info["sweep"]["values"] == [0.0, 1.0, 3.0]
    matrix, curves, _ = sweep_matrix(out)
    assert len(matrix) == 16 and (matrix["status"] == "fitted").all()
    for method in ("holm", "bh"):
        driven = matrix[matrix[f"driven_{method}"].astype(bool)]
        assert driven[["code", "layer"]].values.tolist() == [["code_2", "upconv1"]], method
    cell = matrix[(matrix.code == "code_2") & (matrix.layer == "upconv1")].iloc[0]
    assert cell.effect_size > 0
    assert abs(cell.peak_time_s - 0.3 * 16384 / 16000) < 0.02     # the bump's centre
    assert cell.region_start_s < cell.peak_time_s < cell.region_end_s
    assert set(curves["code_value"]) == {0.0, 1.0, 3.0}


def test_the_sweep_folder_records_its_tokens_and_acoustics(planted):
    out, info = planted
    tokens = pd.read_csv(os.path.join(out, layout.SWEEP_TOKENS_CSV))
    assert len(tokens) == 4 * 3 * 10 and tokens["token_id"].is_monotonic_increasing
    acoustics = pd.read_parquet(os.path.join(out, f"{layout.SWEEP_ACOUSTICS}.parquet"))
    assert sorted(set(acoustics["token"])) == list(range(120))     # the sweep's token ids
    assert info["sweep"]["acoustics"] == {
        "measured": True, "failures": {"f1": 120}, "rows": 240,
        "axis": "Praat's 5 ms frames (extraction.acoustics.praat_axis)"}
    assert layout.SWEEP_TOKENS_CSV in info["files"]


# --------------------------------------------------------------------------- calibration

def test_null_sweeps_keep_the_nominal_level():
    """Null sweeps (no value effect; heteroscedastic, AR1, heavy-tailed draws), fixed
    seeds: each of p_level and p_shape rejects at about 5 %."""
    from analysis.sweeps import test_cell

    rejections = {"p_level": [], "p_shape": []}
    for seed in range(6):
        from synthetic.planted_sweeps import null_sweep_cube
        cube = null_sweep_cube(n_codes=20, n_values=3, n_draws=20, n_times=32, seed=seed,
                               tails=5 if seed % 2 else None)
        times = np.arange(32) / 32
        for code in cube:
            res = test_cell(np.moveaxis(code, 1, 0), times, k=4)
            for key in rejections:
                rejections[key].append(res[key] < 0.05)
    for key, r in rejections.items():
        rate = np.mean(r)
        assert 0.01 <= rate <= 0.11, (key, rate)     # 120 tests: a 99.9 % band around 0.05


def test_hotelling_edge_cases():
    from analysis.sweeps import hotelling
    assert hotelling(np.zeros((5, 3)))[1] == 1.0                   # no change at all
    assert hotelling(np.ones((5, 2)))[1] == 0.0                    # the same change always
    assert np.isnan(hotelling(np.random.RandomState(0).normal(size=(3, 4)))[1])  # n <= q


# --------------------------------------------------------------------------- acoustics

def hand_made_acoustics():
    """Two codes, values 0 and 2, 4 draws, 10 frames of 10 ms: code_1 at 2 has 3 more
    frication frames (COG 6 kHz) and F0 +20 Hz; code_0 changes nothing."""
    rows, tokens = [], []
    tid = 0
    for code in ("code_0", "code_1"):
        for value in (0.0, 2.0):
            for j in range(4):
                fric = 2 + (3 if (code == "code_1" and value == 2.0) else 0)
                for f in range(10):
                    sounding = f < 8
                    rows.append({"token": tid, "layer": "upconv4", "frame": f,
                                 "time_s": 0.005 + 0.01 * f,
                                 "intensity_db": (60.0 + j if sounding else 10.0),
                                 "cog_hz": 6000.0 if f < fric else 800.0,
                                 "f0_hz": (np.nan if f < fric else 120.0 + j + (
                                     20.0 if (code == "code_1" and value == 2.0) else 0.0)),
                                 "f1_hz": 500.0, "f2_hz": 1500.0})
                tokens.append((tid, code, value, j))
                tid += 1
    # a coarser layer the measures must not use by default
    rows.append({"token": 0, "layer": "z_project", "frame": 0, "time_s": 0.5,
                 "intensity_db": 0.0, "cog_hz": 0.0, "f0_hz": np.nan, "f1_hz": np.nan,
                 "f2_hz": np.nan})
    return pd.DataFrame(rows), pd.DataFrame(tokens, columns=list(layout.SWEEP_TOKENS.names))


def test_acoustic_changes_per_value_on_a_hand_made_table():
    from analysis.sweep_acoustics import effect_sentences, token_measures, value_effects

    acoustics, tokens = hand_made_acoustics()
    m = token_measures(acoustics)
    assert m.attrs["layer"] == "upconv4" and m.attrs["step_ms"] == pytest.approx(10.0)
    assert m.set_index("token").loc[0, "sound_ms"] == pytest.approx(80.0)
    assert m.set_index("token").loc[0, "frication_ms"] == pytest.approx(20.0)
    effects = value_effects(m, tokens).set_index(["code", "measure"])
    assert effects.loc[("code_1", "frication_ms"), "difference"] == pytest.approx(30.0)
    assert effects.loc[("code_1", "frication_ms"), "p"] == 0.0      # every draw: +30 ms
    assert effects.loc[("code_1", "f0_hz"), "difference"] == pytest.approx(20.0)
    assert effects.loc[("code_0", "frication_ms"), "difference"] == 0.0
    assert effects.loc[("code_0", "frication_ms"), "p"] == 1.0
    assert effects.loc[("code_1", "intensity_db"), "difference"] == pytest.approx(0.0)
    lines = effect_sentences(value_effects(m, tokens))
    assert any(s.startswith("code_1 at value 2 (against 0) lengthens the frication noise "
                            "by 30 ms") for s in lines)
    assert not any(s.startswith("code_0") for s in lines)


# --------------------------------------------------------------------------- the commands

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from extraction_helpers import tiny_ciwgan_models
    from wavegan.tf1_checkpoint import save_tf1_checkpoint

    config, G, D, Q = tiny_ciwgan_models(0, num_categ=3, dim=2)
    run = tmp_path_factory.mktemp("sweep_cli") / "run"
    run.mkdir()
    return save_tf1_checkpoint(str(run / "model.ckpt-1"), G, D, Q)


def analyze_command(*args) -> int:
    import analyze
    from analysis.analyze_options import AnalysisOptions
    from common.cli import run_stage_command
    return run_stage_command("analyze.py", AnalysisOptions, analyze.run,
                             ["analyze.py", "--noprogress", *args], analyze.report)


@pytest.mark.parametrize("network, layers", [("G", 6), ("Q", 5)])
def test_extract_and_analyze_a_sweep(tmp_path, checkpoint, network, layers, capsys):
    from extraction_helpers import extract_cli

    act, out = tmp_path / "act", tmp_path / "analysis"
    assert extract_cli(f"--checkpoint={checkpoint}", f"--network={network}", "--codes=all",
                       "--values=0,2", "--n_per_code=4", f"--out={act}", "--nocsv") == 0
    info = json.loads((act / layout.EXTRACT_INFO_JSON).read_text())
    assert info[layout.FOLDER_KIND_KEY] == "sweep" and info["counts"]["tokens"] == 24
    assert info["sweep"]["acoustics"]["measured"] in (True, False)
    assert analyze_command(f"--activations={act}", f"--out={out}", "--nofigures") == 0
    assert "sweep matrix of" in capsys.readouterr().out
    matrix = pd.read_csv(out / f"{layout.SWEEP_MATRIX}.csv")
    assert len(matrix) == 3 * layers
    assert {"p_level_holm", "p_shape_bh", "driven_holm", "peak_time_s"} <= set(matrix.columns)
    assert (out / "report.md").exists() and (out / "report.html").exists()
    # the folder kinds, checked on read
    assert analyze_command(f"--activations={act}", f"--out={tmp_path / 'w'}",
                           "--folder_kind=word") == 2
    assert "is a latent sweep" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_a_word_folder_is_refused_where_a_sweep_is_expected(tmp_path, checkpoint, capsys):
    from extraction_helpers import extract_cli

    act = tmp_path / "act"
    assert extract_cli(f"--checkpoint={checkpoint}", "--network=G", "--codes=1",
                       "--value=5", "--n_per_code=2", "--layers=z_project",
                       f"--out={act}", "--nocsv") == 0
    info = json.loads((act / layout.EXTRACT_INFO_JSON).read_text())
    assert info[layout.FOLDER_KIND_KEY] == "word"
    capsys.readouterr()
    assert analyze_command(f"--activations={act}", f"--out={tmp_path / 'x'}",
                           "--folder_kind=sweep") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder of word tokens, not a latent sweep" in err[0]


def test_generate_refuses_a_sweep_as_its_word_mapping(planted):
    import wavegan
    from ciwgan.generation import read_code_words

    out, _ = planted
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=4, latent_dim=16)
    with pytest.raises(layout.FolderKindError, match="--classification=.* is a latent sweep"):
        read_code_words(config, out)


def test_analyze_writes_the_acoustic_changes_of_a_sweep(planted, tmp_path):
    out, _ = planted
    assert analyze_command(f"--activations={out}", f"--out={tmp_path / 'a'}") == 0
    effects = pd.read_csv(tmp_path / "a" / f"{layout.SWEEP_ACOUSTIC_EFFECTS}.csv")
    assert set(effects["code_value"]) == {1.0, 3.0} and len(effects) == 4 * 2 * 7
    report = (tmp_path / "a" / "report.md").read_text()
    assert "## What each code does to the sound" in report
    assert (tmp_path / "a" / "figures" / "sweep_matrix.png").exists()
