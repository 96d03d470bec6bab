"""Benchmark and planted-truth study of the contrast matrix (analysis/contrasts.py, issue 16).

Two parts, each run in its own subprocess (peak memory = the child's ru_maxrss):

* ``--part=speed``: the matrix for 10 contrasts x 5 layers (conv1..conv5) at the paper's scale
  (1,067 tokens, 4 phone intervals per token over 20 phones, ~213 intervals per phone, the
  real number of layer samples per interval: conv1 ~400 per 100 ms, conv5 0-2, so conv5's
  cells are reported as not fitted), fast engine, AR1. Prints wall time, cells fitted and
  the matmul reference of the same run (bench/common.py).
* ``--part=study``: planted truth over ``--seeds`` seeds (default 50): 3 contrasts x 4 layers
  of :func:`synthetic.planted.make_contrast_phones` (s:sh planted at conv1 and conv2,
  p:b at conv2 and conv3, iy:ih nowhere: 4 planted and 8 empty cells); prints, for Holm and
  Benjamini-Hochberg at alpha 0.05, the detection rate of the planted cells and the
  false-positive rate of the empty cells (with 95 % Wilson intervals), and the mean effect
  size per planted cell.

    .venv/bin/python bench/contrast_matrix.py --part=speed
    .venv/bin/python bench/contrast_matrix.py --part=study --seeds=50
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.common import wilson  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("part", "both", ["speed", "study", "both"], "what to run")
flags.DEFINE_integer("tokens", 1067, "tokens of the speed case (the paper's scale)")
flags.DEFINE_integer("contrasts", 10, "contrasts of the speed case (2 new phones each)")
flags.DEFINE_integer("seeds", 50, "seeds of the planted-truth study")
flags.DEFINE_integer("study_tokens", 120, "tokens per seed of the study")
flags.DEFINE_float("amplitude", 0.3, "planted effect of the study (x (0.5 + sin(pi t)))")
flags.DEFINE_string("engine", "fast", "engine (fast, mgcv, auto)")
flags.DEFINE_string("child", "", "internal: run one part in this process and print JSON")

# The study's design: planted effect[layer][phone]; contrasts use disjoint phone pairs so a
# planted phone effect changes exactly the cells listed in PLANTED.
STUDY_CONTRASTS = [("s", "sh"), ("p", "b"), ("iy", "ih")]
STUDY_LAYERS = ("conv1", "conv2", "conv3", "conv4")
SPEED_WORDS = ("ask", "dark", "suit", "year", "wash", "oily", "rag", "water", "greasy", "carry")


def study_effect(amp: float) -> dict:
    return {"conv1": {"sh": amp}, "conv2": {"sh": amp, "b": amp}, "conv3": {"b": amp}}




def run_speed() -> dict:
    from analysis.contrasts import contrast_matrix
    from synthetic.planted import LAYER_JUMPS, make_contrast_phones
    n = FLAGS.contrasts
    phones = [f"p{i:02d}" for i in range(2 * n)]
    # every other contrast planted at one layer, so the fits see both kinds of cells
    effect = {LAYER_JUMPS[i % 4][0]: {} for i in range(n)}
    for i in range(0, n, 2):
        effect[LAYER_JUMPS[i % 4][0]][phones[2 * i + 1]] = 0.5
    t0 = time.perf_counter()
    # ten words (the calibrated model's df are then Satterthwaite's, as with TIMIT's many
    # words; below five words per phone it takes Kenward-Roger's, docs/calibration.md)
    df, _ = make_contrast_phones(n_tokens=FLAGS.tokens, phones=phones, effect=effect,
                                 layers=LAYER_JUMPS, phones_per_token=4, max_samples=None,
                                 words=SPEED_WORDS, seed=0)
    t_data = time.perf_counter() - t0
    contrasts = [(phones[2 * i], phones[2 * i + 1]) for i in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    m = contrast_matrix(df, contrasts, engine=FLAGS.engine)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_layer = {lay: round(sec, 2) for lay, sec in m.attrs["seconds_per_layer"].items()}
    return {"rows": int(len(df)), "data_seconds": t_data, "wall": wall, "cpu": cpu,
            "cells": int(len(m)), "fitted": int((m["status"] == "fitted").sum()),
            "seconds_per_layer": per_layer,
            "intervals_per_phone": float(m["n_reference"].median()),
            "samples_per_interval": m.groupby("layer")["samples_per_interval"].first().to_dict(),
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def run_study() -> dict:
    from analysis.contrasts import contrast_matrix
    from synthetic.planted import LAYER_JUMPS, make_contrast_phones
    layers = [lj for lj in LAYER_JUMPS if lj[0] in STUDY_LAYERS]
    phones = tuple(p for ab in STUDY_CONTRASTS for p in ab)
    effect = study_effect(FLAGS.amplitude)
    counts = {m: {"planted_hit": 0, "planted": 0, "empty_hit": 0, "empty": 0}
              for m in ("holm", "bh")}
    eff_sizes: dict = {}
    t0 = time.perf_counter()
    for seed in range(FLAGS.seeds):
        df, truth = make_contrast_phones(n_tokens=FLAGS.study_tokens, phones=phones,
                                         effect=effect, layers=layers, seed=1000 + seed)
        m = contrast_matrix(df, STUDY_CONTRASTS, engine=FLAGS.engine)
        for r in m.itertuples(index=False):
            planted = truth.planted(r.reference, r.phone, r.layer)
            if planted:
                eff_sizes.setdefault(f"{r.contrast}@{r.layer}", []).append(r.effect_size)
            for meth in ("holm", "bh"):
                hit = bool(getattr(r, f"encoded_{meth}")) if r.status == "fitted" else False
                key = "planted" if planted else "empty"
                counts[meth][key] += 1
                counts[meth][key + "_hit"] += int(hit)
    out = {"seeds": FLAGS.seeds, "seconds": time.perf_counter() - t0, "rates": {},
           "effect_size": {k: [float(np.mean(v)), float(np.std(v))]
                           for k, v in eff_sizes.items()}}
    for meth, c in counts.items():
        out["rates"][meth] = {
            "detection": c["planted_hit"] / c["planted"],
            "detection_ci": wilson(c["planted_hit"], c["planted"]),
            "false_positive": c["empty_hit"] / c["empty"],
            "false_positive_ci": wilson(c["empty_hit"], c["empty"]), **c}
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return out


def _child(part: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), f"--child={part}",
           f"--tokens={FLAGS.tokens}", f"--contrasts={FLAGS.contrasts}",
           f"--seeds={FLAGS.seeds}", f"--study_tokens={FLAGS.study_tokens}",
           f"--amplitude={FLAGS.amplitude}", f"--engine={FLAGS.engine}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    if res.returncode != 0 or not lines:
        return {"error": (res.stderr or res.stdout)[-1500:]}
    out = json.loads(lines[-1])
    out["child_peak_gb"] = peak
    return out


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps(run_speed() if FLAGS.child == "speed" else run_study()))
        return
    parts = ["speed", "study"] if FLAGS.part == "both" else [FLAGS.part]
    results = {}
    for part in parts:
        print(f"running {part} ...", flush=True)
        results[part] = _child(part)
        if "error" in results[part]:
            print(f"{part} FAILED:\n{results[part]['error']}")
    from bench.common import matmul_rates
    mm = matmul_rates()
    ref_s = 2 * 4096 ** 3 / (mm["numpy"] * 1e9)
    s = results.get("speed")
    if s and "error" not in s:
        print(f"\nspeed: {FLAGS.contrasts} contrasts x 5 layers, {FLAGS.tokens} tokens "
              f"({s['rows']:,} phone rows, median {s['intervals_per_phone']:.0f} intervals "
              f"per phone), engine {FLAGS.engine}: {s['wall']:.1f} s wall, {s['cpu']:.1f} s "
              f"CPU (this process, R included), {s['fitted']} of "
              f"{s['cells']} cells fitted; seconds per layer {s['seconds_per_layer']}; "
              f"samples per interval (median) {s['samples_per_interval']}; child peak RSS "
              f"{s['child_peak_gb']:.2f} GB; = {s['wall'] / ref_s:.0f} 4096^3 matmuls")
    st = results.get("study")
    if st and "error" not in st:
        print(f"\nplanted truth: {st['seeds']} seeds x 3 contrasts x 4 layers "
              f"({FLAGS.study_tokens} tokens, ~{FLAGS.study_tokens * 2 // 6} intervals per "
              f"phone, amplitude {FLAGS.amplitude}), {st['seconds']:.0f} s")
        for meth, r in st["rates"].items():
            lo, hi = r["detection_ci"]
            flo, fhi = r["false_positive_ci"]
            print(f"  {meth:4}: detection {r['detection']:.3f} ({r['planted_hit']}/"
                  f"{r['planted']}, 95% CI {lo:.3f}-{hi:.3f}); false positives "
                  f"{r['false_positive']:.4f} ({r['empty_hit']}/{r['empty']}, 95% CI "
                  f"{flo:.4f}-{fhi:.4f})")
        for cell, (mu, sd) in st["effect_size"].items():
            print(f"  effect size {cell}: mean {mu:.2f}, sd {sd:.2f}")
    print(f"\nmatmul reference (same run): numpy {mm['numpy']:.1f} GFLOP/s, TF {mm['tf']:.1f} "
          f"GFLOP/s; one 4096^3 float32 matmul = {ref_s:.2f} s")


if __name__ == "__main__":
    app.run(main)
