"""Benchmark and calibration of latent sweeps (docs/sweeps.md, BENCHMARKS.md).

    .venv/bin/python bench/sweep_bench.py --speed          # 8 codes x 4 values x 50 draws
    .venv/bin/python bench/sweep_bench.py --calibration    # type-I error and power, null sweeps

--speed: a random-initialised ciwGAN of the demo's shape (8 codes, dim 8) saved as a
checkpoint, then the commands a user runs, each timed as a child process (TensorFlow's
import included): ``extract.py --codes=all --values=0,1,2,5 --n_per_code=50`` for
``--network=Q`` and ``--network=G``, and ``analyze.py`` on each sweep folder.

--calibration: null sweeps drawn by synthetic.planted_sweeps.null_sweep_cube (no value
effect; a smooth trace per draw shared by every value, AR1 noise per draw and value, a
log-normal scale per draw; normal or t(5) noise), fixed seeds 0..--reps-1, each 8 codes x
4 values x 50 draws x 64 times: the rejection rate at 0.05 of p_level and p_shape over every
cell, and the family-wise rate (any cell driven) of the 8-code matrix under Holm and BH.
Power: planted_sweep_cube (one code's bump grows with the value) at a few effects.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_boolean("speed", False, "time extract + analyze of an 8 x 4 x 50 sweep")
flags.DEFINE_boolean("calibration", False, "type-I error and power on synthetic sweeps")
flags.DEFINE_integer("reps", 100, "null sweeps (8 codes each) for --calibration")
flags.DEFINE_integer("n_per_code", 50, "draws per code and value")
flags.DEFINE_string("values", "0,1,2,5", "the sweep's values")
flags.DEFINE_string("networks", "Q,G", "networks to time (--speed)")
FLAGS = flags.FLAGS


def speed() -> dict:
    from bench.common import run_measured

    import wavegan
    from wavegan.tf1_checkpoint import save_tf1_checkpoint
    import tensorflow as tf

    tmp = tempfile.mkdtemp(prefix="sweep-bench-")
    tf.keras.utils.set_random_seed(0)
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=8, dim=8)
    G, D, Q = wavegan.build_models(config)
    os.makedirs(os.path.join(tmp, "run"))
    prefix = save_tf1_checkpoint(os.path.join(tmp, "run", "model.ckpt-1"), G, D, Q)
    results = {}
    py = sys.executable
    for net in FLAGS.networks.split(","):
        act, out = os.path.join(tmp, f"act{net}"), os.path.join(tmp, f"analysis{net}")
        ext = [py, "extract.py", f"--checkpoint={prefix}", "--model=ciwgan", "--noprogress",
               f"--network={net}", "--codes=all", f"--values={FLAGS.values}",
               f"--n_per_code={FLAGS.n_per_code}", f"--out={act}"]
        ana = [py, "analyze.py", f"--activations={act}", f"--out={out}", "--noprogress"]
        r1 = run_measured(ext, ROOT, timeout=900)
        r2 = run_measured(ana, ROOT, timeout=900) if r1["rc"] == 0 else {"rc": None,
                                                                           "wall_s": 0}
        info = json.load(open(os.path.join(act, "extract_info.json"))) if r1["rc"] == 0 else {}
        results[net] = {"extract_s": round(r1["wall_s"], 1), "extract_rc": r1["rc"],
                        "analyze_s": round(r2["wall_s"], 1), "analyze_rc": r2["rc"],
                        "total_s": round(r1["wall_s"] + r2["wall_s"], 1),
                        "tokens": info.get("counts", {}).get("tokens"),
                        "rows": info.get("counts", {}).get("rows", {}).get("activations"),
                        "extract_peak_rss_mb": round(r1["peak_rss_mb"]),
                        "analyze_peak_rss_mb": round(r2.get("peak_rss_mb", 0))}
        if r1["rc"] or r2["rc"]:
            results[net]["output"] = (r1["output"] + r2.get("output", ""))[-2000:]
        print(net, json.dumps(results[net]), flush=True)
    return results


def calibration() -> dict:
    import numpy as np

    from analysis.sweeps import sweep_matrix_from_cubes
    from synthetic.planted_sweeps import cube_dict, null_sweep_cube, planted_sweep_cube

    values = [float(v) for v in FLAGS.values.split(",")]
    n = FLAGS.n_per_code
    out = {}
    t0 = time.perf_counter()
    for tails in (None, 5):
        level, shape, fw_holm, fw_bh = [], [], [], []
        for seed in range(FLAGS.reps):
            cube = null_sweep_cube(n_codes=8, n_values=len(values), n_draws=n, n_times=64,
                                   seed=seed, tails=tails)
            m, _ = sweep_matrix_from_cubes({"layer": cube_dict(cube, values)}, k=4)
            level += list(m["p_level"] < 0.05)
            shape += list(m["p_shape"] < 0.05)
            fw_holm.append(bool(m["driven_holm"].fillna(False).any()))
            fw_bh.append(bool(m["driven_bh"].fillna(False).any()))
        key = "normal" if tails is None else f"t{tails}"
        out[key] = {"cells": len(level), "p_level_rate": float(np.mean(level)),
                    "p_shape_rate": float(np.mean(shape)),
                    "matrices": len(fw_holm), "familywise_holm": float(np.mean(fw_holm)),
                    "familywise_bh": float(np.mean(fw_bh))}
        print(key, json.dumps(out[key]), flush=True)
    power = {}
    for effect in (0.02, 0.05, 0.1):
        hits, false = [], []
        for seed in range(min(FLAGS.reps, 50)):
            cube = planted_sweep_cube(values, effect, code=0, n_codes=8, n_draws=n,
                                      n_times=64, seed=10_000 + seed)
            m, _ = sweep_matrix_from_cubes({"layer": cube_dict(cube, values)}, k=4)
            d = m["driven_holm"].fillna(False).astype(bool).to_numpy()
            hits.append(bool(d[0]))
            false.append(bool(d[1:].any()))
        power[effect] = {"power_holm": float(np.mean(hits)),
                         "other_cells_driven": float(np.mean(false)), "sweeps": len(hits)}
        print("power", effect, json.dumps(power[effect]), flush=True)
    out["power"] = power
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv):
    del argv
    res = {}
    if FLAGS.calibration:
        res["calibration"] = calibration()
    if FLAGS.speed:
        res["speed"] = speed()
    print(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    app.run(main)
