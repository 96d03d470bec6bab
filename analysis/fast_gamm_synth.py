"""Synthetic activation tables with planted effects, for testing and benchmarking GAMM engines.

The table has the columns of ``activations.parquet`` (see docs/CONVENTIONS.md): token_id, word,
speaker, layer, sample, time, value. For token ``i`` of word ``w`` at sample ``t``
(t = 0..n_samples-1, x = t / (n_samples-1) in [0, 1])::

    value = level[w] + shape[w](x) + a_i + b_i * (x - 0.5) + c_i * sin(2 pi x) + e_it
    e_it  = AR1 within the token: e_i0 ~ N(0, sigma^2), e_it = rho e_i,t-1 + sqrt(1-rho^2) N(0, sigma^2)

Planted effects (relative to the reference word 'ask'): 'dark' is ``level_shift`` higher
everywhere; 'suit' has an extra Gaussian bump ``bump * exp(-((x-0.5)/0.12)^2 / 2)`` in the
middle of the token. Every other word equals the reference. Random token effects a, b, c are
normal with sds ``token_sd`` x (1, 0.5, 0.3).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PAPER_WORDS = ("ask", "carry", "dark", "greasy", "oily", "suit", "water", "year")


def make_synthetic_activations(n_tokens: int = 200, n_samples: int = 16, seed: int = 0,
                               words: Sequence[str] = PAPER_WORDS, layer: str = "conv5",
                               level_shift: float = 0.5, bump: float = 0.8,
                               token_sd: float = 0.3, sigma: float = 0.3, rho: float = 0.5,
                               ) -> pd.DataFrame:
    """Long activations table [n_tokens * n_samples rows] with the planted effects above.

    Tokens are assigned to words in turn (token i gets words[i % len(words)]), so every word
    has tokens when n_tokens >= len(words). Deterministic for a given seed.
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
    z = rng.normal(size=(n_tokens, n_samples)) * sigma
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    s = np.sqrt(1.0 - rho * rho)
    for t in range(1, n_samples):
        e[:, t] = rho * e[:, t - 1] + s * z[:, t]
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
