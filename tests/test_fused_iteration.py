"""The fused iteration (issue 28): one compiled function for the 5 D updates and the G+Q
update gives the same numbers as the six updates dispatched one by one (the same draws from
the same generator state, the same ops)."""

import numpy as np
from ciwgan.trainer import GANTrainer
from wavegan import WaveGANConfig, build_models

TINY = WaveGANConfig(model="ciwgan", num_categ=3, dim=4, slice_len=16384, phaseshuffle_rad=2)


def _trainer(fused, semantics="simultaneous"):
    import keras
    keras.utils.set_random_seed(3)
    G, D, Q = build_models(TINY)
    return GANTrainer(TINY, G, D, Q, seed=5, gq_semantics=semantics, fused_iteration=fused)


def test_fused_iteration_equals_six_dispatches():
    """One iteration: the same draws (the generator ends in the same state), the same losses
    and weights up to float32 rounding.  The larger graph sums in another order (~1e-7), and
    Adam's first steps are sign-like (lr * g / |g|), so where a gradient element is ~0 such a
    difference can flip one step: weights may differ by a few learning rates (1e-4)."""
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, (2, TINY.slice_len)).astype(np.float32) for _ in range(5)]
    fused, single = _trainer(True), _trainer(False)
    assert fused._iteration_fn is not None and single._iteration_fn is None
    out_f, out_s = fused.train_iteration(xs), single.train_iteration(xs)
    np.testing.assert_array_equal(fused.rng.state.numpy(), single.rng.state.numpy())
    assert sorted(out_f) == sorted(out_s)
    for key in out_f:
        np.testing.assert_allclose(out_f[key].numpy(), out_s[key].numpy(), rtol=2e-3,
                                   atol=1e-5, err_msg=key)
    for a, b in zip(fused.G.weights + fused.D.weights + fused.Q.weights,
                    single.G.weights + single.D.weights + single.Q.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=5e-4, err_msg=a.path)
    assert int(fused.step.numpy()) == int(single.step.numpy()) == 1
