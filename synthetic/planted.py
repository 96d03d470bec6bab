"""Synthetic phone_activations and activations tables with planted truth, for the contrast
matrix (analysis/contrasts.py) and the spectra (analysis/spectra.py): tests and benchmarks.

No model, no analysis code: the tables have extract.py's columns (docs/CONVENTIONS.md).

Phone table (:func:`make_contrast_phones`). Each token gets ``phones_per_token`` phone
intervals drawn at random from ``phones``, each ``duration_ms`` long (uniform in the range);
at a layer of cumulative stride ``jump`` an interval holds the layer indices whose centre lies
inside it, ``n = floor(duration * sample_rate / jump)`` of them (capped at ``max_samples``;
intervals with no index are absent at that layer, as in extract.py). With t = norm_time =
(j + 0.5) / n::

    value = scale[layer] * (0.5 cos(pi t) + interval intercept N(0, interval_sd)
                            + AR1 noise (sd noise_sd, lag-1 phi)
                            + effect[layer][phone] * (0.5 + sin(pi t)))

``effect[layer][phone]`` (default 0) is the planted truth: a contrast (a, b) is encoded at a
layer exactly when the two phones' effects differ there (:meth:`PhoneTruth.planted`); the
planted difference b - a is ``(e_b - e_a) * (0.5 + sin(pi t))`` (a level and a shape
difference). ``scale`` differs per layer so that effect sizes must be scale-free to agree.

Activations with a planted periodicity (:func:`make_periodic_activations`): per token and
layer an AR1 trace (smooth, monotone spectrum), plus on one layer a sinusoid of a given
frequency (Hz on that layer's own rate) with a random phase per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from common.constants import SAMPLE_RATE

# (name, cumulative stride) of the Q network's conv layers for a 16384-sample input
# (extract_info.json 'jump'); the lengths are 16384 / jump.
LAYER_JUMPS = (("conv1", 4), ("conv2", 16), ("conv3", 64), ("conv4", 256), ("conv5", 1024))


def ar1_rows(rng: np.random.Generator, shape: Tuple[int, int], phi: float,
             sd: float) -> np.ndarray:
    """[m, n] stationary AR1 rows (lag-1 phi, marginal sd ``sd``) along the last axis."""
    z = rng.normal(0.0, sd, shape)
    out = np.empty_like(z)
    out[:, 0] = z[:, 0]
    c = np.sqrt(1.0 - phi * phi)
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + c * z[:, t]
    return out


@dataclass
class PhoneTruth:
    """Planted truth of :func:`make_contrast_phones`: effect[layer][phone] (missing = 0)."""
    layers: Tuple[str, ...]
    phones: Tuple[str, ...]
    effect: Dict[str, Dict[str, float]] = field(default_factory=dict)
    scale: Dict[str, float] = field(default_factory=dict)

    def difference(self, a: str, b: str, layer: str) -> float:
        """Planted amplitude of b - a at ``layer`` (times 0.5 + sin(pi t))."""
        e = self.effect.get(layer, {})
        return float(e.get(b, 0.0) - e.get(a, 0.0))

    def planted(self, a: str, b: str, layer: str) -> bool:
        return self.difference(a, b, layer) != 0.0


def make_contrast_phones(n_tokens: int = 200, phones: Sequence[str] = ("s", "sh", "p", "b"),
                         effect: Optional[Mapping[str, Mapping[str, float]]] = None,
                         layers: Sequence[Tuple[str, int]] = LAYER_JUMPS[:4],
                         phones_per_token: int = 2, duration_ms: Tuple[float, float] = (60, 140),
                         max_samples: Optional[int] = 12, interval_sd: float = 0.3,
                         noise_sd: float = 0.3, phi: float = 0.5,
                         scale: Optional[Mapping[str, float]] = None,
                         words: Sequence[str] = ("ask", "dark", "suit", "year"),
                         n_speakers: int = 8, sample_rate: int = SAMPLE_RATE,
                         seed: int = 0) -> Tuple[pd.DataFrame, PhoneTruth]:
    """phone_activations table [rows] (token_id, word, speaker, layer, phone, phone_index,
    sample, norm_time, value) and its :class:`PhoneTruth` (see the module docstring).

    Phones are assigned to intervals in turn over a random permutation, so every phone gets
    about n_tokens * phones_per_token / len(phones) intervals. ``max_samples=None`` keeps the
    real number of indices per interval (conv1: ~400 per 100 ms)."""
    rng = np.random.default_rng(seed)
    phones = tuple(str(p) for p in phones)
    layer_names = tuple(n for n, _ in layers)
    eff = {lay: dict(effect.get(lay, {})) for lay in layer_names} if effect else {}
    scale = dict(scale) if scale else {lay: 10.0 ** (i - 1) for i, lay in enumerate(layer_names)}
    truth = PhoneTruth(layers=layer_names, phones=phones, effect=eff, scale=scale)
    n_int = n_tokens * phones_per_token
    phone_of = np.array(phones, dtype=object)[rng.permutation(n_int) % len(phones)]
    durations = rng.uniform(duration_ms[0], duration_ms[1], n_int)
    intercepts = rng.normal(0.0, interval_sd, n_int)
    parts: List[pd.DataFrame] = []
    for name, jump in layers:
        n_per = np.floor(durations * sample_rate / 1000.0 / jump).astype(int)
        if max_samples is not None:
            n_per = np.minimum(n_per, int(max_samples))
        e = eff.get(name, {})
        amp = np.array([e.get(p, 0.0) for p in phone_of])
        for n in np.unique(n_per[n_per > 0]):
            idx = np.flatnonzero(n_per == n)
            t = (np.arange(n) + 0.5) / n
            noise = ar1_rows(rng, (len(idx), n), phi, noise_sd)
            v = (0.5 * np.cos(np.pi * t)[None, :] + intercepts[idx, None] + noise
                 + amp[idx, None] * (0.5 + np.sin(np.pi * t))[None, :]) * scale[name]
            tok = idx // phones_per_token
            parts.append(pd.DataFrame({
                "token_id": np.repeat(tok, n),
                "word": np.repeat(np.array(words, dtype=object)[tok % len(words)], n),
                "speaker": np.repeat([f"spk{(t_ % n_speakers) + 1}" for t_ in tok], n),
                "layer": name,
                "phone": np.repeat(phone_of[idx], n),
                "interval": np.repeat(idx, n),
                "sample": (np.repeat(idx % phones_per_token, n) * 1000
                           + np.tile(np.arange(n), len(idx))),
                "norm_time": np.tile(t, len(idx)),
                "value": v.reshape(-1)}))
    df = pd.concat(parts, ignore_index=True)
    # phone_index: occurrence of the phone within its token (0-based), by interval order
    first = df.drop_duplicates("interval")[["interval", "token_id", "phone"]].sort_values(
        "interval")
    first["phone_index"] = first.groupby(["token_id", "phone"]).cumcount()
    df = df.merge(first[["interval", "phone_index"]], on="interval").drop(columns="interval")
    cols = ["token_id", "word", "speaker", "layer", "phone", "phone_index", "sample",
            "norm_time", "value"]
    return df[cols].sort_values(["layer", "token_id", "sample"], kind="mergesort").reset_index(
        drop=True), truth


def make_periodic_activations(n_tokens: int = 48, words: Sequence[str] = ("ask", "dark", "suit"),
                              layers: Sequence[Tuple[str, int]] = LAYER_JUMPS,
                              slice_len: int = 16384, periodic_layer: str = "conv2",
                              frequency: float = 150.0, amplitude: float = 1.0,
                              noise_sd: float = 0.5, phi: float = 0.7,
                              word_gain: Optional[Mapping[str, float]] = None,
                              n_speakers: int = 6, sample_rate: int = SAMPLE_RATE,
                              seed: int = 0) -> pd.DataFrame:
    """activations table (token_id, word, speaker, layer, sample, time, value): AR1 traces of
    length slice_len / jump per layer, plus ``amplitude * word_gain[word] * sin(2 pi f t +
    phase)`` on ``periodic_layer`` (t in seconds on that layer's rate sample_rate / jump;
    phase uniform per token; word_gain default 1 for every word)."""
    rng = np.random.default_rng(seed)
    gain = dict(word_gain or {})
    tok_word = np.array([words[i % len(words)] for i in range(n_tokens)], dtype=object)
    parts = []
    for name, jump in layers:
        n = slice_len // jump
        rate = sample_rate / jump
        v = ar1_rows(rng, (n_tokens, n), phi, noise_sd)
        if name == periodic_layer:
            t = np.arange(n) / rate
            phase = rng.uniform(0, 2 * np.pi, n_tokens)
            g = np.array([gain.get(w, 1.0) for w in tok_word])
            v = v + amplitude * g[:, None] * np.sin(2 * np.pi * frequency * t[None, :]
                                                    + phase[:, None])
        parts.append(pd.DataFrame({
            "token_id": np.repeat(np.arange(n_tokens), n),
            "word": np.repeat(tok_word, n),
            "speaker": np.repeat([f"spk{(i % n_speakers) + 1}" for i in range(n_tokens)], n),
            "layer": name, "sample": np.tile(np.arange(n), n_tokens),
            "time": np.tile((np.arange(n) * jump + jump / 2.0) / sample_rate, n_tokens),
            "value": v.reshape(-1)}))
    return pd.concat(parts, ignore_index=True)
