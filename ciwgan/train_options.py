"""The options of a training run (``train.py``'s flags as the loop reads them).

Kept apart from :mod:`ciwgan.training_loop` so that they can be read, checked and recorded
without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass
class TrainOptions:
    train_dir: str
    data_dir: Optional[str] = None
    batch_size: int = 64
    max_steps: Optional[int] = None
    max_seconds: Optional[float] = None
    save_secs: float = 300.0
    summary_secs: float = 120.0
    seed: int = 0
    loss: str = "wgan-gp"
    disc_nupdates: int = 5
    gq_semantics: str = "simultaneous"
    init_from: Optional[str] = None
    normalize: bool = True
    xla: bool = False
    mixed_precision: bool = False
    distribute: str = "none"
    keep_checkpoints: int = 5
    preview_n: int = 1
    progress: bool = True
    # TensorFlow's deterministic kernels (tf.config.experimental.enable_op_determinism): the
    # same seed and steps give the same weights on machines of one kind (docs/training.md).
    deterministic: bool = False
