"""Input pipeline over a prepared dataset folder (docs/CONVENTIONS.md).

``make_dataset`` yields dicts {'audio': float32 [B, slice_len], 'token_id', 'word',
'word_index', 'speaker', 'n_samples'}; ``normalize=True`` applies the original WaveGAN loader's
per-example peak normalisation x / max|x| (examples with max|x| = 0 are left as they are).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from common import layout
from corpus.corpus_errors import DatasetIncompleteError

REQUIRED_KEYS = ("format_version", "sample_rate", "slice_len", "words", "splits", "shards")


def read_dataset_info(data_dir: str) -> dict:
    """dataset.json of a complete prepared dataset, with every shard checked to exist.

    Raises DatasetIncompleteError naming the folder when it is missing, has no dataset.json
    (not prepared, or preparation did not finish), has a corrupt/unsupported dataset.json or
    misses shard files.
    """
    if not os.path.isdir(data_dir):
        raise DatasetIncompleteError(f"dataset folder {data_dir} does not exist")
    path = os.path.join(data_dir, layout.DATASET_JSON)
    if not os.path.isfile(path):
        raise DatasetIncompleteError(f"{data_dir}: no dataset.json (not a prepared dataset, or "
                                     "prepare.py did not finish)")
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise DatasetIncompleteError(f"{path}: unreadable ({e})") from e
    missing = [k for k in REQUIRED_KEYS if k not in info]
    if missing:
        raise DatasetIncompleteError(f"{path}: missing keys {missing}")
    layout.check_version(info, path, layout.DATASET_JSON)
    for split, shards in info["shards"].items():
        absent = [p for p in shards if not os.path.isfile(os.path.join(data_dir, p))]
        if absent:
            raise DatasetIncompleteError(f"{data_dir}: split '{split}' shard file(s) missing: "
                                         f"{absent[:3]}")
    return info


def _split_shards(data_dir: str, info: dict, split: str) -> list:
    if split not in info["shards"]:
        raise DatasetIncompleteError(f"{data_dir}: no split '{split}' (has "
                                     f"{sorted(info['shards'])})")
    return [os.path.join(data_dir, p) for p in info["shards"][split]]


def peak_normalize_np(x: np.ndarray) -> np.ndarray:
    """The original loader's per-example peak normalisation, in numpy (extraction uses it):
    x / max|x| per row of float32 [N, L]; rows with max|x| = 0 are returned unchanged.
    :func:`peak_normalize_tf` is the same rule inside a tf.data graph."""
    x = np.asarray(x, dtype=np.float32)
    peak = np.max(np.abs(x), axis=-1, keepdims=True)
    return np.where(peak > 0, x / np.where(peak > 0, peak, 1), x).astype(np.float32)


def peak_normalize_tf(x):
    """:func:`peak_normalize_np` as TensorFlow ops, for ``make_dataset``'s map (runs inside
    tf.data, where numpy cannot): x float32 [B, L] -> [B, L]."""
    import tensorflow as tf

    peak = tf.reduce_max(tf.abs(x), axis=1, keepdims=True)
    return tf.where(peak > 0, x / tf.where(peak > 0, peak, 1.0), x)


def make_dataset(data_dir: str, split: str = "train", batch_size: int = 64,
                 shuffle: bool = True, repeat: bool = True, normalize: bool = True,
                 seed=None, drop_remainder: bool = True):
    """tf.data.Dataset of batches of dicts (shapes in the module docstring).

    Order: records -> shuffle (buffer = the split's token count, capped at 20000; reshuffled
    each epoch; deterministic for a given seed) -> repeat -> batch -> parse -> normalise ->
    prefetch.  ``normalize``: True or 'peak' (the peak normalisation), False or 'none'.
    """
    import tensorflow as tf

    from corpus.tfrecords import feature_spec

    info = read_dataset_info(data_dir)
    shards = _split_shards(data_dir, info, split)
    spec = feature_spec(int(info["slice_len"]))
    n = int(info["splits"].get(split, 0))
    ds = tf.data.TFRecordDataset(shards)
    if shuffle:
        ds = ds.shuffle(max(1, min(n, 20000)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)

    peak = normalize in (True, "peak")

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        if peak:
            ex["audio"] = peak_normalize_tf(ex["audio"])
        return ex

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_split_arrays(data_dir: str, split: str, normalize: bool = True) -> tuple:
    """All tokens of a split in stored order: (audio float32 [N, slice_len],
    manifest rows of those tokens in the same order, index reset). For small sets."""
    ds = make_dataset(data_dir, split, batch_size=256, shuffle=False, repeat=False,
                      normalize=normalize, drop_remainder=False)
    audio, ids = [], []
    for b in ds.as_numpy_iterator():
        audio.append(b["audio"])
        ids.append(b["token_id"])
    info = read_dataset_info(data_dir)
    L = int(info["slice_len"])
    audio = np.concatenate(audio, 0) if audio else np.zeros((0, L), np.float32)
    ids = np.concatenate(ids, 0) if ids else np.zeros(0, np.int64)
    manifest = pd.read_csv(os.path.join(data_dir, layout.MANIFEST_CSV), keep_default_na=False,
                           dtype={c: str for c in layout.MANIFEST.labels})
    rows = manifest.set_index("token_id").loc[ids].reset_index()
    return audio.astype(np.float32), rows


def find_corrupt_shards(shards) -> list:
    """``[(shard, reason)]`` for each TFRecord file that cannot be read to its end (truncated,
    bad CRC, not a TFRecord).  Reads every record: call it only after a read failed."""
    import tensorflow as tf

    bad = []
    for shard in shards:
        try:
            for _ in tf.data.TFRecordDataset(shard).as_numpy_iterator():
                pass
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
                tf.errors.OutOfRangeError, tf.errors.NotFoundError) as err:
            bad.append((shard, _tf_error_text(err)))
    return bad


def _tf_error_text(err) -> str:
    """TensorFlow's error message without its op-wrapper noise, on one line."""
    import re

    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(err.message))
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text, flags=re.S)
    return " ".join(text.split())[:200]


def iterate_checked(iterator, data_dir: str, split: str):
    """Yield from a tf.data iterator over ``split`` of ``data_dir``; a read failure becomes a
    :class:`DatasetIncompleteError` that names the corrupt shard(s)."""
    import tensorflow as tf

    try:
        yield from iterator
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
        shards = _split_shards(data_dir, read_dataset_info(data_dir), split)
        bad = find_corrupt_shards(shards)
        where = "; ".join(f"{s}: {r}" for s, r in bad) or _tf_error_text(err)
        raise DatasetIncompleteError(f"{data_dir}: cannot read split '{split}' ({where}); "
                                     "re-run prepare.py for this dataset") from None
