"""ciwgan.codes, the one home of the latent codes: labels, parsing, shared noise, reading Q's
logits, and the training sampler (unchanged draws)."""

import numpy as np
import pytest
import tensorflow as tf

from ciwgan.codes import (NO_CODE, code_label, code_latents, code_probabilities, code_vectors,
                          parse_codes, read_codes, sample_training_z)
from wavegan import WaveGANConfig

CIW = WaveGANConfig(model="ciwgan", num_categ=4, latent_dim=10)
FIW = WaveGANConfig(model="fiwgan", num_categ=4, latent_dim=10)
WAVE = WaveGANConfig(model="wavegan", latent_dim=10)


def test_labels():
    assert code_label(CIW, 3) == "code_3"
    assert code_label(CIW, np.int64(0)) == "code_0"
    # fiwGAN: the pattern's integer, bit 0 (first) most significant: 5 = 0101.
    assert code_label(FIW, 5) == "bits_0101"
    assert code_label(FIW, 8) == "bits_1000"
    assert code_label(FIW, "0011") == "bits_0011"
    with pytest.raises(ValueError, match="out of range"):
        code_label(CIW, 4)
    with pytest.raises(ValueError, match="out of range"):
        code_label(FIW, 16)
    with pytest.raises(ValueError, match="no latent code"):
        code_label(WAVE, 0)


def test_parse_codes():
    assert parse_codes(CIW, ["3", "code_1", " 0 "]) == [3, 1, 0]
    assert parse_codes(CIW) == [0, 1, 2, 3]
    assert parse_codes(FIW, ["0101", "bits_1000"]) == [5, 8]
    assert parse_codes(FIW) == list(range(16))
    assert parse_codes(CIW, ["all"]) == parse_codes(CIW) and parse_codes(FIW, [" all"]) == \
        parse_codes(FIW)
    for config, text in ((CIW, "4"), (CIW, "code_x"), (CIW, "bits_0101"), (CIW, "-1"),
                         (FIW, "010"), (FIW, "0102"), (FIW, "code_3"), (FIW, "5")):
        with pytest.raises(ValueError, match=repr(text)):
            parse_codes(config, [text])
    with pytest.raises(ValueError, match="13 bits give 8192 patterns"):
        parse_codes(FIW.replace(num_categ=13, latent_dim=100))
    assert len(parse_codes(FIW.replace(num_categ=12, latent_dim=100))) == 4096
    # A label reads back as its code.
    for config in (CIW, FIW):
        codes = parse_codes(config)
        assert parse_codes(config, [code_label(config, c) for c in codes]) == codes


def test_code_vectors_put_value_on_the_code():
    np.testing.assert_array_equal(code_vectors(CIW, [2, 0], value=5.0),
                                  [[0, 0, 5, 0], [5, 0, 0, 0]])
    np.testing.assert_array_equal(code_vectors(FIW, [5, 12], value=2.0),
                                  [[0, 2, 0, 2], [2, 2, 0, 0]])


def test_code_latents_share_noise_across_codes():
    z, labels = code_latents(CIW, [3, 1], n_per_code=2, value=5.0, seed=7)
    assert z.dtype == np.float32 and z.shape == (4, 10)
    assert labels == ["code_3", "code_3", "code_1", "code_1"]
    # Code-major: rows (code 3, noise 0), (code 3, noise 1), (code 1, noise 0), (code 1, noise 1).
    noise = np.random.RandomState(7).uniform(-1, 1, [2, 6]).astype(np.float32)
    np.testing.assert_array_equal(z[:, :4], [[0, 0, 0, 5], [0, 0, 0, 5],
                                             [0, 5, 0, 0], [0, 5, 0, 0]])
    np.testing.assert_array_equal(z[0, 4:], noise[0])
    np.testing.assert_array_equal(z[2, 4:], noise[0])  # noise 0 is the same for every code
    np.testing.assert_array_equal(z[1, 4:], noise[1])
    np.testing.assert_array_equal(z[3, 4:], noise[1])
    assert not np.array_equal(noise[0], noise[1])
    # The same seed gives the same noise whichever codes are chosen.
    z_all, labels_all = code_latents(FIW, None, n_per_code=2, seed=7)
    assert len(labels_all) == 32 and labels_all[:3] == ["bits_0000", "bits_0000", "bits_0001"]
    np.testing.assert_array_equal(z_all[::2, 4:], np.tile(noise[0], (16, 1)))
    np.testing.assert_array_equal(z_all[2, :4], [0, 0, 0, 1])


def test_code_latents_wavegan_and_bad_input():
    z, labels = code_latents(WAVE, None, n_per_code=3, seed=1)
    assert z.shape == (3, 10) and labels == [NO_CODE] * 3
    np.testing.assert_array_equal(
        z, np.random.RandomState(1).uniform(-1, 1, [3, 10]).astype(np.float32))
    with pytest.raises(ValueError, match="no latent code"):
        code_latents(WAVE, [0])
    with pytest.raises(ValueError, match="n_per_code=0"):
        code_latents(CIW, None, n_per_code=0)


def test_read_codes_on_planted_logits():
    logits = np.array([[0.1, 2.0, -1.0, 0.5],
                       [-3.0, -2.0, -1.0, -4.0],
                       [9.0, 0.0, 0.0, 0.0]], np.float32)
    codes, labels = read_codes(CIW, logits)
    assert codes.dtype == np.int64 and codes.tolist() == [1, 2, 0]
    assert labels == ["code_1", "code_2", "code_0"]
    # fiwGAN: bit k = logit_k > 0: 1101 = 13, 0000 = 0, 1000 = 8 (0.0 is not > 0).
    codes, labels = read_codes(FIW, logits)
    assert codes.tolist() == [13, 0, 8] and labels == ["bits_1101", "bits_0000", "bits_1000"]
    # What code_latents wrote, read_codes reads back.
    z, written = code_latents(FIW, [5, 10], value=3.0)
    assert read_codes(FIW, z[:, :4] - 1.0)[1] == written
    bad = logits.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        read_codes(CIW, bad)
    with pytest.raises(ValueError, match="expected"):
        read_codes(CIW, logits[:, :3])


def test_code_probabilities():
    logits = np.array([[0.0, np.log(3.0), 0.0, 0.0], [800.0, -800.0, 0.0, 0.0]])
    np.testing.assert_allclose(code_probabilities(CIW, logits)[0], [1 / 6, 1 / 2, 1 / 6, 1 / 6])
    probs = code_probabilities(FIW, logits)
    np.testing.assert_allclose(probs[0], [0.5, 0.75, 0.5, 0.5])
    np.testing.assert_allclose(probs[1], [1.0, 0.0, 0.5, 0.5])
    assert np.isfinite(probs).all()


@pytest.mark.parametrize("config", [CIW, FIW, WAVE], ids=lambda c: c.model)
def test_training_sampler_draws_as_the_original_script(config):
    """The trainer's z: the draws (order, shapes) the checkpointed RNG state relies on."""
    z = sample_training_z(config, 5, tf.random.Generator.from_seed(3)).numpy()
    rng = tf.random.Generator.from_seed(3)
    n = config.num_categ
    if config.model == "wavegan":
        want = rng.uniform([5, 10], -1.0, 1.0).numpy()
    else:
        if config.model == "ciwgan":
            code = np.eye(n)[rng.uniform([5], 0, n, dtype=tf.int32).numpy()]
        else:
            code = (rng.uniform([5, n]).numpy() < 0.5).astype(np.float32)
        want = np.concatenate([code, rng.uniform([5, 10 - n], -1.0, 1.0).numpy()], 1)
    np.testing.assert_array_equal(z, want)
    if config.model == "ciwgan":
        assert (z[:, :n].sum(1) == 1).all()
    if config.model == "fiwgan":
        assert set(np.unique(z[:, :n])) <= {0.0, 1.0}
