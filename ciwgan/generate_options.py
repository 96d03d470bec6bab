"""What ``generate.py`` is asked to do: every option with its default, range and help (the
flags are generated from this class, :mod:`common.cli`).  ``ciwgan.generation.run(options)``
does it; the folder it writes (WAVs and ``generated.csv``) is declared in
:mod:`common.layout`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common.options import StageOptions, choice, shared, text

# Clips generated at once: G's output for a batch is batch x slice_len floats (4 MB at 64 x
# 16384); far more only fills memory, and the clips are the same whatever the batch.
MAX_BATCH_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class GenerateOptions(StageOptions):
    stage: ClassVar[str] = "generate"

    checkpoint: Optional[str] = shared("checkpoint", required=True)
    out: Optional[str] = shared("out", required=True,
                                help="one WAV per code and noise vector, and generated.csv")
    codes: Optional[list] = shared("codes", None, help="none given: every code (fiwGAN: "
                                   "every pattern, up to 12 bits)")
    value: float = shared("value", 1.0)
    n_per_code: int = shared("n_per_code", 1, help="clips to listen to per code")
    seed: int = shared("seed", 0, help="the noise vectors'")
    batch_size: int = shared("batch_size", 32, help="clips generated at once",
                             high=MAX_BATCH_SIZE)
    model: Optional[str] = choice(None, ("ciwgan", "fiwgan"), "for TF1 checkpoints without a "
                                  "hint beside them: ciwGAN and fiwGAN checkpoints have the "
                                  "same variables")
    classification: Optional[str] = text(None, "extract.py's activations folder (or its "
                                         "classification.json): name each file with the word "
                                         "its code maps to", role="input")
    overwrite: bool = shared("overwrite", False)
    progress: bool = shared("progress", True)
