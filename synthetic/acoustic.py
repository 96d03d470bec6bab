"""A synthetic activations folder with acoustics and planted acoustic correlates
(analysis.acoustic_correlates; tests and bench/acoustic_null.py).

No model, no Praat: the tables have extract.py --acoustics's columns (common.layout) and an
extract_info.json with each layer's geometry (jump, centre0, width, length; 16384 samples,
kernel 25, stride 4: the Q network's).  Per token and layer, each acoustic measure is a
smooth AR1 series (lag-1 phi ``phi`` on the layer's frames) around a plausible level; f0 is
NaN over the token's unvoiced stretch.  The trace of a layer is

    value[t] = word effect(word, t) + gain[layer] * z(intensity)[t - lag[layer]] + noise

with z() the standardised intensity, noise AR1 (sd ``noise_sd``) and ``follows``
{layer: (gain, lag in frames)} the planted truth: a layer absent from it follows nothing.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from common import layout
from synthetic.planted import ar1_rows

SLICE_LEN, KERNEL, STRIDE = 16384, 25, 4
LEVELS = {"intensity_db": (60.0, 8.0), "cog_hz": (2500.0, 800.0), "f0_hz": (140.0, 20.0),
          "f1_hz": (600.0, 120.0), "f2_hz": (1600.0, 250.0)}


def layer_entries(layers: Sequence[str] = ("conv1", "conv2", "conv3", "conv4", "conv5")
                  ) -> Dict[str, dict]:
    """extract_info.json's ``layers`` entries (length, jump, start0, width, centre0) of the Q
    network's conv layers (pad_left 10 at every layer, as extraction.geometry derives)."""
    out, jump, start, width = {}, 1, 0, 1
    for i in range(1, 6):
        start, width, jump = start - jump * 10, width + (KERNEL - 1) * jump, jump * STRIDE
        name = f"conv{i}"
        if name in layers:
            out[name] = {"name": name, "length": SLICE_LEN // jump, "jump": jump,
                         "start0": start, "width": width, "centre0": start + (width - 1) / 2}
    return out


def make_acoustic_folder(out: str, layers: Sequence[str] = ("conv2", "conv4"),
                         follows: Optional[Dict[str, Tuple[float, int]]] = None,
                         words: Sequence[str] = ("ask", "dark", "wash"),
                         n_speakers: int = 6, tokens_per_cell: int = 3, phi: float = 0.9,
                         noise_sd: float = 1.0, word_sd: float = 0.5, seed: int = 0,
                         sample_rate: int = 16000) -> dict:
    """Write activations.parquet, acoustics.parquet and extract_info.json into ``out``;
    returns the truth {'follows', 'layers', 'n_tokens'}."""
    follows = dict(follows if follows is not None else {"conv2": (1.0, 2)})
    rng = np.random.default_rng(seed)
    geo = layer_entries(layers)
    cells = [(w, f"spk{s}") for w in words for s in range(n_speakers)
             for _ in range(tokens_per_cell)]
    n = len(cells)
    word_of = np.array([c[0] for c in cells])
    spk_of = np.array([c[1] for c in cells])
    acts, acs = [], []
    for name, g in geo.items():
        T = g["length"]
        time = (g["centre0"] + g["jump"] * np.arange(T)) / sample_rate
        meas = {m: mu + sd * ar1_rows(rng, (n, T), phi, 1.0) for m, (mu, sd) in LEVELS.items()}
        voiced_to = rng.integers(T // 3, T, n)
        meas["f0_hz"][np.arange(T)[None, :] >= voiced_to[:, None]] = np.nan
        z = (meas["intensity_db"] - LEVELS["intensity_db"][0]) / LEVELS["intensity_db"][1]
        shapes = {w: word_sd * np.sin(np.pi * (np.arange(T) / T) * (1 + i))
                  for i, w in enumerate(words)}
        value = np.stack([shapes[w] for w in word_of]) + \
            noise_sd * ar1_rows(rng, (n, T), phi, 1.0)
        if name in follows:
            gain, lag = follows[name]
            value = value + gain * z[:, np.clip(np.arange(T) - lag, 0, T - 1)]
        base = {"token_id": np.repeat(np.arange(n), T), "word": np.repeat(word_of, T),
                "speaker": np.repeat(spk_of, T), "layer": name,
                "sample": np.tile(np.arange(T), n), "time": np.tile(time, n)}
        acts.append(pd.DataFrame({**base, "value": value.ravel()}))
        acs.append(pd.DataFrame({**base, **{m: meas[m].ravel() for m in LEVELS}}))
    os.makedirs(out, exist_ok=True)
    for stem, frames in ((layout.ACTIVATIONS, acts), (layout.ACOUSTICS, acs)):
        table = pd.concat(frames, ignore_index=True)
        table.reindex(columns=list(layout.LONG_TABLES[stem].names)).to_parquet(
            os.path.join(out, f"{stem}.parquet"), index=False)
    info = layout.stamp({"sample_rate": sample_rate, "slice_len": SLICE_LEN,
                         "layers": list(geo.values()), "acoustics": True,
                         "counts": {"tokens": n, "acoustic_failures": {}}},
                        layout.EXTRACT_INFO_JSON)
    with open(os.path.join(out, layout.EXTRACT_INFO_JSON), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return {"follows": follows, "layers": list(geo), "n_tokens": n}


def add_acoustics(folder: str, seed: int = 0, phi: float = 0.9) -> None:
    """Beside an activations folder's activations.parquet (e.g.
    :func:`synthetic.activations.write_synthetic_folder`), an acoustics.parquet on the same
    (token, layer, sample) rows: every measure an AR1 series of its own, unrelated to the
    traces (a null), f0 unvoiced over each token's last third."""
    rng = np.random.default_rng(seed)
    act = pd.read_parquet(os.path.join(folder, f"{layout.ACTIVATIONS}.parquet"))
    act = act.sort_values(["layer", "token_id", "sample"], kind="stable")
    parts = []
    for (layer, _), rows in act.groupby(["layer", "token_id"], sort=False, observed=True):
        T = len(rows)
        meas = {m: mu + sd * ar1_rows(rng, (1, T), phi, 1.0)[0] for m, (mu, sd) in
                LEVELS.items()}
        meas["f0_hz"][2 * T // 3:] = np.nan
        parts.append(rows.drop(columns=["value"]).assign(**meas))
    table = pd.concat(parts, ignore_index=True)
    table.reindex(columns=list(layout.LONG_TABLES[layout.ACOUSTICS].names)).to_parquet(
        os.path.join(folder, f"{layout.ACOUSTICS}.parquet"), index=False)
