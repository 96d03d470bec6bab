"""Running the ORIGINAL TensorFlow-1 training script for tools/make_tf1_reference.py: the
stand-ins it runs with (its loader fed, its optimizers noting each ``minimize`` call, its
``MonitoredTrainingSession`` a driver) and the drivers that decide what each of the loop's
``sess.run`` calls does (:class:`TrainingDriver`: the training run; :class:`StepDriver`: one
deterministic step from the checkpoint).  See make_tf1_reference.py's docstring.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import sys
import types
from typing import Dict, List, Optional

import numpy as np

from common.constants import SAMPLE_RATE

MODEL_FILES = {  # model -> (repository flag, model code, training script, its G/D/Q module name)
    "ciwgan": ("--fiwgan_repo", "cinfowavegan.py", "train_ciwgan.py", "cinfowavegan"),
    # train_fiwgan.py imports 'waveganNET', a file the repository does not have; the builders
    # it names are those of cinfowavegan.py, which is what the fiwGAN paper's code ran.
    "fiwgan": ("--fiwgan_repo", "cinfowavegan.py", "train_fiwgan.py", "waveganNET"),
    "wavegan": ("--wavegan_repo", "wavegan.py", "train_wavegan.py", "wavegan"),
}


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
