"""Where each layer index sits on the input (or output) sample axis: pure arithmetic.

A conv layer of the Q-network (or D) turns the input waveform into a feature map [T, C]; the
extraction averages it over channels (eq. 1 of Beguš & Zhou 2022, see
:mod:`extraction.forward`). To put those series on a common time axis we need to know which
input samples each index ``j`` of each layer covers. Every conv has kernel ``K`` (25), stride
``s_l`` and TensorFlow 'SAME' padding (:func:`wavegan.config.same_padding`, the one home of
that rule):

    out_len   = ceil(L / s)
    pad_total = max((out_len - 1) * s + K - L, 0)
    pad_left  = pad_total // 2          (TF puts the odd sample on the right)

Output index ``j`` of such a conv reads the padded input positions ``j*s .. j*s + K - 1``, i.e.
unpadded input indices ``j*s - pad_left .. j*s - pad_left + K - 1``. Composing through the layers
(standard receptive-field arithmetic), with ``jump_0 = 1, start_0 = 0, width_0 = 1``:

    jump_l  = jump_{l-1} * s_l
    start_l = start_{l-1} - jump_{l-1} * pad_left_l
    width_l = width_{l-1} + (K - 1) * jump_{l-1}

index ``j`` of layer ``l`` covers input samples ``[start_l + j*jump_l, start_l + j*jump_l +
width_l)`` (end exclusive; the span may reach into the zero padding outside ``[0, slice_len)``),
and its centre is ``start_l + j*jump_l + (width_l - 1) / 2``. For 16384 samples, K=25 and stride 4
(pad_left = 10 at every layer) the centres are ``4j+2, 16j+10, 64j+42, 256j+170, 1024j+682`` for
conv1..conv5.

The generator's blocks (``--network=G``) are on the OUTPUT axis instead: :class:`GLayerAxis`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import pandas as pd

from wavegan.config import same_padding


@dataclasses.dataclass(frozen=True)
class LayerAxis:
    """Where the indices of one conv layer sit on the input-sample axis.

    Index ``j`` (0 <= j < length) covers input samples ``[start0 + j*jump, start0 + j*jump +
    width)`` and is centred at ``centre0 + j*jump`` with ``centre0 = start0 + (width - 1) / 2``.
    """

    name: str
    position: int        # 1-based position in the conv stack
    stride: int          # stride of this conv
    length: int          # output length (number of time indices)
    in_length: int       # input length of this conv
    pad_left: int
    pad_right: int
    jump: int            # product of the strides up to and including this layer
    start0: int          # first input sample covered by index 0 (may be negative: padding)
    width: int           # receptive field in input samples

    @property
    def centre0(self) -> float:
        """Centre (input samples) of index 0: ``start0 + (width - 1) / 2``."""
        return self.start0 + (self.width - 1) / 2.0

    def starts(self) -> np.ndarray:
        """int64 [length]: first input sample covered by each index."""
        return self.start0 + self.jump * np.arange(self.length, dtype=np.int64)

    def ends(self) -> np.ndarray:
        """int64 [length]: one past the last input sample covered by each index."""
        return self.starts() + self.width

    def centres(self) -> np.ndarray:
        """float64 [length]: centre of each index in input samples."""
        return self.centre0 + self.jump * np.arange(self.length, dtype=np.float64)

    def info(self, channels: int) -> dict:
        """The layer's entry in extract_info.json, with its number of ``channels``."""
        return {"name": self.name, "stride": self.stride, "length": self.length,
                "channels": int(channels), "in_length": self.in_length, "pad_left": self.pad_left,
                "pad_right": self.pad_right, "jump": self.jump, "start0": self.start0,
                "width": self.width, "centre0": self.centre0}


@dataclasses.dataclass(frozen=True)
class GLayerAxis:
    """Time axis of one generator block (``--network=G``).

    Index ``j`` of a block with ``length`` L covers the output samples
    ``[j * jump, (j + 1) * jump)`` with ``jump = slice_len / L`` (16384 / 16 = 1024 for
    ``z_project``, 1 for the last upconv); its time is the centre of that span in seconds,
    ``(j + 0.5) * jump / sample_rate`` (see :meth:`centres`).
    """

    name: str
    length: int
    channels: int
    slice_len: int

    @property
    def jump(self) -> float:
        """Output samples per index, ``slice_len / length``."""
        return self.slice_len / self.length

    def centres(self) -> np.ndarray:
        """float64 [length]: ``(j + 0.5) * jump`` in output samples (times sample_rate)."""
        return (np.arange(self.length, dtype=np.float64) + 0.5) * self.jump

    def info(self) -> dict:
        return {"name": self.name, "length": self.length, "channels": self.channels,
                "jump": self.jump, "centre0": 0.5 * self.jump}


def _check_geometry(geometry: Sequence) -> list[tuple[str, int, int]]:
    out = []
    for item in geometry:
        try:
            name, stride, length = item
        except (TypeError, ValueError):
            raise ValueError(f"layer geometry entries must be (name, stride, length); got {item!r}")
        out.append((str(name), int(stride), int(length)))
    if not out:
        raise ValueError("layer geometry is empty")
    return out


def layer_axes(geometry: Sequence, slice_len: int, kernel_len: int = 25) -> list[LayerAxis]:
    """Compose the conv stack into one :class:`LayerAxis` per layer.

    Args:
      geometry: ordered ``(name, stride, length)`` per conv (``wavegan.config.layer_geometry``);
        ``length`` is the layer's output length.
      slice_len: input length in samples.
      kernel_len: kernel size of every conv.
    Returns:
      list of LayerAxis, same order. Raises ValueError if a stated length disagrees with
      ``ceil(in_len / stride)``.
    """
    geometry = _check_geometry(geometry)
    axes = []
    in_len, jump, start, width = int(slice_len), 1, 0, 1
    for pos, (name, stride, length) in enumerate(geometry, start=1):
        pl, pr = same_padding(in_len, kernel_len, stride)
        out_len = -(-in_len // stride)
        if out_len != length:
            raise ValueError(f"layer {name}: stated length {length} but a stride-{stride} SAME "
                             f"conv of an input of {in_len} samples gives {out_len}")
        start = start - jump * pl
        width = width + (kernel_len - 1) * jump
        jump = jump * stride
        axes.append(LayerAxis(name=name, position=pos, stride=stride, length=length,
                              in_length=in_len, pad_left=pl, pad_right=pr, jump=jump,
                              start0=start, width=width))
        in_len = out_len
    return axes


def layer_time_axis(geometry: Sequence, slice_len: int, sample_rate: int,
                    kernel_len: int = 25) -> dict[str, pd.DataFrame]:
    """Time axis of every layer.

    Returns ``{layer name: DataFrame}`` with one row per layer index and columns
    ``sample`` (int64 index j), ``start``, ``end`` (int64 input samples, end exclusive, unclipped),
    ``centre`` (float64 input samples) and ``time`` (float64 seconds, ``centre / sample_rate``).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    out = {}
    for ax in layer_axes(geometry, slice_len, kernel_len):
        centres = ax.centres()
        out[ax.name] = pd.DataFrame({
            "sample": np.arange(ax.length, dtype=np.int64),
            "start": ax.starts(),
            "end": ax.ends(),
            "centre": centres,
            "time": centres / float(sample_rate),
        })
    return out


# --------------------------------------------------------------------------------------------
# Intervals (phones) -> layer indices


def map_interval_to_layer(start: float, end: float, axis: LayerAxis
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Layer indices whose centre falls inside the input interval ``[start, end)``.

    Args:
      start, end: interval in input samples (end exclusive), e.g. a phone from phones.csv.
      axis: the layer's :class:`LayerAxis`.
    Returns:
      ``(indices int64 [n], norm_time float64 [n])`` with
      ``norm_time = (centre_j - start) / (end - start)`` in [0, 1). ``n`` may be 0 when the
      interval is shorter than the layer's jump (deep layers, short phones).
    """
    if not end > start:
        raise ValueError(f"interval [{start}, {end}) is empty")
    # centre_j = c0 + j*jump >= start  <=>  j >= (start - c0) / jump
    lo = max(math.ceil((start - axis.centre0) / axis.jump), 0)
    # centre_j < end  <=>  j < (end - c0) / jump  <=>  j <= ceil((end - c0)/jump) - 1
    hi = min(math.ceil((end - axis.centre0) / axis.jump), axis.length)
    idx = np.arange(lo, max(hi, lo), dtype=np.int64)
    centres = axis.centre0 + axis.jump * idx.astype(np.float64)
    return idx, (centres - start) / float(end - start)


# --------------------------------------------------------------------------------------------
# Upsampling


def upsample_trace(trace: np.ndarray, axis: LayerAxis, slice_len: int) -> np.ndarray:
    """Put a layer trace back on the input-sample axis by linear interpolation.

    Value ``trace[j]`` is placed at its centre sample ``axis.centres()[j]``; samples
    ``0 .. slice_len-1`` between two centres are linearly interpolated, samples before the first
    (after the last) centre take the first (last) value.

    Args:
      trace: array [T] with ``T == axis.length``.
    Returns:
      float64 array [slice_len].
    """
    trace = np.asarray(trace, dtype=np.float64)
    if trace.shape != (axis.length,):
        raise ValueError(f"upsample_trace: trace of shape {trace.shape} does not match layer "
                         f"{axis.name} of length {axis.length}")
    return np.interp(np.arange(slice_len, dtype=np.float64), axis.centres(), trace)


def upsample_batch(traces: np.ndarray, axis: LayerAxis, slice_len: int) -> np.ndarray:
    """:func:`upsample_trace` for a batch: [B, T] -> float64 [B, slice_len]."""
    traces = np.asarray(traces, dtype=np.float64)
    if traces.ndim != 2:
        raise ValueError(f"upsample_batch expects [B, T], got shape {traces.shape}")
    return np.stack([upsample_trace(t, axis, slice_len) for t in traces]) if len(traces) else \
        np.zeros((0, slice_len))
