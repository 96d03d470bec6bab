"""The latent codes of ciwGAN / fiwGAN, in one place: sampled for training, named, parsed from
the command line, put into z for generation, and read back from Q's logits.

    z [B, latent_dim] = [code (num_categ values), noise uniform(-1, 1) (latent_dim - num_categ)]

A code is an int everywhere:
  ciwGAN: the category k in [0, num_categ); its code vector is one-hot;
  fiwGAN: the bit pattern read as a binary number, bit 0 (the first) most significant
          ('0101' -> 5 with num_categ = 4); its code vector holds the bits.
Its label (file names, tables, TensorBoard): ``code_3`` (ciwGAN), ``bits_0101`` (fiwGAN).
WaveGAN has no code: z is all noise.

Only :func:`sample_training_z` (the training loop's draws) uses TensorFlow, and imports it
itself: parsing and naming codes loads numpy only.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from wavegan.config import WaveGANConfig

# fiwGAN: "every code" lists all 2^num_categ patterns only up to this many bits.
MAX_ALL_BITS = 12
# The label of z without a code (a plain WaveGAN).
NO_CODE = "-"
# --codes=all: every code.
ALL_CODES = "all"


def _require_code(config: WaveGANConfig) -> None:
    if config.model not in ("ciwgan", "fiwgan"):
        raise ValueError("WaveGAN has no latent code")


def code_label(config: WaveGANConfig, code) -> str:
    """``code_{k}`` (ciwGAN category k) or ``bits_{pattern}`` (fiwGAN; ``code`` is the
    pattern's integer, or the pattern itself as a string of 0/1)."""
    _require_code(config)
    n = config.num_categ
    if config.model == "fiwgan" and isinstance(code, str):
        if len(code) != n or set(code) - {"0", "1"}:
            raise ValueError(f"bit pattern {code!r}: expected {n} characters of 0/1")
        return f"bits_{code}"
    k = int(code)
    if config.model == "ciwgan":
        if not 0 <= k < n:
            raise ValueError(f"code {k} out of range [0, {n})")
        return f"code_{k}"
    if not 0 <= k < 2 ** n:
        raise ValueError(f"bit pattern {k} out of range [0, {2 ** n})")
    return f"bits_{k:0{n}b}"


def parse_codes(config: WaveGANConfig, texts: Optional[Sequence[str]] = None) -> List[int]:
    """Codes named on the command line, as ints (see the module docstring).

    ciwGAN: ``"3"`` or ``"code_3"``; fiwGAN: ``"0101"`` or ``"bits_0101"`` (num_categ
    characters).  ``None`` or ``["all"]``: every code (fiwGAN: every pattern, up to
    ``MAX_ALL_BITS`` bits).  A ValueError names the text that is not a code of this model.
    """
    _require_code(config)
    n = config.num_categ
    if texts is None or [str(text).strip() for text in texts] == [ALL_CODES]:
        if config.model == "fiwgan" and n > MAX_ALL_BITS:
            raise ValueError(f"{n} bits give {2 ** n} patterns: choose some with --codes")
        return list(range(n if config.model == "ciwgan" else 2 ** n))
    return [_parse_code(config, str(text).strip()) for text in texts]


def _parse_code(config: WaveGANConfig, text: str) -> int:
    n = config.num_categ
    if config.model == "ciwgan":
        digits = text[len("code_"):] if text.startswith("code_") else text
        if digits.isdigit() and int(digits) < n:
            return int(digits)
        if digits.isdigit():
            raise ValueError(f"code {text!r} out of range [0, {n})")
        raise ValueError(f"code {text!r}: expected a category 0..{n - 1}, as k or code_k")
    pattern = text[len("bits_"):] if text.startswith("bits_") else text
    if len(pattern) == n and not set(pattern) - {"0", "1"}:
        return int(pattern, 2)
    raise ValueError(f"bit pattern {text!r}: expected {n} characters of 0/1, optionally "
                     "after bits_ (e.g. 0101 or bits_0101 for 4 bits)")


def code_vectors(config: WaveGANConfig, codes: Sequence[int], value: float = 1.0) -> np.ndarray:
    """The code part of z for each code, float32 [len(codes), num_categ]: the one-hot entry
    (ciwGAN) or the set bits (fiwGAN) equal ``value`` (the papers push it to e.g. 5 to
    exaggerate a code's effect), the rest 0."""
    labels = [code_label(config, c) for c in codes]  # checks the range
    n = config.num_categ
    out = np.zeros([len(codes), n], np.float32)
    for row, (code, label) in enumerate(zip(codes, labels)):
        if config.model == "ciwgan":
            out[row, int(code)] = value
        else:
            out[row] = [value if bit == "1" else 0.0 for bit in label[len("bits_"):]]
    return out


def code_latents(config: WaveGANConfig, codes: Optional[Sequence[int]] = None,
                 n_per_code: int = 1, value: float = 1.0,
                 seed: int = 0) -> Tuple[np.ndarray, List[str]]:
    """z for generating ``n_per_code`` clips of every code, with shared noise.

    Returns ``(z float32 [len(codes) * n_per_code, latent_dim], labels list[str])`` in code-major
    order: row ``i * n_per_code + j`` = [code_vectors(codes[i]), noise[j]], where noise
    float64 [n_per_code, latent_dim - num_categ] ~ uniform(-1, 1) is drawn from
    ``np.random.RandomState(seed)``: noise index j is the same noise for every code (a paired
    comparison of the codes).  ``codes`` None: every code (:func:`parse_codes`).
    WaveGAN: z [n_per_code, latent_dim] all noise, labels ``NO_CODE``.
    """
    if n_per_code < 1:
        raise ValueError(f"n_per_code={n_per_code}: must be >= 1")
    rng = np.random.RandomState(seed)
    if config.model == "wavegan":
        if codes is not None:
            raise ValueError("WaveGAN has no latent code")
        z = rng.uniform(-1, 1, [n_per_code, config.latent_dim]).astype(np.float32)
        return z, [NO_CODE] * n_per_code
    codes = parse_codes(config) if codes is None else list(codes)
    vectors = code_vectors(config, codes, value)
    labels = [code_label(config, c) for c in codes]
    noise = rng.uniform(-1, 1, [n_per_code, config.latent_dim - config.num_categ])
    z = np.concatenate([np.repeat(vectors, n_per_code, 0), np.tile(noise, (len(codes), 1))], 1)
    return z.astype(np.float32), [label for label in labels for _ in range(n_per_code)]


def read_codes(config: WaveGANConfig, logits) -> Tuple[np.ndarray, List[str]]:
    """Q's decision for each example: ``(codes int64 [N], labels list[str])``.

    ``logits`` [N, num_categ].  ciwGAN: argmax.  fiwGAN: bit k = logit_k > 0 (sigmoid > 0.5),
    the bits read as the pattern's integer.  NaN/inf logits are a ValueError (argmax would read
    an all-NaN row as code 0): leave such examples out first.
    """
    _require_code(config)
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] != config.num_categ:
        raise ValueError(f"logits of shape {logits.shape}: expected [N, {config.num_categ}]")
    bad = ~np.isfinite(logits.astype(np.float64)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"logits of {int(bad.sum())} example(s) (rows {rows}) are NaN/inf; "
                         "leave those out before reading their codes")
    if config.model == "ciwgan":
        codes = logits.argmax(axis=1).astype(np.int64)
    else:
        weights = 1 << np.arange(config.num_categ - 1, -1, -1, dtype=np.int64)
        codes = ((logits > 0).astype(np.int64) * weights).sum(axis=1)
    return codes, [code_label(config, c) for c in codes]


def code_probabilities(config: WaveGANConfig, logits) -> np.ndarray:
    """float64 [N, num_categ]: softmax over the categories (ciwGAN) or each bit's sigmoid
    (fiwGAN), computed stably."""
    _require_code(config)
    logits = np.asarray(logits, np.float64)
    if config.model == "ciwgan":
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    e = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --------------------------------------------------------------------------------------------
# Training: z drawn as the original train_ciwgan.py / train_fiwgan.py draw it
# --------------------------------------------------------------------------------------------
def sample_training_z(config: WaveGANConfig, batch_size: int, rng):
    """z float32 [B, latent_dim] for one training batch, from the trainer's generator ``rng``
    (a ``tf.random.Generator``).

    ciwGAN (``random_z``): a one-hot code of a uniformly drawn category; fiwGAN: independent
    Bernoulli(0.5) bits; then uniform(-1, 1) noise.  WaveGAN: uniform(-1, 1) everywhere.
    The draws (their order and shapes) are what the checkpoints' RNG state and the TF1
    fixture checks rely on.
    """
    import tensorflow as tf

    if config.model == "wavegan":
        return rng.uniform([batch_size, config.latent_dim], -1.0, 1.0)
    n = config.num_categ
    if config.model == "ciwgan":
        code = tf.one_hot(rng.uniform([batch_size], 0, n, dtype=tf.int32), n, dtype=tf.float32)
    else:
        code = tf.cast(rng.uniform([batch_size, n]) < 0.5, tf.float32)
    noise = rng.uniform([batch_size, config.latent_dim - n], -1.0, 1.0)
    return tf.concat([code, noise], axis=1)
