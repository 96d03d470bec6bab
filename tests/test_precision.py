"""--mixed_precision (mixed_bfloat16; mixed_float16 with dynamic loss scaling) and --xla against
float32 with the same seed: the first iteration closely, 200 iterations by what is stable in a
chaotic GAN (loss means over 50-iteration windows, the relative weight distance); and the
float16 loss-scale logic (a non-finite gradient skips the update and halves the scale).

Bounds: measured on this CPU (docs/training.md, "Mixed precision and XLA"), then widened.
"""

import numpy as np
import keras
import pytest
import tensorflow as tf

from ciwgan.trainer import DynamicLossScale, GANTrainer
from common.errors import InputError
from wavegan import WaveGANConfig, build_models, runtime
from test_training import TINY as TRAIN_TINY, options as train_options, tiny_data  # noqa: F401

TINY = WaveGANConfig(num_categ=2, dim=2, phaseshuffle_rad=2)
STEPS, WINDOW, BATCH = 200, 50, 2
KEYS = ("D_loss", "G_loss", "Q_loss")


def _models(policy):
    """G, D, Q built under ``policy`` with the same initial weights (seed 3)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(3)
        return build_models(TINY)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _audio(n=BATCH, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, [n, 16384]).astype(np.float32)


def _flat(nets):
    return np.concatenate([v.numpy().ravel() for net in nets
                           for v in net.trainable_variables])


def train(policy, xla=False, steps=STEPS):
    """``steps`` iterations (1 D + 1 G+Q update each, batch 2, 4 real batches in turn):
    losses [steps, 3], weights after the first and the last iteration, initial weights, and
    the trainer."""
    G, D, Q = _models(policy)
    trainer = GANTrainer(TINY, G, D, Q, seed=1, disc_nupdates=1, jit_compile=xla)
    pool = [_audio(seed=k) for k in range(4)]
    w0 = _flat([G, D, Q])
    losses, w1 = [], None
    for i in range(steps):
        out = trainer.train_iteration([pool[i % 4]])
        losses.append([float(np.mean(out[k])) for k in KEYS])
        if i == 0:
            w1 = _flat([G, D, Q])
    return np.array(losses), w1, _flat([G, D, Q]), w0, trainer


@pytest.fixture(scope="module")
def float32_run():
    return train("float32")


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def compare(run, ref):
    """The distances the tests bound (also printed: pytest -s shows them)."""
    losses, w1, w, _, _ = run
    ref_losses, ref_w1, ref_w, ref_w0, _ = ref
    win = losses.reshape(-1, WINDOW, 3).mean(1)
    ref_win = ref_losses.reshape(-1, WINDOW, 3).mean(1)
    spread = ref_win.max(0) - ref_win.min(0)
    d = {
        "first_D_loss_rel": abs(losses[0, 0] - ref_losses[0, 0]) / abs(ref_losses[0, 0]),
        "first_Q_loss_abs": abs(losses[0, 2] - ref_losses[0, 2]),
        "first_weights_rel": _rel(w1, ref_w1),
        # window means of D_loss / G_loss against the float32 run's spread of window means
        "window_D_rel": float(np.max(np.abs(win[:, 0] - ref_win[:, 0])) / spread[0]),
        "window_G_rel": float(np.max(np.abs(win[:, 1] - ref_win[:, 1])) / spread[1]),
        "window_Q_abs": float(np.max(np.abs(win[:, 2] - ref_win[:, 2]))),
        "weights_rel": _rel(w, ref_w),
        # how far float32 itself moved: the distances above must be small against it
        "float32_moved_rel": _rel(ref_w, ref_w0),
    }
    print({k: f"{v:.3g}" for k, v in d.items()})
    assert np.all(np.isfinite(losses))
    return d


# (policy, xla, bounds).  Measured on this CPU (and in docs/training.md), in the order
# first_D_loss_rel, first_weights_rel, window_D_rel, window_G_rel, window_Q_abs, weights_rel:
#   mixed_bfloat16  2.04e-3  1.10e-3  0.0222  0.0872  1.27e-4  0.0149
#   mixed_float16   1.83e-5  3.91e-4  0.0360  0.115   1.01e-4  0.00973
#   xla             1.17e-7  6.17e-9  0.00355 0.00647 4.31e-5  0.00455
# (float32 itself moved 0.123 from its initial weights).  Bounds: about 2.5-3x the measured.
# Since the iteration is one function (issue 28), one run measured mixed_float16's
# first_D_loss_rel 1.33e-4 and xla's window_Q_abs 1.63e-4 (float16 rounding and chaotic
# 200-iteration windows over a graph that sums in another order): those two bounds widened.
CASES = {
    "mixed_bfloat16": ("mixed_bfloat16", False, dict(
        first_D_loss_rel=6e-3, first_weights_rel=3e-3, window_D_rel=0.07, window_G_rel=0.25,
        window_Q_abs=4e-4, weights_rel=0.04)),
    "mixed_float16": ("mixed_float16", False, dict(
        first_D_loss_rel=4e-4, first_weights_rel=1.2e-3, window_D_rel=0.1, window_G_rel=0.35,
        window_Q_abs=3e-4, weights_rel=0.03)),
    "xla": ("float32", True, dict(
        first_D_loss_rel=1e-6, first_weights_rel=1e-7, window_D_rel=0.012, window_G_rel=0.02,
        window_Q_abs=5e-4, weights_rel=0.015)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_200_iterations_against_float32(case, float32_run):
    policy, xla, bounds = CASES[case]
    run = train(policy, xla=xla)
    trainer = run[4]
    assert trainer.loss_scaling == (policy == "mixed_float16")
    if trainer.loss_scaling:
        # the dynamic scale moved (overflows early on) but stayed a usable power of two
        print("loss scales", float(trainer.d_scale.scale), float(trainer.gq_scale.scale))
        for sc in (trainer.d_scale, trainer.gq_scale):
            assert 1.0 <= float(sc.scale) <= 2.0 ** 15
    d = compare(run, float32_run)
    for key, bound in bounds.items():
        assert d[key] <= bound, (case, key, d[key], bound)
    # Meaningful: after 200 iterations the variant is far nearer float32's weights than
    # float32's are to where they started (a run that skipped its updates would fail).
    assert d["weights_rel"] < 0.4 * d["float32_moved_rel"], d


# ----------------------------------------------------------------------------------------------
# The loss-scale logic and the policy choice (fast)
# ----------------------------------------------------------------------------------------------
def test_loss_scale_halves_on_non_finite_and_doubles_after_the_interval():
    sc = DynamicLossScale(initial=1024.0, growth_interval=3)
    grads, finite = sc.unscale([tf.constant([2048.0, np.inf]), None, tf.constant([1024.0])])
    assert not bool(finite) and grads[1] is None
    assert float(grads[2][0]) == 1.0                       # unscaled
    sc.update(finite)
    assert float(sc.scale) == 512.0 and int(sc.good_steps) == 0
    for k in range(2):
        sc.update(tf.constant(True))
        assert float(sc.scale) == 512.0 and int(sc.good_steps) == k + 1
    sc.update(tf.constant(True))                          # the 3rd finite step in a row
    assert float(sc.scale) == 1024.0 and int(sc.good_steps) == 0
    sc.update(tf.constant(False))
    assert float(sc.scale) == 512.0
    small = DynamicLossScale(initial=1.0)
    small.update(tf.constant(False))
    assert float(small.scale) == 1.0                      # never below 1


def _weights(nets):
    return [v.numpy().copy() for net in nets for v in net.weights]


def test_planted_non_finite_gradient_skips_the_update_and_halves_the_scale():
    G, D, Q = _models("mixed_float16")
    trainer = GANTrainer(TINY, G, D, Q, seed=1, disc_nupdates=1)
    assert trainer.loss_scaling and G.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in G.weights + D.weights + Q.weights)
    x = _audio()
    # A finite step changes D and keeps the scale.
    before = _weights([D])
    trainer.d_update(x)
    assert float(trainer.d_scale.scale) == 2.0 ** 15
    assert any(np.any(a != b) for a, b in zip(before, _weights([D])))
    # An inf in the real audio makes every D gradient non-finite: D and its Adam state
    # stay as they were, the scale halves.
    before = _weights([D])
    slots = [v.numpy().copy() for v in trainer.d_opt.variables]
    bad = x.copy()
    bad[0, 100] = np.inf
    trainer.d_update(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights([D])))
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(slots, trainer.d_opt.variables))
    assert float(trainer.d_scale.scale) == 2.0 ** 14
    # A planted inf gradient in the G+Q update: G, Q and both optimizers untouched, the
    # G+Q scale halves, the iteration still counts.
    g_grads = [tf.zeros_like(v) for v in trainer.g_vars]
    g_grads[0] = tf.fill(g_grads[0].shape, np.inf)
    q_grads = [tf.zeros_like(v) for v in trainer.q_vars + trainer.g_vars]
    before = _weights([G, Q])
    opt_state = [v.numpy().copy() for v in trainer.g_opt.variables + trainer.q_opt.variables]
    step = int(trainer.step)
    _, finite = trainer.gq_scale.unscale(g_grads + q_grads)
    trainer._apply_gq(g_grads, q_grads, finite)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights([G, Q])))
    assert all(np.array_equal(a, v.numpy()) for a, v in
               zip(opt_state, trainer.g_opt.variables + trainer.q_opt.variables))
    assert float(trainer.gq_scale.scale) == 2.0 ** 14 and int(trainer.step) == step + 1
    # And the next normal G+Q update goes through with finite losses.
    out = trainer.gq_update(batch_size=2)
    assert np.isfinite(float(out["G_loss"])) and float(trainer.gq_scale.scale) == 2.0 ** 14
    assert any(np.any(a != b) for a, b in zip(before, _weights([G, Q])))


def test_no_loss_scaling_under_bfloat16_or_float32():
    for policy in ("mixed_bfloat16", "float32"):
        G, D, Q = _models(policy)
        trainer = GANTrainer(TINY, G, D, Q, seed=1, disc_nupdates=1)
        assert not trainer.loss_scaling and trainer.d_scale is None


def test_policy_choice(monkeypatch):
    monkeypatch.delenv(runtime.PRECISION_ENV, raising=False)
    assert runtime.choose_precision_policy("mixed_float16")[0] == "mixed_float16"
    monkeypatch.setenv(runtime.PRECISION_ENV, "mixed_float16")
    policy, reason = runtime.choose_precision_policy()
    assert policy == "mixed_float16" and runtime.PRECISION_ENV in reason
    monkeypatch.setenv(runtime.PRECISION_ENV, "float16")
    with pytest.raises(InputError, match="CIWGAN_MIXED_POLICY"):
        runtime.choose_precision_policy()
    monkeypatch.delenv(runtime.PRECISION_ENV)
    policy, reason = runtime.choose_precision_policy()
    if not tf.config.list_physical_devices("GPU"):     # this CPU: bfloat16, never float16
        assert policy == "mixed_bfloat16" and "CPU" in reason
    # The GPU rule, with the device details faked.
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    for cap, want in (((7, 0), "mixed_float16"), ((7, 5), "mixed_float16"),
                      ((8, 0), "mixed_bfloat16"), ((9, 0), "mixed_bfloat16")):
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda dev, cap=cap: {"compute_capability": cap})
        assert runtime.choose_precision_policy()[0] == want, cap


def test_train_loop_under_forced_float16(tmp_path, tiny_data, monkeypatch, capsys):
    """run_training --mixed_precision with the float16 policy forced: it says which policy,
    trains with loss scaling, and writes finite losses."""
    from ciwgan.training_loop import run_training

    monkeypatch.setenv(runtime.PRECISION_ENV, "mixed_float16")
    try:
        result = run_training(TRAIN_TINY, train_options(tmp_path / "run", tiny_data,
                                                        mixed_precision=True))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    printed = capsys.readouterr().out
    assert "train.py: mixed precision: mixed_float16 (forced by CIWGAN_MIXED_POLICY)" in printed
    assert result["step"] == 2
    for key in KEYS:
        assert np.isfinite(result["values"][key]), key
