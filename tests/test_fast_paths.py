"""wavegan.fast_ops equals the native TF convolutions (values, gradients, the gradient
penalty's second-order gradient), its switch works, and bench/common.py counts FLOP right."""

import numpy as np
import pytest
import tensorflow as tf

from bench import common
from wavegan import WaveGANConfig, WaveGANDiscriminator, WaveGANGenerator, fast_ops

# (in_len, in_ch, out_ch, kernel_len, stride): WaveGAN's stride-4 / kernel-25 blocks, D's
# stride-2 sixth block, 'nn' upsampling's stride-1 conv, odd lengths and one-channel ends.
GEOMETRIES = [(64, 3, 5, 25, 4), (37, 2, 4, 25, 4), (16, 4, 3, 25, 2), (30, 3, 2, 5, 1),
              (256, 1, 4, 25, 4), (20, 5, 1, 25, 4), (9, 2, 3, 4, 4)]
FAST = {"im2col": (fast_ops.conv1d_im2col, fast_ops.conv1d_transpose_matmul),
        "s2d": (fast_ops.conv1d_s2d, fast_ops.conv1d_transpose_s2d)}


def native_conv(x, w, s):
    return tf.nn.conv1d(x, w, s, "SAME")


def native_tconv(x, w, s):
    b, t, _ = x.shape
    return tf.nn.conv1d_transpose(x, w, [b, t * s, w.shape[1]], s, "SAME")


def first_and_second_order(op, x, w, s, cot):
    """y = op(x, w); g = d<y, cot>/dx (as D's input gradient); the penalty-like
    p = sum(g^2) and dp/dw (the second-order gradient WGAN-GP needs); also d<y,cot>/dw."""
    with tf.GradientTape() as outer:
        outer.watch(w)
        with tf.GradientTape(persistent=True) as inner:
            inner.watch([x, w])
            y = op(x, w, s)
            obj = tf.reduce_sum(y * cot)
        gx, gw = inner.gradient(obj, [x, w])
        penalty = tf.reduce_sum(tf.square(gx))
    return y, gx, gw, outer.gradient(penalty, w)


def random(shape, seed):
    return tf.constant(np.random.default_rng(seed).standard_normal(shape), tf.float64)


@pytest.mark.parametrize("impl", sorted(FAST))
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_equals_native_with_gradients(impl, geometry):
    t, c, f, k, s = geometry
    x, w = random((2, t, c), 0), random((k, c, f), 1)
    cot = random((2, -(-t // s), f), 2)
    want = first_and_second_order(native_conv, x, w, s, cot)
    got = first_and_second_order(lambda a, b, st: FAST[impl][0](a, b, st), x, w, s, cot)
    for name, g, wv in zip(["y", "dx", "dw", "d2w"], got, want):
        assert g.shape == wv.shape, name
        np.testing.assert_allclose(g.numpy(), wv.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("impl", sorted(FAST))
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_transposed_conv_equals_native_with_gradients(impl, geometry):
    t, c, f, k, s = geometry
    x, w = random((2, t, c), 3), random((k, f, c), 4)
    cot = random((2, t * s, f), 5)
    want = first_and_second_order(native_tconv, x, w, s, cot)
    got = first_and_second_order(lambda a, b, st: FAST[impl][1](a, b, st), x, w, s, cot)
    for name, g, wv in zip(["y", "dx", "dw", "d2w"], got, want):
        assert g.shape == wv.shape, name
        np.testing.assert_allclose(g.numpy(), wv.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_im2col_frames_hand_computed():
    # x = 0..9 (one channel), kernel 3, stride 2, 'SAME': out 5, padding (0, 1);
    # frame t holds xpad[2t : 2t + 3].
    x = tf.reshape(tf.range(10, dtype=tf.float32), [1, 10, 1])
    frames = fast_ops.im2col_frames(x, 3, 2).numpy()[0]
    assert frames.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [8, 9, 0]]


def test_transposed_conv_hand_computed():
    # One input sample 1 at t = 0, kernel taps 1..4 (K 4, stride 2, 1 -> 1 channel):
    # full = [1, 2, 3, 4, ...]; 'SAME' crop for out 4: pl = (1*2 + 4 - 4) // 2 = 1.
    x = tf.constant([[[1.0], [0.0]]])
    w = tf.reshape(tf.constant([1.0, 2.0, 3.0, 4.0]), [4, 1, 1])
    y = fast_ops.conv1d_transpose_matmul(x, w, 2).numpy().ravel().tolist()
    assert y == [2.0, 3.0, 4.0, 0.0]
    assert native_tconv(x, w, 2).numpy().ravel().tolist() == y


def test_switch_env_and_validation(monkeypatch):
    monkeypatch.delenv(fast_ops.ENV_VAR, raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert fast_ops.get_conv_impl() == fast_ops.DEFAULT_IMPL
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")       # the exact path: native
    assert fast_ops.get_conv_impl() == "native"
    monkeypatch.setenv(fast_ops.ENV_VAR, "s2d")
    assert fast_ops.get_conv_impl() == "s2d"
    with fast_ops.conv_impl("im2col"):
        assert fast_ops.get_conv_impl() == "im2col"
    assert fast_ops.get_conv_impl() == "s2d"
    monkeypatch.setenv(fast_ops.ENV_VAR, "fft")
    with pytest.raises(ValueError, match="WAVEGAN_CONV_IMPL"):
        fast_ops.get_conv_impl()
    with pytest.raises(ValueError, match="set_conv_impl"):
        fast_ops.set_conv_impl("fft")


def test_auto_choices_for_the_paper_model(monkeypatch):
    monkeypatch.delenv(fast_ops.ENV_VAR, raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    with fast_ops.conv_impl("auto"):
        # D at dim 64: (in_len, in_ch) of downconv_0..4
        got = [fast_ops.choose_conv(t, c, 25, 4, 16)
               for t, c in [(16384, 1), (4096, 64), (1024, 128), (256, 256), (64, 512)]]
        assert got == ["s2d", "native", "native", "im2col", "im2col"]
        got = [fast_ops.choose_conv_transpose(t, f, c)
               for t, f, c in [(16, 512, 1024), (64, 256, 512), (256, 128, 256),
                               (1024, 64, 128), (4096, 1, 64)]]
        assert got == ["im2col", "native", "native", "native", "im2col"]
        # G's 512-tap post-processing filter would need a 2 GiB frame tensor: native.
    with fast_ops.conv_impl("im2col"):
        assert fast_ops.choose_conv(16384, 1, 512, 1, 64) == "native"


def test_pinned_choices_for_the_demo_model(monkeypatch):
    """dim 8 (issue 28): no im2col on D's narrow last block, s2d on G's narrow upconvs."""
    monkeypatch.delenv(fast_ops.ENV_VAR, raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    with fast_ops.conv_settings("auto", tune=False):
        got = [fast_ops.choose_conv(t, c, 25, 4, 16)
               for t, c in [(16384, 1), (4096, 8), (1024, 16), (256, 32), (64, 64)]]
        assert got == ["s2d", "native", "native", "native", "native"]
        got = [fast_ops.choose_conv_transpose(t, f, c)
               for t, f, c in [(16, 64, 128), (64, 32, 64), (256, 16, 32), (1024, 8, 16),
                               (4096, 1, 8)]]
        assert got == ["im2col", "native", "s2d", "s2d", "im2col"]


@pytest.mark.parametrize("upsample", ["zeros", "nn"])
def test_models_equal_under_every_impl(upsample):
    """G and D (in tf.function, where the switch is read while tracing) agree across impls."""
    cfg = WaveGANConfig(dim=2, num_categ=3, upsample=upsample, genr_pp=True, genr_pp_len=8,
                        phaseshuffle_rad=0)
    G, D = WaveGANGenerator(cfg), WaveGANDiscriminator(cfg)
    z = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 100)), tf.float32)
    outs = {}
    for impl in fast_ops.CONV_IMPLS:
        with fast_ops.conv_impl(impl):
            fn = tf.function(lambda z: (G(z, training=False), D(G(z, training=False))))
            outs[impl] = [t.numpy() for t in fn(z)]
    for impl, (g, d) in outs.items():
        np.testing.assert_allclose(g, outs["native"][0], rtol=1e-5, atol=1e-6, err_msg=impl)
        np.testing.assert_allclose(d, outs["native"][1], rtol=1e-5, atol=1e-6, err_msg=impl)


# ------------------------------------------------------------------------------------------
# FLOP counting
# ------------------------------------------------------------------------------------------
def test_flop_count_hand_computed_tiny_config():
    cfg = WaveGANConfig(dim=2, num_categ=3, kernel_len=5)
    # D: conv i has out length 16384/4^(i+1), channels 1 -> 2 -> 4 -> 8 -> 16 -> 32, K 5.
    d = 2 * (4096 * 5 * 1 * 2 + 1024 * 5 * 2 * 4 + 256 * 5 * 4 * 8 + 64 * 5 * 8 * 16
             + 16 * 5 * 16 * 32) + 2 * 16 * 32 * 1
    q = d - 2 * 16 * 32 * 1 + 2 * 16 * 32 * 3
    # G: dense 100 -> 16*2*16 = 512; transposed convs at input lengths 16, 64, 256, 1024,
    # 4096 with channels 32 -> 16 -> 8 -> 4 -> 2 -> 1.
    g = 2 * 100 * 512 + 2 * (16 * 5 * 32 * 16 + 64 * 5 * 16 * 8 + 256 * 5 * 8 * 4
                             + 1024 * 5 * 4 * 2 + 4096 * 5 * 2 * 1)
    assert common.forward_flops(cfg) == {"G": g, "D": d, "Q": q}
    it = common.iteration_flops(cfg, batch=3)
    assert it["d_update"] == 3 * (g + 10 * d)
    assert it["gq_update"] == 3 * (5 * g + 2 * d + 3 * q)
    assert it["iteration"] == 5 * it["d_update"] + it["gq_update"]
    assert common.extraction_flops(cfg, 7) == 7 * q
    # 'nn' upsampling convolves at the output length: 4x the transposed conv's taps.
    nn = common.generator_layer_flops(cfg.replace(upsample="nn"))
    assert nn["upconv_0"] == 2 * 64 * 5 * 32 * 16
    pp = common.generator_layer_flops(cfg.replace(genr_pp=True, genr_pp_len=512))
    assert pp["pp_filt"] == 2 * 16384 * 512


def test_flop_count_matches_the_issue_for_the_paper_model():
    """Issue 9: ~110 GFLOP per example, ~1,760 GFLOP per iteration at batch 16."""
    cfg = WaveGANConfig(dim=64, num_categ=8)
    it = common.iteration_flops(cfg, batch=16)["iteration"]
    assert 1.74e12 < it < 1.78e12
    assert 109e9 < it / 16 < 111e9


def test_summarize_and_interleaving():
    s = common.summarize([2.0, 1.0, 4.0], 10e9)
    assert s == {"min_s": 1.0, "median_s": 2.0, "gflops": 10.0}
    order = []
    common.interleaved_min({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                           rounds=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_bfloat16_matmul_is_opt_in_and_approximate():
    x = tf.constant(np.random.default_rng(6).standard_normal((2, 64, 8)), tf.float32)
    w = tf.constant(np.random.default_rng(7).standard_normal((25, 8, 4)), tf.float32)
    want = native_conv(x, w, 4).numpy()
    assert fast_ops.get_matmul_dtype() == "float32"
    try:
        fast_ops.set_matmul_dtype("bfloat16")
        got = fast_ops.conv1d_im2col(x, w, 4).numpy()
    finally:
        fast_ops.set_matmul_dtype("float32")
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert 1e-5 < err < 2e-2   # bfloat16 operands: visibly inexact, still close
    with pytest.raises(ValueError, match="set_matmul_dtype"):
        fast_ops.set_matmul_dtype("float16")
