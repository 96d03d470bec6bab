"""Benchmark: training iterations (5 D + 1 G+Q update) and the extraction forward pass.

    .venv/bin/python bench/train_step.py                          # dim 64, batch 16, default path
    .venv/bin/python bench/train_step.py --conv_impl=native,auto  # several paths, interleaved
    .venv/bin/python bench/train_step.py --layers                 # per-layer profile only
    .venv/bin/python bench/train_step.py --env_configs=default,onednn_off,intra1
                                            # settings that need a fresh process, one table
    .venv/bin/python bench/train_step.py --dim=8 --dispatch=single,fused   # issue 28
    git worktree add /tmp/ciwgan-base 2bebd54       # the code before issue 28, then:
    .venv/bin/python bench/train_step.py --dim=8 --baseline_tree=/tmp/ciwgan-base --rounds=3
                                            # that code and this one in child processes, A/B/A/B

Random data (uniform noise as "real" audio, random-initialised ciwGAN); no dataset needed.
Printed for each configuration: seconds per iteration (min and median over --iters after
--warmup), counted FLOP per iteration (bench/common.py's convention), achieved GFLOP/s,
numpy's and TF's float32 4096^3 matmul GFLOP/s, and ratio = achieved / numpy matmul rate;
the same for one Q forward pass on --extract_batch examples (the extraction workload).
Several --conv_impl values (and --dispatch values) are timed round-robin in one process (one
trainer each, sharing the models), so that load from other users of the machine hits them
alike.  --dispatch: 'fused' = one compiled function per iteration (the default since issue
28), 'single' = six calls (5 D updates + the G+Q update, the loop before).  'auto' measures
each layer's paths on this machine first (wavegan.conv_tuning, cached) unless --noconv_tune.
--baseline_tree runs another checkout's bench/train_step.py (e.g. a git worktree of the
commit before a change) and this one in alternating child processes and prints the ratio.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from bench import common  # noqa: E402

flags.DEFINE_integer("dim", 64, "model width")
flags.DEFINE_integer("batch", 16, "training batch size")
flags.DEFINE_integer("num_categ", 8, "ciwGAN categories")
flags.DEFINE_integer("iters", 3, "timed iterations per configuration")
flags.DEFINE_integer("warmup", 1, "untimed iterations first (tracing)")
flags.DEFINE_list("conv_impl", ["auto"],
                  "wavegan.fast_ops implementations to compare: auto, im2col, s2d, native; "
                  "pinned (auto, tuning off), pinned_before (the pinned rules of 2bebd54)")
flags.DEFINE_integer("extract_batch", 64, "batch of the extraction forward pass (0: skip)")
flags.DEFINE_integer("extract_iters", 5, "timed extraction forward passes")
flags.DEFINE_integer("matmul_n", 4096, "size of the matmul reference")
flags.DEFINE_integer("intra_threads", 0, "TF intra-op threads (0: TF's default)")
flags.DEFINE_integer("inter_threads", 0, "TF inter-op threads (0: TF's default)")
flags.DEFINE_boolean("layers", False, "only profile each conv layer's forward / backward")
flags.DEFINE_list("env_configs", [],
                  "run these named settings (see ENV_CONFIGS) each in a fresh process and "
                  "print one table")
flags.DEFINE_boolean("xla", False, "compile each update with XLA (jit_compile), as train.py --xla")
flags.DEFINE_boolean("mixed_precision", False, "mixed precision, the policy train.py "
                     "--mixed_precision chooses (wavegan.runtime.choose_precision_policy)")
flags.DEFINE_list("dispatch", ["fused"], "fused (one function per iteration), single (six "
                  "calls), xla (fused, compiled with XLA); several are timed round-robin")
flags.DEFINE_boolean("conv_tune", True, "'auto' takes the paths measured on this machine "
                     "(as train.py); --noconv_tune: the pinned rules (as --deterministic)")
flags.DEFINE_string("baseline_tree", None, "a checkout of the code to compare with (e.g. a git "
                    "worktree of the commit before): its bench and this one alternate in child "
                    "processes, --rounds times each")
flags.DEFINE_integer("rounds", 3, "child processes per side with --baseline_tree")
flags.DEFINE_boolean("json", False, "print one JSON line per configuration (used by "
                     "--env_configs)")
FLAGS = flags.FLAGS

# Settings that must be in place before TensorFlow starts: (environment, extra flags).
ENV_CONFIGS = {
    "default": ({}, []),
    "onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, []),
    "intra1": ({}, ["--intra_threads=1"]),
    "inter1": ({}, ["--inter_threads=1"]),
    "intra2_inter1": ({}, ["--intra_threads=2", "--inter_threads=1"]),
    "omp_tuned": ({"OMP_NUM_THREADS": "2", "KMP_BLOCKTIME": "0",
                   "KMP_AFFINITY": "granularity=fine,compact,1,0"}, []),
}


def make_models(dim, num_categ, seed=0):
    """A random-initialised ciwGAN (config, G, D, Q) at the default slice length."""
    import keras

    from wavegan import WaveGANConfig, build_models

    keras.utils.set_random_seed(seed)
    config = WaveGANConfig(model="ciwgan", num_categ=num_categ, dim=dim)
    return (config, *build_models(config))


def real_batches(config, batch, n, seed=1):
    """n float32 [batch, slice_len, 1] batches of uniform noise in [-1, 1)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (batch, config.slice_len, 1)).astype(np.float32)
            for _ in range(n)]


# Bench-only names beside wavegan.fast_ops' paths: 'auto' with tuning off (the pinned rules,
# as --deterministic), and the same with the rules of 2bebd54 (before issue 28), to compare
# paths in one process.
PINNED = ("pinned", "pinned_before")


@contextlib.contextmanager
def pinned_rules(fast_ops, before: bool):
    """'auto' with tuning off; ``before``: the pinned rules before issue 28 (im2col on any
    short conv, native on every longer transposed conv)."""
    saved = fast_ops.AUTO_MIN_IM2COL_CH, fast_ops.AUTO_MAX_S2D_TCONV_CH
    if before:
        fast_ops.AUTO_MIN_IM2COL_CH, fast_ops.AUTO_MAX_S2D_TCONV_CH = 0, 0
    try:
        with fast_ops.conv_settings("auto", False):
            yield
    finally:
        fast_ops.AUTO_MIN_IM2COL_CH, fast_ops.AUTO_MAX_S2D_TCONV_CH = saved


def bench_iterations(config, G, D, Q, impls, batch, iters, warmup, dispatches=("fused",)):
    """{name: [seconds per iteration]} with one GANTrainer per (impl, dispatch), timed
    round-robin; name = impl, or impl/dispatch when several dispatches are compared."""
    import inspect

    from ciwgan.trainer import GANTrainer
    from wavegan import fast_ops

    xs = real_batches(config, batch, 5)
    # Older checkouts (--baseline_tree) have neither fused iterations nor tuning.
    fusable = "fused_iteration" in inspect.signature(GANTrainer).parameters
    trainers = {}
    for impl in impls:
        for dispatch in dispatches:
            extra = {"fused_iteration": dispatch != "single"} if fusable else {}
            name = impl if len(dispatches) == 1 else f"{impl}/{dispatch}"
            trainers[name] = (impl, GANTrainer(config, G, D, Q, seed=0,
                                               jit_compile=FLAGS.xla or dispatch == "xla",
                                               **extra))

    def one(name):
        impl, trainer = trainers[name]
        # The implementation is read while tracing (the first call); later calls reuse it.
        if impl in PINNED:
            settings = pinned_rules(fast_ops, impl == "pinned_before")
        elif hasattr(fast_ops, "conv_settings"):
            settings = fast_ops.conv_settings(impl, FLAGS.conv_tune)
        else:
            settings = fast_ops.conv_impl(impl)
        with settings:
            out = trainer.train_iteration(xs)
        return {k: v.numpy() for k, v in out.items()}

    return common.interleaved_min({name: (lambda n=name: one(n)) for name in trainers},
                                  rounds=iters, warmup=warmup)


def bench_extraction(config, Q, impls, batch, iters):
    """{impl: [seconds per Q forward pass on batch examples]} (training=False)."""
    import numpy as np
    import tensorflow as tf

    from wavegan import fast_ops

    x = tf.constant(np.random.default_rng(2).uniform(-1, 1, (batch, config.slice_len))
                    .astype(np.float32))
    fns = {}
    for impl in impls:
        fn = tf.function(lambda x: Q(x, training=False))
        with (pinned_rules(fast_ops, impl == "pinned_before") if impl in PINNED
              else fast_ops.conv_impl(impl)):
            fn(x)  # traced with this impl

        fns[impl] = (lambda fn=fn: fn(x).numpy())
    return common.interleaved_min(fns, rounds=iters, warmup=1)


def profile_layers(config, batch, impls, rounds=3):
    """Per conv layer of D and G: forward and forward+backward (input and weight gradients)
    milliseconds for each impl, timed round-robin.  Returns rows of dicts."""
    import numpy as np
    import tensorflow as tf

    from wavegan import fast_ops

    rng = np.random.default_rng(0)
    d, k = config.dim, config.kernel_len
    specs = []
    length, c_in = config.slice_len, 1
    for i in range(5):
        specs.append((f"D downconv_{i}", "conv", length, c_in, d * 2 ** i))
        length, c_in = length // 4, d * 2 ** i
    widths = [d * 16 // 2 ** (i + 1) for i in range(4)] + [1]
    length, c_in = 16, d * 16
    for i, w in enumerate(widths):
        specs.append((f"G upconv_{i}", "tconv", length, c_in, w))
        length, c_in = length * 4, w
    rows = []
    for name, kind, length, c_in, c_out in specs:
        x = tf.constant(rng.standard_normal((batch, length, c_in)).astype(np.float32))
        shape = (k, c_in, c_out) if kind == "conv" else (k, c_out, c_in)
        w = tf.Variable((rng.standard_normal(shape) * 0.05).astype(np.float32))
        op = fast_ops.conv1d if kind == "conv" else fast_ops.conv1d_transpose
        fns = {}
        for impl in impls:
            def fwd(x, op=op):
                return op(x, w, 4)

            def fwd_bwd(x, op=op):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = op(x, w, 4)
                # The forward's sum is returned too, or grappler prunes the unused forward.
                return [tf.reduce_sum(y)] + tape.gradient(
                    y, [x, w], output_gradients=tf.ones_like(y))

            with fast_ops.conv_impl(impl):
                f1 = tf.function(fwd, autograph=False)
                f2 = tf.function(fwd_bwd, autograph=False)
                f1(x), f2(x)
            fns[(impl, "fwd")] = lambda f=f1: f(x).numpy()
            fns[(impl, "fwd+bwd")] = lambda f=f2: [g.numpy() for g in f(x)]
        times = common.interleaved_min(fns, rounds=rounds, warmup=0)
        row = {"layer": name, "in": f"{length}x{c_in}", "out_ch": c_out}
        for (impl, what), t in times.items():
            row[f"{impl} {what}"] = min(t) * 1e3
        rows.append(row)
    return rows


def configure_threads():
    import tensorflow as tf
    if FLAGS.intra_threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_threads)
    if FLAGS.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_threads)


def run_here():
    """Benchmark in this process; returns a list of result dicts (one per conv impl)."""
    import tensorflow as tf

    from wavegan import fast_ops
    for impl in FLAGS.conv_impl:
        if impl not in PINNED:
            fast_ops._check_impl(impl, "--conv_impl")
    configure_threads()
    config, G, D, Q = make_models(FLAGS.dim, FLAGS.num_categ)
    if FLAGS.layers:
        rows = profile_layers(config, FLAGS.batch, FLAGS.conv_impl)
        cols = [c for c in rows[0] if c not in ("layer", "in", "out_ch")]
        print(f"per-layer ms (dim {FLAGS.dim}, batch {FLAGS.batch}; min of 3, round-robin)")
        print(f"{'layer':16s} {'in':>11s} {'out':>5s} " + " ".join(f"{c:>18s}" for c in cols))
        for r in rows:
            print(f"{r['layer']:16s} {r['in']:>11s} {r['out_ch']:5d} "
                  + " ".join(f"{r[c]:18.1f}" for c in cols))
        return []
    mm_before = common.matmul_rates(FLAGS.matmul_n)
    it_times = bench_iterations(config, G, D, Q, FLAGS.conv_impl, FLAGS.batch, FLAGS.iters,
                                FLAGS.warmup, FLAGS.dispatch)
    ex_times = (bench_extraction(config, Q, FLAGS.conv_impl, FLAGS.extract_batch,
                                 FLAGS.extract_iters) if FLAGS.extract_batch else {})
    mm_after = common.matmul_rates(FLAGS.matmul_n)
    try:
        from wavegan.conv_tuning import chosen, machine_key
        paths = chosen()
        if paths and not FLAGS.json:
            print(f"conv paths measured on {machine_key()} (ms: forward + backward):")
            for key, c in sorted(paths.items()):
                print(f"  {key:45s} {c['impl']:7s} "
                      + " ".join(f"{k} {v:.1f}" for k, v in sorted(c["ms"].items())))
    except ImportError:  # an older checkout (--baseline_tree)
        pass
    mm = {k: max(mm_before[k], mm_after[k]) for k in mm_before}
    it_flop = common.iteration_flops(config, FLAGS.batch)["iteration"]
    ex_flop = common.extraction_flops(config, FLAGS.extract_batch)
    results = []
    for name in it_times:
        impl = name.split("/")[0]
        res = {"conv_impl": name, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
               "intra": tf.config.threading.get_intra_op_parallelism_threads(),
               "inter": tf.config.threading.get_inter_op_parallelism_threads(),
               "numpy_matmul_gflops": mm["numpy"], "tf_matmul_gflops": mm["tf"],
               "iteration_gflop": it_flop / 1e9}
        s = common.summarize(it_times[name], it_flop)
        res.update(iter_min_s=s["min_s"], iter_median_s=s["median_s"], iter_gflops=s["gflops"],
                   iter_ratio=s["gflops"] / mm["numpy"])
        if ex_times:
            e = common.summarize(ex_times[impl], ex_flop)
            res.update(extract_gflop=ex_flop / 1e9, extract_min_s=e["min_s"],
                       extract_median_s=e["median_s"], extract_gflops=e["gflops"],
                       extract_ratio=e["gflops"] / mm["numpy"])
        results.append(res)
    return results


def print_table(results, title):
    print(title)
    print(f"{'config':28s} {'s/it min':>9s} {'median':>7s} {'GFLOP/s':>8s} {'ratio':>6s} "
          f"{'extract s':>9s} {'GFLOP/s':>8s} {'ratio':>6s} {'numpy mm':>9s} {'TF mm':>6s}")
    for r in results:
        name = r.get("name", r["conv_impl"])
        print(f"{name:28s} {r['iter_min_s']:9.2f} {r['iter_median_s']:7.2f} "
              f"{r['iter_gflops']:8.1f} {r['iter_ratio']:6.2f} "
              f"{r.get('extract_min_s', float('nan')):9.3f} "
              f"{r.get('extract_gflops', float('nan')):8.1f} "
              f"{r.get('extract_ratio', float('nan')):6.2f} "
              f"{r['numpy_matmul_gflops']:9.1f} {r['tf_matmul_gflops']:6.1f}")


def child_args() -> list:
    """The flags a child bench takes from this one: model, timing and reference sizes."""
    return [f"--dim={FLAGS.dim}", f"--batch={FLAGS.batch}", f"--num_categ={FLAGS.num_categ}",
            f"--iters={FLAGS.iters}", f"--warmup={FLAGS.warmup}",
            f"--conv_impl={','.join(FLAGS.conv_impl)}", f"--matmul_n={FLAGS.matmul_n}"]


def run_env_configs():
    """Each named setting in a fresh process (oneDNN and thread pools are fixed at start)."""
    unknown = [n for n in FLAGS.env_configs if n not in ENV_CONFIGS]
    if unknown:
        raise app.UsageError(f"--env_configs: unknown {unknown}; known: {sorted(ENV_CONFIGS)}")
    passthrough = child_args() + [f"--extract_batch={FLAGS.extract_batch}",
                                  f"--extract_iters={FLAGS.extract_iters}"]
    results = []
    for name in FLAGS.env_configs:
        env_add, extra = ENV_CONFIGS[name]
        env = dict(os.environ, **env_add)
        # numpy's BLAS keeps all cores whatever OMP_* says, so the reference stays comparable.
        env.setdefault("OPENBLAS_NUM_THREADS", str(os.cpu_count()))
        cmd = [sys.executable, os.path.abspath(__file__), "--json"] + passthrough + extra
        print(f"[{name}] {' '.join(f'{k}={v}' for k, v in env_add.items())} "
              f"{' '.join(extra)}", flush=True)
        results += child_rows(cmd, name, f"--env_configs {name}", env=env)
    return results


def child_rows(cmd, prefix: str, what: str, **run_kwargs) -> list:
    """Run a child bench (``cmd``, its ``--json`` rows on stdout) and return its rows, each
    named ``<prefix>/<conv_impl>`` and printed as it comes; RuntimeError naming ``what``
    with the child's stderr when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **run_kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    rows = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            r["name"] = f"{prefix}/{r['conv_impl']}"
            rows.append(r)
            print("  " + json.dumps(r), flush=True)  # partial results as they come
    return rows


def run_baseline():
    """This checkout's bench and --baseline_tree's, alternating in child processes (A B A B
    ...), each child --iters timed iterations after --warmup; returns the result rows and
    prints the ratio of the baseline's time to this code's (min and median over children)."""
    ours = os.path.abspath(__file__)
    theirs = os.path.join(os.path.abspath(FLAGS.baseline_tree), "bench", "train_step.py")
    common_args = ["--json"] + child_args() + ["--extract_batch=0"]
    sides = {"baseline": [theirs] + common_args,
             "this": [ours] + common_args + [f"--dispatch={FLAGS.dispatch[0]}",
                                             "--conv_tune" if FLAGS.conv_tune
                                             else "--noconv_tune"]}
    rows = {side: [] for side in sides}
    for k in range(FLAGS.rounds):
        for side, args in sides.items():
            rows[side] += child_rows([sys.executable] + args, f"{side}#{k + 1}", side,
                                     cwd=os.path.dirname(os.path.dirname(args[0])))
    for impl in FLAGS.conv_impl:
        best = {side: min(r["iter_min_s"] for r in rows[side] if r["conv_impl"] == impl)
                for side in sides}
        med = {side: sorted(r["iter_median_s"] for r in rows[side]
                            if r["conv_impl"] == impl)[len(rows[side]) // 2 // len(FLAGS.conv_impl)]
               for side in sides}
        print(f"{impl}: baseline {best['baseline']:.3f} s/it (median of children's medians "
              f"{med['baseline']:.3f}), this {best['this']:.3f} ({med['this']:.3f}): "
              f"speed-up {best['baseline'] / best['this']:.2f}x "
              f"(medians {med['baseline'] / med['this']:.2f}x)")
    return rows["baseline"] + rows["this"]


def main(argv):
    del argv
    from wavegan.runtime import describe_devices
    print(describe_devices("bench/train_step.py"), flush=True)
    if FLAGS.mixed_precision:
        from wavegan.runtime import use_mixed_precision
        use_mixed_precision("bench/train_step.py")
    if FLAGS.baseline_tree:
        results = run_baseline()
    elif FLAGS.env_configs:
        results = run_env_configs()
    else:
        results = run_here()
        if FLAGS.json:
            for r in results:
                print(json.dumps(r))
            return
    if results:
        flop = results[0]["iteration_gflop"]
        print_table(results, f"dim {FLAGS.dim}, batch {FLAGS.batch}, {FLAGS.num_categ} codes: "
                             f"{flop:.0f} GFLOP counted per iteration (5 D + 1 G+Q update); "
                             + (f"extraction = Q forward, batch {FLAGS.extract_batch}; "
                                if FLAGS.extract_batch and not FLAGS.baseline_tree else "")
                             + "ratio = GFLOP/s / numpy matmul GFLOP/s")


if __name__ == "__main__":
    app.run(main)
