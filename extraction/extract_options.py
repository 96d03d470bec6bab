"""What ``extract.py`` is asked to do: every option with its default, range and help (the
flags are generated from this class, :mod:`common.cli`).  ``extraction.run.run(options)``
does it; the activations folder it writes is declared in :mod:`common.layout`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common.constants import SAMPLE_RATE
from common.errors import InputError
from common.options import (Renamed, StageOptions, boolean, choice, integer, items, shared,
                            text)


@dataclasses.dataclass(frozen=True)
class ExtractOptions(StageOptions):
    stage: ClassVar[str] = "extract"

    data: Optional[str] = shared(
        "data", None, help="or a folder of audio files (<word>/<file>.wav or <word>_<n>.wav; "
        f"resampled to {SAMPLE_RATE} Hz mono, as prepare.py reads it)")
    checkpoint: Optional[str] = shared("checkpoint", required=True)
    out: Optional[str] = shared("out", required=True, help="the activations folder")
    split: str = text("test", "dataset split to extract")
    normalize: str = shared("normalize", "peak", help="before Q (peak: as the training "
                            "loader)")
    batch_size: int = shared("batch_size", 64, help="tokens per forward pass", high=65536)
    layers: Optional[list] = items(None, "conv layers to write (default all), e.g. conv1,conv5")
    upsample: bool = boolean(False, "also write upsampled.parquet (traces on the input axis)")
    upsample_per_word: int = integer(1, "tokens per word to upsample (0 = all)", low=0)
    phones: Optional[list] = items(None, "phone labels for phone_activations, e.g. s,sh; "
                                   "'all': every speech phone of phones.csv (for analyze.py "
                                   "--contrasts=auto)")
    acoustics: bool = boolean(False, "also write acoustics.parquet: Praat's intensity, spectral "
                              "centre of gravity, F0, F1 and F2 of the input audio on each "
                              "layer's time axis (for analyze.py --acoustics; not with "
                              "--network=G, which has no input audio)")
    network: str = choice("Q", ("Q", "D", "G"), "network to probe (G: the generator's own "
                          "block traces, needs --codes)")
    channels: Optional[str] = text(None, "single channels to write, e.g. 'conv5:0,1,2;conv4:7'")
    codes: Optional[list] = shared(
        "codes", None, help="instead of --data, feed audio that G generates from these codes "
        "('all' = every code); noise shared across codes, as generate.py",
        renamed=(Renamed("generate_codes"),))
    n_per_code: int = shared("n_per_code", 50, help="tokens generated per code (--codes): "
                             "enough for statistics", renamed=(Renamed("generate_per_code"),))
    value: float = shared("value", 1.0, help="(--codes)", renamed=(Renamed("generate_value"),))
    values: Optional[list] = items(None, "a latent sweep (--codes): generate every code at "
                                   "each of these values, e.g. 0,1,2,5, the rest of z shared "
                                   "(token j has the same noise at every code and value); "
                                   "finite numbers; replaces --value (docs/sweeps.md)")
    seed: int = shared("seed", 0, help="the generated noise's (--codes)")
    model: Optional[str] = choice(None, ("ciwgan", "fiwgan"), "for a TF1 checkpoint with no "
                                  "hint beside it: ciwGAN and fiwGAN checkpoints have the same "
                                  "variables (decides how Q's outputs are read: argmax code vs "
                                  "bits)")
    csv: Optional[bool] = boolean(None, "also write .csv copies of the long tables (--csv / "
                                  "--nocsv; unset: only up to a size, see docs/extraction.md; "
                                  "a one-line notice says when they are left out)")
    overwrite: bool = shared("overwrite", False)
    progress: bool = shared("progress", True)

    def check(self) -> None:
        """The rules between options that need neither the model nor the data."""
        if self.network == "G" and not self.codes:
            raise InputError("--network=G needs --codes (G's traces come from latent codes, "
                             "not from --data audio)")
        if self.network == "G" and self.acoustics:
            raise InputError("--acoustics needs input audio: --network=G has none (its traces "
                             "come from latent codes); measure G's audio with --network=Q "
                             "--codes=... --acoustics")
        if self.codes and self.data:
            raise InputError("give either --data or --codes, not both")
        if self.values is not None:
            if not self.codes:
                raise InputError("--values needs --codes (a sweep generates every code at "
                                 "each value)")
            self.sweep_values()
        if not self.codes and not self.data:
            raise InputError("give --data (a prepared dataset or a folder of audio files) or "
                             "--codes (audio generated by G)")

    def sweep_values(self) -> Optional[list]:
        """--values as distinct finite floats in the order given (None: no sweep); an
        InputError naming the bad entry otherwise."""
        if self.values is None:
            return None
        import math
        out = []
        for text_ in self.values:
            try:
                v = float(str(text_).strip())
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise InputError(f"--values: {str(text_)!r} is not a finite number (e.g. "
                                 "--values=0,1,2,5)")
            if v in out:
                raise InputError(f"--values: {v:g} is listed twice")
            out.append(v)
        if not out:
            raise InputError("--values: give at least one value (e.g. --values=0,1,2,5)")
        return out
