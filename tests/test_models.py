"""Model structure: shapes for every slice length and upsampling mode, phase shuffle, config."""

import numpy as np
import pytest
import tensorflow as tf

from wavegan import (QNetwork, WaveGANConfig, WaveGANDiscriminator, WaveGANGenerator,
                     layer_geometry)
from wavegan.config import ConfigError, same_padding
from wavegan.layers import PhaseShuffle, TF1BatchNorm, phase_shift


@pytest.mark.parametrize("slice_len", [16384, 32768, 65536])
@pytest.mark.parametrize("upsample", ["zeros", "nn"])
def test_shapes_all_slice_lengths_and_upsampling(slice_len, upsample):
    cfg = WaveGANConfig(dim=2, slice_len=slice_len, upsample=upsample, num_categ=3,
                        batchnorm=True, genr_pp=True, genr_pp_len=16)
    G, D, Q = WaveGANGenerator(cfg), WaveGANDiscriminator(cfg), QNetwork(cfg)
    z = tf.random.uniform([2, 100], -1, 1)
    x = G(z, training=False)
    assert x.shape == (2, slice_len, 1)
    assert np.all(np.abs(x.numpy()) <= 1.0 + 1e-6) or cfg.genr_pp  # tanh before the pp filter
    assert D(x).shape == (2,)
    outs = Q.layer_outputs(x[:, :, 0])
    geometry = layer_geometry(cfg)
    assert [k for k in outs] == [name for name, _, _ in geometry] + ["logits"]
    for (name, _, length), width in zip(geometry, [2, 4, 8, 16, 32, 64]):
        assert outs[name].shape == (2, length, width)
    assert outs[geometry[-1][0]].shape[1] == 16  # every configuration ends at 16 steps
    assert outs["logits"].shape == (2, 3)
    g_outs = G.layer_outputs(z)
    assert g_outs["z_project"].shape == (2, 16, 2 * cfg.dim_mul)


def test_layer_outputs_equal_call_at_inference():
    cfg = WaveGANConfig(dim=2, num_categ=4)
    Q = QNetwork(cfg)
    x = tf.random.normal([3, 16384])
    np.testing.assert_allclose(Q.layer_outputs(x)["logits"], Q(x, training=False), atol=1e-6)


def test_phase_shift_equals_reflect_padded_shift():
    x = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    for phase in (-2, -1, 0, 1, 2):
        pad = np.pad(x, [(0, 0), (max(phase, 0), max(-phase, 0)), (0, 0)], mode="reflect")
        want = pad[:, max(-phase, 0):max(-phase, 0) + 10]
        np.testing.assert_array_equal(phase_shift(tf.constant(x), phase).numpy(), want)
    # Hand-computed: phase +2 on [0, 1, 2, ...] gives [2, 1, 0, 1, 2, ...].
    seq = tf.constant(np.arange(6, dtype=np.float32).reshape(1, 6, 1))
    assert phase_shift(seq, 2).numpy().ravel().tolist() == [2, 1, 0, 1, 2, 3]
    assert phase_shift(seq, -2).numpy().ravel().tolist() == [2, 3, 4, 5, 4, 3]


def test_phase_shuffle_off_at_inference_and_random_in_training():
    layer = PhaseShuffle(2, seed=3)
    x = tf.random.normal([4, 50, 2])
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(PhaseShuffle(0)(x, training=True), x)
    shifted = [layer(x, training=True).numpy() for _ in range(30)]
    phases = set()
    for y in shifted:
        match = [p for p in range(-2, 3) if np.array_equal(y, phase_shift(x, p).numpy())]
        assert len(match) == 1  # one phase, shared by the whole batch
        phases.add(match[0])
    assert phases == {-2, -1, 0, 1, 2}


def test_q_phase_shuffle_only_in_training():
    cfg = WaveGANConfig(dim=2, num_categ=3, phaseshuffle_rad=2)
    Q = QNetwork(cfg)
    x = tf.random.normal([2, 16384])
    a, b = Q(x, training=False), Q(x, training=False)
    np.testing.assert_array_equal(a, b)
    trained = [Q(x, training=True).numpy() for _ in range(10)]
    assert any(not np.allclose(t, a.numpy()) for t in trained)


def test_same_padding_hand_computed():
    assert same_padding(16384, 25, 4) == (10, 11)
    assert same_padding(16, 25, 2) == (11, 12)   # out 8: (8-1)*2 + 25 - 16 = 23
    assert same_padding(100, 512, 1) == (255, 256)


def test_config_validation_and_json_roundtrip(tmp_path):
    cfg = WaveGANConfig(model="fiwgan", num_categ=13, dim=12, batchnorm=True, genr_pp=True)
    path = tmp_path / "config.json"
    cfg.save(str(path))
    assert WaveGANConfig.load(str(path)) == cfg
    with pytest.raises(ConfigError, match="slice_len"):
        WaveGANConfig(slice_len=20000)
    with pytest.raises(ConfigError, match="upsample"):
        WaveGANConfig(upsample="linear")
    with pytest.raises(ConfigError, match="unknown"):
        WaveGANConfig.from_dict({"dimm": 3})


def test_config_json_carries_its_version(tmp_path):
    """config.json records format_version 1; one written before versions (no key) still
    loads; one of a newer version is refused in one line."""
    import json

    from common.layout import RecordVersionError
    cfg = WaveGANConfig(model="ciwgan", num_categ=5, dim=4)
    path = tmp_path / "config.json"
    cfg.save(str(path))
    record = json.loads(path.read_text())
    assert record["format_version"] == 1
    del record["format_version"]
    path.write_text(json.dumps(record))
    assert WaveGANConfig.load(str(path)) == cfg
    path.write_text(json.dumps({**record, "format_version": 2}))
    with pytest.raises(RecordVersionError, match="format_version 2 was written by a newer"):
        WaveGANConfig.load(str(path))


def test_generator_batchnorm_train_updates_moving_stats_inference_uses_them():
    bn = TF1BatchNorm()
    x = tf.random.normal([4, 8, 3]) * 3 + 1
    y_train = bn(x, training=True)
    mean, var = tf.nn.moments(x, [0, 1])
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * var.numpy(), rtol=1e-5)
    np.testing.assert_allclose(y_train, (x - mean) / tf.sqrt(var + 1e-3), atol=1e-5)
    y_inf = bn(x, training=False)
    np.testing.assert_allclose(
        y_inf, (x - bn.moving_mean) / tf.sqrt(bn.moving_variance + 1e-3), atol=1e-5)
    # D / Q flavour: batch statistics always, moving statistics never touched.
    bn_d = TF1BatchNorm(always_batch_stats=True)
    np.testing.assert_allclose(bn_d(x, training=False), y_train, atol=1e-5)
    assert np.all(bn_d.moving_mean.numpy() == 0) and np.all(bn_d.moving_variance.numpy() == 1)
