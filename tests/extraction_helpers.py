"""Tiny models and word-like audio shared by the extraction tests (test-only code)."""

from __future__ import annotations

import numpy as np

from common.constants import SLICE_LEN


def tiny_ciwgan_models(seed: int, num_categ: int = 3, dim: int = 2) -> tuple:
    """(config, G, D, Q) of a random-initialised ciwGAN (Keras seeded with ``seed``)."""
    import tensorflow as tf

    import wavegan
    tf.keras.utils.set_random_seed(seed)
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=num_categ, dim=dim)
    G, D, Q = wavegan.build_models(config)
    return config, G, D, Q


def word_like_audio(n_tokens: int, seed: int, n_voiced: int = 8000) -> np.ndarray:
    """[n_tokens, SLICE_LEN] float32: token i is noise of amplitude 0.2 (i + 1) under a
    sin^2 envelope over its first ``n_voiced`` samples, then zeros (a word and its padding)."""
    rng = np.random.default_rng(seed)
    env = np.sin(np.linspace(0, np.pi, n_voiced)) ** 2
    x = np.zeros((n_tokens, SLICE_LEN), np.float32)
    for i in range(n_tokens):
        x[i, :n_voiced] = 0.2 * (i + 1) * env * rng.standard_normal(n_voiced)
    return x


def extract_command(*args) -> int:
    """extract.py with ``args``, in this process (common.cli.run_stage_command: its own flags,
    absl's global FLAGS untouched); returns its exit status."""
    import extract
    from common.cli import run_stage_command
    from extraction.extract_options import ExtractOptions

    return run_stage_command("extract.py", ExtractOptions, extract.run,
                             ["extract.py", *args], extract.report)


def extract_cli(*args) -> int:
    """extract.py in-process with the tiny-test flags --model=ciwgan --noprogress
    --batch_size=2 before ``args``; returns its exit status."""
    return extract_command("--model=ciwgan", "--noprogress", "--batch_size=2", *args)
