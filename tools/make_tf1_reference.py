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
import builtins
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import types
import warnings
from typing import Dict, List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # common/ is plain Python: it imports in the TF 2.15 environment too
    sys.path.insert(0, ROOT)

from common.cli import ArgumentParser, run_main  # noqa: E402
from common.constants import SAMPLE_RATE  # noqa: E402
from common.errors import InputError  # noqa: E402
from common.outputs import OutputFolder  # noqa: E402

SCRIPT = "make_tf1_reference.py"
STAGE = "tf1-reference"
FULL_SIZE_LIMIT = 2048  # larger tensors of step_reference.npz are stored as samples + sums
MODEL_FILES = {  # model -> (repository flag, model code, training script, its G/D/Q module name)
    "ciwgan": ("--fiwgan_repo", "cinfowavegan.py", "train_ciwgan.py", "cinfowavegan"),
    # train_fiwgan.py imports 'waveganNET', a file the repository does not have; the builders
    # it names are those of cinfowavegan.py, which is what the fiwGAN paper's code ran.
    "fiwgan": ("--fiwgan_repo", "cinfowavegan.py", "train_fiwgan.py", "waveganNET"),
    "wavegan": ("--wavegan_repo", "wavegan.py", "train_wavegan.py", "wavegan"),
}
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


def session_config(v1, single_thread: bool = True):
    if single_thread:
        return v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return v1.ConfigProto()


class _Namespace(types.ModuleType):
    """A module that answers from ``base`` except for the names given as overrides."""

    def __init__(self, name, base, **overrides):
        super().__init__(name)
        self._base = base
        self.__dict__.update(overrides)

    def __getattr__(self, attr):
        return getattr(self._base, attr)


# --------------------------------------------------------------------------------------------
# What the original graph is made of (noted while the original code builds it)
# --------------------------------------------------------------------------------------------
class Minimized:
    """One ``optimizer.minimize`` call of the original: its loss, gradients and train op."""

    def __init__(self, optimizer, loss, grads_and_vars, train_op):
        self.optimizer, self.loss, self.train_op = optimizer, loss, train_op
        self.grads = [g for g, _ in grads_and_vars if g is not None]
        self.variables = [v for g, v in grads_and_vars if g is not None]
        self.role = {"G": "G", "D": "D"}.get(
            "+".join(sorted({v.op.name.split("/")[0] for v in self.variables})), "Q")


class GraphNotes:
    """The tensors of one original training graph, noted while ``train()`` builds it."""

    def __init__(self):
        self.calls: Dict[str, List[tuple]] = {"G": [], "D": [], "Q": []}
        self.minimized: Dict[str, Minimized] = {}
        self.x = None

    def wrap_builder(self, role, builder):
        def noted(inputs, *args, **kwargs):
            out = builder(inputs, *args, **kwargs)
            self.calls[role].append((inputs, out))
            return out
        return noted

    # What train() names locally, found from the noted calls (see the original's train()).
    @property
    def z(self):
        return self.calls["G"][0][0]

    @property
    def D_x(self):
        return self.calls["D"][0][1]

    @property
    def D_G_z(self):
        return self.calls["D"][1][1]

    def penalty_terms(self):
        """(alpha, slopes, gradient_penalty) of the WGAN-GP loss, read off the graph:
        interpolates = x + alpha * (G_z - x) is D's third input; D_loss ends in
        + LAMBDA * mean((slopes - 1) ** 2)."""
        interpolates = self.calls["D"][2][0]
        alpha = _operand(_operand(interpolates, "AddV2", 1), "Mul", 0)
        lambda_gp = _operand(self.minimized["D"].loss, "AddV2", 1)
        gp = [t for t in _op_of(lambda_gp, "Mul").inputs if t.op.type != "Const"][0]
        slopes = _operand(_operand(_operand(gp, "Mean", 0), "Pow", 0), "Sub", 0)
        return alpha, slopes, gp


def _op_of(tensor, op_type):
    if tensor.op.type != op_type:
        raise RuntimeError(f"the original graph is not shaped as expected: {tensor.name} comes "
                           f"from a {tensor.op.type} op, not {op_type}")
    return tensor.op


def _operand(tensor, op_type, index):
    return _op_of(tensor, op_type).inputs[index]


def recording_optimizer(cls, notes: GraphNotes):
    """The TF1 optimizer class unchanged, plus a note of each minimize() call."""

    class Recording(cls):
        def compute_gradients(self, *args, **kwargs):
            self._noted_gvs = super().compute_gradients(*args, **kwargs)
            return self._noted_gvs

        def minimize(self, loss, *args, **kwargs):
            train_op = super().minimize(loss, *args, **kwargs)
            entry = Minimized(self, loss, self._noted_gvs, train_op)
            notes.minimized[entry.role] = entry
            return train_op

    Recording.__name__ = cls.__name__
    return Recording


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def word_like_batch(rs: np.random.RandomState, batch: int, slice_len: int, nch: int):
    """Band-limited noise bursts with a syllable-like envelope, peak 1, after 25 ms of silence
    and zero-padded to slice_len (the shape of the project's prepared words)."""
    out = np.zeros([batch, slice_len, nch], np.float32)
    lead = SAMPLE_RATE // 40
    for b in range(batch):
        length = rs.randint(slice_len // 5, slice_len * 3 // 5)
        t = np.arange(length)
        envelope = np.zeros(length)
        n_syllables = rs.randint(1, 4)
        for centre in np.sort(rs.uniform(0.15, 0.85, n_syllables)) * length:
            width = rs.uniform(0.08, 0.2) * length
            envelope += np.exp(-0.5 * ((t - centre) / width) ** 2)
        spectrum = np.fft.rfft(rs.standard_normal(length))
        freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
        low = rs.uniform(100, 2000)
        spectrum[(freqs < low) | (freqs > low + rs.uniform(500, 5000))] = 0
        wave = np.fft.irfft(spectrum, length) * envelope
        wave /= np.abs(wave).max()
        for c in range(nch):
            out[b, lead:lead + length, c] = wave * (1.0 if c == 0 else rs.uniform(0.3, 1.0))
    return out


def as_x(batch: np.ndarray) -> np.ndarray:
    """The loader's [batch, slice_len, 1, nch] layout (train() keeps [:, :, 0])."""
    return batch[:, :, None, :]


def squeeze_channels(a: np.ndarray) -> np.ndarray:
    """[B, L, 1] -> [B, L] as the fixture stores audio; several channels are kept."""
    return a[..., 0] if a.shape[-1] == 1 else a


# --------------------------------------------------------------------------------------------
# Running the original training script
# --------------------------------------------------------------------------------------------
class _LoopDone(Exception):
    """Raised from the stand-in session to leave the original's endless training loop."""


class OriginalCode:
    """The user's clone, executed with the stand-ins described in the module docstring."""

    def __init__(self, opts, v1):
        self.opts, self.v1 = opts, v1
        self.model_module = self._exec(opts.model_path, MODEL_FILES[opts.model][3],
                                       {"tensorflow": v1})
        self.original_builders = {n: getattr(self.model_module, n) for n in
                                  ("WaveGANGenerator", "WaveGANDiscriminator", "WaveGANQ",
                                   "lrelu") if hasattr(self.model_module, n)}

    def _exec(self, path, name, modules, module=None):
        """Execute an original file as module ``name``; its ``import X`` of a name in
        ``modules`` gets that object (tensorflow -> tf.compat.v1, the stand-ins)."""
        real_import = builtins.__import__

        def hooked_import(mod, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and mod in modules:
                return modules[mod]
            return real_import(mod, globals, locals, fromlist, level)

        module = module or types.ModuleType(name)
        module.__file__ = path
        module.__dict__["__builtins__"] = dict(builtins.__dict__, __import__=hooked_import)
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, module.__dict__)
        return module

    def original_argv(self, train_dir, data_dir, phaseshuffle):
        o = self.opts
        argv = ["train", train_dir, f"--data_dir={data_dir}",
                f"--data_slice_len={o.slice_len}", f"--data_num_channels={o.num_channels}",
                f"--wavegan_latent_dim={o.latent_dim}", f"--wavegan_kernel_len={o.kernel_len}",
                f"--wavegan_dim={o.dim}", f"--wavegan_disc_nupdates={o.disc_nupdates}",
                "--wavegan_loss=wgan-gp", f"--wavegan_genr_upsample={o.upsample}",
                f"--wavegan_genr_pp_len={o.genr_pp_len}",
                f"--wavegan_disc_phaseshuffle={phaseshuffle}",
                f"--train_batch_size={o.batch_size}"]
        if o.model != "wavegan":
            argv.append(f"--num_categ={o.num_categ}")
        if o.batchnorm:
            argv.append("--wavegan_batchnorm")
        if o.genr_pp:
            argv.append("--wavegan_genr_pp")
        return argv

    def run_training_script(self, train_dir, data_dir, phaseshuffle, driver) -> GraphNotes:
        """``python train_*.py train ...`` as the user would run it, until the driver stops
        its loop.  Returns what the graph is made of; the script's prints are dropped."""
        v1, notes = self.v1, GraphNotes()
        driver.notes = notes
        m = self.model_module
        m.WaveGANGenerator = notes.wrap_builder("G", self.original_builders["WaveGANGenerator"])
        m.WaveGANDiscriminator = notes.wrap_builder(
            "D", self.original_builders["WaveGANDiscriminator"])
        if "WaveGANQ" in self.original_builders:
            m.WaveGANQ = notes.wrap_builder("Q", self.original_builders["WaveGANQ"])
        seed = self.opts.seed

        def seeded_reset_default_graph():
            # infer() resets the graph before train() builds its own: that new graph gets
            # the graph seed, so the initial weights are reproducible, and the builder calls
            # noted so far (infer()'s G) belong to the old graph.
            v1.reset_default_graph()
            v1.set_random_seed(seed)
            notes.calls = {role: [] for role in notes.calls}

        def loader_placeholder(fps, batch_size, slice_len, decode_num_channels=1, **_):
            notes.x = v1.placeholder(v1.float32, [batch_size, slice_len, 1,
                                                  decode_num_channels], name="x_fed")
            return notes.x

        tf_shim = _Namespace(
            "tensorflow", v1, reset_default_graph=seeded_reset_default_graph,
            train=_Namespace("tensorflow.train", v1.train,
                             AdamOptimizer=recording_optimizer(v1.train.AdamOptimizer, notes),
                             RMSPropOptimizer=recording_optimizer(v1.train.RMSPropOptimizer,
                                                                  notes),
                             MonitoredTrainingSession=driver))
        loader = types.ModuleType("loader")
        loader.decode_extract_and_batch = loader_placeholder
        name = MODEL_FILES[self.opts.model][3]
        argv = [self.opts.train_path] + self.original_argv(train_dir, data_dir, phaseshuffle)
        saved_argv = sys.argv
        seeded_reset_default_graph()
        np.random.seed(seed)  # random_z() and keras' random_binomial draw from numpy
        main = types.ModuleType("__main__")  # not in sys.modules: our own __main__ stays
        try:
            sys.argv = argv
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    self._exec(self.opts.train_path, "__main__",
                               {"tensorflow": tf_shim, "loader": loader, name: m}, main)
                except _LoopDone:
                    pass
                else:
                    raise RuntimeError("the original training loop ended without the driver")
        finally:
            sys.argv = saved_argv
            for n, f in self.original_builders.items():
                setattr(m, n, f)
        self.main_globals = main.__dict__
        shown = [a.replace(train_dir, "TRAIN_DIR").replace(data_dir, "DATA_DIR")
                 for a in argv[1:]]
        self.command = " ".join(["python", os.path.basename(self.opts.train_path)] + shown)
        return notes


# --------------------------------------------------------------------------------------------
# The stand-in for MonitoredTrainingSession
# --------------------------------------------------------------------------------------------
def _train_locals() -> dict:
    """The local variables of the original train(), whose loop is calling the driver."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "train" and "G_loss" in frame.f_locals:
            return frame.f_locals
        frame = frame.f_back
    raise RuntimeError("the driver was not called from the original train()")


class Driver:
    """Called as ``tf.train.MonitoredTrainingSession(...)`` by the original train(); its
    ``run`` receives the loop's ``sess.run`` calls.  Subclasses say what a call does."""

    def __init__(self, v1, opts, rs):
        self.v1, self.opts, self.rs = v1, opts, rs
        self.notes: Optional[GraphNotes] = None
        self.sess = None

    def __call__(self, **_monitored_session_kwargs):
        return self

    def __enter__(self):
        self.sess = self.v1.Session(config=session_config(self.v1))
        self.start()
        return self

    def __exit__(self, *exc):
        self.sess.close()
        return False

    def stop(self):
        raise _LoopDone()

    # helpers for subclasses
    def kind(self, fetches):
        ops = fetches if isinstance(fetches, (list, tuple)) else [fetches]
        for role in ("D", "G"):
            if any(f is self.notes.minimized[role].train_op for f in ops):
                return role
        raise RuntimeError(f"unexpected sess.run call of the original loop: {fetches}")

    def apply(self, sess, role, grad_values):
        """The original train op of ``role`` with its gradients given: the in-place update
        then uses exactly the gradients computed before it."""
        m = self.notes.minimized[role]
        sess.run(m.train_op, dict(zip(m.grads, grad_values)))

    def gq_roles(self):
        return ("G", "Q") if "Q" in self.notes.minimized else ("G",)


class TrainingDriver(Driver):
    """The original loop from initialisation: each D call is one D update (gradients, then
    Adam), each G call one G+Q update in the 'simultaneous' semantics; after
    ``opts.iterations`` G calls the checkpoint is saved and the loop stopped."""

    def __init__(self, v1, opts, rs, ckpt_dir):
        super().__init__(v1, opts, rs)
        self.ckpt_dir, self.iterations = ckpt_dir, 0
        self.prefix = None

    def start(self):
        self.sess.run(self.v1.global_variables_initializer())

    def run(self, fetches, feed_dict=None):
        feed = dict(feed_dict or {})
        feed[self.notes.x] = as_x(word_like_batch(self.rs, self.opts.batch_size,
                                                  self.opts.slice_len, self.opts.num_channels))
        if self.kind(fetches) == "D":
            grads = self.sess.run(self.notes.minimized["D"].grads, feed)
            self.apply(self.sess, "D", grads)
            return None
        roles = self.gq_roles()
        grads = self.sess.run([self.notes.minimized[r].grads for r in roles], feed)
        for role, values in zip(roles, grads):
            self.apply(self.sess, role, values)
        self.iterations += 1
        if self.iterations == self.opts.iterations:
            saver = self.v1.train.Saver(save_relative_paths=True)
            self.prefix = saver.save(self.sess, os.path.join(self.ckpt_dir, "model.ckpt"),
                                     global_step=self.v1.train.get_global_step(),
                                     write_meta_graph=False)
            self.stop()
        return None


class StepDriver(Driver):
    """From the checkpoint: one D update and one G+Q update in both semantics with explicit
    inputs, plus the original G+Q call repeated (its outcome is not ordered by the graph)."""

    def __init__(self, v1, opts, rs, prefix, work_dir):
        super().__init__(v1, opts, rs)
        self.prefix, self.work_dir = prefix, work_dir
        self.result: Dict[str, object] = {}

    def start(self):
        self.v1.train.Saver().restore(self.sess, self.prefix)

    def draw_z(self, n):
        """Latents from the original sampler: ciwGAN's random_z() (numpy, fed), fiwGAN's and
        WaveGAN's z ops (in the graph)."""
        random_z = _train_locals().get("random_z")  # a local function of train()
        draw = random_z or (lambda: self.sess.run(self.notes.z))
        return [np.asarray(draw(), np.float32) for _ in range(n)]

    def state(self, sess, prefixes):
        names = [v for v in self.v1.global_variables() if v.op.name.split("/")[0] in prefixes]
        return dict(zip([v.op.name for v in names], sess.run(names)))

    def beta_powers(self, role):
        return list(self.notes.minimized[role].optimizer._get_beta_accumulators())

    def run(self, fetches, feed_dict=None):
        v1, n, o = self.v1, self.notes, self.opts
        gq_start = self.state(self.sess, ("G", "Q"))
        z_d, z_g, z_ref = self.draw_z(3)
        x = word_like_batch(self.rs, o.batch_size, o.slice_len, o.num_channels)
        alpha_value = self.rs.uniform(size=[o.batch_size, 1, 1]).astype(np.float32)
        alpha, slopes, gp = n.penalty_terms()
        if alpha.shape.as_list() != [o.batch_size, 1, 1]:
            raise RuntimeError(f"alpha of the original graph has shape {alpha.shape}")
        feed = {n.x: as_x(x), n.z: z_d, alpha: alpha_value}
        d = n.minimized["D"]
        before = self.sess.run({"D_loss": d.loss, "gradient_penalty": gp, "D_x": n.D_x,
                                "D_G_z": n.D_G_z, "slopes": slopes, "grads": d.grads}, feed)
        self.apply(self.sess, "D", before.pop("grads"))
        d_state = self.state(self.sess, ("D",))
        d_state.update(zip([b.op.name for b in self.beta_powers("D")],
                           self.sess.run(self.beta_powers("D"))))
        gq_vars = self.gq_state_variables()
        post_d = v1.train.Saver().save(self.sess, os.path.join(self.work_dir, "post_d"),
                                       write_meta_graph=False)
        self.result = {"inputs": {"x": squeeze_channels(x), "z_d": z_d, "alpha": alpha_value,
                                  "z_g": z_g},
                       "z_ref": z_ref, "gq_start": gq_start, "d_outputs": before, "d_state": d_state, "gq": {}}
        for semantics in ("simultaneous", "sequential"):
            with v1.Session(config=session_config(v1)) as sess:
                v1.train.Saver().restore(sess, post_d)
                losses = self.gq_update(sess, z_g, semantics)
                self.result["gq"][semantics] = (losses, dict(zip(
                    [v.op.name for v in gq_vars], sess.run(gq_vars))))
        self.result["original_call"] = self.original_call(post_d, z_g, gq_vars)
        self.result["trainable"] = {v.op.name for v in v1.trainable_variables()}
        self.stop()

    def gq_state_variables(self):
        prefixes = ("G", "Q")
        names = [v for v in self.v1.global_variables() if v.op.name.split("/")[0] in prefixes]
        return names + self.beta_powers("G") + [self.v1.train.get_global_step()]

    def gq_update(self, sess, z_g, semantics):
        """The two semantics of the fixture README: gradients of G_loss and Q_loss at the same
        weights, then Adam on G, then RMSProp on Q and G ('simultaneous'); or Adam first, then
        Q_loss and its gradients at the updated G, then RMSProp ('sequential')."""
        feed = {self.notes.z: z_g}
        roles = self.gq_roles()
        mins = [self.notes.minimized[r] for r in roles]
        losses = {}
        if semantics == "simultaneous":
            values = sess.run({"losses": [m.loss for m in mins],
                               "grads": [m.grads for m in mins]}, feed)
            for role, loss, grads in zip(roles, values["losses"], values["grads"]):
                losses[f"{role}_loss"] = loss
                self.apply(sess, role, grads)
            return losses
        for role, m in zip(roles, mins):
            loss, grads = sess.run([m.loss, m.grads], feed)
            losses[f"{role}_loss"] = loss
            self.apply(sess, role, grads)
        return losses

    def original_call(self, post_d, z_g, gq_vars):
        """The original ``sess.run([G_loss, Q_loss, G_train_op, Q_train_op])``, repeated from
        the post-D state in the default and in a single-threaded session."""
        if "Q" not in self.notes.minimized or not self.opts.original_runs:
            return []
        mins = [self.notes.minimized[r] for r in ("G", "Q")]
        fetches = [m.loss for m in mins] + [m.train_op for m in mins]
        outcomes = []
        for single_thread in (False, True):
            runs = []
            for _ in range(self.opts.original_runs if not single_thread else
                           max(1, self.opts.original_runs // 2)):
                with self.v1.Session(config=session_config(self.v1, single_thread)) as sess:
                    self.v1.train.Saver().restore(sess, post_d)
                    sess.run(fetches, {self.notes.z: z_g})
                    runs.append(dict(zip([v.op.name for v in gq_vars], sess.run(gq_vars))))
            outcomes.append((single_thread, runs))
        return outcomes


# --------------------------------------------------------------------------------------------
# The forward reference: the original infer() graph, plus D and Q
# --------------------------------------------------------------------------------------------
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


def file_facts(path) -> str:
    """sha256 and, in a git clone, the commit: which original code made the reference."""
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"`{os.path.basename(path)}` (sha256 {digest}…)"


def repo_commit(path) -> str:
    try:
        out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "not a git clone"
    return f"commit {out.stdout.strip()}" if out.returncode == 0 else "not a git clone"


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


def max_abs(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray], keys=None) -> float:
    keys = a.keys() if keys is None else keys
    return max((float(np.max(np.abs(np.asarray(a[k], np.float64) - b[k])))
                for k in keys if np.size(a[k])), default=0.0)


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
                              shared_builders_check(opts.model_path, opts.wavegan_repo))
        readme.write(tmp)
    print(f"wrote {opts.out}: {os.path.basename(prefix)} ({variable_count} variables, "
          f"{len(ref)} forward keys, {len(step_ref)} step keys) in {time.time() - started:.0f} s")


# --------------------------------------------------------------------------------------------
# README.md
# --------------------------------------------------------------------------------------------
class ReadmeWriter:
    def __init__(self, opts, tf, ref, step_ref, result, listed, self_check, train_command,
                 step_command, ckpt_name, builders_note):
        self.o, self.tf, self.ref, self.step_ref, self.result = opts, tf, ref, step_ref, result
        self.listed, self.self_check = listed, self_check
        self.train_command, self.step_command = train_command, step_command
        self.ckpt_name, self.builders_note = ckpt_name, builders_note

    @property
    def model_name(self):
        return {"ciwgan": "ciwGAN", "fiwgan": "fiwGAN", "wavegan": "WaveGAN"}[self.o.model]

    def write(self, folder):
        files = ["checkpoint", f"{self.ckpt_name}.data-00000-of-00001", f"{self.ckpt_name}.index",
                 "reference.npz", "step_reference.npz", "variables.txt"]
        sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in files}
        text = "\n".join(self.sections(sizes)) + "\n"
        with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
            f.write(text)

    def sections(self, sizes):
        o = self.o
        train_file = os.path.basename(o.train_path)
        name = os.path.basename(o.out.rstrip("/"))
        yield f"# {name}\n"
        yield (f"Reference data produced by running the original TensorFlow-1 {self.model_name} "
               f"code ({train_file} and {os.path.basename(o.model_path)} of the user's clone, "
               f"{repo_commit(o.repo)}) with `tools/make_tf1_reference.py` under TensorFlow "
               f"{self.tf.__version__} (`tensorflow.compat.v1`, `disable_v2_behavior()`, Keras 2 "
               "`tf.compat.v1.layers`, reference variables as in TF1), CPU, oneDNN disabled, "
               "single-threaded sessions. Regenerating it with the same flags reproduces the "
               "arrays and checkpoint bit for bit.\n")
        yield f"Made with:\n\n```\n{self.regenerate_command()}\n```\n"
        yield "Original code used: " + ", ".join(
            file_facts(p) for p in (o.train_path, o.model_path)) + "."
        if self.builders_note:
            yield f"{self.builders_note}."
        yield ("\nThe training script ran as its own `__main__` (its argparse defaults, "
               "`infer()` then `train()`):\n")
        yield f"```\n{self.train_command}\n```\n"
        yield ("with three stand-ins: the `loader` pipeline is a placeholder that is fed the "
               "inputs below; `tf.train.MonitoredTrainingSession` is a driver that receives the "
               "loop's `sess.run` calls; the optimizer classes are the TF1 ones, subclassed to "
               "note each `minimize` call's loss, gradients and train op.\n")
        yield "## Configuration\n"
        model_line = {"ciwgan": "ciwGAN (train_ciwgan.py)", "fiwgan": "fiwGAN (train_fiwgan.py)",
                      "wavegan": "WaveGAN (train_wavegan.py)"}[o.model]
        rows = [("model", model_line)]
        if o.model != "wavegan":
            rows.append(("num_categ", o.num_categ))
        rows += [("latent_dim", o.latent_dim), ("kernel_len", o.kernel_len), ("dim", o.dim),
                 ("slice_len", o.slice_len), ("num_channels", o.num_channels),
                 ("batchnorm", o.batchnorm), ("upsample", o.upsample), ("genr_pp", o.genr_pp),
                 ("genr_pp_len", o.genr_pp_len), ("phaseshuffle", o.phaseshuffle),
                 ("loss", "wgan-gp"), ("batch_size", o.batch_size),
                 ("disc_nupdates", o.disc_nupdates)]
        yield "\n".join(f"- {k}: {v}" for k, v in rows)
        yield "- latent sampler: " + {
            "ciwgan": "`random_z()` of train_ciwgan.py (one-hot code in z[:, :num_categ], "
                      "category from `np.random.randint`; z[:, num_categ:] ~ U(-1, 1)), fed",
            "fiwgan": "the in-graph sampler of train_fiwgan.py (Bernoulli(0.5) bits in "
                      "z[:, :num_categ] from `tf.keras.backend.random_binomial`, the rest "
                      "U(-1, 1))",
            "wavegan": "the in-graph sampler of train_wavegan.py (U(-1, 1))"}[o.model]
        yield ("- losses and optimizers: those of the training script's graph (wgan-gp: "
               "G_loss = -mean(D(G_z)); D_loss = mean(D(G_z)) - mean(D(x)) + 10 * "
               "mean((||dD(x_hat)/dx_hat|| - 1)^2); G and D Adam(1e-4, 0.5, 0.9)"
               + ("; Q_loss as the script defines it, RMSProp(1e-4) on Q vars + G vars)\n"
                  if o.model != "wavegan" else ")\n"))
        yield (f"Checkpoint state: variables initialised (graph seed {o.seed}), then "
               f"{o.iterations} training iteration(s), each {o.disc_nupdates} D updates (the D "
               "train op with the gradients of the same `sess.run` computed before the "
               f"in-place update; phase shuffle radius {o.phaseshuffle}, in-graph random alpha) "
               "followed by one G+Q update (the 'simultaneous' update described below), on "
               "word-like inputs x (band-limited noise bursts with a syllable-like envelope, "
               "peak 1, after 25 ms of silence, zero-padded; numpy seed "
               f"{o.seed}). global_step = {o.iterations}.\n")
        yield "## Files\n"
        yield "| file | bytes |\n|---|---|"
        yield "\n".join(f"| `{f}` | {n} |" for f, n in sizes.items())
        yield "| `README.md` | (this file) |\n"
        yield (f"- `checkpoint`, `{self.ckpt_name}.*`: tf.train.Saver checkpoint of all global "
               "variables (weights, Adam and RMSProp slots, beta powers, global_step, batch-norm "
               f"variables if any). Read it with `tf.train.load_checkpoint('{self.ckpt_name}')` "
               "(no meta graph is stored).")
        yield ("- `variables.txt`: `tf.train.list_variables` of the checkpoint, one "
               "`name [shape]` per line.")
        yield "- `reference.npz`: forward reference (float32)."
        yield "- `step_reference.npz`: one-training-step reference (float32 unless stated)."
        yield ("- `.ciwgan-output.json`: the marker of this script's output (lets `--overwrite` "
               "replace it).\n")
        yield f"### Checkpoint variables ({len(self.listed)})\n"
        yield "```\n" + "\n".join(f"{n} {list(s)}" for n, s in self.listed) + "\n```\n"
        yield "### reference.npz\n"
        yield "| key | shape | dtype |\n|---|---|---|"
        yield "\n".join(f"| `{k}` | {list(v.shape)} | {v.dtype} |" for k, v in self.ref.items())
        yield ""
        yield ("- `z`: latent vectors from the sampler above. `G_z`: output of the INFERENCE "
               "generator, from the graph the original `infer()` exported (`infer/infer.meta`, "
               "`WaveGANGenerator(z, train=False)`), channel axis dropped when there is one "
               "channel.")
        yield ("- `g_z_project`, `g_upconv0`..: post-activation outputs of the inference "
               "generator (ReLU after z_project and each upconv block; the last entry is after "
               "tanh" + (", before the post-processing filter; `g_pp` = `G_z` after it)."
                         if o.genr_pp else ", equal to G_z)."))
        yield ("- `x`: word-like input batch (not generated by G). `D_x`, `D_G_z`: D logits for "
               "x and G_z" + ("; `Q_x`, `q_on_G_z`: Q logits for x and G_z." if o.model !=
                              "wavegan" else "."))
        yield ("- `d_convK`" + (" / `q_convK`" if o.model != "wavegan" else "") +
               " (K = 1.., conv1 = the first conv block): output of that conv block after "
               "lrelu(0.2) (noted at the original `lrelu` calls), before any phase shuffle, "
               "[B, time, channels]; `..._avg_convK`: their mean over channels.")
        yield "- All D and Q references use phase shuffle radius 0, so they are deterministic.\n"
        yield from self.step_section()
        yield "## Self-check\n"
        worst = max(self.self_check.values())
        yield ("The checkpoint was reloaded into a fresh graph and `reference.npz` recomputed: "
               + ", ".join(f"{k} {self.self_check[k]:.3g}" for k in
                           ("G_z", "D_x", "Q_x", "q_on_G_z") if k in self.self_check)
               + f"; over all keys {worst:.3g}.\n")
        yield "## Tolerances for a port\n"
        yield ("- forward outputs (`G_z`, logits, all conv maps and channel means): 1e-5 "
               "absolute.")
        yield ("- one-step updates (all variables and slots in `step_reference.npz`, and "
               "`@sample` values): 1e-5 relative (`np.testing.assert_allclose(new, ref, "
               "rtol=1e-5, atol=1e-8)` or similar); `@abssum`: 1e-5 relative.")

    def regenerate_command(self):
        o = self.o
        flags = [f"--model={o.model}"]
        if o.model != "wavegan":
            flags.append(f"--num_categ={o.num_categ}")
        flags += [f"--{k}={getattr(o, k)}" for k in
                  ("dim", "latent_dim", "kernel_len", "slice_len", "num_channels", "upsample",
                   "genr_pp_len", "phaseshuffle", "batch_size", "disc_nupdates", "iterations",
                   "seed")]
        flags += [f"--{k}" for k in ("batchnorm", "genr_pp") if getattr(o, k)]
        repo_flag = MODEL_FILES[o.model][0]
        return (f"python tools/make_tf1_reference.py {repo_flag}=REPO "
                + " ".join(flags) + f" --out={os.path.basename(o.out.rstrip('/'))}")

    def step_section(self):
        o, r = self.o, self.result
        yield "### step_reference.npz\n"
        yield (f"One deterministic training step from `{self.ckpt_name}`, built from the "
               f"original training graph with phase shuffle radius 0 (the training run used "
               f"{o.phaseshuffle}) and with `alpha` fed instead of `tf.random_uniform`:\n")
        yield f"```\n{self.step_command}\n```\n"
        yield (f"1. Inputs: `x` [{o.batch_size}, {o.slice_len}], `z_d` [{o.batch_size}, "
               f"{o.latent_dim}] (z for the D update), `alpha` [{o.batch_size},1,1], `z_g` "
               "(z for the G+Q update); z from the sampler above.")
        yield ("2. One D update (the original D train op, gradients computed before the "
               "in-place update): `D_loss`, `gradient_penalty`, `D_x`, `D_G_z`, `slopes` (values "
               "before the update), then the new value of every `D/...` variable and Adam slot, "
               "and D's beta powers. Keys are the checkpoint variable names.")
        yield ("3. Starting from the state after that D update, the G+Q update in two "
               "semantics, keys prefixed `simultaneous/` and `sequential/`: `G_loss`"
               + (", `Q_loss`" if o.model != "wavegan" else "") + ", then every `G/...`"
               + (" and `Q/...`" if o.model != "wavegan" else "") + " variable (weights, "
               "slots), `beta1_power`, `beta2_power` and `global_step` (int64) after it.")
        if o.model == "wavegan":
            yield ("   WaveGAN has no Q: both prefixes hold the same Adam update of G.")
        else:
            yield ("   - `simultaneous/`: the gradients of G_loss (G vars) and of Q_loss (Q vars "
                   "+ G vars) both at the post-D weights; then the Adam update of G, then the "
                   "RMSProp update of Q and G.")
            yield ("   - `sequential/`: the Adam update of G first (G_loss at the pre-update "
                   "weights), then Q_loss and its gradients at the updated G, then RMSProp.")
            if o.batchnorm:
                yield ("   - batch norm: G's moving statistics move at each G forward pass in "
                       "training (one pass in `simultaneous/`, two in `sequential/`).")
        yield (f"4. Size reduction: tensors with at most {FULL_SIZE_LIMIT} elements are stored "
               "in full under their key. Larger tensors are stored as `<key>@sample` (float32 "
               f"[{FULL_SIZE_LIMIT}]: the flattened C-order tensor at indices `sample_idx/<n>`, "
               f"n = number of elements; `np.sort(np.random.RandomState(n).choice(n, "
               f"{FULL_SIZE_LIMIT}, replace=False))`), `<key>@shape` (int64), `<key>@sum` and "
               "`<key>@abssum` (float64 sum and sum of absolute values).\n")
        gq = r["gq"]
        if o.model != "wavegan":
            (l_sim, s_sim), (l_seq, s_seq) = gq["simultaneous"], gq["sequential"]
            start = r["gq_start"]
            g_w = [k for k in s_sim if k in r["trainable"] and k.startswith("G/")]
            q_w = [k for k in s_sim if k in r["trainable"] and k.startswith("Q/")]
            yield ("Magnitudes: largest change of a G weight in the step "
                   f"{max_abs(s_sim, start, g_w):.3g}, of a Q weight "
                   f"{max_abs(s_sim, start, q_w):.3g}; largest difference simultaneous vs "
                   "sequential: G weights "
                   f"{max_abs(s_sim, s_seq, g_w):.3g}, Q weights {max_abs(s_sim, s_seq, q_w):.3g} "
                   f"(Q_loss {l_sim['Q_loss']:.7g} vs {l_seq['Q_loss']:.7g}). To tell the "
                   "semantics apart, compare the update (new - checkpoint value) rather than "
                   "the new value.\n")
            yield from self.original_call_section(s_sim, s_seq)

    def original_call_section(self, s_sim, s_seq):
        outcomes = self.result["original_call"]
        if not outcomes:
            return
        yield "#### What the original training loop does\n"
        yield ("The original loop runs `sess.run([G_loss, Q_loss, G_train_op, Q_train_op])`: "
               "`G_train_op` (Adam) and `Q_train_op` (RMSProp on Q vars + G vars) have no "
               "control dependency on each other and update the G variables in place, so the "
               "graph does not order them. That call was run from the same post-D state with "
               "`z_g` and compared with `simultaneous/` and `sequential/`:\n")
        weights = [k for k in s_sim if k in self.result["trainable"]]
        for single_thread, runs in outcomes:
            distinct = len({b"".join(np.asarray(v).tobytes() for v in run.values())
                            for run in runs})
            to_sim = max(max_abs(run, s_sim) for run in runs)
            to_sim_w = max(max_abs(run, s_sim, weights) for run in runs)
            over = max(sum(max_abs({k: run[k]}, {k: s_sim[k]}) > 1e-7 for k in run)
                       for run in runs)
            to_seq_w = min(max_abs(run, s_seq, weights) for run in runs)
            label = ("single-threaded session" if single_thread else
                     f"default session config ({os.cpu_count()} CPU cores)")
            yield (f"- {label}, {len(runs)} runs, {distinct} "
                   f"distinct outcome(s): max diff to simultaneous {to_sim:.3g} (weights only "
                   f"{to_sim_w:.3g}, {over} tensors differ by > 1e-7), min over runs of the max "
                   f"diff of weights to sequential {to_seq_w:.3g}.")
        yield ("\nThese numbers describe the op scheduling observed in this run, not a "
               "guarantee of the graph, and may change from run to run (every other number in "
               "this folder is reproducible); a port should treat the original call as unordered and "
               "implement one of the two documented semantics.\n")


def main(argv=None) -> int:
    return run_main(SCRIPT, lambda: make_reference(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
