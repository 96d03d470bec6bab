"""Spectra of the averaged feature maps (analysis/spectra.py): the layer rates, a planted
periodicity found at its frequency and only in its layer, band powers by hand, the band tests
on planted word differences, the report section (pure) and the written outputs."""

import os

import numpy as np
import pandas as pd
import pytest

from analysis.gamm.data import AnalysisInputError
from analysis.spectra import (BAND_COLUMNS, SPECTRUM_COLUMNS, band_edges, band_power,
                              band_tests, layer_rates, phone_spectra, run_spectra,
                              segment_length, spectra_report_section, spectral_peaks,
                              token_spectra, word_spectra)
from synthetic.planted import LAYER_JUMPS, make_contrast_phones, make_periodic_activations

RATES = {name: 16000 / jump for name, jump in LAYER_JUMPS}


def test_layer_rates_from_extract_info_then_from_time():
    acts = make_periodic_activations(n_tokens=3)
    info = {"sample_rate": 16000, "layers": [{"name": "conv1", "stride": 4, "jump": 4},
                                             {"name": "conv2", "stride": 4}]}  # no jump
    rates = layer_rates(acts, info)
    assert rates["conv1"] == 4000.0
    for name, jump in LAYER_JUMPS[1:]:  # from the time column: 1 / (jump / 16000)
        assert rates[name] == pytest.approx(16000 / jump)
    assert layer_rates(None, info) == {"conv1": 4000.0}
    with pytest.raises(AnalysisInputError, match="no sampling rate.*extract_info"):
        word_spectra(acts.drop(columns="time"), {"conv1": 4000.0})


def test_segment_length_rule():
    # min(n, max(16, min(256, n // 4))): conv1..conv5 of a 16384-sample input
    assert [segment_length(16384 // j) for _, j in LAYER_JUMPS] == [256, 256, 64, 16, 16]


def test_welch_on_a_pure_sinusoid_has_the_right_frequency_and_power():
    # one token, conv3 (250 Hz): 2 sin(2 pi 31.25 t), on a bin; power integrates to A^2/2 = 2
    n, rate = 256, 250.0
    t = np.arange(n) / rate
    acts = pd.DataFrame({"token_id": 0, "word": "w", "speaker": "s", "layer": "conv3",
                         "sample": np.arange(n), "value": 2 * np.sin(2 * np.pi * 31.25 * t)})
    f, tok, p = token_spectra(acts, "conv3", rate)
    assert f[np.argmax(p[0])] == pytest.approx(31.25)
    assert np.sum(p[0]) * (f[1] - f[0]) == pytest.approx(2.0, rel=0.02)
    assert tok["word"].tolist() == ["w"]


@pytest.mark.parametrize("layer, freq", [("conv2", 150.0), ("conv3", 40.0), ("conv4", 12.0)])
def test_planted_periodicity_is_a_peak_at_its_frequency_only_in_its_layer(layer, freq):
    acts = make_periodic_activations(n_tokens=60, periodic_layer=layer, frequency=freq,
                                     amplitude=1.0, seed=11)
    spec = word_spectra(acts, RATES)
    peaks = spectral_peaks(spec, prominence_db=6.0)
    assert set(peaks["layer"]) == {layer}, peaks
    # every word shows it, within one frequency bin of the planted frequency
    step = spec[spec["layer"] == layer]["frequency"].drop_duplicates().diff().max()
    for word in ("ask", "dark", "suit"):
        got = peaks[peaks["group"] == word]
        assert len(got) == 1, got
        assert abs(got["frequency"].iloc[0] - freq) <= step
    # without the periodicity no layer has a peak
    flat = make_periodic_activations(n_tokens=60, periodic_layer=layer, amplitude=0.0, seed=11)
    assert spectral_peaks(word_spectra(flat, RATES)).empty


def test_word_spectra_bands_are_t_intervals():
    acts = make_periodic_activations(n_tokens=9, seed=2)
    spec = word_spectra(acts, RATES, layers=["conv5"])
    assert list(spec.columns) == SPECTRUM_COLUMNS
    f, tok, p = token_spectra(acts, "conv5", RATES["conv5"])
    db = 10 * np.log10(p[tok["word"].to_numpy() == "ask"])
    row = spec[(spec["group"] == "ask")].iloc[3]
    assert row["mean_db"] == pytest.approx(db[:, 3].mean())
    from scipy import stats
    half = stats.t.ppf(0.975, 2) * db[:, 3].std(ddof=1) / np.sqrt(3)
    assert row["upper"] - row["mean_db"] == pytest.approx(half)
    assert row["n"] == 3


def test_band_power_by_hand():
    f = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    psd = np.array([[9.0, 1.0, 3.0, 10.0, 30.0]])
    edges = band_edges(8.0, 2)  # [0, 2, 4]: band 1 = bins 1, 2 (DC left out), band 2 = 3, 4
    np.testing.assert_allclose(edges, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(band_power(f, psd, edges), [[10 * np.log10(2.0),
                                                           10 * np.log10(20.0)]])


def test_phone_spectra_use_only_intervals_long_enough():
    ph, _ = make_contrast_phones(n_tokens=20, max_samples=None, layers=LAYER_JUMPS[:3], seed=4)
    spec = phone_spectra(ph, RATES, nperseg=16)
    n = ph.groupby(["layer", "token_id", "phone", "phone_index"]).size()
    expect = (n[n >= 16].reset_index().groupby(["layer", "phone"]).size())
    got = spec.drop_duplicates(["layer", "group"]).set_index(["layer", "group"])["n"]
    for (layer, phone), count in expect.items():
        assert got[(layer, phone)] == count
    assert set(spec["by"]) == {"phone"}


def _gain_acts(seed=5):
    # 'suit' carries the periodicity 4x stronger than 'ask': band 2 of conv2 (125-250 Hz)
    return make_periodic_activations(n_tokens=48, periodic_layer="conv2", frequency=150.0,
                                     amplitude=0.5,
                                     word_gain={"ask": 0.5, "dark": 1.0, "suit": 2.0},
                                     seed=seed)


def test_band_anova_finds_the_planted_band_only():
    bands = band_tests(_gain_acts(), RATES, n_bands=4, test="anova")
    assert list(bands.columns) == BAND_COLUMNS and len(bands) == 5 * 4
    sig = bands[bands["p_holm"] < 0.05]
    assert sig[["layer", "band"]].values.tolist() == [["conv2", 2]]
    assert sig["f_low"].iloc[0] == 125.0 and sig["f_high"].iloc[0] == 250.0
    # the word range of that band: 20 log10(2 / 0.5) = 12 dB between suit and ask, about
    assert 8 < sig["range_db"].iloc[0] < 14


@pytest.mark.needs_r
def test_band_mixed_model_finds_the_planted_band():
    pytest.importorskip("rpy2")
    acts = _gain_acts()
    bands = band_tests(acts, RATES, layers=["conv2", "conv4"], n_bands=4, test="lmm")
    assert bands["formula"].str.contains(r"\(1 \| Speaker\)").all()
    sig = bands[bands["p_holm"] < 0.05]
    assert sig[["layer", "band"]].values.tolist() == [["conv2", 2]]


def test_bad_band_settings():
    acts = make_periodic_activations(n_tokens=6)
    with pytest.raises(AnalysisInputError, match="'lmm' or 'anova'"):
        band_tests(acts, RATES, test="ttest")
    with pytest.raises(AnalysisInputError, match="at least 1"):
        band_tests(acts, RATES, n_bands=0, test="anova")
    with pytest.raises(AnalysisInputError, match="conv9"):
        word_spectra(acts, RATES, layers=["conv9"])


def test_report_section_from_a_hand_table():
    bands = pd.DataFrame({"layer": ["conv2", "conv2", "conv4"], "band": [1, 2, 1],
                          "f_low": [0.0, 125.0, 0.0], "f_high": [125.0, 250.0, 31.25],
                          "test": "anova", "formula": "", "F": [1.0, 50.0, 0.5],
                          "df1": [2.0, 2.0, 2.0], "df2": [45.0, 45.0, 45.0],
                          "p": [0.4, 1e-6, 0.6], "p_holm": [0.8, 3e-6, 0.8],
                          "p_bh": [0.6, 3e-6, 0.6], "range_db": [0.3, 12.0, 0.2],
                          "n_tokens": 48})
    text = spectra_report_section(bands, figures={"conv2": "figures/spectra_conv2.png"})
    assert "- **conv2**: words differ in band(s) 125-250 Hz." in text
    assert "- **conv4**: no band differs between words." in text
    assert "one-way ANOVA" in text
    assert "![Spectra conv2](figures/spectra_conv2.png)" in text


def test_run_spectra_writes_its_files(tmp_path):
    acts = make_periodic_activations(n_tokens=12, layers=LAYER_JUMPS[2:4],
                                     periodic_layer="conv3", frequency=40.0)
    ph, _ = make_contrast_phones(n_tokens=12, max_samples=None, layers=LAYER_JUMPS[2:4])
    info = {"sample_rate": 16000, "layers": [{"name": n, "jump": j} for n, j in LAYER_JUMPS]}
    res = run_spectra(acts, str(tmp_path), info=info, phone_table=ph, test="anova")
    for name in ("spectra.csv", "spectra_bands.csv", "spectra_peaks.csv", "spectra.md",
                 "figures/spectra_conv3.png", "figures/spectra_conv4.pdf"):
        assert os.path.getsize(tmp_path / name) > 0, name
    spec = pd.read_csv(tmp_path / "spectra.csv")
    assert set(spec["by"]) == {"word", "phone"}
    assert "figures/spectra_conv3.png" in (tmp_path / "spectra.md").read_text()
    peaks = res["peaks"]
    assert set(peaks[peaks["by"] == "word"]["layer"]) == {"conv3"}
