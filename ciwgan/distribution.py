"""tf.distribute helpers of the training loop: the strategy ``--distribute`` names, and the
collectives that let several workers take the clock- and signal-driven decisions (summaries,
saves, stopping) at the same iteration.  Without several workers they are plain Python.
"""

from __future__ import annotations

import logging

import tensorflow as tf

from .cluster import multiworker_role
from .run_folder import TrainingError

log = logging.getLogger(__name__)


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


def check_same_step(strategy, step: int) -> None:
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

