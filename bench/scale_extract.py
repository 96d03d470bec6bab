"""Benchmark: extract.py's peak memory at growing token counts (issue 14, part 5, extract).

    .venv/bin/python bench/scale_extract.py                         # 500, 2,000, 8,000 tokens
    .venv/bin/python bench/scale_extract.py --tokens=200,800 --dim=4

A random-initialised dim-4 ciwGAN (written as a TF1-format checkpoint) and a synthetic prepared
dataset (docs/CONVENTIONS.md layout; word-like noise bursts) whose splits ``n<N>`` hold the
first N tokens (they share shards of 500 tokens), so every count reads the same tokens. Each
count runs ``python extract.py`` as a child process (all five layers, the paper's layer sizes:
5,456 values per token) and records the child's peak RSS (``os.wait4``: the ``ru_maxrss`` of
that child alone, what ``resource.getrusage(RUSAGE_CHILDREN)`` reports after one child) and
its wall time, with the same-run matmul reference (bench/common.py). Memory that does not grow
with the number of tokens shows as the same peak RSS at every count.

``extract_part(...)`` is the piece bench/scale.py folds in; it returns one dict per count.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import layout  # noqa: E402 - after the path set-up
from common.constants import SAMPLE_RATE, SLICE_LEN  # noqa: E402

SHARD_TOKENS = 500


def write_inputs(folder: str, counts: Sequence[int], dim: int = 4, seed: int = 0) -> tuple:
    """A dim-``dim`` ciwGAN checkpoint and a prepared dataset with splits n<N> (N in counts).

    Returns (checkpoint prefix, dataset folder)."""
    import numpy as np
    import tensorflow as tf

    import wavegan
    from wavegan.tf1_checkpoint import save_tf1_checkpoint

    tf.keras.utils.set_random_seed(seed)
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=8, dim=dim)
    G, D, Q = wavegan.build_models(config)
    prefix = os.path.join(folder, "run", "model.ckpt-1")
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    save_tf1_checkpoint(prefix, G, D, Q, global_step=1)

    data = os.path.join(folder, "data")
    os.makedirs(os.path.join(data, "tfrecords"), exist_ok=True)
    n_max = max(counts)
    n_shards = -(-n_max // SHARD_TOKENS)
    words = [f"w{i % 8}" for i in range(n_max)]
    rng = np.random.default_rng(seed)
    shards = []
    for s in range(n_shards):
        name = f"tfrecords/all-{s:05d}-of-{n_shards:05d}.tfrecord"
        shards.append(name)
        with tf.io.TFRecordWriter(os.path.join(data, name)) as w:
            for i in range(s * SHARD_TOKENS, min((s + 1) * SHARD_TOKENS, n_max)):
                m = int(rng.integers(4800, 9600))
                x = np.zeros(SLICE_LEN, np.float32)
                x[:m] = np.sin(np.linspace(0, np.pi, m)) ** 2 * rng.standard_normal(m)
                feat = {
                    "audio": tf.train.Feature(float_list=tf.train.FloatList(value=x)),
                    "token_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                    "word": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[words[i].encode()])),
                    "word_index": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[i % 8])),
                    "speaker": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[f"spk{i % 50}".encode()])),
                    "n_samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[m]))}
                w.write(tf.train.Example(features=tf.train.Features(feature=feat))
                        .SerializeToString())
    splits, split_shards = {}, {}
    for n in counts:
        # a split of N tokens = the first N // SHARD_TOKENS shards (counts are multiples)
        if n % SHARD_TOKENS and n != n_max:
            raise ValueError(f"token count {n} must be a multiple of {SHARD_TOKENS}")
        splits[f"n{n}"] = n
        split_shards[f"n{n}"] = shards[:-(-n // SHARD_TOKENS)]
    with open(os.path.join(data, layout.DATASET_JSON), "w") as f:
        json.dump({"format_version": layout.DATASET_FORMAT_VERSION, "sample_rate": SAMPLE_RATE, "slice_len": SLICE_LEN,
                   "words": sorted(set(words)), "splits": splits, "shards": split_shards}, f)
    return prefix, data


def run_child(args: list, log_path: str) -> dict:
    """Run ``python extract.py args`` as a child (:func:`bench.common.run_measured`): its exit
    code, wall time and peak RSS."""
    from bench.common import run_measured
    res = run_measured([sys.executable, os.path.join(ROOT, "extract.py"), *args], ROOT,
                       log_path)
    return {k: res[k] for k in ("rc", "wall_s", "peak_rss_mb")}


def extract_part(token_counts: Sequence[int] = (500, 2000, 8000), dim: int = 4,
                 batch_size: int = 64, csv: Optional[bool] = False,
                 workdir: Optional[str] = None, keep: bool = False,
                 matmul: bool = True) -> list:
    """extract.py's peak RSS and wall time at each token count (module docstring).

    csv: True/False pass --csv/--nocsv; None leaves the default (auto). workdir: where the
    inputs and outputs go (default a temporary folder; removed unless ``keep``). Returns
    [{'tokens', 'rows', 'peak_rss_mb', 'wall_s', 'forward_s', 'csv', 'rc'}] and prints a table.
    """
    counts = sorted(int(n) for n in token_counts)
    base = workdir or tempfile.mkdtemp(prefix="scale_extract_")
    os.makedirs(base, exist_ok=True)
    results = []
    try:
        t0 = time.perf_counter()
        prefix, data = write_inputs(os.path.join(base, "inputs"), counts, dim=dim)
        print(f"inputs written in {time.perf_counter() - t0:.0f} s "
              f"({max(counts)} tokens, dim {dim})", flush=True)
        csv_flag = [] if csv is None else ["--csv" if csv else "--nocsv"]
        for n in counts:
            out = os.path.join(base, f"act{n}")
            shutil.rmtree(out, ignore_errors=True)
            args = [f"--checkpoint={prefix}", "--model=ciwgan", f"--data={data}",
                    f"--split=n{n}", f"--out={out}", f"--batch_size={batch_size}",
                    "--noprogress", *csv_flag]
            r = run_child(args, os.path.join(base, f"extract{n}.log"))
            row = {"tokens": n, **r}
            if r["rc"] == 0:
                with open(os.path.join(out, layout.EXTRACT_INFO_JSON), encoding="utf-8") as f:
                    info = json.load(f)
                row.update(rows=info["counts"]["rows"]["activations"],
                           forward_s=info["seconds"]["forward"],
                           csv="activations.csv" in info["files"],
                           parquet_mb=os.path.getsize(os.path.join(out, "activations.parquet"))
                           / 2 ** 20)
            else:
                print(open(os.path.join(base, f"extract{n}.log")).read()[-3000:])
            results.append(row)
            print(f"{n:>7} tokens: rc {r['rc']}, peak RSS {r['peak_rss_mb']:.0f} MB, "
                  f"wall {r['wall_s']:.1f} s", flush=True)
            if not keep:
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if not keep and not workdir:
            shutil.rmtree(base, ignore_errors=True)
        elif not keep:
            shutil.rmtree(os.path.join(base, "inputs"), ignore_errors=True)
    print(f"\nextract.py, dim {dim} ciwGAN, batch {batch_size}, all five layers "
          f"(5,456 values per token), {os.cpu_count()} CPUs")
    print("| tokens | activation rows | CSV | peak RSS (child) | wall | forward |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['tokens']:,} | {r.get('rows', 0):,} | {'yes' if r.get('csv') else 'no'} | "
              f"{r['peak_rss_mb']:.0f} MB | {r['wall_s']:.1f} s | {r.get('forward_s', 0):.1f} s |")
    if matmul:
        from bench.common import matmul_rates
        mm = matmul_rates()
        print(f"matmul reference (same run): numpy {mm['numpy']:.1f} GFLOP/s, "
              f"TF {mm['tf']:.1f} GFLOP/s")
    return results


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", default="500,2000,8000", help="token counts, comma-separated")
    p.add_argument("--dim", type=int, default=4)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--csv", choices=["auto", "on", "off"], default="off")
    p.add_argument("--workdir", default=None, help="default: a temporary folder, removed")
    p.add_argument("--keep", action="store_true", help="keep the inputs and outputs")
    a = p.parse_args()
    extract_part([int(t) for t in a.tokens.split(",")], dim=a.dim, batch_size=a.batch_size,
                 csv={"auto": None, "on": True, "off": False}[a.csv], workdir=a.workdir,
                 keep=a.keep)
