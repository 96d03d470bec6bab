"""Benchmark: extract.py --acoustics (issue 26, item 5): Praat's measures for 1,067 tokens
(the paper's small experiment) in under 2 minutes, with extraction memory flat in the number
of tokens.

    .venv/bin/python bench/acoustics_speed.py                       # every part
    .venv/bin/python bench/acoustics_speed.py --parts=measure --tokens=1067

Part ``measure``: :func:`extraction.acoustics.measure_acoustics` in this process on N
word-like tokens (a harmonic tone with a moving F0 and a noise burst under an envelope, then
zero padding, 16,384 samples), on the five conv layers' axes of the Q network (5,456 frames
per token), in batches of 64 as the extraction calls it; wall time per token and the peak RSS.

Part ``analyze``: :func:`analysis.acoustic_correlates.acoustic_correlates` (what analyze.py
--acoustics adds) on a synthetic folder of about N tokens (:func:`synthetic.acoustic.
make_acoustic_folder`: 8 words x N/24 speakers x 3 tokens, all five layers, conv2 planted):
wall time and peak RSS.

Part ``extract``: ``python extract.py`` as a child process (bench/scale_extract.py's dim-4
ciwGAN checkpoint and synthetic dataset, all five layers, batch 64, --nocsv) with and without
--acoustics at each token count: wall time, the time extract_info.json records for the
acoustics, and the child's peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import layout  # noqa: E402 - after the path set-up
from common.constants import SAMPLE_RATE, SLICE_LEN  # noqa: E402

# (name, jump, centre0) of the Q network's conv layers for 16,384 samples
# (extraction.geometry: centres 4j+2, 16j+10, 64j+42, 256j+170, 1024j+682)
LAYERS = (("conv1", 4, 2), ("conv2", 16, 10), ("conv3", 64, 42), ("conv4", 256, 170),
          ("conv5", 1024, 682))


def word_like(n: int, seed: int = 0):
    """[n, SLICE_LEN] float32: a voiced stretch (F0 gliding 100-250 Hz, four harmonics), a
    noise burst, zero padding; peak 0.1-0.9."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.zeros((n, SLICE_LEN), np.float32)
    for i in range(n):
        m = int(rng.integers(4800, 9600))
        t = np.arange(m) / SAMPLE_RATE
        f0 = np.linspace(rng.uniform(100, 180), rng.uniform(120, 250), m)
        ph = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        voiced = sum(np.sin(k * ph) / k for k in range(1, 5))
        burst = rng.standard_normal(m) * (t > t[-1] * 0.7)
        env = np.sin(np.linspace(0, np.pi, m)) ** 2
        y = env * (voiced + 0.5 * burst)
        x[i, 400:400 + m] = rng.uniform(0.1, 0.9) * y / np.abs(y).max()
    return x


def measure_part(n_tokens: int = 1067, batch: int = 64) -> dict:
    """measure_acoustics on ``n_tokens`` tokens in batches of ``batch``: seconds, failures."""
    import collections

    from extraction.acoustics import measure_acoustics
    frames = {name: (SLICE_LEN // jump, jump / SAMPLE_RATE, c0 / SAMPLE_RATE)
              for name, jump, c0 in LAYERS}
    audio = word_like(n_tokens)
    failures: collections.Counter = collections.Counter()
    rows = 0
    t0 = time.perf_counter()
    for s in range(0, n_tokens, batch):
        table, failed = measure_acoustics(audio[s:s + batch], SAMPLE_RATE, frames)
        failures.update(failed)
        rows += len(table)
    wall = time.perf_counter() - t0
    res = {"tokens": n_tokens, "rows": rows, "wall_s": wall,
           "ms_per_token": 1000 * wall / n_tokens, "failures": dict(failures),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"measure_acoustics: {n_tokens:,} tokens, {rows:,} rows in {wall:.1f} s "
          f"({res['ms_per_token']:.1f} ms per token), failures {dict(failures)}, "
          f"peak RSS of this process {res['peak_rss_mb']:.0f} MB", flush=True)
    return res


def analyze_part(n_tokens: int = 1067) -> dict:
    """acoustic_correlates on a synthetic folder of about ``n_tokens`` tokens (written by a
    child process, so that this process's peak RSS is the analysis's)."""
    import subprocess

    from analysis.acoustic_correlates import acoustic_correlates
    base = tempfile.mkdtemp(prefix="bench_acoustics_analyze_")
    try:
        code = ("import json, sys; from synthetic.acoustic import make_acoustic_folder; "
                "print(json.dumps(make_acoustic_folder(sys.argv[1], layers=('conv1', 'conv2', "
                "'conv3', 'conv4', 'conv5'), words=[f'w{i}' for i in range(8)], "
                f"n_speakers={max(2, round(n_tokens / 24))}, tokens_per_cell=3, seed=0)))")
        truth = json.loads(subprocess.run([sys.executable, "-c", code, base], cwd=ROOT,
                                          check=True, capture_output=True,
                                          text=True).stdout)
        with open(os.path.join(base, layout.EXTRACT_INFO_JSON)) as f:
            info = json.load(f)
        t0 = time.perf_counter()
        table = acoustic_correlates(base, info, SAMPLE_RATE)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(base, ignore_errors=True)
    c2 = table[(table.layer == "conv2") & (table.measure == "intensity_db")].iloc[0]
    res = {"tokens": truth["n_tokens"], "wall_s": wall,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(f"acoustic_correlates: {truth['n_tokens']:,} tokens, 5 layers, {wall:.1f} s, peak RSS "
          f"of this process {res['peak_rss_mb']:.0f} MB (planted conv2 ~ intensity: R² "
          f"{c2.r2_cv:.2f} at {c2.lag_ms:g} ms)", flush=True)
    return res


def extract_part(counts=(500, 1067), dim: int = 4, batch_size: int = 64) -> list:
    """extract.py with and without --acoustics at each count (module docstring)."""
    from bench.scale_extract import run_child, write_inputs
    base = tempfile.mkdtemp(prefix="bench_acoustics_")
    results = []
    try:
        prefix, data = write_inputs(os.path.join(base, "inputs"), counts, dim=dim)
        for n in sorted(counts):
            for acoustics in (False, True):
                out = os.path.join(base, f"act{n}{'a' if acoustics else ''}")
                args = [f"--checkpoint={prefix}", "--model=ciwgan", f"--data={data}",
                        f"--split=n{n}", f"--out={out}", f"--batch_size={batch_size}",
                        "--noprogress", "--nocsv"] + (["--acoustics"] if acoustics else [])
                log = os.path.join(base, f"extract{n}{acoustics}.log")
                r = run_child(args, log)
                row = {"tokens": n, "acoustics": acoustics, **r}
                if r["rc"] == 0:
                    with open(os.path.join(out, layout.EXTRACT_INFO_JSON)) as f:
                        info = json.load(f)
                    row.update(acoustics_s=info["seconds"].get("acoustics", 0.0),
                               forward_s=info["seconds"]["forward"],
                               failures=info["counts"].get("acoustic_failures", {}),
                               acoustic_rows=info["counts"]["rows"].get("acoustics", 0))
                else:
                    print(open(log).read()[-3000:])
                results.append(row)
                print(f"extract.py {n:,} tokens{' --acoustics' if acoustics else ''}: rc "
                      f"{r['rc']}, wall {r['wall_s']:.1f} s, acoustics "
                      f"{row.get('acoustics_s', 0):.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB",
                      flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nextract.py, dim {dim} ciwGAN, batch {batch_size}, all five layers, --nocsv, "
          f"{os.cpu_count()} CPUs")
    print("| tokens | --acoustics | wall | of which Praat + axes | forward | peak RSS (child) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['tokens']:,} | {'yes' if r['acoustics'] else 'no'} | {r['wall_s']:.1f} s "
              f"| {r.get('acoustics_s', 0):.1f} s | {r.get('forward_s', 0):.1f} s | "
              f"{r['peak_rss_mb']:.0f} MB |")
    return results


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="measure,analyze,extract")
    p.add_argument("--tokens", default="500,1067", help="token counts (extract), the largest "
                   "is the measure part's")
    a = p.parse_args()
    counts = [int(t) for t in a.tokens.split(",")]
    parts = a.parts.split(",")
    if "measure" in parts:
        measure_part(max(counts))
    if "analyze" in parts:
        analyze_part(max(counts))
    if "extract" in parts:
        extract_part(counts)
    from bench.common import matmul_rates
    mm = matmul_rates()
    print(f"matmul reference (same run): numpy {mm['numpy']:.1f} GFLOP/s, TF {mm['tf']:.1f} "
          "GFLOP/s")
