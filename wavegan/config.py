"""One configuration dataclass for the WaveGAN family (WaveGAN, ciwGAN, fiwGAN).

The fields mirror the flags of the original train_ciwgan.py / train_fiwgan.py
(``--wavegan_dim``, ``--wavegan_batchnorm``, ...).  A ``config.json`` with these fields is
written beside every checkpoint of ours and inferred from TF1 checkpoints
(see :mod:`wavegan.tf1_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Tuple

from common import layout
from common.constants import SLICE_LEN
from common.errors import InputError

MODELS = ("ciwgan", "fiwgan", "wavegan")
SLICE_LENS = (SLICE_LEN, 2 * SLICE_LEN, 4 * SLICE_LEN)  # 16384, 32768, 65536
UPSAMPLE_MODES = ("zeros", "nn")


class ConfigError(InputError, ValueError):
    """A configuration value that the original code cannot express."""


@dataclasses.dataclass(frozen=True)
class WaveGANConfig:
    """Architecture of G, D and Q (and the kind of latent code).

    model: 'ciwgan' (one-hot code), 'fiwgan' (binary code) or 'wavegan' (no Q network).
    num_categ: size of the code at the start of z (ciwGAN: categories; fiwGAN: bits).
    latent_dim: length of z (code + uniform noise), 100 in the original.
    kernel_len: conv kernel length (25).  dim: width multiplier (64 in the paper).
    slice_len: 16384, 32768 or 65536 samples.  num_channels: audio channels (1).
    batchnorm: batch norm in G, D and Q.  upsample: 'zeros' (transposed conv) or 'nn'.
    genr_pp / genr_pp_len: G's post-processing filter.  phaseshuffle_rad: D's and Q's.
    """

    model: str = "ciwgan"
    num_categ: int = 10
    latent_dim: int = 100
    kernel_len: int = 25
    dim: int = 64
    slice_len: int = SLICE_LEN
    num_channels: int = 1
    batchnorm: bool = False
    upsample: str = "zeros"
    genr_pp: bool = False
    genr_pp_len: int = 512
    phaseshuffle_rad: int = 2

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"model={self.model!r}: expected one of {MODELS}")
        if self.slice_len not in SLICE_LENS:
            raise ConfigError(f"slice_len={self.slice_len}: the original supports {SLICE_LENS}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ConfigError(f"upsample={self.upsample!r}: expected one of {UPSAMPLE_MODES}")
        if self.dim < 1 or self.kernel_len < 1 or self.num_channels < 1:
            raise ConfigError("dim, kernel_len and num_channels must be positive")
        if self.phaseshuffle_rad < 0:
            raise ConfigError(f"phaseshuffle_rad={self.phaseshuffle_rad} must be >= 0")
        if self.model != "wavegan":
            if not 1 <= self.num_categ < self.latent_dim:
                raise ConfigError(
                    f"num_categ={self.num_categ} must be in [1, latent_dim={self.latent_dim})")

    # --- derived quantities -------------------------------------------------------------
    @property
    def has_q(self) -> bool:
        return self.model != "wavegan"

    @property
    def dim_mul(self) -> int:
        """G's first width multiplier: 16 for 16384 samples, 32 for the longer slices."""
        return 16 if self.slice_len == SLICE_LENS[0] else 32

    @property
    def n_conv(self) -> int:
        """Number of conv blocks in D and Q (and transposed-conv blocks in G): 5 or 6."""
        return 5 if self.slice_len == SLICE_LENS[0] else 6

    @property
    def last_stride(self) -> int:
        """Stride of the sixth block (only for long slices): 2 for 32768, 4 for 65536."""
        return 2 if self.slice_len == 32768 else 4

    def strides(self) -> List[int]:
        return [4] * 5 + ([self.last_stride] if self.n_conv == 6 else [])

    # --- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "WaveGANConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {unknown}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "WaveGANConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path: str) -> None:
        """Write config.json (with its format_version) atomically (temporary name, then
        rename)."""
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(json.dumps(layout.stamp(self.to_dict(), layout.CONFIG_JSON), indent=2,
                               sort_keys=True) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "WaveGANConfig":
        """Read config.json: a newer format_version is refused (one line); a file without
        one (written before versions were recorded) is version 1."""
        with open(path) as f:
            record = layout.check_version(json.loads(f.read()), path, layout.CONFIG_JSON)
        if not isinstance(record, dict):
            raise ConfigError(f"{path}: not a configuration (a JSON object is expected)")
        return cls.from_dict(layout.without_version(record))

    def replace(self, **changes) -> "WaveGANConfig":
        return dataclasses.replace(self, **changes)


def layer_geometry(config: WaveGANConfig) -> List[Tuple[str, int, int]]:
    """(name, stride, output length) of each conv block of D / Q, in the paper's numbering.

    16384 samples: conv1..conv5 with stride 4 -> lengths 4096, 1024, 256, 64, 16.
    32768 / 65536: a sixth block ``conv6`` with stride 2 / 4 -> length 16.
    Every block has kernel ``config.kernel_len`` and TF 'SAME' padding.
    """
    out = []
    length = config.slice_len
    for i, stride in enumerate(config.strides()):
        length //= stride
        out.append((f"conv{i + 1}", stride, length))
    return out


def same_padding(in_len: int, kernel: int, stride: int) -> Tuple[int, int]:
    """TF 'SAME' padding (left, right) of a strided conv; the odd sample goes to the right.

    The one home of this rule (the layers' fast convolutions and the extraction's time axes
    use it): out_len = ceil(in_len / stride);
    total = max((out_len - 1) * stride + kernel - in_len, 0); left = total // 2.
    E.g. in_len 16384, kernel 25, stride 4 -> total 21 -> (10, 11).
    """
    if in_len <= 0 or kernel <= 0 or stride <= 0:
        raise ValueError(f"same_padding: in_len={in_len}, kernel={kernel}, stride={stride} "
                         "must all be positive")
    out_len = -(-in_len // stride)
    total = max((out_len - 1) * stride + kernel - in_len, 0)
    return total // 2, total - total // 2
