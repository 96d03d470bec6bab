"""Latent sweeps with planted truth (docs/sweeps.md): tests and benchmarks.

:class:`PlantedSweepGenerator` is a stand-in for G (what ``extraction.sweep`` and
``--network=G`` call: ``layer_outputs(z, training=False)`` and ``G(z, training=False)``) whose
block traces depend on the noise part of z, plus

- ``effect * z[:, code] * bump(t)`` on ONE block (``block``), for ONE code (``code``): the
  planted cell; a bump of width ``width`` (fraction of the block) centred at ``centre``;
- ``jitter * sin(37 * z @ r_b(t))`` on every block: a term that changes with every
  entry of z, so with every code's value, but with no direction (a null that is not exactly
  zero: every other cell's tests see differences and must still keep their level).

:func:`null_sweep_cube` draws the traces of a null sweep directly as arrays (no model): per
draw a smooth random trace shared by every value, plus independent AR1 noise per (draw,
value) with a per-draw scale (heteroscedastic draws; ``tails`` degrees of freedom of a t
distribution for heavy tails, None for normal): the calibration of ``bench/sweep_bench.py``.
:func:`planted_sweep_cube` adds a value-proportional bump to it (power).

numpy only at import; TensorFlow inside the generator's methods (it must run in a
``tf.function``).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

BLOCKS = (("z_project", 16, 4), ("upconv0", 64, 4), ("upconv1", 256, 2),
          ("upconv2", 1024, 2))


class PlantedSweepGenerator:
    """A generator whose one code shifts one block's trace (module docstring); deterministic
    from ``seed``. ``num_categ`` codes, ``latent_dim`` entries of z, ``slice_len`` samples of
    audio (the 'output' block, a tone whose loudness follows the last block)."""

    def __init__(self, num_categ: int = 4, latent_dim: int = 16, slice_len: int = 16384,
                 code: int = 1, block: str = "upconv0", effect: float = 1.0,
                 centre: float = 0.3, width: float = 0.08, jitter: float = 0.05,
                 blocks: Sequence[Tuple[str, int, int]] = BLOCKS, seed: int = 0):
        if block not in [b[0] for b in blocks]:
            raise ValueError(f"block {block!r} not in {[b[0] for b in blocks]}")
        rng = np.random.RandomState(seed)
        self.num_categ, self.latent_dim, self.slice_len = num_categ, latent_dim, slice_len
        self.code, self.block, self.effect = int(code), block, float(effect)
        self.blocks = tuple(blocks)
        n_noise = latent_dim - num_categ
        self.mix = {name: rng.normal(0, 0.5, (n_noise, 4)).astype(np.float32)
                    for name, _, _ in blocks}
        # one random direction of z per time index: the jitter of different times, codes
        # and values is not one function of the noise (a degenerate null)
        self.r = {name: rng.normal(0, 1, (latent_dim, length)).astype(np.float32)
                  for name, length, _ in blocks}
        self.shape = {}
        self.bump = {}
        for name, length, _ in blocks:
            t = (np.arange(length) + 0.5) / length
            self.shape[name] = np.stack([np.cos(np.pi * m * t) for m in range(4)]
                                        ).astype(np.float32)          # [4, T]
            self.bump[name] = np.exp(-0.5 * ((t - centre) / width) ** 2).astype(np.float32)
        self.jitter = float(jitter)
        self.weights = []            # no Keras variables (extraction.resume.weights_digest)

    def traces(self, z):
        """{block: [B, T]} (TensorFlow ops)."""
        import tensorflow as tf
        z = tf.convert_to_tensor(z, tf.float32)
        noise = z[:, self.num_categ:]
        out = {}
        for name, _, _ in self.blocks:
            base = tf.matmul(tf.matmul(noise, self.mix[name]), self.shape[name])
            wobble = tf.sin(37.0 * tf.matmul(z, self.r[name]))
            trace = base + self.jitter * wobble
            if name == self.block:
                trace += self.effect * z[:, self.code:self.code + 1] * self.bump[name][None, :]
            out[name] = trace
        return out

    def layer_outputs(self, z, training: bool = False) -> dict:
        """{block: [B, T, C]} whose channel means are :meth:`traces` (channels = trace plus
        offsets summing to zero), and 'output' [B, slice_len, 1]."""
        import tensorflow as tf
        out = {}
        traces = self.traces(z)
        for name, _, channels in self.blocks:
            offsets = np.linspace(-1, 1, channels).astype(np.float32)
            out[name] = traces[name][:, :, None] + offsets[None, None, :]
        last = traces[self.blocks[-1][0]]
        reps = self.slice_len // int(last.shape[1])
        envelope = tf.repeat(tf.sigmoid(last), reps, axis=1)
        tone = tf.sin(2 * np.pi * 440.0 * tf.range(self.slice_len, dtype=tf.float32) / 16000)
        out["output"] = (0.5 * envelope * tone[None, :])[:, :, None]
        return out

    def __call__(self, z, training: bool = False):
        return self.layer_outputs(z, training)["output"]


def null_sweep_cube(n_codes: int = 8, n_values: int = 4, n_draws: int = 50, n_times: int = 64,
                    seed: int = 0, noise_sd: float = 0.3, phi: float = 0.8,
                    tails: Optional[float] = None) -> np.ndarray:
    """float64 [codes, values, draws, T]: a sweep where no code's value changes anything
    systematic (module docstring)."""
    rng = np.random.RandomState(seed)
    t = np.linspace(0, 1, n_times)
    shapes = np.stack([np.cos(np.pi * m * t) for m in range(4)])          # [4, T]
    base = rng.normal(0, 1, (n_codes, 1, n_draws, 4)) @ shapes          # shared by values
    scale = noise_sd * np.exp(rng.normal(0, 0.5, (1, 1, n_draws, 1)))    # per-draw scale
    size = (n_codes, n_values, n_draws, n_times)
    e = rng.standard_t(tails, size) if tails else rng.standard_normal(size)
    ar = np.empty(size)
    ar[..., 0] = e[..., 0]
    for i in range(1, n_times):
        ar[..., i] = phi * ar[..., i - 1] + np.sqrt(1 - phi ** 2) * e[..., i]
    return base + scale * ar


def planted_sweep_cube(values: Sequence[float], effect: float, code: int = 0,
                       centre: float = 0.5, width: float = 0.1, **kw) -> np.ndarray:
    """:func:`null_sweep_cube` plus ``effect * value * bump(t)`` for one code."""
    cube = null_sweep_cube(n_values=len(values), **kw)
    t = np.linspace(0, 1, cube.shape[-1])
    bump = np.exp(-0.5 * ((t - centre) / width) ** 2)
    cube[code] += effect * np.asarray(values, float)[:, None, None] * bump
    return cube


def cube_dict(cube: np.ndarray, values: Sequence[float], duration_s: float = 1.024) -> dict:
    """One layer of :func:`analysis.sweeps.read_cubes`' output, for an array cube."""
    n_t = cube.shape[-1]
    return {"cube": cube, "codes": [f"code_{i}" for i in range(cube.shape[0])],
            "values": [float(v) for v in values],
            "times": (np.arange(n_t) + 0.5) * duration_s / n_t}
