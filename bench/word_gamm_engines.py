"""Benchmark: the paper's Table 1 GAMM, fast engine vs direct mgcv.

Prints one table with, for each case, the wall time of the whole fit (both fits, AR1
included, summary statistics), the peak resident memory of the process that ran it (each
case runs in its own subprocess, measured with resource.getrusage) and, where mgcv was also
run on the same data, the largest relative difference between the two engines' table numbers
(parametric Estimate/SE/t, smooth edf/Ref.df/F, rho, deviance explained; p-values are compared
on an absolute scale, |p_fast - p_mgcv|, since mgcv's Davies p-values are accurate to 2e-5).

Synthetic data (synthetic/activations.make_synthetic_activations, fixed seed): 8 words,
planted effects.

    .venv/bin/python bench/word_gamm_engines.py                       # paper scale + 100/200-token mgcv
    .venv/bin/python bench/word_gamm_engines.py --tokens 1067 --samples 16 --mgcv_tokens 100 \
        --big_samples 256,1024 --big_tokens 1067
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
flags.DEFINE_integer("tokens", 1067, "tokens for the paper-scale fast fit")
flags.DEFINE_integer("samples", 16, "samples per token for the paper-scale fit (conv5: 16)")
flags.DEFINE_list("mgcv_tokens", ["100", "200"], "token counts where mgcv is also timed "
                  "(empty to skip)")
flags.DEFINE_list("big_samples", ["256", "1024"], "samples per token for the large layers "
                  "(fast engine only; empty to skip)")
flags.DEFINE_integer("big_tokens", 1067, "tokens for the large-layer fits")
flags.DEFINE_boolean("ar1", True, "fit with AR1 (the paper's procedure)")
flags.DEFINE_integer("seed", 0, "synthetic data seed")
flags.DEFINE_string("case", "", "internal: run one case 'engine:tokens:samples' and print JSON")


def _table_numbers(fit):
    """Flat dict name -> (value, kind) of the numbers compared between engines."""
    out = {"rho": (fit.rho, "rel"), "dev_expl": (fit.dev_expl, "rel")}
    for _, r in fit.parametric.iterrows():
        for c in ("Estimate", "Std. Error", "t value"):
            out[f"{r['term']}|{c}"] = (float(r[c]), "rel")
        out[f"{r['term']}|p"] = (float(r["Pr(>|t|)"]), "abs")
    for _, r in fit.smooths.iterrows():
        for c in ("edf", "Ref.df", "F"):
            out[f"{r['term']}|{c}"] = (float(r[c]), "rel")
        out[f"{r['term']}|p"] = (float(r["p-value"]), "abs")
    return out


def run_case(spec: str) -> dict:
    """Fit one case in this process; return timings, memory and the table numbers."""
    engine, tokens, samples = spec.split(":")
    from synthetic.activations import make_synthetic_activations
    df = make_synthetic_activations(int(tokens), int(samples), seed=FLAGS.seed)
    t0 = time.perf_counter()
    if engine == "fast":
        from analysis.gamm.fast import fit_word_gamm_fast
        fit = fit_word_gamm_fast(df, ar1=FLAGS.ar1, full_vp=True)
    else:
        from analysis.gamm import fit_word_gamm
        fit = fit_word_gamm(df, ar1=FLAGS.ar1, engine="mgcv", nthreads=2)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    return {"engine": engine, "tokens": int(tokens), "samples": int(samples), "seconds": secs,
            "peak_gb": max(peak, peak_children), "rows": fit.n_rows,
            "numbers": {k: list(v) for k, v in _table_numbers(fit).items()}}


def _subprocess(spec: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), f"--case={spec}", f"--seed={FLAGS.seed}",
           f"--ar1={'true' if FLAGS.ar1 else 'false'}"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        return {"engine": spec.split(":")[0], "error": (res.stderr or res.stdout)[-800:]}
    return json.loads(lines[-1])


def max_differences(a: dict, b: dict) -> tuple:
    """(max relative difference of 'rel' numbers, max absolute p-value difference, worst key)."""
    rel, absd, worst = 0.0, 0.0, ""
    for key, (va, kind) in a["numbers"].items():
        if key not in b["numbers"]:
            continue
        vb = b["numbers"][key][0]
        if kind == "rel":
            d = abs(va - vb) / max(abs(vb), 1e-12)
            if d > rel:
                rel, worst = d, key
        else:
            absd = max(absd, abs(va - vb))
    return rel, absd, worst


def main(argv):
    del argv
    if FLAGS.case:
        print(json.dumps(run_case(FLAGS.case)))
        return
    cases = [f"fast:{FLAGS.tokens}:{FLAGS.samples}"]
    for t in FLAGS.mgcv_tokens:
        cases += [f"fast:{int(t)}:{FLAGS.samples}", f"mgcv:{int(t)}:{FLAGS.samples}"]
    for s in FLAGS.big_samples:
        cases.append(f"fast:{FLAGS.big_tokens}:{int(s)}")
    results = {}
    for spec in cases:
        print(f"running {spec} ...", flush=True)
        results[spec] = _subprocess(spec)
    print()
    print(f"{'engine':6} {'tokens':>6} {'samples':>7} {'rows':>9} {'seconds':>8} {'peak GB':>8} "
          f"{'max rel diff vs mgcv':>21} {'max |dp|':>9}  worst number")
    for spec in cases:
        r = results[spec]
        eng, tok, smp = spec.split(":")
        if "error" in r:
            print(f"{eng:6} {tok:>6} {smp:>7}  FAILED: {r['error'].strip().splitlines()[-1]}")
            continue
        diff = ""
        other = results.get(f"mgcv:{tok}:{smp}")
        if eng == "fast" and other and "error" not in other:
            rel, absd, worst = max_differences(r, other)
            diff = f"{rel:21.2e} {absd:9.1e}  {worst}"
        print(f"{eng:6} {tok:>6} {smp:>7} {r['rows']:>9} {r['seconds']:8.1f} "
              f"{r['peak_gb']:8.2f} {diff}")
    # The machine's speed in the same run: a reference for comparing these times elsewhere.
    from bench.common import matmul_rates
    mm = matmul_rates()
    ref_s = 2 * 4096 ** 3 / (mm["numpy"] * 1e9)
    print(f"\nmatmul reference (same run): numpy {mm['numpy']:.1f} GFLOP/s, TF {mm['tf']:.1f} "
          f"GFLOP/s; one 4096^3 float32 matmul = {ref_s:.2f} s; the paper-scale fit = "
          f"{results[cases[0]].get('seconds', float('nan')) / ref_s:.0f} such matmuls")
    sys.stdout.flush()


if __name__ == "__main__":
    app.run(main)
