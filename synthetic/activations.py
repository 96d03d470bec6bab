"""Synthetic activations with planted effects, for the analysis tests and bench/word_gamm_engines.py.

Two generators, both writing the columns of extract.py's tables (docs/CONVENTIONS.md), with no
model:

* :func:`make_activations` (and :func:`write_synthetic_folder`, a whole activations folder):
  several layers; the planted effects sit on one layer and are returned as a
  :class:`SyntheticTruth` so tests can check the fits. Per token and layer::

      value = base(sample) + token intercept + token random cosine + AR1 noise
              (+ level[word] + bump[word](sample) on ``effect_layer``, default conv5)

  with ``base = sin(2 pi s / length)`` and ``bump`` a Gaussian bump
  ``amp * exp(-((s - centre) / width)^2 / 2)`` on the layer's sample axis. Phones
  (:func:`make_phone_activations`): 'sh' differs from 's' by ``phone_effect[layer] *
  sin(pi * norm_time)``.
* :func:`make_synthetic_activations`: one layer at any scale (the fast engine's tests and
  benchmarks), effects planted on named words (see there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from common.atomic import atomic_write_csv, atomic_write_json
from common.constants import DEFAULT_WORDS, SAMPLE_RATE

# Eight SA1/SA2 words including 'carry' and 'suit', which make_synthetic_activations' planted
# effects name; kept as they were so the fast engine's benchmarks stay comparable.
PAPER_WORDS = ("ask", "carry", "dark", "greasy", "oily", "suit", "water", "year")
# (name, stride, length) of the ciwGAN Q network's conv layers for a 16384-sample input.
DEFAULT_LAYERS = (("conv1", 4, 256), ("conv2", 16, 64), ("conv3", 64, 32), ("conv4", 256, 24),
                  ("conv5", 1024, 16))


def ar1_series(z: np.ndarray, rho: float) -> np.ndarray:
    """A stationary AR1 series along the last axis of iid N(0, s^2) innovations z [..., n]:
    out_0 = z_0, out_t = rho out_{t-1} + sqrt(1 - rho^2) z_t, so every out_t ~ N(0, s^2)."""
    out = np.empty_like(z)
    out[..., 0] = z[..., 0]
    scale = np.sqrt(1.0 - rho * rho)
    for t in range(1, z.shape[-1]):
        out[..., t] = rho * out[..., t - 1] + scale * z[..., t]
    return out


def _ar1_noise(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """n samples of an AR1 process with innovation sd ``sd`` (stationary sd sd/sqrt(1-phi^2))."""
    return ar1_series(rng.normal(0.0, sd, n), phi) / np.sqrt(max(1e-12, 1 - phi ** 2))


# --------------------------------------------------------------------------- several layers

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


def make_activations(words: Sequence[str] = DEFAULT_WORDS, tokens_per_word: int = 12,
                     layers: Sequence[Tuple[str, int, int]] = DEFAULT_LAYERS,
                     level: Optional[Dict[str, float]] = None,
                     bump: Optional[Dict[str, Tuple[float, float, float]]] = None,
                     effect_layer: str = "conv5", noise_sd: float = 0.3, phi: float = 0.5,
                     token_sd: float = 0.3, n_speakers: int = 4, sample_rate: int = SAMPLE_RATE,
                     seed: int = 0) -> Tuple[pd.DataFrame, SyntheticTruth]:
    """Long activations table (CONVENTIONS columns) and its truth.

    Defaults plant: level +1.0 for words[1]; a bump (1.5, centre 9, width 1.5) for words[2]
    on conv5; every other word equals the reference (null contrasts).
    """
    words = tuple(str(w) for w in words)
    level = dict(level if level is not None else {words[1]: 1.0})
    bump = dict(bump if bump is not None else {words[2]: (1.5, 9.0, 1.5)})
    truth = SyntheticTruth(words=words, level={w: level.get(w, 0.0) for w in words},
                           bump=bump, phone_effect={}, effect_layer=effect_layer,
                           layers=tuple(tuple(x) for x in layers))
    rng = np.random.default_rng(seed)
    rows = []
    token = 0
    for w in words:
        for _ in range(tokens_per_word):
            speaker = f"spk{(token % n_speakers) + 1}"
            for name, stride, length in layers:
                s = np.arange(length, dtype=float)
                base = np.sin(2 * np.pi * s / length)
                v = base + rng.normal(0, token_sd) \
                    + rng.normal(0, token_sd) * np.cos(np.pi * s / length) \
                    + _ar1_noise(rng, length, phi, noise_sd)
                if name == effect_layer:
                    v = v + truth.level[w] + truth.bump_curve(w, s)
                time_s = (s * stride + stride / 2.0) / sample_rate
                rows.append(pd.DataFrame({
                    "token_id": token, "word": w, "speaker": speaker, "layer": name,
                    "sample": s.astype(int), "time": time_s, "value": v}))
            token += 1
    return pd.concat(rows, ignore_index=True), truth


def make_phone_activations(acts: pd.DataFrame, truth: SyntheticTruth,
                           phone_effect: Optional[Dict[str, float]] = None,
                           interval_ms: float = 100.0, sample_rate: int = SAMPLE_RATE,
                           noise_sd: float = 0.3, phi: float = 0.5, seed: int = 1
                           ) -> pd.DataFrame:
    """Phone table: each token gets one 's' or 'sh' interval (alternating by token).

    Samples per interval at a layer with stride r: max(4, interval_ms * sr / 1000 / r) capped at
    24. Value = 0.5 * cos(pi t) + (phone == 'sh') * a_layer * sin(pi t) + interval intercept +
    AR1 noise, with t = norm_time. Default a = 1.0 for conv1..conv3 and 0.0 for conv4 (null).
    Sets ``truth.phone_effect``.
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
                           sample_rate: int = SAMPLE_RATE, **kwargs) -> SyntheticTruth:
    """Write a complete synthetic activations folder to ``out_dir``; return the truth.

    kwargs go to :func:`make_activations`. Files: activations.parquet(/.csv),
    phone_activations.parquet(/.csv), upsampled.parquet, q_outputs.csv, confusion.csv,
    classification.json, extract_info.json (with ``sample_rate``).
    """
    os.makedirs(out_dir, exist_ok=True)
    acts, truth = make_activations(words, tokens_per_word, seed=seed, sample_rate=sample_rate,
                                   **kwargs)
    phones = make_phone_activations(acts, truth, sample_rate=sample_rate, seed=seed + 1)
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
        "sample_rate": int(sample_rate), "counts": {"tokens": int(acts["token_id"].nunique())},
        "synthetic": {"level": truth.level, "bump": {k: list(v) for k, v in truth.bump.items()},
                      "phone_effect": truth.phone_effect, "seed": seed}}, sort_keys=False)
    return truth


# --------------------------------------------------------------------------- one layer, any size

def make_synthetic_activations(n_tokens: int = 200, n_samples: int = 16, seed: int = 0,
                               words: Sequence[str] = PAPER_WORDS, layer: str = "conv5",
                               level_shift: float = 0.5, bump: float = 0.8,
                               token_sd: float = 0.3, sigma: float = 0.3, rho: float = 0.5,
                               ) -> pd.DataFrame:
    """Long activations table [n_tokens * n_samples rows] of one layer with planted effects.

    For token ``i`` of word ``w`` at sample ``t`` (x = t / (n_samples - 1) in [0, 1])::

        value = level[w] + shape[w](x) + a_i + b_i * (x - 0.5) + c_i * sin(2 pi x) + e_it

    with e AR1 within the token (:func:`ar1_series`, stationary sd ``sigma``) and token effects
    a, b, c normal with sds ``token_sd`` x (1, 0.5, 0.3). Planted, relative to the reference
    'ask': 'dark' is ``level_shift`` higher everywhere; 'suit' has an extra bump
    ``bump * exp(-((x - 0.5) / 0.12)^2 / 2)``; every other word equals the reference.
    Tokens are assigned to words in turn (token i gets words[i % len(words)]).
    Deterministic for a given seed.
    """
    if n_tokens < len(words):
        raise ValueError(f"n_tokens={n_tokens} must be at least the number of words "
                         f"({len(words)})")
    if n_samples < 4:
        raise ValueError(f"n_samples={n_samples} must be at least 4")
    rng = np.random.default_rng(seed)
    words = [str(w) for w in words]
    x = np.linspace(0.0, 1.0, n_samples)
    shapes = {w: 0.6 * np.sin(np.pi * x) for w in words}  # common shape
    levels = {w: 1.0 for w in words}
    if "dark" in levels:
        levels["dark"] += level_shift
    if "suit" in shapes:
        shapes["suit"] = shapes["suit"] + bump * np.exp(-0.5 * ((x - 0.5) / 0.12) ** 2)
    tok_word = [words[i % len(words)] for i in range(n_tokens)]
    abc = rng.normal(size=(n_tokens, 3)) * (token_sd * np.array([1.0, 0.5, 0.3]))
    e = ar1_series(rng.normal(size=(n_tokens, n_samples)) * sigma, rho)
    base = np.array([levels[w] + shapes[w] for w in tok_word])  # [n_tokens, n_samples]
    rand = (abc[:, :1] + abc[:, 1:2] * (x - 0.5)[None, :]
            + abc[:, 2:3] * np.sin(2 * np.pi * x)[None, :])
    value = base + rand + e
    tok = np.repeat(np.arange(n_tokens), n_samples)
    return pd.DataFrame({
        "token_id": tok,
        "word": np.repeat(np.array(tok_word, dtype=object), n_samples),
        "speaker": np.array([f"spk{t % 37}" for t in tok], dtype=object),
        "layer": layer,
        "sample": np.tile(np.arange(n_samples), n_tokens),
        "time": np.tile(x, n_tokens),
        "value": value.reshape(-1),
    })


# --------------------------------------------------------------------------- the paper's scale

# (name, stride, length) of the Q network's conv layers at the paper's geometry (16384-sample
# input, stride 4 each): 4,096 + 1,024 + 256 + 64 + 16 = 5,456 rows per token.
PAPER_LAYER_SIZES = (("conv1", 4, 4096), ("conv2", 16, 1024), ("conv3", 64, 256),
                     ("conv4", 256, 64), ("conv5", 1024, 16))
# Tokens per SA1/SA2 word in all of TIMIT: every one of the 630 speakers reads both sentences.
TIMIT_SA_TOKENS = 630


def scale_token_words(n_tokens: int, n_words: int, focus_words: Sequence[str] = PAPER_WORDS[:3],
                      focus_tokens: int = TIMIT_SA_TOKENS, seed: int = 0) -> np.ndarray:
    """Word of each of ``n_tokens`` tokens [n_tokens] (object array), TIMIT-like: each focus word
    gets ``focus_tokens`` tokens (fewer when n_tokens is small: at most a quarter of the tokens
    between them), the other tokens go in turn to ``n_words - len(focus_words)`` filler words
    'w0000', 'w0001', ...; the order is shuffled (seeded), as tokens of a word are spread over
    an extraction's batches."""
    focus = [str(w) for w in focus_words]
    per_focus = int(min(focus_tokens, n_tokens // (4 * len(focus))))
    n_fill = n_words - len(focus)
    if per_focus < 2 or n_fill < 1 or n_tokens - per_focus * len(focus) < n_fill:
        raise ValueError(f"{n_tokens} tokens cannot hold {len(focus)} focus words and "
                         f"{n_words - len(focus)} filler words")
    fillers = np.array([f"w{i:04d}" for i in range(n_fill)], dtype=object)
    rest = n_tokens - per_focus * len(focus)
    words = np.concatenate([np.repeat(np.array(focus, dtype=object), per_focus),
                            fillers[np.arange(rest) % n_fill]])
    return words[np.random.default_rng(seed).permutation(n_tokens)]


def write_scale_activations(path: str, token_words: np.ndarray,
                            layers: Sequence[Tuple[str, int, int]] = PAPER_LAYER_SIZES,
                            level: Optional[Dict[str, float]] = None, chunk_tokens: int = 64,
                            n_speakers: int = 630, noise_sd: float = 0.3, phi: float = 0.5,
                            token_sd: float = 0.3, sample_rate: int = SAMPLE_RATE,
                            seed: int = 0) -> int:
    """Write an activations.parquet as extract.py writes it (extraction.schema's columns and
    types, zstd, one row group per batch of ``chunk_tokens`` tokens, rows ordered token,
    layer, sample), generated batch by batch so memory stays bounded
    (chunk_tokens x rows per token). Returns the number of rows.

    value = sin(2 pi s / length) + level[word] + token intercept + AR1 noise (every layer), the
    token intercept N(0, token_sd), ``level`` default {} (every word equal); speakers
    'spk<i % n_speakers>'.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from extraction.schema import ACTIVATION_SCHEMA
    level = dict(level or {})
    rng = np.random.default_rng(seed)
    n_tok = len(token_words)
    per_tok = sum(length for _, _, length in layers)
    # One token's layer / sample / time columns [per_tok], repeated for every token.
    lay_idx = np.concatenate([np.full(ln, i, np.int32) for i, (_, _, ln) in enumerate(layers)])
    samples = np.concatenate([np.arange(ln, dtype=np.int64) for _, _, ln in layers])
    times = np.concatenate([(np.arange(ln) * st + st / 2.0) / sample_rate
                            for _, st, ln in layers])
    base = np.concatenate([np.sin(2 * np.pi * np.arange(ln) / ln) for _, _, ln in layers])
    layer_dict = pa.array([name for name, _, _ in layers], pa.string())
    rows = 0
    with pq.ParquetWriter(path, ACTIVATION_SCHEMA, compression="zstd") as writer:
        for a in range(0, n_tok, chunk_tokens):
            ids = np.arange(a, min(n_tok, a + chunk_tokens))
            B = len(ids)
            words = token_words[ids]
            shift = np.array([level.get(str(w), 0.0) for w in words])
            noise = np.concatenate(
                [ar1_series(rng.normal(0.0, noise_sd, (B, ln)), phi) for _, _, ln in layers],
                axis=1)  # [B, per_tok]
            value = base[None, :] + (shift + rng.normal(0.0, token_sd, B))[:, None] + noise
            tok_rows = np.repeat(np.arange(B), per_tok)
            table = pa.table({
                "token_id": pa.array(np.repeat(ids.astype(np.int64), per_tok)),
                "word": pa.array(list(words), pa.string()).take(pa.array(tok_rows)),
                "speaker": pa.array([f"spk{i % n_speakers}" for i in ids],
                                    pa.string()).take(pa.array(tok_rows)),
                "layer": layer_dict.take(pa.array(np.tile(lay_idx, B))),
                "sample": pa.array(np.tile(samples, B)),
                "time": pa.array(np.tile(times, B)),
                "value": pa.array(value.reshape(-1))}, schema=ACTIVATION_SCHEMA)
            writer.write_table(table)
            rows += table.num_rows
    return rows
