"""Our TF2 checkpoints and one loader for every kind of checkpoint.

A training folder of ours holds ``config.json`` (the :class:`WaveGANConfig`), ``flags.json``
(the run's flags) and ``tf.train.CheckpointManager`` checkpoints ``ckpt-N`` whose objects are
``generator``, ``discriminator``, ``qnetwork`` (and the training state, see
:mod:`ciwgan.trainer`).
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional

import tensorflow as tf

from .config import WaveGANConfig
from .discriminator import QNetwork, WaveGANDiscriminator
from .generator import WaveGANGenerator
from .checkpoint_files import CheckpointError, resolve_readable_prefix
from .tf1_checkpoint import is_tf1_checkpoint, load_tf1_checkpoint

CONFIG_NAME = "config.json"


def build_models(config: WaveGANConfig):
    """Fresh (randomly initialised, built) G, D and Q (None for WaveGAN)."""
    G, D = WaveGANGenerator(config), WaveGANDiscriminator(config)
    Q = QNetwork(config) if config.has_q else None
    for net in (G, D, Q):
        if net is not None:
            net.build()
    return G, D, Q


class ModelVariables(tf.Module):
    """The checkpoint view of a Keras model: every variable (weights and batch-norm moving
    statistics), keyed by its Keras path.

    Keras 3 keeps sub-layers held in Python lists (the conv blocks) out of TensorFlow's
    object graph, so ``tf.train.Checkpoint(model=...)`` would save only the layers assigned
    to attributes; listing the variables explicitly saves all of them.
    """

    def __init__(self, model):
        super().__init__(name=f"{model.name}_variables")
        model.build()
        paths = [v.path for v in model.weights]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{model.name}: variable paths are not unique")
        self.by_path = {path.replace("/", "."): v for path, v in zip(paths, model.weights)}


def model_checkpoint(G, D, Q=None, **extra) -> tf.train.Checkpoint:
    """Our checkpoint: G, D, Q variables (``extra``: e.g. the trainer's state)."""
    objects = {"generator": ModelVariables(G)}
    if D is not None:
        objects["discriminator"] = ModelVariables(D)
    if Q is not None:
        objects["qnetwork"] = ModelVariables(Q)
    return tf.train.Checkpoint(**objects, **extra)


def find_config(prefix: str) -> Optional[str]:
    path = os.path.join(os.path.dirname(os.path.abspath(prefix)), CONFIG_NAME)
    return path if os.path.exists(path) else None


class LoadedModels(NamedTuple):
    """What :func:`load_models` returns: the configuration, G, D, Q (None when the checkpoint
    has none) and ``prefix``, the checkpoint actually loaded (a folder's newest readable)."""
    config: WaveGANConfig
    G: object
    D: object
    Q: object
    prefix: str


def load_models(path: str, model: Optional[str] = None,
                slice_len: Optional[int] = None) -> LoadedModels:
    """Load G, D, Q from a TF1 checkpoint prefix, one of ours, or a training folder (latest).

    The checkpoint is the one :func:`wavegan.checkpoint_files.resolve_readable_prefix`
    chooses (resolved and read once); it is returned as ``prefix``.
    Returns ``LoadedModels(config, G, D, Q, prefix)``.  ``model`` / ``slice_len`` resolve
    what a TF1 checkpoint cannot tell (ciwGAN vs fiwGAN, 32768 vs 65536) when no hint file
    lies beside it.  Raises :class:`CheckpointError` with the reason (missing or mismatched
    variables, ...).
    """
    prefix = resolve_readable_prefix(path)
    if is_tf1_checkpoint(prefix):
        config, G, D, Q, _ = load_tf1_checkpoint(prefix, model=model, slice_len=slice_len)
        return LoadedModels(config, G, D, Q, prefix)
    config_path = find_config(prefix)
    if config_path is None:
        raise CheckpointError(f"{prefix}: neither a TF1 checkpoint of the original code nor "
                              f"one of ours ({CONFIG_NAME} missing beside it)")
    config = WaveGANConfig.load(config_path)
    G, D, Q = build_models(config)
    try:
        status = model_checkpoint(G, D, Q).read(prefix)
        status.assert_existing_objects_matched()
    # A variable of another shape is a ValueError, one without a value an AssertionError.
    except (AssertionError, ValueError) as err:
        raise CheckpointError(f"{prefix} does not fit {config_path}: {err}") from err
    status.expect_partial()
    return LoadedModels(config, G, D, Q, prefix)
