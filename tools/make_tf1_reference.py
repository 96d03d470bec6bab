#!/usr/bin/env python3
"""Write a TF1 reference folder (checkpoint + outputs) by running the ORIGINAL TensorFlow-1 code.

The faithfulness tests compare our TF2 port with a checkpoint and outputs written by the
original ciwGAN / fiwGAN / WaveGAN code.  This script makes such a folder from the user's own
clones of gbegus/fiwGAN-ciwGAN and chrisdonahue/wavegan, in the layout of
``shared/fixtures/tf1_ciwgan_dim8`` (``checkpoint``, ``model.ckpt-N.*``, ``reference.npz``,
``step_reference.npz``, ``variables.txt``, ``README.md``).

It runs in a SEPARATE TensorFlow 2.15 environment (``tf.compat.v1`` graph mode, Keras 2
``tf.layers``, reference variables as in TF1), never in the project's .venv:

    python3.11 -m venv ~/tf215 && ~/tf215/bin/pip install 'tensorflow-cpu==2.15.*' numpy
    ~/tf215/bin/python tools/make_tf1_reference.py --fiwgan_repo=fiwGAN-ciwGAN \\
        --wavegan_repo=wavegan --out=work/fixtures/tf1_ciwgan_dim8

Nothing of the original code is copied here.  The original training script runs as its own
``__main__`` (argparse defaults, ``infer()`` then ``train()``), with three stand-ins, because
the reference needs fixed inputs and a fixed number of steps:

* ``loader``: its data pipeline is replaced by a placeholder of the shape it returns; the
  driver feeds word-like batches into it;
* ``tf.train.MonitoredTrainingSession``: replaced by a driver that receives the loop's own
  ``sess.run`` calls (so the original sampler, losses and train ops are used) and stops it
  after the requested iterations;
* ``tf.train.AdamOptimizer`` / ``RMSPropOptimizer``: the TF1 classes, subclassed only to note
  the loss, gradients and train op of each ``minimize`` call.

See docs/reference.md.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
import warnings
from typing import Dict, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # common/ is plain Python: it imports in the TF 2.15 environment too
    sys.path.insert(0, ROOT)

from common.cli import ArgumentParser, run_main  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.outputs import OutputFolder  # noqa: E402
# README.md's text is the template tools/tf1_reference_readme.md
from tools.tf1_reference_readme import ReadmeWriter, max_abs, repo_commit  # noqa: E402
# The original code run with its stand-ins, and the drivers of its session
from tools.tf1_reference_run import (MODEL_FILES, OriginalCode, StepDriver,  # noqa: E402
                                     TrainingDriver, session_config, squeeze_channels,
                                     word_like_batch)

SCRIPT = "make_tf1_reference.py"
STAGE = "tf1-reference"
FULL_SIZE_LIMIT = 2048  # larger tensors of step_reference.npz are stored as samples + sums
SHARED_BUILDERS = ("conv1d_transpose", "WaveGANGenerator", "lrelu", "apply_phaseshuffle",
                   "WaveGANDiscriminator")


class ToolInputError(InputError):
    """A flag, repository or environment the reference cannot be made with."""


def parse_args(argv) -> argparse.Namespace:
    ap = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True,
                    help="reference folder to write, e.g. work/fixtures/tf1_ciwgan_dim8")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace a reference folder this script wrote before")
    ap.add_argument("--fiwgan_repo", help="clone of gbegus/fiwGAN-ciwGAN (ciwGAN, fiwGAN)")
    ap.add_argument("--wavegan_repo", help="clone of chrisdonahue/wavegan (WaveGAN; for "
                    "ciwGAN/fiwGAN its G and D are checked against cinfowavegan.py's)")
    ap.add_argument("--model", choices=sorted(MODEL_FILES), default="ciwgan")
    ap.add_argument("--num_categ", type=int, default=8,
                    help="categories (ciwGAN) or bits (fiwGAN)")
    ap.add_argument("--dim", type=int, default=8, help="--wavegan_dim of the original")
    ap.add_argument("--latent_dim", type=int, default=100)
    ap.add_argument("--kernel_len", type=int, default=25)
    ap.add_argument("--slice_len", type=int, choices=[16384, 32768, 65536], default=16384)
    ap.add_argument("--num_channels", type=int, default=1)
    ap.add_argument("--batchnorm", action="store_true")
    ap.add_argument("--upsample", choices=["zeros", "nn"], default="zeros")
    ap.add_argument("--genr_pp", action="store_true", help="post-processing filter")
    ap.add_argument("--genr_pp_len", type=int, default=512)
    ap.add_argument("--phaseshuffle", type=int, default=2,
                    help="phase-shuffle radius of the training iterations")
    ap.add_argument("--batch_size", type=int, default=4)
    ap.add_argument("--disc_nupdates", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=3,
                    help="training iterations before the checkpoint is written")
    ap.add_argument("--seed", type=int, default=1001,
                    help="graph seed (initial weights) and numpy seed (inputs, latents)")
    ap.add_argument("--original_runs", type=int, default=4,
                    help="times the original G+Q sess.run call is repeated per session "
                         "config to report its (unordered) outcome in README.md; 0: skip")
    args = ap.parse_args(argv)
    for flag, minimum in (("dim", 1), ("latent_dim", 2), ("kernel_len", 1), ("num_channels", 1),
                          ("genr_pp_len", 1), ("phaseshuffle", 0), ("batch_size", 1),
                          ("disc_nupdates", 1), ("iterations", 1), ("original_runs", 0),
                          ("num_categ", 1)):
        if getattr(args, flag) < minimum:
            raise ToolInputError(f"--{flag}={getattr(args, flag)}: must be >= {minimum}")
    if args.model != "wavegan" and args.num_categ >= args.latent_dim:
        raise ToolInputError(f"--num_categ={args.num_categ}: must be below --latent_dim="
                              f"{args.latent_dim} (the code occupies z[:, :num_categ])")
    if args.batchnorm and args.batch_size < 2:
        raise ToolInputError("--batch_size=1 with --batchnorm: batch statistics need >= 2")
    repo_flag, model_file, train_file, _ = MODEL_FILES[args.model]
    repo = getattr(args, repo_flag[2:])
    if not repo:
        raise ToolInputError(f"{repo_flag} is required for --model={args.model}")
    for flag, path, needed in ((repo_flag, repo, (model_file, train_file)),
                               ("--wavegan_repo", args.wavegan_repo, ("wavegan.py",))):
        if not path:
            continue
        if not os.path.isdir(path):
            raise ToolInputError(f"{flag}={path}: no such folder")
        for name in needed:
            if not os.path.isfile(os.path.join(path, name)):
                raise ToolInputError(f"{flag}={path}: has no {name} (is it a clone of the "
                                      "original repository?)")
    args.repo = os.path.abspath(repo)
    args.model_path = os.path.join(args.repo, model_file)
    args.train_path = os.path.join(args.repo, train_file)
    return args


# --------------------------------------------------------------------------------------------
# TensorFlow 2.15 as TF1
# --------------------------------------------------------------------------------------------
def import_tf1():
    """tf.compat.v1 with v2 behaviour off, as the original ran; oneDNN off for bit-stable
    numbers (set before TensorFlow starts)."""
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ToolInputError(f"{sys.executable}: TensorFlow is not installed ({err}); run "
                              "this script with a TensorFlow 2.15 environment "
                              "(docs/reference.md)") from err
    v1 = tf.compat.v1
    # Keras 2 warns at every tf.layers call of the original code and TF1 names each
    # deprecated API: both are expected here and would bury the script's one line of output.
    warnings.filterwarnings("ignore", message=r".*is deprecated", category=UserWarning)
    v1.logging.set_verbosity(v1.logging.ERROR)
    try:
        v1.layers.conv1d  # noqa: B018 - Keras 3 (TF >= 2.16) has no tf.layers
    except (AttributeError, ImportError, ValueError) as err:
        raise ToolInputError(f"{sys.executable}: TensorFlow {tf.__version__} has no "
                              "tf.compat.v1.layers (Keras 3); run this script with TensorFlow "
                              "2.15 (docs/reference.md)") from err
    v1.disable_v2_behavior()
    return tf, v1


def forward_reference(code: OriginalCode, v1, infer_meta, prefix, x, z):
    """reference.npz for inputs x [B, L, nch] and z: G as the original infer() exports it
    (train=False), D and Q with phase shuffle 0, every conv block after its activation."""
    args = code.main_globals["args"]
    m = code.model_module
    ref: Dict[str, np.ndarray] = {"z": z, "x": squeeze_channels(x)}
    graph = v1.Graph()
    with graph.as_default():
        v1.set_random_seed(code.opts.seed)
        v1.train.import_meta_graph(infer_meta)
        z_t, G_z_t = graph.get_tensor_by_name("z:0"), graph.get_tensor_by_name("G_z:0")
        g_acts = [op.outputs[0] for op in graph.get_operations()
                  if op.name.startswith("G/") and op.type in ("Relu", "Tanh")]
        x_t = v1.placeholder(v1.float32, x.shape, name="x_ref")
        nets = {}
        for role, scope, builder, kwargs in (
                ("d", "D", "WaveGANDiscriminator", args.wavegan_d_kwargs),
                ("q", "Q", "WaveGANQ", getattr(args, "wavegan_q_kwargs", None))):
            if kwargs is None:
                continue
            activations = []

            def noted_lrelu(inputs, alpha=0.2, activations=activations):
                activations.append(code.original_builders["lrelu"](inputs, alpha))
                return activations[-1]

            m.lrelu = noted_lrelu  # the builders look lrelu up in their module
            try:
                with v1.variable_scope(scope):
                    out = code.original_builders[builder](x_t, **dict(kwargs,
                                                                     phaseshuffle_rad=0))
            finally:
                m.lrelu = code.original_builders["lrelu"]
            nets[role] = (out, activations)
        with v1.Session(config=session_config(v1)) as sess:
            v1.train.Saver().restore(sess, prefix)
            G_z, acts = sess.run([G_z_t, g_acts], {z_t: z})
            ref["G_z"] = squeeze_channels(G_z)
            names = ["g_z_project"] + [f"g_upconv{i}" for i in range(len(acts) - 1)]
            ref.update(zip(names, acts))
            if code.opts.genr_pp:
                ref["g_pp"] = G_z
            for role, (out, activations) in nets.items():
                on_x, maps = sess.run([out, activations], {x_t: x})
                on_g = sess.run(out, {x_t: G_z})
                logits = {"d": ("D_x", "D_G_z"), "q": ("Q_x", "q_on_G_z")}[role]
                ref[logits[0]], ref[logits[1]] = on_x, on_g
                for k, a in enumerate(maps, 1):
                    ref[f"{role}_conv{k}"] = a
                    ref[f"{role}_avg_conv{k}"] = a.mean(-1)
    return {k: np.asarray(v, np.float32) for k, v in ref.items()}


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def reduce_tensors(values: Dict[str, np.ndarray], prefix: str, out: Dict[str, np.ndarray]):
    """Store ``values`` under ``prefix`` as the fixture format says: small tensors in full,
    larger ones as a fixed sample of their flattened values, their shape, sum and |sum|."""
    for name, value in values.items():
        value = np.asarray(value)
        key = prefix + name
        if value.size <= FULL_SIZE_LIMIT:
            out[key] = value
            continue
        n = value.size
        idx_key = f"sample_idx/{n}"
        if idx_key not in out:
            out[idx_key] = np.sort(np.random.RandomState(n).choice(
                n, FULL_SIZE_LIMIT, replace=False)).astype(np.int64)
        out[key + "@sample"] = value.reshape(-1)[out[idx_key]]
        out[key + "@shape"] = np.asarray(value.shape, np.int64)
        out[key + "@sum"] = np.float64(value.astype(np.float64).sum())
        out[key + "@abssum"] = np.float64(np.abs(value.astype(np.float64)).sum())
    return out


def step_reference(result) -> Dict[str, np.ndarray]:
    # The inputs are stored in full: a port feeds them.
    out: Dict[str, np.ndarray] = {k: np.asarray(v) for k, v in result["inputs"].items()}
    reduce_tensors(result["d_outputs"], "", out)
    reduce_tensors(result["d_state"], "", out)
    for semantics, (losses, state) in result["gq"].items():
        reduce_tensors({**losses, **state}, semantics + "/", out)
    return out


def save_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def shared_builders_check(model_path, wavegan_repo) -> Optional[str]:
    """Whether the G/D builders of cinfowavegan.py are those of chrisdonahue/wavegan."""
    if not wavegan_repo or model_path.endswith("wavegan.py"):
        return None

    def functions(path):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        return {n.name: ast.dump(n) for n in tree.body if isinstance(n, ast.FunctionDef)}

    ours, theirs = functions(model_path), functions(os.path.join(wavegan_repo, "wavegan.py"))
    differ = [n for n in SHARED_BUILDERS if ours.get(n) != theirs.get(n)]
    if differ:
        return (f"{', '.join(differ)} of {os.path.basename(model_path)} DIFFER from "
                f"wavegan.py of chrisdonahue/wavegan ({repo_commit(wavegan_repo)})")
    return (f"{', '.join(SHARED_BUILDERS)} of {os.path.basename(model_path)} are the same "
            f"code (same syntax tree) as wavegan.py of chrisdonahue/wavegan "
            f"({repo_commit(wavegan_repo)})")


# --------------------------------------------------------------------------------------------
def make_reference(opts) -> None:
    started = time.time()
    folder = OutputFolder(opts.out, STAGE, overwrite=opts.overwrite,
                          inputs={"--fiwgan_repo": opts.fiwgan_repo,
                                  "--wavegan_repo": opts.wavegan_repo})
    tf, v1 = import_tf1()
    code = OriginalCode(opts, v1)
    with folder as tmp, tempfile.TemporaryDirectory(prefix="tf1_reference_") as work:
        train_dir, data_dir = os.path.join(work, "train"), os.path.join(work, "data")
        os.makedirs(data_dir)
        with open(os.path.join(data_dir, "fed_by_make_tf1_reference.txt"), "w") as f:
            f.write("The original main() needs a file here; the inputs are fed instead.\n")
        # 1. training run: initialisation, `iterations` iterations, checkpoint
        training = TrainingDriver(v1, opts, np.random.RandomState(opts.seed), tmp)
        code.run_training_script(train_dir, data_dir, opts.phaseshuffle, training)
        train_command = code.command
        prefix = training.prefix
        variable_count = len(v1.global_variables())
        # 2. one step from the checkpoint, phase shuffle 0 and alpha given
        step = StepDriver(v1, opts, np.random.RandomState(opts.seed + 1), prefix, work)
        code.run_training_script(os.path.join(work, "train_step"), data_dir, 0, step)
        step_command = code.command
        result = step.result
        # 3. forward reference through the original infer() graph (written in step 1)
        infer_meta = os.path.join(train_dir, "infer", "infer.meta")
        x_ref = word_like_batch(np.random.RandomState(opts.seed + 2), opts.batch_size,
                                opts.slice_len, opts.num_channels)
        ref = forward_reference(code, v1, infer_meta, prefix, x_ref, result["z_ref"])
        # self-check: the checkpoint in a fresh graph gives the same outputs
        again = forward_reference(code, v1, infer_meta, prefix, x_ref, result["z_ref"])
        self_check = {k: max_abs({k: ref[k]}, {k: again[k]}) for k in ref}
        step_ref = step_reference(result)
        save_npz(os.path.join(tmp, "reference.npz"), ref)
        save_npz(os.path.join(tmp, "step_reference.npz"), step_ref)
        listed = v1.train.list_variables(prefix)
        with open(os.path.join(tmp, "variables.txt"), "w") as f:
            f.write("".join(f"{name} {list(shape)}\n" for name, shape in listed))
        readme = ReadmeWriter(opts, tf, ref, step_ref, result, listed, self_check,
                              train_command, step_command, os.path.basename(prefix),
                              shared_builders_check(opts.model_path, opts.wavegan_repo),
                              MODEL_FILES[opts.model][0], FULL_SIZE_LIMIT)
        readme.write(tmp)
    print(f"wrote {opts.out}: {os.path.basename(prefix)} ({variable_count} variables, "
          f"{len(ref)} forward keys, {len(step_ref)} step keys) in {time.time() - started:.0f} s")


def main(argv=None) -> int:
    return run_main(SCRIPT, lambda: make_reference(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
