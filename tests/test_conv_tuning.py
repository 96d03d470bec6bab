"""Conv paths measured on the machine (wavegan.conv_tuning, issue 28): the cache's place,
reuse, a corrupt cache, and 'auto' with tuning on inside a traced function.  Tiny shapes;
no assertion on timings (the machine is shared)."""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from wavegan import conv_tuning, fast_ops

SHAPE = dict(kind="conv", batch=2, in_len=64, in_ch=2, out_ch=3, kernel_len=5, stride=4,
             dtype="float32")
CANDIDATES = {"native": fast_ops._native_conv, "im2col": fast_ops.conv1d_im2col,
              "s2d": fast_ops.conv1d_s2d}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "conv_paths.json"
    monkeypatch.setenv(conv_tuning.CACHE_ENV, str(path))
    conv_tuning.forget()
    yield path
    conv_tuning.forget()


def test_cache_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(conv_tuning.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert conv_tuning.cache_path() == str(tmp_path / "ciwgan" / "conv_paths.json")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert conv_tuning.cache_path() == str(tmp_path / "home" / ".cache" / "ciwgan" /
                                           "conv_paths.json")


def test_pick_keeps_native_within_the_noise():
    assert conv_tuning.pick({"native": 1.0, "im2col": 0.97, "s2d": 1.2}) == "native"
    assert conv_tuning.pick({"native": 1.0, "im2col": 0.90, "s2d": 0.8}) == "s2d"


def test_measured_once_then_cached_and_reused(cache, monkeypatch):
    impl = conv_tuning.choose(**SHAPE, candidates=CANDIDATES)
    assert impl in CANDIDATES
    record = json.loads(cache.read_text())
    (machine, shapes), = record["machines"].items()
    assert conv_tuning.cpu_model() in machine and tf.__version__ in machine
    (key, choice), = shapes.items()
    assert choice["impl"] == impl and set(choice["ms"]) == set(CANDIDATES)
    # A new process (memory dropped) reads the cache instead of measuring.
    conv_tuning.forget()
    monkeypatch.setattr(conv_tuning, "measure", lambda *a, **k: pytest.fail("measured again"))
    assert conv_tuning.choose(**SHAPE, candidates=CANDIDATES) == impl


@pytest.mark.parametrize("content", ["{not json", '{"format_version": 1, "machines": []}',
                                     '{"format_version": 99, "machines": {}}', "[]"])
def test_corrupt_cache_is_ignored_with_a_warning_and_rewritten(cache, caplog, content):
    cache.write_text(content)
    seconds = {"native": 2.0, "im2col": 1.0, "s2d": 3.0}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_tuning, "measure", lambda *a, **k: seconds)
        with caplog.at_level(logging.WARNING, logger=conv_tuning.__name__):
            assert conv_tuning.choose(**SHAPE, candidates=CANDIDATES) == "im2col"
    assert "ignoring the conv-path cache" in caplog.text
    assert json.loads(cache.read_text())["format_version"] == conv_tuning.CACHE_FORMAT


def test_auto_with_tuning_inside_a_traced_function(cache):
    """The measurement runs eagerly while a layer is traced; the result equals native."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 64, 2)), tf.float32)
    w = tf.constant(rng.standard_normal((5, 2, 3)), tf.float32)
    wt = tf.constant(rng.standard_normal((5, 3, 2)), tf.float32)
    with fast_ops.conv_settings("auto", tune=True):
        y, yt = tf.function(lambda x: (fast_ops.conv1d(x, w, 4),
                                       fast_ops.conv1d_transpose(x, wt, 4)))(x)
    np.testing.assert_allclose(y, fast_ops._native_conv(x, w, 4), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(yt, fast_ops._native_conv_transpose(x, wt, 4), rtol=1e-5,
                               atol=1e-5)
    kinds = sorted(k.split()[0] for k in
                   json.loads(cache.read_text())["machines"][conv_tuning.machine_key()])
    assert kinds == ["conv", "tconv"]
    assert fast_ops._state["tune"] is None  # conv_settings restored the switch
