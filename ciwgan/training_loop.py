"""The training run: data, checkpoints that never lose a run, TensorBoard, previews.

``run_training(config, options)`` is what ``train.py`` calls.  The folder ``train_dir`` holds:

    config.json          the model's WaveGANConfig (written once the models were built and
                         restored, checked on resume)
    flags.json           the run's options (the latest invocation; earlier ones in flags.log)
    ckpt-N.index/.data   tf.train.CheckpointManager checkpoints (models, optimizers, step, RNG)
    checkpoint           the manager's pointer to the latest complete checkpoint
    .lock                the OS lock of the running process (common.lock)
    events.out.tfevents.* TensorBoard scalars, histograms, audio
    preview/             one generated WAV per code at every checkpoint (fixed noise):
                         preview/step-N/code_3_z000.wav (ciwGAN), bits_0101_z000.wav (fiwGAN)

Robustness: one process at a time holds the folder (a second one is refused, naming the
first; the kernel frees the lock of a killed process); checkpoints every ``save_secs`` and on
SIGINT/SIGTERM (save, then return); a ``kill -9`` at any moment leaves the previous complete
checkpoint (TF writes the data first and the pointer file last, atomically); a resume takes the
newest checkpoint that can be read (an unreadable one is skipped with a warning and never
deleted; a lost pointer file is rebuilt from the ckpt-N files); a non-finite loss stops the run
with an error naming the step, without saving the bad state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import glob
import itertools
import json
import logging
import math
import os
import signal
import time
from typing import Optional

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from common import layout
from common.atomic import atomic_write_json, atomic_write_text
from common.constants import SAMPLE_RATE
from common.errors import InputError, one_line
from common.lock import folder_lock
from common.logs import tensorboard_hint

from wavegan.checkpoints import CONFIG_NAME, build_models, model_checkpoint
from wavegan.config import WaveGANConfig
from wavegan.checkpoint_files import (checkpoint_problem, checkpoint_step, folder_checkpoints,
                                      newest_readable)
from wavegan.tf1_checkpoint import load_tf1_checkpoint

from .cluster import multiworker_role
from .codes import NO_CODE, code_latents, sample_training_z
from .generation import wav_name
from .train_options import TrainOptions  # noqa: F401  (the loop's options; re-exported)
from .trainer import GANTrainer

log = logging.getLogger(__name__)

# Fields that define the architecture: a resumed run must agree on all of them.
ARCHITECTURE_FIELDS = ("model", "num_categ", "latent_dim", "kernel_len", "dim", "slice_len",
                       "num_channels", "batchnorm", "upsample", "genr_pp", "genr_pp_len")


class TrainingError(InputError, RuntimeError):
    """A run that cannot start or continue (message says why and what to do)."""


# --------------------------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------------------------
def check_compatible(saved: WaveGANConfig, requested: WaveGANConfig, train_dir: str) -> None:
    """Refuse to resume with another architecture, naming every differing field."""
    diffs = [f"{f}: saved {getattr(saved, f)!r}, requested {getattr(requested, f)!r}"
             for f in ARCHITECTURE_FIELDS if getattr(saved, f) != getattr(requested, f)]
    if diffs:
        raise TrainingError(
            f"{train_dir} holds a run with another configuration ({'; '.join(diffs)}). "
            "Resume with the same flags, or choose a new --train_dir.")


def saved_config(config: WaveGANConfig, options: TrainOptions) -> Optional[WaveGANConfig]:
    """The configuration to train given ``train_dir``'s config.json (None when there is none;
    the caller then checks the flags against the checkpoint).  Writes nothing."""
    config_path = os.path.join(options.train_dir, CONFIG_NAME)
    if not os.path.exists(config_path):
        return None
    try:
        saved = WaveGANConfig.load(config_path)
    except (OSError, ValueError, TypeError) as err:
        raise TrainingError(f"{config_path} cannot be read ({one_line(err)}); repair or remove "
                            "it (the flags are then checked against the checkpoint)") from None
    check_compatible(saved, config, options.train_dir)
    # The phase-shuffle radius is no part of the weights: the flag may change it on resume.
    return saved.replace(phaseshuffle_rad=config.phaseshuffle_rad)


def record_run(config: WaveGANConfig, options: TrainOptions) -> None:
    """config.json, flags.json and a line of flags.log: written only once the models were
    built and restored, so a refused resume leaves them as they were."""
    config.save(os.path.join(options.train_dir, CONFIG_NAME))
    record = layout.stamp({"config": config.to_dict(), "options": dataclasses.asdict(options),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}, layout.FLAGS_JSON)
    atomic_write_json(os.path.join(options.train_dir, "flags.json"), record)
    with open(os.path.join(options.train_dir, "flags.log"), "a") as f:
        f.write(json.dumps(record, default=str) + "\n")


# --------------------------------------------------------------------------------------------
# Checkpoints to resume from
# --------------------------------------------------------------------------------------------
# The names tf.train.CheckpointManager gives our checkpoints: only these are resumed from and
# listed for its rotation (never, say, a TF1 model.ckpt-N someone put in the folder).
OUR_CHECKPOINTS = r"ckpt-\d+"


def resume_checkpoint(train_dir: str) -> Optional[str]:
    """The checkpoint to resume from (None: a fresh run), with the ``checkpoint`` pointer file
    put right for tf.train.CheckpointManager when needed.

    The newest ckpt-N that can be read is taken; a newer unreadable one is skipped with one
    warning line and left in place.  When the pointer file is missing, damaged, or names
    another checkpoint (an unreadable one, a missing one), it is rebuilt from the ckpt-N files
    present that can be read, oldest to newest, with their files' times: the manager then
    resumes numbering and rotation (``keep_checkpoints``) over exactly those, so it never
    deletes a checkpoint it could not read.  No readable checkpoint among several: an error.
    """
    if not os.path.isdir(train_dir):
        return None
    latest, skipped = newest_readable(train_dir, OUR_CHECKPOINTS)
    if latest is None:
        if skipped:
            raise TrainingError(
                f"--train_dir={train_dir}: no checkpoint can be read ("
                + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
                + "); the files are left as they are: move them away to start afresh, or "
                "choose another --train_dir")
        return None
    state = tf.train.get_checkpoint_state(train_dir)
    if state is not None and os.path.realpath(state.model_checkpoint_path) == \
            os.path.realpath(latest):
        return latest
    bad = {p for p, _ in skipped}
    older = [p for p in folder_checkpoints(train_dir, OUR_CHECKPOINTS)
             if p not in bad and checkpoint_step(p) < checkpoint_step(latest)]
    unreadable = [p for p in older if checkpoint_problem(p) is not None]
    kept = sorted([p for p in older if p not in unreadable] + [latest], key=checkpoint_step)
    times = [os.path.getmtime(p + ".index") for p in kept]
    # Relative names (as the manager writes them) keep a copied folder usable; timestamps later
    # than last_preserved_timestamp put every kept checkpoint into the manager's rotation.
    pointer = tf.compat.v1.train.generate_checkpoint_state_proto(
        os.path.abspath(train_dir), os.path.basename(latest),
        all_model_checkpoint_paths=[os.path.basename(p) for p in kept],
        all_model_checkpoint_timestamps=times, last_preserved_timestamp=min(times) - 1.0)
    atomic_write_text(os.path.join(train_dir, "checkpoint"), text_format.MessageToString(pointer))
    log.warning("rebuilt %s from the readable checkpoints present (%s)%s",
                os.path.join(train_dir, "checkpoint"),
                ", ".join(os.path.basename(p) for p in kept),
                f"; left out unreadable {', '.join(os.path.basename(p) for p in unreadable)}"
                if unreadable else "")
    return latest


def set_aside_untracked(prefix: str, manager: tf.train.CheckpointManager) -> None:
    """Before the manager writes ``prefix``: when files of a checkpoint it does not track lie
    there (an unreadable one that was skipped, or one a killed run wrote without updating the
    pointer), rename them to ``<name>.set-aside[.K]`` instead of letting them be overwritten."""
    files = glob.glob(glob.escape(prefix) + ".index") + \
        glob.glob(glob.escape(prefix) + ".data-?????-of-?????")
    tracked = {os.path.realpath(p) for p in manager.checkpoints}
    if not files or os.path.realpath(prefix) in tracked:
        return
    target, k = prefix + ".set-aside", 1
    while glob.glob(glob.escape(target) + ".*"):
        k += 1
        target = f"{prefix}.set-aside.{k}"
    for path in files:
        os.replace(path, target + path[len(prefix):])
    log.warning("moved the untracked checkpoint %s aside to %s before writing a new one there",
                prefix, target)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def real_batches(options: TrainOptions, config: WaveGANConfig, info: dict, seed: int):
    """Endless iterator of real batches [B, slice_len] from the prepared dataset (``info``: its
    dataset.json)."""
    from corpus.dataset import iterate_checked, make_dataset

    if int(info.get("slice_len", config.slice_len)) != config.slice_len:
        raise TrainingError(f"{options.data_dir} holds {info['slice_len']}-sample clips but the "
                            f"model takes {config.slice_len}")
    ds = make_dataset(options.data_dir, split="train", batch_size=options.batch_size,
                      shuffle=True, repeat=True, normalize=options.normalize, seed=seed,
                      drop_remainder=True)
    ds = ds.map(lambda ex: ex["audio"], num_parallel_calls=tf.data.AUTOTUNE)
    # A truncated or corrupt shard becomes a DatasetIncompleteError naming it.
    return iterate_checked(iter(ds.prefetch(options.disc_nupdates)), options.data_dir, "train")


# --------------------------------------------------------------------------------------------
# Summaries and previews
# --------------------------------------------------------------------------------------------
def preview_latents(config: WaveGANConfig, n_noise: int, seed: int = 1234):
    """Fixed latents for the previews: ``(z float32 [N, latent_dim], code labels [N])``, every
    code (fiwGAN with > 4 bits: each bit on its own) paired with the same ``n_noise`` noise
    vectors (:func:`ciwgan.codes.code_latents`); WaveGAN: at least 4 noise vectors."""
    n = config.num_categ
    codes = None
    if config.model == "fiwgan" and n > 4:
        # All 2^n bit patterns would be too many to listen to: each bit on its own.
        codes = [1 << i for i in range(n)]
    per_code = max(n_noise, 4) if config.model == "wavegan" else n_noise
    return code_latents(config, codes, n_per_code=per_code, seed=seed)


def write_preview(G, z, labels, step: int, train_dir: str,
                  sample_rate: int = SAMPLE_RATE) -> str:
    """G(z) at inference as WAVs in preview/step-N/ (written atomically, named as generate.py
    names them) + TensorBoard audio, one summary per code (``preview/code_3``)."""
    import soundfile as sf

    audio = G(tf.constant(z), training=False).numpy()
    folder = os.path.join(train_dir, "preview", f"step-{step:08d}")
    tmp = folder + f".tmp-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    by_label = {}
    for clip, label in zip(audio, labels):
        by_label.setdefault(label, []).append(clip)
        sf.write(os.path.join(tmp, wav_name(label, len(by_label[label]) - 1)),
                 np.clip(clip, -1, 1), sample_rate, subtype="PCM_16")
    if os.path.exists(folder):
        import shutil
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    for label, clips in by_label.items():
        tf.summary.audio("preview" if label == NO_CODE else f"preview/{label}", np.stack(clips),
                         sample_rate, step=step, max_outputs=len(clips))
    return folder


def _finite_or_raise(values: dict, step: int) -> None:
    for key in ("D_loss", "G_loss", "Q_loss"):
        if key in values and not math.isfinite(float(values[key])):
            raise TrainingError(
                f"non-finite {key} = {float(values[key])} at step {step}; training stopped. "
                "The last good checkpoint is kept; lower the learning rate or check the data.")


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
class _StopRequest:
    """SIGINT/SIGTERM set a flag; the loop saves and returns at the next iteration."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum
        log.warning("received signal %d: saving a checkpoint and stopping", signum)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def is_multiworker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def make_strategy(name: str):
    """None (default device), a MirroredStrategy over all local GPUs (or CPUs if none), or a
    MultiWorkerMirroredStrategy over the machines TF_CONFIG names (every worker runs the same
    command; see docs/training.md, "Several machines").  Create it before any other
    TensorFlow work of the process."""
    if name == "none":
        return None
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        log.info("MirroredStrategy over %d replicas", strategy.num_replicas_in_sync)
        return strategy
    if name == "multiworker":
        _, role = multiworker_role()
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())
        log.info("MultiWorkerMirroredStrategy: %s, %d replicas in all", role,
                 strategy.num_replicas_in_sync)
        return strategy
    raise TrainingError(f"--distribute={name!r}: expected none, mirrored or multiworker")


def any_worker(strategy, flags):
    """The flags OR-ed over all workers (a collective every worker must call at the same point)
    so that time- and signal-driven decisions (summaries, saves, stopping) are taken by all of
    them at the same iteration; the flags as they are without several workers."""
    if not is_multiworker(strategy):
        return [bool(f) for f in flags]
    local = tf.constant([1 if f else 0 for f in flags], tf.int32)
    per_replica = strategy.experimental_distribute_values_from_function(lambda ctx: local)
    return [bool(v > 0) for v in strategy.reduce("SUM", per_replica, axis=None).numpy()]


def _check_same_step(strategy, step: int) -> None:
    """Every worker must start from the same checkpoint (the chief's)."""
    if not is_multiworker(strategy):
        return
    local = tf.constant([step], tf.int64)
    per_replica = strategy.experimental_distribute_values_from_function(lambda ctx: local)
    steps = strategy.gather(per_replica, axis=0).numpy()
    if steps.min() != steps.max():
        raise TrainingError(
            f"the workers start from different steps ({steps.min()} to {steps.max()}; this one "
            f"{step}): "
            "every worker must see the chief's --train_dir (a shared folder) to resume, or "
            "all must start afresh")


def build_run(config: WaveGANConfig, options: TrainOptions, strict: bool = False,
              strategy=None, is_chief: bool = True, save_dir: Optional[str] = None):
    """Models, trainer, checkpoint and manager; restores the checkpoint to resume from if any
    (:func:`resume_checkpoint`).  ``strict``: every value of that checkpoint must find its
    variable too (used when config.json is missing, so the flags are checked against the
    checkpoint).  A checkpoint that does not fit is a :class:`TrainingError`."""
    strategy = make_strategy(options.distribute)
    # Before the models: their initial weights are drawn from Keras' seeded generator.
    seed_everything(options.seed, options.deterministic)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        G, D, Q = build_models(config)
        if options.init_from:
            _, G, D, Q, info = load_tf1_checkpoint(options.init_from, config=config)
    trainer = GANTrainer(config, G, D, Q, loss=options.loss, disc_nupdates=options.disc_nupdates,
                         seed=options.seed, gq_semantics=options.gq_semantics,
                         jit_compile=options.xla, strategy=strategy)
    ckpt = model_checkpoint(G, D, Q, trainer=trainer)
    if is_chief:
        resume = resume_checkpoint(options.train_dir)
        manager = tf.train.CheckpointManager(ckpt, options.train_dir,
                                             max_to_keep=options.keep_checkpoints)
    else:
        # Read only: the chief puts a lost pointer file right.
        resume = (newest_readable(options.train_dir, OUR_CHECKPOINTS)[0]
                  if os.path.isdir(options.train_dir) else None)
        manager = tf.train.CheckpointManager(ckpt, save_dir, max_to_keep=1)
    if resume:
        # TensorFlow's logger quiet while a failed restore is dropped: as its objects are
        # collected it would list every value the restore left unmatched, on top of the
        # one-line error.
        tf_logger = tf.get_logger()
        level = tf_logger.level
        tf_logger.setLevel(logging.ERROR)
        try:
            problem = _restore(ckpt, resume, strict)
            if problem is not None:
                del ckpt, manager, trainer, G, D, Q
                gc.collect()
        finally:
            tf_logger.setLevel(level)
        if problem is not None:
            raise TrainingError(
                f"{resume} does not fit the requested model {_describe(config)}"
                + (f" ({CONFIG_NAME} is missing, so the flags were checked against the "
                   "checkpoint)" if strict else "")
                + f": {problem}. Resume with the flags of the run that wrote it, or choose a "
                "new --train_dir.")
        log.info("resumed from %s (step %d)", resume, int(trainer.step.numpy()))
    elif options.init_from:
        loaded = trainer.load_tf1_state(info["prefix"], strict=False)
        log.info("initialised from TF1 checkpoint %s (%d optimizer values, step %d)",
                 info["prefix"], loaded, int(trainer.step.numpy()))
    return trainer, ckpt, manager


def _restore(ckpt: tf.train.Checkpoint, prefix: str, strict: bool) -> Optional[str]:
    """Restore ``prefix`` into ``ckpt``; None on success, else why it does not fit."""
    status = None
    try:
        status = ckpt.restore(prefix)
        status.assert_existing_objects_matched()
        if strict:
            status.assert_consumed()
    # A variable of another shape is a ValueError, a missing or extra one an AssertionError.
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        if status is not None:
            status.expect_partial()
        return one_line(err)[:300].rstrip(".")
    return None


def _describe(config: WaveGANConfig) -> str:
    return ", ".join(f"{f}={getattr(config, f)!r}" for f in ARCHITECTURE_FIELDS)


def run_training(config: WaveGANConfig, options: TrainOptions, hold_lock: bool = True) -> dict:
    """Train until ``max_steps`` (or a signal).  Returns a summary dict.

    Holds ``train_dir``'s lock (:func:`common.lock.folder_lock`) for the whole run;
    ``hold_lock=False`` when the caller already holds it (``train.py`` takes it, after checking
    the folder against its inputs, before TensorFlow is imported)."""
    from corpus.dataset import read_dataset_info

    info = read_dataset_info(options.data_dir)  # an incomplete dataset fails before any work
    # --distribute=multiworker: only the chief takes the lock and writes into train_dir.
    is_chief = multiworker_role()[0] if options.distribute == "multiworker" else True
    if not hold_lock or not is_chief:
        return _train_locked(config, options, info, is_chief)
    with folder_lock(options.train_dir, "--train_dir"):
        return _train_locked(config, options, info, is_chief)


def _train_locked(config: WaveGANConfig, options: TrainOptions, info: dict,
                  is_chief: bool = True) -> dict:
    if options.distribute == "multiworker":
        # The collective runtime must start before any other TensorFlow work.
        strategy = make_strategy(options.distribute)
        if is_chief:
            return _train_strategy(config, options, info, strategy, True, None)
        import shutil
        import tempfile
        # A non-chief worker takes part in every (collective) save, into a worker-local
        # folder that is deleted at the end.
        save_dir = tempfile.mkdtemp(prefix="ciwgan-worker-")
        try:
            return _train_strategy(config, options, info, strategy, False, save_dir)
        finally:
            shutil.rmtree(save_dir, ignore_errors=True)
    return _train_strategy(config, options, info, None, True, None)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed what a run draws outside the trainer's own generator: Keras' global seed (Python's
    ``random``, numpy, TensorFlow's global seed and Keras' generator, which draws the initial
    weights).  ``deterministic``: TensorFlow's deterministic kernels too
    (``tf.config.experimental.enable_op_determinism``, for the whole process; an op with no
    deterministic kernel then raises instead of running)."""
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


# Q's accuracy on generated audio in the summary: the mean over this many last G/Q updates
# (one update sees one batch, 16-64 clips: too few for a stable number).
Q_ACCURACY_WINDOW = 50


def training_eta(step: int, max_steps: Optional[int], rate: Optional[float], elapsed: float,
                 max_seconds: Optional[float]):
    """``(seconds left, limit)``: when the run stops, by the step limit at ``rate`` iterations
    per second or by the time cap ``max_seconds`` (``elapsed`` spent), whichever comes first;
    ``limit`` is 'steps' or 'time'.  ``(None, None)`` when neither is known yet."""
    left = []
    if max_steps is not None and rate:
        left.append((max(0, max_steps - step) / rate, "steps"))
    if max_seconds is not None:
        left.append((max(0.0, max_seconds - elapsed), "time"))
    return min(left) if left else (None, None)


def training_bar(start_step: int, max_steps: Optional[int], max_seconds: Optional[float],
                 file=None):
    """The training progress bar (tqdm): iterations done out of ``max_steps``, with an ETA that
    the time cap ``max_seconds`` shortens when it comes first; with only ``max_seconds`` the
    total is the number of iterations expected by then at the current rate (``~N``)."""
    from tqdm import tqdm

    class TrainingBar(tqdm):
        @property
        def format_dict(self):
            d = super().format_dict
            done = d["n"] - d["initial"]
            rate = d["rate"] or (done / d["elapsed"] if done and d["elapsed"] > 0 else None)
            eta, limit = training_eta(d["n"], max_steps, rate, d["elapsed"], max_seconds)
            goal = "?" if max_steps is None else str(max_steps)
            if max_steps is None and eta is not None and rate:
                # Only the time cap: the bar fills with the time spent.
                d["total"] = d["n"] + int(round(eta * rate))
                goal = f"~{d['total']}"
            d["goal"] = goal
            d["eta"] = ("?" if eta is None else tqdm.format_interval(eta)
                        + (" time cap" if limit == "time" and max_steps is not None else ""))
            return d

    return TrainingBar(total=max_steps, initial=start_step, unit="it", dynamic_ncols=True,
                       file=file, bar_format="{l_bar}{bar}| {n_fmt}/{goal} "
                       "[{elapsed}<{eta}, {rate_fmt}{postfix}]")


def training_summary(result: dict) -> str:
    """The lines printed at the end of a run (``result`` as :func:`run_training` returns it)."""
    seconds = result["seconds"]
    done = result["step"] - result["start_step"]
    why = result["stopped_by"]
    if why == "max_steps":
        why = f"reached --max_steps={result['max_steps']}"
    elif why == "max_seconds":
        why = f"time cap --max_seconds={result['max_seconds']:g} reached" + (
            f" before --max_steps={result['max_steps']}"
            if result.get("max_steps") is not None else "")
    elif why == "signal":
        why = f"signal {result.get('stopped_by_signal')}"
    lines = [f"trained {done} iterations (step {result['start_step']} -> {result['step']}) in "
             f"{_clock(seconds)}, {done / seconds if seconds > 0 else 0.0:.2f} it/s; "
             f"stopped: {why}"]
    losses = [f"{key[:-5]} {result['last'][key]:.4g}" for key in ("D_loss", "G_loss", "Q_loss")
              if key in result["last"]]
    if losses:
        lines.append("last losses: " + ", ".join(losses))
    if result.get("q_accuracy") is not None:
        lines.append(f"Q accuracy on generated audio: {result['q_accuracy']:.2f} (mean of the "
                     f"last {result['q_accuracy_updates']} G/Q updates)")
    lines.append(f"checkpoint: {result['checkpoint']}")
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600
            else f"{seconds // 60}:{seconds % 60:02d}")


def _train_strategy(config: WaveGANConfig, options: TrainOptions, info: dict, strategy,
                    is_chief: bool, save_dir: Optional[str]) -> dict:
    if options.mixed_precision:
        from wavegan.runtime import use_mixed_precision; use_mixed_precision("train.py")  # noqa: E702
    saved = saved_config(config, options)
    config = saved or config
    trainer, ckpt, manager = build_run(config, options, strict=saved is None, strategy=strategy,
                                       is_chief=is_chief, save_dir=save_dir)
    start_step = int(trainer.step.numpy())
    _check_same_step(trainer.strategy, start_step)
    # A resumed run draws a fresh data order (seeded by the step) instead of replaying it.
    batches = real_batches(options, config, info, seed=options.seed + start_step)
    # The first batch is read before anything is written: a corrupt shard that fills the
    # shuffle buffer stops a new run with an empty folder.
    batches = itertools.chain([next(batches)], batches)
    if is_chief:
        record_run(config, options)
        writer = tf.summary.create_file_writer(options.train_dir)
    else:
        # Summaries and previews are the chief's; the other workers run the same code (the
        # same random draws) into a writer that writes nothing.
        writer = tf.summary.create_noop_writer()
    z_preview, preview_labels = preview_latents(config, options.preview_n)
    # The summaries' G_z audio comes from its own generator: drawing it from the trainer's
    # would make the training noise depend on when (by the clock) summaries are written.
    summary_rng = tf.random.Generator.from_seed(options.seed + 1_000_003)
    sample_rate = int(info.get("sample_rate", SAMPLE_RATE))
    print(f"Training {config.model} (dim {config.dim}, {config.num_categ} codes) from step "
          f"{start_step}"
          + (f". Monitor with: {tensorboard_hint(options.train_dir)}" if is_chief else
             f" (a non-chief worker: it writes nothing into {options.train_dir})"), flush=True)

    progress = None
    if options.progress and is_chief:
        progress = training_bar(start_step, options.max_steps, options.max_seconds)
    t_start = last_save = last_summary = time.time()
    t_rate, step_rate = time.time(), start_step
    values = {}
    q_accuracy = []
    stopped_by = None
    why = None
    saved_step = start_step

    def save(step):
        nonlocal saved_step
        if is_chief:
            set_aside_untracked(os.path.join(options.train_dir, f"ckpt-{step}"), manager)
        path = manager.save(checkpoint_number=step)  # on every worker (a collective save)
        saved_step = step
        if is_chief:
            with writer.as_default():
                write_preview(trainer.G, z_preview, preview_labels, step, options.train_dir,
                              sample_rate)
        return path

    with _StopRequest() as stop, writer.as_default():
        while options.max_steps is None or int(trainer.step.numpy()) < options.max_steps:
            try:
                xs = [next(batches) for _ in range(options.disc_nupdates)]
            except InputError:
                # A shard went bad mid-run: keep the iterations done since the last save.
                if int(trainer.step.numpy()) > saved_step:
                    save(int(trainer.step.numpy()))
                raise
            values = trainer.train_iteration(xs)
            step = int(trainer.step.numpy())
            _finite_or_raise(values, step)
            if "Q_accuracy" in values:
                q_accuracy = (q_accuracy + [float(values["Q_accuracy"])])[-Q_ACCURACY_WINDOW:]
            now = time.time()
            if progress is not None:
                progress.set_postfix(D=f"{float(values['D_loss']):.3f}",
                                     G=f"{float(values['G_loss']):.3f}",
                                     **({"Q": f"{float(values['Q_loss']):.3f}"}
                                        if "Q_loss" in values else {}), refresh=False)
                progress.update(1)
            # Several workers take these decisions together (any worker's clock or signal).
            summary_due, save_due, stop_due, time_up = any_worker(trainer.strategy, [
                now - last_summary >= options.summary_secs or step == start_step + 1,
                now - last_save >= options.save_secs, stop.signal is not None,
                options.max_seconds is not None and now - t_start >= options.max_seconds])
            if summary_due:
                rate = (step - step_rate) / max(now - t_rate, 1e-9)
                write_summaries(values, xs[-1], trainer, step, rate, sample_rate, summary_rng)
                last_summary, t_rate, step_rate = now, now, step
            if save_due:
                save(step)
                last_save = time.time()
            if stop_due:
                stopped_by = stop.signal  # None on a worker stopped by another one
                why = "signal" if stopped_by is not None else "another worker"
                break
            if time_up:
                why = "max_seconds"
                break
        else:
            why = "max_steps"
        step = int(trainer.step.numpy())
        # The same decision on every worker: the step, and the chief's folder state.
        if any_worker(trainer.strategy, [step > start_step or
                                         (is_chief and not manager.latest_checkpoint)])[0]:
            path = save(step)
        else:
            path = manager.latest_checkpoint
    seconds = time.time() - t_start
    if progress is not None:
        progress.close()
    writer.flush()
    last = {k: float(np.mean(v)) for k, v in values.items()}
    return {"step": int(trainer.step.numpy()), "checkpoint": path,
            "stopped_by_signal": stopped_by, "stopped_by": why,
            "start_step": start_step, "seconds": seconds,
            "max_steps": options.max_steps, "max_seconds": options.max_seconds,
            "last": {k: last[k] for k in ("D_loss", "G_loss", "Q_loss") if k in last},
            "q_accuracy": float(np.mean(q_accuracy)) if q_accuracy else None,
            "q_accuracy_updates": len(q_accuracy),
            "values": last}


def write_summaries(values: dict, x, trainer: GANTrainer, step: int, steps_per_sec: float,
                    sample_rate: int = SAMPLE_RATE, rng: Optional[tf.random.Generator] = None):
    """Scalars, histograms and audio of one iteration (the original's summaries and more).
    ``rng`` draws the G_z audio's latents (default: a fresh unseeded generator); never the
    trainer's, whose draws are the training run's."""
    scalar_keys = ("G_loss", "D_loss", "Q_loss", "gradient_penalty", "Q_accuracy", "x_rms",
                   "G_z_rms")
    for key in scalar_keys:
        if key in values:
            tf.summary.scalar(key, float(values[key]), step=step)
    if "D_x" in values:
        # The critic's Wasserstein estimate E[D(x)] - E[D(G(z))].
        tf.summary.scalar("wasserstein", float(np.mean(values["D_x"]) - np.mean(values["D_G_z"])),
                          step=step)
        tf.summary.histogram("D_x", values["D_x"], step=step)
        tf.summary.histogram("D_G_z", values["D_G_z"], step=step)
    if "slopes" in values:
        tf.summary.histogram("gp_slopes", values["slopes"], step=step)
    tf.summary.scalar("steps_per_sec", steps_per_sec, step=step)
    x = tf.convert_to_tensor(x)
    tf.summary.audio("x", x[:4, :, tf.newaxis], sample_rate, step=step, max_outputs=4)
    rng = rng if rng is not None else tf.random.Generator.from_non_deterministic_state()
    z = sample_training_z(trainer.config, min(4, int(x.shape[0])), rng)
    g_z = trainer.G(z, training=False)
    tf.summary.audio("G_z", g_z, sample_rate, step=step, max_outputs=4)
    for var in trainer.G.trainable_variables[:2] + trainer.D.trainable_variables[:2]:
        tf.summary.histogram(getattr(var, "path", var.name), var, step=step)
