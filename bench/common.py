"""Shared helpers of the benchmark scripts: FLOP counting, timing, the matmul reference.

FLOP convention (issue 9): FLOP = 2 x multiply-accumulates of every conv, transposed conv and
dense layer (bias, activations, batch norm, phase shuffle, optimizers are not counted).  A
backward pass that needs weight and input gradients costs 2x the forward, one that needs input
gradients only 1x; the WGAN-GP gradient penalty costs 4x a D forward (forward, input
gradient, and the gradient of that w.r.t. D's weights).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np

# ------------------------------------------------------------------------------------------
# FLOP counting (pure functions of a WaveGANConfig)
# ------------------------------------------------------------------------------------------


def encoder_layer_flops(config, n_outputs: int) -> Dict[str, int]:
    """Forward FLOP per example of D's layout (D: n_outputs 1, Q: num_categ), by layer.

    downconv_i: 2 * T_out * K * C_in * C_out with C_in = nch (i = 0) or dim * 2^(i-1),
    C_out = dim * 2^i, T_out = the block's output length; output: 2 * (16 * C_last) * n_outputs.
    """
    out = {}
    length, c_in = config.slice_len, config.num_channels
    for i, stride in enumerate(config.strides()):
        length //= stride
        c_out = config.dim * 2 ** i
        out[f"downconv_{i}"] = 2 * length * config.kernel_len * c_in * c_out
        c_in = c_out
    out["output"] = 2 * length * c_in * n_outputs
    return out


def generator_layer_flops(config) -> Dict[str, int]:
    """Forward FLOP per example of G, by layer.

    z_project: 2 * latent_dim * 16 * dim * dim_mul.  upconv_i with upsample 'zeros'
    (transposed conv): 2 * T_in * K * C_in * C_out; with 'nn' (repeat, then a stride-1 conv):
    2 * T_out * K * C_in * C_out.  pp_filt: 2 * slice_len * pp_len * nch * nch.
    """
    c = config
    out = {"z_project": 2 * c.latent_dim * 16 * c.dim * c.dim_mul}
    widths = [c.dim * c.dim_mul // 2 ** (i + 1) for i in range(4)]
    if c.n_conv == 6:
        widths.append(c.dim)
    widths.append(c.num_channels)
    length, c_in = 16, c.dim * c.dim_mul
    for i, (width, stride) in enumerate(zip(widths, c.strides())):
        taps_at = length if c.upsample == "zeros" else length * stride
        out[f"upconv_{i}"] = 2 * taps_at * c.kernel_len * c_in * width
        length, c_in = length * stride, width
    if c.genr_pp:
        out["pp_filt"] = 2 * c.slice_len * c.genr_pp_len * c.num_channels * c.num_channels
    return out


def forward_flops(config) -> Dict[str, int]:
    """Forward FLOP per example of each network: {'G': .., 'D': .., 'Q': ..} (Q 0 if none)."""
    return {"G": sum(generator_layer_flops(config).values()),
            "D": sum(encoder_layer_flops(config, 1).values()),
            "Q": sum(encoder_layer_flops(config, config.num_categ).values())
            if config.has_q else 0}


def iteration_flops(config, batch: int, disc_nupdates: int = 5) -> Dict[str, int]:
    """Counted FLOP of one WGAN-GP training iteration (``disc_nupdates`` D + one G+Q update).

    Per example, with g, d, q the forward FLOP of G, D, Q:
      D update   = g (G forward, no gradient) + 3d (real: fwd + weight/input bwd)
                   + 3d (generated) + 4d (gradient penalty)                  = g + 10d
      G+Q update = g + 2g + 2g (forward, then one backward for G_loss and one for Q_loss)
                   + 2d (D forward + input-only backward) + 3q (Q forward + full backward)
    Returns {'d_update', 'gq_update', 'iteration'} in FLOP for the whole batch.
    """
    f = forward_flops(config)
    g, d, q = f["G"], f["D"], f["Q"]
    d_update = batch * (g + 10 * d)
    gq_update = batch * (5 * g + 2 * d + 3 * q) if config.has_q else batch * (3 * g + 2 * d)
    return {"d_update": d_update, "gq_update": gq_update,
            "iteration": disc_nupdates * d_update + gq_update}


def extraction_flops(config, batch: int) -> int:
    """Counted FLOP of one Q forward pass on ``batch`` examples (the extraction workload)."""
    return batch * forward_flops(config)["Q"]


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], object], iters: int, warmup: int = 1) -> List[float]:
    """Wall-clock seconds of ``iters`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def summarize(times: List[float], flop: float) -> Dict[str, float]:
    """min / median seconds and GFLOP/s at the min (the least-disturbed run)."""
    best = min(times)
    return {"min_s": best, "median_s": statistics.median(times),
            "gflops": flop / best / 1e9 if best > 0 else float("nan")}


def interleaved_min(fns: Dict[str, Callable[[], object]], rounds: int,
                    warmup: int = 1) -> Dict[str, List[float]]:
    """Time several candidates round-robin (a b c a b c ...) so that load from other users of
    the machine hits them alike.  Returns {name: [seconds per round]}."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


# ------------------------------------------------------------------------------------------
# The matmul reference
# ------------------------------------------------------------------------------------------


def matmul_rates(n: int = 4096, rounds: int = 3, seed: int = 0) -> Dict[str, float]:
    """float32 n^3 matmul GFLOP/s (2 n^3 FLOP, best of ``rounds``, interleaved) of numpy
    (its BLAS) and TensorFlow (eager ``tf.matmul``, result copied to numpy)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    times = interleaved_min({"numpy": lambda: a @ b,
                             "tf": lambda: tf.matmul(ta, tb).numpy()}, rounds)
    return {name: 2 * n ** 3 / min(t) / 1e9 for name, t in times.items()}


# ------------------------------------------------------------------------------------------
# Child processes measured by wall time and their own peak RSS (the benchmarks' one runner)
# ------------------------------------------------------------------------------------------


def run_measured(cmd: List[str], cwd: str, log_path: Optional[str] = None,
                 timeout: Optional[float] = None, env: Optional[Dict[str, str]] = None
                 ) -> Dict[str, object]:
    """Run ``cmd`` from ``cwd`` with ``cwd`` first on PYTHONPATH, stdout and stderr into
    ``log_path`` (a temporary file when None); kill it after ``timeout`` seconds.

    Returns {'rc', 'wall_s', 'peak_rss_mb', 'output'}: the peak RSS is the child's own
    ru_maxrss from os.wait4 (KiB on Linux), not the maximum over earlier children that
    RUSAGE_CHILDREN would give, so several measured runs in one process do not mix."""
    import os
    import subprocess
    import tempfile

    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in [cwd, child_env.get("PYTHONPATH", "")] if p)
    log = open(log_path, "w+") if log_path else tempfile.TemporaryFile(mode="w+")
    with log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=child_env, stdout=log,
                                stderr=subprocess.STDOUT)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    return {"rc": proc.returncode, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0,
            "output": output}


def wilson(k: int, n: int, z: float = 1.96) -> tuple:
    """95 % Wilson score interval of a proportion k / n ((nan, nan) when n is 0)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (float(mid - half), float(mid + half))
