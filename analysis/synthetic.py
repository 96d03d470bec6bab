"""Synthetic activation folders with planted effects (for tests and development).

Writes the files of an activations folder (docs/CONVENTIONS.md) without any model:

* ``activations`` values per token and layer: ``level[word] + bump[word](sample) + base(sample)
  + token intercept + token random sine + AR1 noise`` where ``bump`` is a Gaussian bump
  ``amp * exp(-((s - centre) / width)^2 / 2)`` on the layer's sample axis (planted only for the
  layer ``effect_layer``, default conv5; other layers get base + noise only);
* ``phone_activations``: for tokens containing phones 's' and 'sh', per layer a curve over
  norm_time; 'sh' differs from 's' by ``phone_effect[layer] * sin(pi * norm_time)``;
* ``upsampled``, ``q_outputs.csv``, ``confusion.csv``, ``classification.json``,
  ``extract_info.json``.

The ground truth is returned as a :class:`SyntheticTruth` so tests can check the fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from common.atomic import atomic_write_csv, atomic_write_json

DEFAULT_WORDS = ("ask", "carry", "dark", "greasy", "oily", "suit", "wash", "water")
DEFAULT_LAYERS = (("conv1", 4, 256), ("conv2", 16, 64), ("conv3", 64, 32), ("conv4", 256, 24),
                  ("conv5", 1024, 16))


@dataclass
class SyntheticTruth:
    """Planted effects. level[word]: offset vs ref (ref = first word, 0); bump[word] =
    (amp, centre, width) on the effect layer's sample axis; phone_effect[layer]: amplitude of
    sh - s = a * sin(pi * norm_time)."""
    words: Tuple[str, ...]
    level: Dict[str, float]
    bump: Dict[str, Tuple[float, float, float]]
    phone_effect: Dict[str, float]
    effect_layer: str = "conv5"
    layers: Tuple[Tuple[str, int, int], ...] = DEFAULT_LAYERS
    extra: Dict[str, object] = field(default_factory=dict)

    def bump_curve(self, word: str, samples: np.ndarray) -> np.ndarray:
        """Planted shape difference of ``word`` vs the reference at ``samples``."""
        amp, centre, width = self.bump.get(word, (0.0, 0.0, 1.0))
        s = np.asarray(samples, dtype=float)
        return amp * np.exp(-0.5 * ((s - centre) / width) ** 2)

    def planted_region(self, word: str, samples: np.ndarray, frac: float = 0.5):
        """(start, end) of samples where the bump exceeds frac * |amp| (None without bump)."""
        amp = self.bump.get(word, (0.0, 0.0, 1.0))[0]
        if amp == 0:
            return None
        s = np.asarray(samples, dtype=float)
        inside = s[np.abs(self.bump_curve(word, s)) >= frac * abs(amp)]
        return float(inside.min()), float(inside.max())


def _ar1_noise(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    e = rng.normal(0.0, sd, n)
    out = np.empty(n)
    out[0] = e[0] / np.sqrt(max(1e-12, 1 - phi ** 2))
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def make_activations(words: Sequence[str] = DEFAULT_WORDS, tokens_per_word: int = 12,
                     layers: Sequence[Tuple[str, int, int]] = DEFAULT_LAYERS,
                     level: Optional[Dict[str, float]] = None,
                     bump: Optional[Dict[str, Tuple[float, float, float]]] = None,
                     effect_layer: str = "conv5", noise_sd: float = 0.3, phi: float = 0.5,
                     token_sd: float = 0.3, n_speakers: int = 4, sample_rate: int = 16000,
                     seed: int = 0) -> Tuple[pd.DataFrame, SyntheticTruth]:
    """Long activations table (CONVENTIONS columns) and its truth.

    Defaults plant: level +1.0 for words[1]; a bump (1.5, centre 9, width 1.5) for words[2]
    on conv5; every other word equals the reference (null contrasts).
    """
    words = tuple(str(w) for w in words)
    level = dict(level if level is not None else {words[1]: 1.0})
    bump = dict(bump if bump is not None else {words[2]: (1.5, 9.0, 1.5)})
    rng = np.random.default_rng(seed)
    rows = []
    token = 0
    for w in words:
        for j in range(tokens_per_word):
            speaker = f"spk{(token % n_speakers) + 1}"
            for name, stride, length in layers:
                s = np.arange(length, dtype=float)
                base = np.sin(2 * np.pi * s / length)
                v = base + rng.normal(0, token_sd) \
                    + rng.normal(0, token_sd) * np.cos(np.pi * s / length) \
                    + _ar1_noise(rng, length, phi, noise_sd)
                if name == effect_layer:
                    v = v + level.get(w, 0.0)
                    amp, c, wd = bump.get(w, (0.0, 0.0, 1.0))
                    v = v + amp * np.exp(-0.5 * ((s - c) / wd) ** 2)
                time_s = (s * stride + stride / 2.0) / sample_rate
                rows.append(pd.DataFrame({
                    "token_id": token, "word": w, "speaker": speaker, "layer": name,
                    "sample": s.astype(int), "time": time_s, "value": v}))
            token += 1
    df = pd.concat(rows, ignore_index=True)
    truth = SyntheticTruth(words=words, level={w: level.get(w, 0.0) for w in words},
                           bump=bump, phone_effect={}, effect_layer=effect_layer,
                           layers=tuple(tuple(x) for x in layers))
    return df, truth


def make_phone_activations(acts: pd.DataFrame, truth: SyntheticTruth,
                           phone_effect: Optional[Dict[str, float]] = None,
                           interval_ms: float = 100.0, sample_rate: int = 16000,
                           noise_sd: float = 0.3, phi: float = 0.5, seed: int = 1
                           ) -> pd.DataFrame:
    """Phone table: each token gets one 's' or 'sh' interval (alternating by token).

    Samples per interval at a layer with stride r: max(4, interval_ms * sr / 1000 / r) capped at
    24. Value = 0.5 * cos(pi t) + (phone == 'sh') * a_layer * sin(pi t) + interval intercept +
    AR1 noise, with t = norm_time. Default a = 1.0 for conv1..conv3 and 0.0 for conv4 (null).
    """
    rng = np.random.default_rng(seed)
    layers = [(n, st, ln) for n, st, ln in truth.layers if n != "conv5"]
    eff = dict(phone_effect if phone_effect is not None
               else {n: (0.0 if n == "conv4" else 1.0) for n, _, _ in layers})
    truth.phone_effect = eff
    tokens = acts[["token_id", "word", "speaker"]].drop_duplicates("token_id")
    rows = []
    for i, (tok, word, spk) in enumerate(tokens.itertuples(index=False)):
        phone = "s" if i % 2 == 0 else "sh"
        for name, stride, _length in layers:
            n = int(min(24, max(4, round(interval_ms * sample_rate / 1000 / stride))))
            t = (np.arange(n) + 0.5) / n
            v = 0.5 * np.cos(np.pi * t) + rng.normal(0, 0.3) + _ar1_noise(rng, n, phi, noise_sd)
            if phone == "sh":
                v = v + eff.get(name, 0.0) * np.sin(np.pi * t)
            rows.append(pd.DataFrame({
                "token_id": tok, "word": word, "speaker": spk, "layer": name, "phone": phone,
                "phone_index": 0, "sample": np.arange(n) + 10, "norm_time": t, "value": v}))
    return pd.concat(rows, ignore_index=True)


def make_upsampled(acts: pd.DataFrame, slice_len: int = 1024, seed: int = 2) -> pd.DataFrame:
    """One token per word: 'input' waveform (noise burst) plus each layer's trace repeated to
    slice_len samples (sample-and-hold)."""
    rng = np.random.default_rng(seed)
    first = acts.drop_duplicates("word")[["token_id", "word"]]
    rows = []
    for tok, word in first.itertuples(index=False):
        env = np.exp(-0.5 * ((np.arange(slice_len) - slice_len / 2) / (slice_len / 8)) ** 2)
        wave = env * rng.normal(0, 0.3, slice_len)
        rows.append(pd.DataFrame({"token_id": tok, "word": word, "layer": "input",
                                  "sample": np.arange(slice_len), "value": wave}))
        for layer, g in acts[acts["token_id"] == tok].groupby("layer", sort=True):
            vals = g.sort_values("sample")["value"].to_numpy()
            up = np.repeat(vals, int(np.ceil(slice_len / len(vals))))[:slice_len]
            rows.append(pd.DataFrame({"token_id": tok, "word": word, "layer": layer,
                                      "sample": np.arange(slice_len), "value": up}))
    return pd.concat(rows, ignore_index=True)


def make_q_outputs(acts: pd.DataFrame, words: Sequence[str], accuracy: float = 0.8,
                   seed: int = 3) -> pd.DataFrame:
    """ciwGAN-style Q outputs: code = word's index with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    tokens = acts[["token_id", "word", "speaker"]].drop_duplicates("token_id")
    n = len(words)
    out = []
    for tok, word, spk in tokens.itertuples(index=False):
        target = list(words).index(word)
        logits = rng.normal(0, 1, n)
        if rng.random() < accuracy:
            logits[target] += 4.0
        p = np.exp(logits - logits.max())
        p /= p.sum()
        row = {"token_id": tok, "word": word, "speaker": spk, "code": int(np.argmax(logits))}
        row.update({f"logit_{i}": logits[i] for i in range(n)})
        row.update({f"prob_{i}": p[i] for i in range(n)})
        out.append(row)
    return pd.DataFrame(out)


def write_synthetic_folder(out_dir: str, words: Sequence[str] = DEFAULT_WORDS,
                           tokens_per_word: int = 12, seed: int = 0, csv: bool = True,
                           **kwargs) -> SyntheticTruth:
    """Write a complete synthetic activations folder to ``out_dir``; return the truth.

    kwargs go to :func:`make_activations`. Files: activations.parquet(/.csv),
    phone_activations.parquet(/.csv), upsampled.parquet, q_outputs.csv, confusion.csv,
    classification.json, extract_info.json.
    """
    os.makedirs(out_dir, exist_ok=True)
    acts, truth = make_activations(words, tokens_per_word, seed=seed, **kwargs)
    phones = make_phone_activations(acts, truth, seed=seed + 1)
    up = make_upsampled(acts, seed=seed + 2)
    q = make_q_outputs(acts, truth.words, seed=seed + 3)
    for name, table in (("activations", acts), ("phone_activations", phones)):
        table.to_parquet(os.path.join(out_dir, name + ".parquet"), index=False)
        if csv:
            atomic_write_csv(table, os.path.join(out_dir, name + ".csv"))
    up.to_parquet(os.path.join(out_dir, "upsampled.parquet"), index=False)
    atomic_write_csv(q, os.path.join(out_dir, "q_outputs.csv"))
    conf = pd.crosstab(q["word"], q["code"]).reindex(index=list(truth.words), fill_value=0)
    conf.index.name = "word"
    atomic_write_csv(conf, os.path.join(out_dir, "confusion.csv"), index_label="word")
    acc = float(np.mean([list(truth.words).index(w) == c for w, c in zip(q["word"], q["code"])]))
    atomic_write_json(os.path.join(out_dir, "classification.json"), {
        "accuracy": acc, "mapping": {w: i for i, w in enumerate(truth.words)},
        "chance": 1.0 / len(truth.words), "n_tokens": int(len(q))}, sort_keys=False)
    atomic_write_json(os.path.join(out_dir, "extract_info.json"), {
        "checkpoint": "synthetic", "model": {"model": "ciwgan", "num_categ": len(truth.words)},
        "layers": [{"name": n, "stride": s, "length": l} for n, s, l in truth.layers],
        "sample_rate": 16000, "counts": {"tokens": int(acts["token_id"].nunique())},
        "synthetic": {"level": truth.level, "bump": {k: list(v) for k, v in truth.bump.items()},
                      "phone_effect": truth.phone_effect, "seed": seed}}, sort_keys=False)
    return truth
