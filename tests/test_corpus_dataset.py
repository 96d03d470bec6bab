"""corpus.dataset and corpus.tfrecords: Example encoding, read_dataset_info, make_dataset
(shapes, peak normalisation, seeded determinism, repeat/remainder) and load_split_arrays."""

import json
import os

import numpy as np
import pandas as pd
import pytest

import corpus_helpers as ch
from corpus.build import run as run_prepare
from corpus.prepare_options import PrepareOptions
from corpus.corpus_errors import DatasetIncompleteError

tf = pytest.importorskip("tensorflow")
from corpus import dataset as pl  # noqa: E402
from corpus import tfrecords as tfr  # noqa: E402

WORDS = "ask,dark,greasy,rag,wash"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipe")
    ch.make_timit_tree(str(base / "timit"))
    run_prepare(PrepareOptions(out=str(base / "data"), timit_dir=str(base / "timit"),
                               words=WORDS, shard_size=7, progress=False))
    return str(base / "data")


def test_manual_example_encoding_equals_tf_proto():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(512).astype(np.float32)
    for args in ((x, 5, "dark", 2, "FCJF0", 300), (x * 0, 2**40, "don't", 0, "é", 0),
                 (x, -3, "", 7, "", 512)):
        a = tf.train.Example.FromString(tfr.encode_example(*args))
        b = tf.train.Example.FromString(tfr.encode_example_proto(*args))
        assert a == b


def test_read_dataset_info_errors(tmp_path, data_dir):
    with pytest.raises(DatasetIncompleteError, match="does not exist"):
        pl.read_dataset_info(str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetIncompleteError, match="no dataset.json"):
        pl.read_dataset_info(str(tmp_path / "empty"))
    (tmp_path / "empty" / "dataset.json").write_text("{broken")
    with pytest.raises(DatasetIncompleteError, match="unreadable"):
        pl.read_dataset_info(str(tmp_path / "empty"))
    info = pl.read_dataset_info(data_dir)
    bad = dict(info, shards={"train": info["shards"]["train"] + ["tfrecords/x.tfrecord"]})
    (tmp_path / "empty" / "dataset.json").write_text(json.dumps(bad))
    os.symlink(os.path.join(data_dir, "tfrecords"), tmp_path / "empty" / "tfrecords")
    with pytest.raises(DatasetIncompleteError, match="x.tfrecord"):
        pl.read_dataset_info(str(tmp_path / "empty"))
    with pytest.raises(DatasetIncompleteError, match="no split 'valid'"):
        pl.make_dataset(data_dir, "valid")


def test_make_dataset_shapes_and_dtypes(data_dir):
    info = pl.read_dataset_info(data_dir)
    assert info["splits"] == {"train": 30, "test": 5}
    assert len(info["shards"]["train"]) == 5      # ceil(30 tokens / 7 per shard)
    b = next(iter(pl.make_dataset(data_dir, "train", batch_size=8, seed=0)))
    assert set(b) == {"audio", "token_id", "word", "word_index", "speaker", "n_samples"}
    assert b["audio"].shape == (8, 16384) and b["audio"].dtype == tf.float32
    for k in ("token_id", "word_index", "n_samples"):
        assert b[k].shape == (8,) and b[k].dtype == tf.int64
    assert b["word"].dtype == tf.string and b["speaker"].shape == (8,)
    words = [w.decode() for w in b["word"].numpy()]
    assert [info["words"][i] for i in b["word_index"].numpy()] == words


def test_normalisation_is_per_example_peak(data_dir):
    raw = next(iter(pl.make_dataset(data_dir, "train", 16, shuffle=False, normalize=False)))
    nrm = next(iter(pl.make_dataset(data_dir, "train", 16, shuffle=False, normalize=True)))
    r, n = raw["audio"].numpy(), nrm["audio"].numpy()
    peak = np.abs(r).max(1, keepdims=True)
    assert (peak > 0).all() and (peak < 0.5).all()
    np.testing.assert_allclose(n, r / peak, rtol=1e-6)
    np.testing.assert_allclose(np.abs(n).max(1), 1.0)
    np.testing.assert_array_equal(pl.peak_normalize_np(np.zeros((2, 4))), np.zeros((2, 4)))


def test_shuffle_deterministic_with_seed_and_repeat(data_dir):
    def ids(seed, n_batches=5):
        ds = pl.make_dataset(data_dir, "train", batch_size=10, seed=seed)
        return np.concatenate([b["token_id"].numpy() for b in ds.take(n_batches)])
    a, b, c = ids(1), ids(1), ids(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    train_ids = set(pd.read_csv(os.path.join(data_dir, "manifest.csv"))
                    .query("split == 'train'").token_id)
    assert len(a) == 50 > 30                       # repeat() goes past one epoch
    assert set(a[:30].tolist()) == train_ids       # first epoch is a permutation
    assert list(a[:30]) != sorted(train_ids)       # shuffled


def test_no_repeat_remainder(data_dir):
    ds = pl.make_dataset(data_dir, "test", batch_size=4, shuffle=False, repeat=False)
    assert [b["audio"].shape[0] for b in ds] == [4]            # 5 test tokens, remainder dropped
    ds = pl.make_dataset(data_dir, "test", batch_size=4, shuffle=False, repeat=False,
                         drop_remainder=False)
    assert [b["audio"].shape[0] for b in ds] == [4, 1]


def test_load_split_arrays_matches_manifest(data_dir):
    audio, rows = pl.load_split_arrays(data_dir, "test", normalize=False)
    man = pd.read_csv(os.path.join(data_dir, "manifest.csv"))
    assert audio.shape == (5, 16384) and audio.dtype == np.float32
    assert list(rows.token_id) == sorted(man.token_id[man.split == "test"])
    assert (rows.split == "test").all()
    # non-zero content ends exactly at n_samples - pad
    for x, r in zip(audio, rows.itertuples()):
        nz = np.flatnonzero(x)
        assert nz[0] >= r.pad_before and nz[-1] < r.n_samples - r.pad_before
    an, _ = pl.load_split_arrays(data_dir, "test")
    np.testing.assert_allclose(an, pl.peak_normalize_np(audio), rtol=1e-6)
