"""Every loss of the original scripts and the plain WaveGAN train one iteration sanely."""

import numpy as np
import pytest

from ciwgan.trainer import GANTrainer
from wavegan import WaveGANConfig, build_models


@pytest.mark.parametrize("model,loss", [("wavegan", "wgan-gp"), ("ciwgan", "wgan"),
                                        ("fiwgan", "lsgan"), ("ciwgan", "dcgan")])
def test_one_iteration_per_loss_and_model(model, loss):
    config = WaveGANConfig(model=model, num_categ=3, dim=2, phaseshuffle_rad=1)
    G, D, Q = build_models(config)
    trainer = GANTrainer(config, G, D, Q, loss=loss, seed=2)
    x = np.random.RandomState(0).uniform(-1, 1, [2, 16384]).astype(np.float32)
    before = [w.numpy().copy() for w in G.trainable_weights]
    out = trainer.train_iteration([x] * 5)
    assert int(trainer.step) == 1
    for key in ("D_loss", "G_loss"):
        assert np.isfinite(float(out[key]))
    assert ("Q_loss" in out) == (model != "wavegan")
    if model == "fiwgan":
        # Mean sigmoid cross-entropy of 3 bits from an untrained Q: about log 2.
        assert float(out["Q_loss"]) == pytest.approx(np.log(2), rel=0.05)
    assert any(np.any(b != a.numpy()) for b, a in zip(before, G.trainable_weights))
    if loss == "wgan":
        # Weight clipping after every D update, as the original's D_clip_weights.
        assert max(float(np.abs(v.numpy()).max()) for v in trainer.d_vars) <= 0.01 + 1e-7
