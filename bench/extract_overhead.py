"""Benchmark: full extraction vs the bare Q forward passes, in one process.

    .venv/bin/python bench/extract_overhead.py                       # 1,067 tokens, dim 64 (the paper)
    .venv/bin/python bench/extract_overhead.py --tokens=128 --dim=8  # quick

A random-initialised ciwGAN Q (``wavegan.QNetwork``) and random word-like audio (noise bursts with
a syllable envelope, zero-padded) are used. Timed:
  bare     : ``Q(x, training=False)`` in a tf.function over the same batches, logits to numpy;
  extract  : ``extraction.run.run_extraction`` writing the whole activations folder
             (activations.parquet + .csv, q_outputs.csv, confusion.csv, classification.json).
Both are warmed up (traced) first; bare is timed before and after extract and averaged.
Prints the ratio extract / bare (goal <= 1.3).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("tokens", 1067, "number of tokens")
flags.DEFINE_integer("dim", 64, "model width (64 in the paper)")
flags.DEFINE_integer("batch_size", 64, "tokens per forward pass")
flags.DEFINE_integer("num_categ", 8, "Q outputs")
flags.DEFINE_boolean("csv", True, "also write the .csv tables (extract.py's default writes them "
                     "up to extraction.run.CSV_AUTO_MAX_ROWS rows, e.g. 1,067 tokens)")
flags.DEFINE_string("out", None, "activations folder (default: a temporary folder, removed)")
FLAGS = flags.FLAGS


def word_like_audio(n: int, slice_len: int, seed: int = 0):
    """float32 [n, slice_len]: noise bursts of 0.3-0.6 s with a sin^2 envelope, zero-padded."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.zeros((n, slice_len), np.float32)
    for i in range(n):
        m = int(rng.integers(4800, 9600))
        env = np.sin(np.linspace(0, np.pi, m)) ** 2
        x[i, :m] = env * rng.standard_normal(m)
    return x


def main(argv):
    del argv
    import tensorflow as tf

    from wavegan.runtime import describe_devices
    print(describe_devices("bench/extract_overhead.py"), flush=True)

    from corpus.dataset import peak_normalize_np
    from extraction.run import run_extraction
    from extraction.sources import ArraySource
    from wavegan import QNetwork
    from wavegan.config import WaveGANConfig

    tf.keras.utils.set_random_seed(0)
    config = WaveGANConfig(model="ciwgan", num_categ=FLAGS.num_categ, dim=FLAGS.dim)
    Q = QNetwork(config)
    audio = word_like_audio(FLAGS.tokens, config.slice_len)
    words = [f"w{i % FLAGS.num_categ}" for i in range(FLAGS.tokens)]
    B = FLAGS.batch_size

    @tf.function(input_signature=[tf.TensorSpec([None, config.slice_len], tf.float32)])
    def bare(x):
        return Q(x, training=False)

    def run_bare():
        t0 = time.perf_counter()
        for lo in range(0, FLAGS.tokens, B):
            bare(peak_normalize_np(audio[lo:lo + B])).numpy()
        return time.perf_counter() - t0

    tmp = tempfile.mkdtemp(prefix="bench_extract_")
    out = FLAGS.out or os.path.join(tmp, "act")

    def run_extract(n, path):
        src = ArraySource(audio[:n], words[:n], batch_size=B)
        t0 = time.perf_counter()
        info = run_extraction(Q, config, src, path, progress=False, overwrite=True,
                                 csv=FLAGS.csv)
        return time.perf_counter() - t0, info

    # warm-up: trace both functions, touch the writers
    bare(peak_normalize_np(audio[:B]))
    bare(peak_normalize_np(audio[:1]))
    run_extract(min(B + 1, FLAGS.tokens), os.path.join(tmp, "warm"))

    t_bare1 = run_bare()
    t_ext, info = run_extract(FLAGS.tokens, out)
    t_bare2 = run_bare()
    t_bare = (t_bare1 + t_bare2) / 2
    rows = info["counts"]["rows"]["activations"]
    sizes = {f: os.path.getsize(os.path.join(out, f)) / 2 ** 20 for f in sorted(os.listdir(out))}
    print(f"tokens {FLAGS.tokens}, dim {FLAGS.dim}, batch {B}, csv {FLAGS.csv}, "
          f"TF {tf.__version__}, {os.cpu_count()} CPUs")
    print(f"bare Q forward (logits only): {t_bare1:.2f} s, {t_bare2:.2f} s (mean {t_bare:.2f} s)")
    print(f"extraction (all layers, {rows} rows): {t_ext:.2f} s "
          f"(forward inside: {info['seconds']['forward']:.2f} s)")
    print("files: " + ", ".join(f"{k} {v:.1f} MiB" for k, v in sizes.items()))
    ratio = t_ext / t_bare
    print(f"ratio extraction / bare = {ratio:.2f} (goal <= 1.3)")
    # The machine's own speed in the same run, so figures compare across machines and loads.
    from bench.common import extraction_flops, matmul_rates
    mm = matmul_rates()
    gflop = extraction_flops(config, FLAGS.tokens) / 1e9
    print(f"matmul reference: numpy {mm['numpy']:.1f} GFLOP/s, TF {mm['tf']:.1f} GFLOP/s; "
          f"bare forward {gflop:.1f} GFLOP at {gflop / t_bare:.1f} GFLOP/s = "
          f"{gflop / t_bare / mm['numpy']:.2f} of numpy's matmul rate")
    if not FLAGS.out:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
