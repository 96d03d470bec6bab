"""What the training loop does besides training, as callbacks around a short loop (the model
is keras-io's wgan_gp example, whose ``GANMonitor`` callback writes its samples): checks and
running means of the losses, the progress bar, TensorBoard summaries, and checkpoints with
their preview clips.

Every hook has ``on_iteration(step, values, xs, now)``.  A hook that acts on the clock (a
:class:`TimedHook`: summaries, checkpoints) says first whether it is ``due``; the loop ORs
those answers over the workers (``ciwgan.distribution.any_worker``, one collective per
iteration) so that every worker acts at the same iteration.
"""

from __future__ import annotations

import math
import os
import time
from typing import Optional

import numpy as np

from .previews import write_preview
from .progress_text import training_bar
from .run_folder import TrainingError, set_aside_untracked
from .run_summaries import write_summaries

# Q's accuracy on generated audio in the summary: the mean over this many last G/Q updates
# (one update sees one batch, 16-64 clips: too few for a stable number).
Q_ACCURACY_WINDOW = 50
LOSS_KEYS = ("D_loss", "G_loss", "Q_loss")


def finite_or_raise(values: dict, step: int) -> None:
    """A non-finite loss stops the run, naming the step (the bad state is never saved)."""
    for key in LOSS_KEYS:
        if key in values and not math.isfinite(float(values[key])):
            raise TrainingError(
                f"non-finite {key} = {float(values[key])} at step {step}; training stopped. "
                "The last good checkpoint is kept; lower the learning rate or check the data.")


class Hook:
    """Acts after every iteration (``values``: the trainer's outputs, ``xs``: its real
    batches)."""

    def on_iteration(self, step: int, values: dict, xs, now: float) -> None:
        pass

    def on_end(self) -> None:
        pass


class TimedHook(Hook):
    """Acts when ``due``: ``every`` seconds after it last acted (and, ``first``, after the
    run's first iteration)."""

    def __init__(self, every: float, start_step: int, now: float, first: bool = False):
        self.every, self.start_step, self.last, self.first = every, start_step, now, first

    def due(self, now: float, step: int) -> bool:
        return now - self.last >= self.every or (self.first and step == self.start_step + 1)


class LossMonitor(Hook):
    """Stops on a non-finite loss; keeps the last values and Q's recent accuracies."""

    def __init__(self):
        self.values, self.q_accuracy = {}, []

    def on_iteration(self, step, values, xs, now):
        finite_or_raise(values, step)
        self.values = values
        if "Q_accuracy" in values:
            self.q_accuracy = (self.q_accuracy
                               + [float(values["Q_accuracy"])])[-Q_ACCURACY_WINDOW:]

    def result(self) -> dict:
        """The summary's part of :func:`ciwgan.training_loop.run_training`'s result."""
        last = {k: float(np.mean(v)) for k, v in self.values.items()}
        return {"last": {k: last[k] for k in LOSS_KEYS if k in last},
                "q_accuracy": float(np.mean(self.q_accuracy)) if self.q_accuracy else None,
                "q_accuracy_updates": len(self.q_accuracy), "values": last}


class ProgressHook(Hook):
    """The progress bar (:func:`ciwgan.progress_text.training_bar`) with the latest losses."""

    def __init__(self, start_step: int, max_steps: Optional[int],
                 max_seconds: Optional[float]):
        self.bar = training_bar(start_step, max_steps, max_seconds)

    def on_iteration(self, step, values, xs, now):
        self.bar.set_postfix(refresh=False, **{
            key[0]: f"{float(values[key]):.3f}" for key in LOSS_KEYS if key in values})
        self.bar.update(1)

    def on_end(self):
        self.bar.close()


class SummaryHook(TimedHook):
    """TensorBoard summaries every ``summary_secs`` and after the first iteration, with the
    iterations per second since the last ones.  ``rng`` draws the G_z audio's latents (never
    the trainer's generator, whose draws must not depend on the clock)."""

    def __init__(self, trainer, options, start_step: int, now: float, sample_rate: int, rng):
        super().__init__(options.summary_secs, start_step, now, first=True)
        self.trainer, self.sample_rate, self.rng = trainer, sample_rate, rng
        self.step_rate = start_step

    def on_iteration(self, step, values, xs, now):
        rate = (step - self.step_rate) / max(now - self.last, 1e-9)
        write_summaries(values, xs[-1], self.trainer, step, rate, self.sample_rate, self.rng)
        self.last, self.step_rate = now, step


class CheckpointHook(TimedHook):
    """A checkpoint every ``save_secs`` (on every worker: a collective save), and on the
    chief the preview clips of that step (fixed latents ``z_preview``)."""

    def __init__(self, trainer, manager, options, start_step: int, now: float,
                 is_chief: bool, z_preview, preview_labels, sample_rate: int):
        super().__init__(options.save_secs, start_step, now)
        self.trainer, self.manager, self.is_chief = trainer, manager, is_chief
        self.train_dir, self.sample_rate = options.train_dir, sample_rate
        self.z_preview, self.preview_labels = z_preview, preview_labels
        self.saved_step = start_step

    def save(self, step: int) -> str:
        if self.is_chief:
            set_aside_untracked(os.path.join(self.train_dir, f"ckpt-{step}"), self.manager)
        path = self.manager.save(checkpoint_number=step)
        self.saved_step = step
        if self.is_chief:
            write_preview(self.trainer.G, self.z_preview, self.preview_labels, step,
                          self.train_dir, self.sample_rate)
        return path

    def on_iteration(self, step, values, xs, now):
        self.save(step)
        self.last = time.time()  # after the save: its own time is not counted
