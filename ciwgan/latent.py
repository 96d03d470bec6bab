"""Latent samplers: z = [code (num_categ values), uniform(-1, 1) noise], latent_dim in total.

ciwGAN (train_ciwgan.py ``random_z``): a one-hot code, category drawn uniformly.
fiwGAN (train_fiwgan.py): independent Bernoulli(0.5) bits.
WaveGAN: z ~ uniform(-1, 1) everywhere.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from wavegan.config import WaveGANConfig


def sample_code(config: WaveGANConfig, batch_size: int, rng: tf.random.Generator):
    """The code part of z: [B, num_categ] float32 (one-hot rows or 0/1 bits)."""
    if config.model == "ciwgan":
        idx = rng.uniform([batch_size], 0, config.num_categ, dtype=tf.int32)
        return tf.one_hot(idx, config.num_categ, dtype=tf.float32)
    if config.model == "fiwgan":
        return tf.cast(rng.uniform([batch_size, config.num_categ]) < 0.5, tf.float32)
    raise ValueError("WaveGAN has no latent code")


def sample_z(config: WaveGANConfig, batch_size: int, rng: tf.random.Generator):
    """z [B, latent_dim] float32 drawn as the original training script draws it."""
    if config.model == "wavegan":
        return rng.uniform([batch_size, config.latent_dim], -1.0, 1.0)
    code = sample_code(config, batch_size, rng)
    noise = rng.uniform([batch_size, config.latent_dim - config.num_categ], -1.0, 1.0)
    return tf.concat([code, noise], axis=1)


def code_vectors(config: WaveGANConfig, codes=None, value: float = 1.0) -> np.ndarray:
    """Codes to generate from, [n, num_categ] float32.

    ciwGAN: every one-hot code (or the chosen category indices), scaled by ``value`` (the
    papers push a code to e.g. 5 to exaggerate its effect).  fiwGAN: every bit pattern
    (2^num_categ; or the chosen patterns given as '0101' strings), ones replaced by ``value``.
    """
    n = config.num_categ
    if config.model == "ciwgan":
        idx = range(n) if codes is None else [int(c) for c in codes]
        out = np.zeros([len(idx), n], np.float32)
        for row, i in enumerate(idx):
            if not 0 <= i < n:
                raise ValueError(f"code {i} out of range [0, {n})")
            out[row, i] = value
        return out
    if config.model == "fiwgan":
        if codes is None:
            if n > 12:
                raise ValueError(f"{n} bits give {2 ** n} patterns: choose some with --codes")
            codes = [format(i, f"0{n}b") for i in range(2 ** n)]
        out = np.zeros([len(codes), n], np.float32)
        for row, pattern in enumerate(codes):
            if len(pattern) != n or set(pattern) - {"0", "1"}:
                raise ValueError(f"bit pattern {pattern!r}: expected {n} characters of 0/1")
            out[row] = [value if b == "1" else 0.0 for b in pattern]
        return out
    raise ValueError("WaveGAN has no latent code")
