"""Calibration of the acoustic correlates (issue 26, item 4): the cross-validated R² a layer
that follows nothing gets, against the in-sample R² at the best lag, and the R² and lag
recovered for planted effects.

    .venv/bin/python bench/acoustic_null.py                 # 100 null folders, 20 per gain
    .venv/bin/python bench/acoustic_null.py --n_null=20 --n_power=5

Each folder is :func:`synthetic.acoustic.make_acoustic_folder` (3 words x 6 speakers x 3
tokens = 54 tokens; layers conv2 (1,024 frames, 1 ms hop, lags +-3) and conv4 (64 frames,
16 ms hop, lags +-3); measures AR1 with phi 0.9; traces word shape + AR1 noise, sd 1).  Null:
no layer follows anything; the numbers are the per-measure R² of every layer and measure
(10 per folder).  Power: conv2 follows intensity with the given gain (R² = g² / (g² + 1 +
word variance) in truth) at a lag of 2 frames.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def run_folder(follows: dict, seed: int, layers=("conv2", "conv4")):
    import shutil

    from analysis.acoustic_correlates import acoustic_correlates
    from synthetic.acoustic import make_acoustic_folder
    d = tempfile.mkdtemp(prefix="acoustic_null_")
    try:
        make_acoustic_folder(d, layers=layers, follows=follows, seed=seed)
        with open(os.path.join(d, "extract_info.json")) as f:
            info = json.load(f)
        return acoustic_correlates(d, info, 16000)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def conv5_null(n: int = 40) -> None:
    """The null at conv5 alone (16 frames per token: the widest spread)."""
    import numpy as np

    from analysis.acoustic_correlates import FOLLOWS_R2, MEASURES
    tabs = [run_folder({}, 100 + s, layers=("conv5",)) for s in range(n)]
    v = np.concatenate([t[t.measure.isin(MEASURES)]["r2_cv"].to_numpy() for t in tabs])
    print(f"conv5 null ({n} folders x 5 measures, 16 frames x 54 tokens): mean {v.mean():.4f},"
          f" 95th pct {np.percentile(v, 95):.4f}, 99th pct {np.percentile(v, 99):.4f}, max "
          f"{v.max():.4f}, share >= {FOLLOWS_R2:g}: {(v >= FOLLOWS_R2).mean():.3f}")


def main(n_null: int = 100, n_power: int = 20, gains=(0.25, 0.5, 1.0)) -> None:
    import numpy as np
    import pandas as pd

    from analysis.acoustic_correlates import FOLLOWS_R2, MEASURES
    t0 = time.perf_counter()
    null = pd.concat([run_folder({}, seed) for seed in range(n_null)], ignore_index=True)
    alone = null[null["measure"].isin(MEASURES)]
    cv, ins = alone["r2_cv"].to_numpy(), alone["r2_in_sample"].to_numpy()
    print(f"null: {n_null} folders x 2 layers x 5 measures = {len(alone)} R² "
          f"({time.perf_counter() - t0:.0f} s)")
    print("| R² of a null layer | mean | 95th pct | 99th pct | max | share >= "
          f"{FOLLOWS_R2:g} |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, v in (("cross-validated, lag chosen inside each training fold", cv),
                    ("in-sample at the best lag (all data)", ins)):
        print(f"| {name} | {v.mean():.4f} | {np.percentile(v, 95):.4f} | "
              f"{np.percentile(v, 99):.4f} | {v.max():.4f} | {(v >= FOLLOWS_R2).mean():.3f} |")
    for what in ("measures", "word+measures"):
        v = null[null["measure"] == what]["r2_cv"].to_numpy()
        w = null[null["measure"] == "word"]["r2_cv"].to_numpy()
        gain = v - w if what == "word+measures" else v
        print(f"null '{what}'{' minus word' if what == 'word+measures' else ''}: mean "
              f"{gain.mean():.4f}, 99th pct {np.percentile(gain, 99):.4f}")
    print("\n| planted gain (conv2 on intensity, lag 2 ms) | true R² | median R² cv | "
          "detected (R² >= threshold, best measure) | lag 2 ms recovered |")
    print("|---:|---:|---:|---:|---:|")
    for g in gains:
        rows = [run_folder({"conv2": (g, 2)}, 1000 + s) for s in range(n_power)]
        r2 = np.array([r.set_index(["layer", "measure"]).loc[("conv2", "intensity_db"),
                                                              "r2_cv"] for r in rows])
        lag = np.array([r.set_index(["layer", "measure"]).loc[("conv2", "intensity_db"),
                                                              "lag_ms"] for r in rows])
        best = np.array([r[(r.layer == "conv2") & r.measure.isin(MEASURES)]
                         .set_index("measure")["r2_cv"].idxmax() == "intensity_db"
                         for r in rows])
        # word shapes: variance word_sd² / 2 = 0.125 on average
        true = g * g / (g * g + 1.0 + 0.125)
        print(f"| {g} | {true:.3f} | {np.median(r2):.3f} | "
              f"{np.mean((r2 >= FOLLOWS_R2) & best):.2f} | {np.mean(lag == 2.0):.2f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s in all, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n_null", type=int, default=100)
    p.add_argument("--n_power", type=int, default=20)
    p.add_argument("--n_conv5", type=int, default=40, help="null folders at conv5 alone")
    a = p.parse_args()
    if a.n_null:
        main(a.n_null, a.n_power)
    if a.n_conv5:
        conv5_null(a.n_conv5)
