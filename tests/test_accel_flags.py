"""--xla and --mixed_precision: one training iteration runs and gives finite, sane losses."""

import keras
import numpy as np
import pytest

from ciwgan.trainer import GANTrainer
from wavegan import WaveGANConfig, build_models

TINY = WaveGANConfig(num_categ=4, dim=4, phaseshuffle_rad=2)


def one_iteration(jit_compile=False):
    G, D, Q = build_models(TINY)
    trainer = GANTrainer(TINY, G, D, Q, jit_compile=jit_compile, seed=1)
    x = np.random.RandomState(0).uniform(-1, 1, [4, 16384]).astype(np.float32)
    out = trainer.train_iteration([x] * 5)
    return {k: float(np.mean(v)) for k, v in out.items()}, (G, D, Q)


def test_xla_iteration_matches_the_plain_one():
    keras.utils.set_random_seed(5)
    plain, _ = one_iteration()
    keras.utils.set_random_seed(5)
    xla, _ = one_iteration(jit_compile=True)
    for key in ("D_loss", "G_loss", "Q_loss", "gradient_penalty"):
        assert np.isfinite(xla[key])
        assert xla[key] == pytest.approx(plain[key], rel=1e-3, abs=1e-5), key


def test_mixed_precision_iteration():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        out, (G, D, Q) = one_iteration()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert G.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in G.weights + D.weights + Q.weights)
    for key in ("D_loss", "G_loss", "Q_loss"):
        assert np.isfinite(out[key])
    assert out["Q_loss"] == pytest.approx(np.log(4), rel=0.05)  # untrained Q: ~uniform
