"""The train stage (``train.py``): ``run(options)`` checks the run's folder, inputs and
dataset, takes the folder's lock, builds the model's configuration and hands over to the
training loop (:func:`ciwgan.training_loop.run_training`).

Everything that can refuse the run does so before TensorFlow is imported (a few seconds at
most): the options' ranges (:class:`ciwgan.train_options.TrainOptions`), a ``--train_dir``
that would mix training files with an input or the repository, an incomplete dataset, a
folder another run holds.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import nullcontext

from common.errors import InputError
from common.options import require
from common.outputs import (check_not_input, check_not_project, check_run_folder, inputs_of,
                            read_marker, write_marker)

from .train_options import TrainOptions

log = logging.getLogger(__name__)


def run(options: TrainOptions, script: str = "train") -> dict:
    """Train as ``options`` say (resuming an earlier run in ``options.train_dir``); returns
    :func:`ciwgan.training_loop.run_training`'s summary.  ``script`` names the caller in the
    lines printed.  Bad input is an :class:`InputError` (one line, exit 2)."""
    require(options)
    if options.exact_numerics:
        # Before TensorFlow is imported: oneDNN's setting is read when it starts.
        from wavegan.runtime import request_exact_numerics
        request_exact_numerics()
    from ciwgan.cluster import multiworker_role
    from common.lock import folder_lock
    from corpus.dataset import read_dataset_info

    check_not_project(options.train_dir, "--train_dir")
    check_not_input(options.train_dir, inputs_of(options), "--train_dir")
    # New, empty or an earlier run: train.py never mixes its files into another folder.
    check_run_folder(options.train_dir, options, "--train_dir")
    info = read_dataset_info(options.data_dir)
    check_batch_size(options, info)
    # Several machines: only the chief writes --train_dir, so only the chief takes its lock
    # (the other workers would otherwise be refused by a shared folder's lock).
    is_chief = multiworker_role()[0] if options.distribute == "multiworker" else True
    try:
        with folder_lock(options.train_dir, "--train_dir") if is_chief else nullcontext():
            if is_chief and read_marker(options.train_dir) is None:
                write_marker(options.train_dir, options.stage)  # a run of train.py, resumable
            return _train_holding_lock(options, info, script)
    except OSError as err:  # the disk: a folder that cannot be written, no space left
        raise InputError(f"--train_dir={options.train_dir}: {err}") from None


def check_batch_size(options: TrainOptions, info: dict) -> None:
    """A batch holds distinct training tokens: a batch size beyond the number of training
    tokens (dataset.json) is refused before any memory is taken (the shuffled, repeated data
    would fill a batch with copies, and memory grows with the batch: 8.8 GB in 30 s)."""
    n_train = int(info.get("splits", {}).get("train", 0))
    if options.batch_size > n_train:
        raise InputError(f"--train_batch_size={options.batch_size} is more than the "
                         f"{n_train} training tokens of --data_dir={options.data_dir}; "
                         "use a batch size of at most that")


def model_config(options: TrainOptions, slice_len: int):
    """The WaveGANConfig the options ask for, for clips of ``slice_len`` samples."""
    from wavegan.config import WaveGANConfig

    return WaveGANConfig(
        model=options.model_kind(), num_categ=options.code_size(), latent_dim=options.latent_dim,
        kernel_len=options.kernel_len, dim=options.dim, slice_len=slice_len,
        batchnorm=options.batchnorm, upsample=options.genr_upsample, genr_pp=options.genr_pp,
        genr_pp_len=options.genr_pp_len, phaseshuffle_rad=options.phaseshuffle)


def _train_holding_lock(options: TrainOptions, info: dict, script: str) -> dict:
    from ciwgan.training_loop import run_training
    from common.constants import SLICE_LEN
    from wavegan.runtime import describe_devices

    print(describe_devices(script), flush=True)
    config = model_config(options, int(info.get("slice_len", SLICE_LEN)))
    if options.init_from:
        # The architecture comes from the original run's checkpoint, not from the flags; a
        # folder gives its newest readable checkpoint.
        from wavegan.checkpoint_files import resolve_readable_prefix
        from wavegan.tf1_checkpoint import tf1_checkpoint_config
        init_prefix = resolve_readable_prefix(options.init_from)
        config = tf1_checkpoint_config(
            init_prefix, model=options.model,
            slice_len=config.slice_len, phaseshuffle_rad=options.phaseshuffle)
        log.info("--init_from: configuration from %s: %s", init_prefix, config)
        options = dataclasses.replace(options, init_from=init_prefix)
    return run_training(config, options, hold_lock=False)
