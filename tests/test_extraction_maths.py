"""Extraction maths: channel mean, SAME padding, layer time axes, interval mapping, upsampling,
peak normalisation (numpy and the in-graph version agree)."""

import numpy as np
import pytest

from corpus.dataset import peak_normalize_np
from extraction import geometry as ex
from extraction.forward import channel_mean, finite_rows
from extraction.plan import parse_channel_spec, parse_layer_list
from wavegan.config import same_padding

GEOM_16384 = [("conv1", 4, 4096), ("conv2", 4, 1024), ("conv3", 4, 256), ("conv4", 4, 64),
              ("conv5", 4, 16)]


def test_channel_mean_hand_case():
    fm = np.array([[[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]]], dtype=np.float32)  # [1, 2, 3]
    out = channel_mean(fm)
    assert out.shape == (1, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, [[2.0, 1.0]])
    with pytest.raises(ValueError, match=r"\[B, T, C\]"):
        channel_mean(np.zeros((2, 3)))


@pytest.mark.parametrize("in_len,stride,k,expected", [
    (16384, 4, 25, (4096, 10, 11)),   # total (4095*4 + 25 - 16384) = 21
    (4096, 4, 25, (1024, 10, 11)),
    (32, 2, 25, (16, 11, 12)),        # total 15*2 + 25 - 32 = 23
    (10, 4, 25, (3, 11, 12)),         # ceil(10/4) = 3, total 2*4 + 25 - 10 = 23
    (8, 4, 3, (2, 0, 0)),             # total max(4 + 3 - 8, 0) = 0
])
def test_same_padding_hand_cases(in_len, stride, k, expected):
    """The one SAME-padding rule (wavegan.config.same_padding) and the layer lengths the
    extraction's axes state."""
    out_len, pl, pr = expected
    assert same_padding(in_len, k, stride) == (pl, pr)
    axis, = ex.layer_axes([("conv", stride, out_len)], in_len, k)
    assert (axis.length, axis.pad_left, axis.pad_right) == expected


def test_same_padding_rejects_non_positive():
    with pytest.raises(ValueError, match="must all be positive"):
        same_padding(0, 25, 4)


def test_layer_axes_16384_hand_computed():
    axes = ex.layer_axes(GEOM_16384, 16384, 25)
    # jump 4^l; start_l = start_{l-1} - 10 * jump_{l-1}; width_l = width_{l-1} + 24 * jump_{l-1}
    assert [a.jump for a in axes] == [4, 16, 64, 256, 1024]
    assert [a.start0 for a in axes] == [-10, -50, -210, -850, -3410]
    assert [a.width for a in axes] == [25, 121, 505, 2041, 8185]
    assert [a.centre0 for a in axes] == [2, 10, 42, 170, 682]
    np.testing.assert_array_equal(axes[4].centres(), 1024 * np.arange(16) + 682)
    np.testing.assert_array_equal(axes[0].centres()[:3], [2, 6, 10])


def test_layer_time_axis_columns():
    tab = ex.layer_time_axis(GEOM_16384, 16384, 16000)
    assert list(tab) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    c5 = tab["conv5"]
    assert list(c5.columns) == ["sample", "start", "end", "centre", "time"]
    assert len(c5) == 16
    assert c5.loc[1, "start"] == -3410 + 1024 and c5.loc[1, "end"] == -3410 + 1024 + 8185
    assert c5.loc[1, "time"] == pytest.approx((1024 + 682) / 16000)


def test_layer_axes_rejects_wrong_length():
    with pytest.raises(ValueError, match="conv2.*stated length 100"):
        ex.layer_axes([("conv1", 4, 4096), ("conv2", 4, 100)], 16384)


def _receptive_fields_by_convolution(slice_len, strides, k):
    """Independent reference: push one impulse per input sample through a stack of all-ones
    SAME convs (TensorFlow) and read which output indices become nonzero."""
    tf = pytest.importorskip("tensorflow")
    x = tf.eye(slice_len, dtype=tf.float64)[:, :, None]      # [L(batch), L, 1]
    kernel = tf.ones([k, 1, 1], dtype=tf.float64)
    spans = []
    for s in strides:
        x = tf.nn.conv1d(x, kernel, stride=s, padding="SAME")
        hit = x.numpy()[:, :, 0] > 0                          # [input sample, output index]
        first = hit.argmax(axis=0)
        last = slice_len - 1 - hit[::-1].argmax(axis=0)
        spans.append((first, last + 1))
    return spans


@pytest.mark.parametrize("slice_len,strides,k", [
    (1024, [4, 4, 4, 4, 4], 25),      # the paper's geometry scaled down
    (1000, [4, 2, 3], 7),             # lengths not divisible by the stride
    (96, [2, 2], 4),                  # even kernel: half-sample centres
])
def test_spans_match_impulse_propagation(slice_len, strides, k):
    geom, n = [], slice_len
    for i, s in enumerate(strides):
        n = -(-n // s)
        geom.append((f"conv{i + 1}", s, n))
    axes = ex.layer_axes(geom, slice_len, k)
    ref = _receptive_fields_by_convolution(slice_len, strides, k)
    for ax, (first, end) in zip(axes, ref):
        np.testing.assert_array_equal(np.clip(ax.starts(), 0, slice_len), first, err_msg=ax.name)
        np.testing.assert_array_equal(np.clip(ax.ends(), 0, slice_len), end, err_msg=ax.name)


def test_map_interval_hand_cases():
    axes = {a.name: a for a in ex.layer_axes(GEOM_16384, 16384, 25)}
    c1, c5 = axes["conv1"], axes["conv5"]
    # conv1 centres 2, 6, 10, ...
    idx, nt = ex.map_interval_to_layer(0, 10, c1)
    np.testing.assert_array_equal(idx, [0, 1])
    np.testing.assert_allclose(nt, [0.2, 0.6])
    idx, nt = ex.map_interval_to_layer(2, 3, c1)          # start inclusive
    np.testing.assert_array_equal(idx, [0])
    np.testing.assert_allclose(nt, [0.0])
    idx, _ = ex.map_interval_to_layer(3, 6, c1)           # end exclusive: centre 6 excluded
    assert idx.size == 0
    idx, _ = ex.map_interval_to_layer(-100, 3, c1)
    np.testing.assert_array_equal(idx, [0])
    # conv5 centres 682, 1706, 2730, ..., 16042
    idx, nt = ex.map_interval_to_layer(1000, 3000, c5)
    np.testing.assert_array_equal(idx, [1, 2])
    np.testing.assert_allclose(nt, [706 / 2000, 1730 / 2000])
    idx, nt = ex.map_interval_to_layer(16000, 16384, c5)
    np.testing.assert_array_equal(idx, [15])
    np.testing.assert_allclose(nt, [42 / 384])
    idx, _ = ex.map_interval_to_layer(16384, 20000, c5)   # past the last index
    assert idx.size == 0
    idx, _ = ex.map_interval_to_layer(700, 1700, c5)      # phone shorter than the jump
    assert idx.size == 0
    with pytest.raises(ValueError, match="empty"):
        ex.map_interval_to_layer(5, 5, c1)


def test_map_interval_matches_brute_force():
    rng = np.random.default_rng(3)
    for ax in ex.layer_axes(GEOM_16384, 16384, 25):
        centres = ax.centres()
        for _ in range(200):
            a, b = np.sort(rng.integers(-2000, 18000, size=2))
            if a == b:
                continue
            idx, nt = ex.map_interval_to_layer(a, b, ax)
            expected = np.flatnonzero((centres >= a) & (centres < b))
            np.testing.assert_array_equal(idx, expected)
            np.testing.assert_allclose(nt, (centres[expected] - a) / (b - a))
            assert np.all((nt >= 0) & (nt < 1))


def test_upsample_trace_hand_case():
    c5 = ex.layer_axes(GEOM_16384, 16384, 25)[4]
    up = ex.upsample_trace(np.arange(16.0), c5, 16384)
    assert up.shape == (16384,)
    assert up[682] == 0 and up[682 + 512] == 0.5 and up[1706] == 1.0
    assert up[0] == 0 and up[16383] == 15          # constant before the first / after the last
    assert up[16042] == 15 and up[16041] == pytest.approx(15 - 1 / 1024)
    with pytest.raises(ValueError, match="conv5 of length 16"):
        ex.upsample_trace(np.zeros(15), c5, 16384)
    batch = ex.upsample_batch(np.stack([np.arange(16.0), -np.arange(16.0)]), c5, 16384)
    np.testing.assert_allclose(batch[1], -up)


def test_peak_normalize():
    x = np.array([[0.0, 0.5, -2.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(peak_normalize_np(x), [[0, 0.25, -1.0], [0, 0, 0]])


def test_peak_normalize_numpy_equals_the_tf_data_version():
    """Extraction (numpy) and make_dataset (in the tf.data graph) normalise alike, all-zero
    rows included."""
    tf = pytest.importorskip("tensorflow")
    from corpus.dataset import peak_normalize_tf
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 257)) * rng.uniform(1e-4, 3, (6, 1))).astype(np.float32)
    x[2] = 0.0
    x[4, :100] = 0.0
    got_tf = peak_normalize_tf(tf.constant(x)).numpy()
    np.testing.assert_allclose(peak_normalize_np(x), got_tf, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(got_tf[2], 0.0)
    np.testing.assert_allclose(np.abs(got_tf[[0, 1, 3, 4, 5]]).max(axis=1), 1.0, rtol=1e-6)


def test_finite_rows():
    audio = np.zeros((4, 6), np.float32)
    audio[1, 5] = np.nan
    audio[3, 0] = -np.inf
    logits = np.zeros((4, 2))
    logits[2, 1] = np.inf
    np.testing.assert_array_equal(finite_rows(audio), [True, False, True, False])
    np.testing.assert_array_equal(finite_rows(audio, logits), [True, False, False, False])
    assert finite_rows(np.zeros((0, 3)), np.zeros((0, 2, 2))).shape == (0,)
    with pytest.raises(ValueError, match="arrays of 4 and 3 rows"):
        finite_rows(audio, logits[:3])


def test_parse_layers_and_channels():
    avail = ["conv1", "conv2", "conv5"]
    assert parse_layer_list(None, avail) == avail
    assert parse_layer_list("conv5,conv1", avail) == ["conv1", "conv5"]
    with pytest.raises(ValueError, match="conv9"):
        parse_layer_list("conv9", avail)
    spec = parse_channel_spec("conv5:2,0;conv1:1", {"conv1": 8, "conv5": 128})
    assert spec == {"conv5": [0, 2], "conv1": [1]}
    with pytest.raises(ValueError, match="out of range"):
        parse_channel_spec("conv1:8", {"conv1": 8})
    with pytest.raises(ValueError, match="unknown layer"):
        parse_channel_spec("conv7:1", {"conv1": 8})
