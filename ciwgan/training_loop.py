"""The training run: a short loop of iterations with hooks around it (:mod:`ciwgan.loop_hooks`:
checks, progress, summaries, checkpoints with previews; the model is keras-io's wgan_gp
example and its GANMonitor callback).

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
import gc
import itertools
import logging
import os
import signal
import time
from typing import Optional

import tensorflow as tf

from common.constants import SAMPLE_RATE
from common.errors import InputError, one_line
from common.lock import folder_lock
from common.logs import tensorboard_hint

from wavegan.checkpoints import CONFIG_NAME, build_models, model_checkpoint
from wavegan.config import WaveGANConfig
from wavegan.runtime import exact_numerics_on
from wavegan.checkpoint_files import newest_readable
from wavegan.tf1_checkpoint import load_tf1_checkpoint

from .cluster import multiworker_role
from .distribution import any_worker, check_same_step, make_strategy
from .loop_hooks import CheckpointHook, LossMonitor, ProgressHook, SummaryHook
from .previews import preview_latents
from .run_folder import (OUR_CHECKPOINTS, TrainingError, describe, record_run,
                         resume_checkpoint, saved_config)
from .train_options import TrainOptions  # noqa: F401  (the loop's options; re-exported)
from .trainer import GANTrainer

log = logging.getLogger(__name__)


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


class StopRequest:
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
                         jit_compile=options.xla, strategy=strategy,
                         # The exact path keeps the six calls the TF1 fixtures were checked with.
                         fused_iteration=not exact_numerics_on())
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
                f"{resume} does not fit the requested model {describe(config)}"
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


def conv_paths(options: TrainOptions):
    """The run's conv paths (:mod:`wavegan.fast_ops`), as a context: ``--conv_impl`` when
    given; 'auto' takes the paths measured on this machine (:mod:`wavegan.conv_tuning`) unless
    ``--deterministic`` or the exact path pins them (the same on every machine), or
    $WAVEGAN_CONV_TUNE says otherwise."""
    from wavegan import fast_ops

    if options.deterministic or exact_numerics_on():
        tune = False
    else:
        tune = None if os.environ.get(fast_ops.TUNE_ENV_VAR) else True
    return fast_ops.conv_settings(options.conv_impl, tune)


def run_training(config: WaveGANConfig, options: TrainOptions, hold_lock: bool = True) -> dict:
    """Train until ``max_steps`` (or a signal).  Returns a summary dict.

    Holds ``train_dir``'s lock (:func:`common.lock.folder_lock`) for the whole run;
    ``hold_lock=False`` when the caller already holds it (``train.py`` takes it, after checking
    the folder against its inputs, before TensorFlow is imported)."""
    from corpus.dataset import read_dataset_info

    info = read_dataset_info(options.data_dir)  # an incomplete dataset fails before any work
    # --distribute=multiworker: only the chief takes the lock and writes into train_dir.
    is_chief = multiworker_role()[0] if options.distribute == "multiworker" else True
    with conv_paths(options):
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


def _train_strategy(config: WaveGANConfig, options: TrainOptions, info: dict, strategy,
                    is_chief: bool, save_dir: Optional[str]) -> dict:
    if options.mixed_precision:
        from wavegan.runtime import use_mixed_precision; use_mixed_precision("train.py")  # noqa: E702
    saved = saved_config(config, options)
    config = saved or config
    trainer, ckpt, manager = build_run(config, options, strict=saved is None, strategy=strategy,
                                       is_chief=is_chief, save_dir=save_dir)
    start_step = int(trainer.step.numpy())
    check_same_step(trainer.strategy, start_step)
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
    sample_rate = int(info.get("sample_rate", SAMPLE_RATE))
    print(f"Training {config.model} (dim {config.dim}, {config.num_categ} codes) from step "
          f"{start_step}"
          + (f". Monitor with: {tensorboard_hint(options.train_dir)}" if is_chief else
             f" (a non-chief worker: it writes nothing into {options.train_dir})"), flush=True)

    t_start = time.time()
    monitor = LossMonitor()
    saver = CheckpointHook(trainer, manager, options, start_step, t_start, is_chief,
                           *preview_latents(config, options.preview_n), sample_rate)
    # The summaries' G_z audio comes from its own generator: drawing it from the trainer's
    # would make the training noise depend on when (by the clock) summaries are written.
    summaries = SummaryHook(trainer, options, start_step, t_start, sample_rate,
                            tf.random.Generator.from_seed(options.seed + 1_000_003))
    every = [monitor] + ([ProgressHook(start_step, options.max_steps, options.max_seconds)]
                         if options.progress and is_chief else [])
    with StopRequest() as stop, writer.as_default():
        why = _loop(trainer, batches, options, every, [summaries, saver], stop, t_start)
        stopped_by = stop.signal if why == "signal" else None
        step = int(trainer.step.numpy())
        # The same decision on every worker: the step, and the chief's folder state.
        if any_worker(trainer.strategy, [step > start_step or
                                         (is_chief and not manager.latest_checkpoint)])[0]:
            path = saver.save(step)
        else:
            path = manager.latest_checkpoint
    seconds = time.time() - t_start
    for hook in every:
        hook.on_end()
    writer.flush()
    return {"step": step, "checkpoint": path, "stopped_by_signal": stopped_by,
            "stopped_by": why, "start_step": start_step, "seconds": seconds,
            "max_steps": options.max_steps, "max_seconds": options.max_seconds,
            **monitor.result()}


def _loop(trainer: GANTrainer, batches, options: TrainOptions, every: list, timed: list,
          stop: StopRequest, t_start: float) -> str:
    """Iterations until the step limit, the time cap, a signal or another worker stops the run;
    returns why ('max_steps', 'max_seconds', 'signal', 'another worker').  ``every``: hooks
    called after each iteration; ``timed``: hooks called when due (decided by all workers
    together); the last of them saves checkpoints."""
    saver = timed[-1]
    step = int(trainer.step.numpy())
    while options.max_steps is None or step < options.max_steps:
        try:
            xs = [next(batches) for _ in range(options.disc_nupdates)]
        except InputError:
            # A shard went bad mid-run: keep the iterations done since the last save.
            if step > saver.saved_step:
                saver.save(step)
            raise
        values = trainer.train_iteration(xs)
        step = int(trainer.step.numpy())
        now = time.time()
        for hook in every:
            hook.on_iteration(step, values, xs, now)
        # Several workers take these decisions together (any worker's clock or signal).
        *due, stop_due, time_up = any_worker(trainer.strategy, [
            hook.due(now, step) for hook in timed] + [
            stop.signal is not None,
            options.max_seconds is not None and now - t_start >= options.max_seconds])
        for hook, is_due in zip(timed, due):
            if is_due:
                hook.on_iteration(step, values, xs, now)
        if stop_due:  # stop.signal is None on a worker stopped by another one
            return "signal" if stop.signal is not None else "another worker"
        if time_up:
            return "max_seconds"
    return "max_steps"
