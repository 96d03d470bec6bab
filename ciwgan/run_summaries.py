"""TensorBoard summaries of one training iteration (the original's and more): scalars, the
critic's outputs and the penalty's slopes as histograms, real and generated audio.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from common.constants import SAMPLE_RATE

from .codes import sample_training_z


def write_summaries(values: dict, x, trainer, step: int, steps_per_sec: float,
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
