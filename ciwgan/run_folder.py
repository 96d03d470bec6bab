"""The training folder of a run: what is in it, which checkpoint a run resumes from, and
what a resumed run must agree with.

Kept apart from the loop (:mod:`ciwgan.training_loop`): these decide whether a run may start
and from where, before any training step; the loop only calls them.  The folder's layout is
described in :mod:`ciwgan.training_loop`.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import time
from typing import Optional

import tensorflow as tf
from google.protobuf import text_format

from common import layout
from common.atomic import atomic_write_json, atomic_write_text
from common.errors import InputError, one_line

from wavegan.checkpoints import CONFIG_NAME
from wavegan.config import WaveGANConfig
from wavegan.checkpoint_files import (checkpoint_problem, checkpoint_step, folder_checkpoints,
                                      newest_readable)

from .train_options import TrainOptions

log = logging.getLogger(__name__)

# Fields that define the architecture: a resumed run must agree on all of them.
ARCHITECTURE_FIELDS = ("model", "num_categ", "latent_dim", "kernel_len", "dim", "slice_len",
                       "num_channels", "batchnorm", "upsample", "genr_pp", "genr_pp_len")


class TrainingError(InputError, RuntimeError):
    """A run that cannot start or continue (message says why and what to do)."""


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


def describe(config: WaveGANConfig) -> str:
    """The architecture fields of ``config``, for messages."""
    return ", ".join(f"{f}={getattr(config, f)!r}" for f in ARCHITECTURE_FIELDS)
