"""The forward passes of the extraction and the channel mean (eq. 1 of Beguš & Zhou 2022).

A conv layer's post-activation feature map [B, T, C] is averaged over channels,

    a_l[b, j] = (1 / C_l) * sum_c  lrelu(conv_l(...))[b, j, c],

one time series per layer per token. All layers come from ONE ``model.layer_outputs`` pass per
batch inside a tf.function with a fixed input signature (traced once), and the means are taken
inside the graph, so only [B, T] per layer leaves it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from corpus.dataset import peak_normalize_np
from extraction.geometry import GLayerAxis

NORMALIZE_MODES = ("peak", "none")


def channel_mean(feature_map: np.ndarray) -> np.ndarray:
    """Mean over channels (eq. 1 of the paper), in numpy (the graph version is in
    :func:`make_forward`).

    Args:
      feature_map: array [B, T, C] (post-activation outputs of one conv layer).
    Returns:
      array [B, T] with ``out[b, t] = mean_c feature_map[b, t, c]`` (same float dtype).
    """
    fm = np.asarray(feature_map)
    if fm.ndim != 3:
        raise ValueError(f"channel_mean expects a feature map [B, T, C], got shape {fm.shape}")
    if fm.shape[2] == 0:
        raise ValueError("channel_mean: feature map has no channels")
    return fm.mean(axis=2, dtype=np.float64).astype(fm.dtype if fm.dtype.kind == "f" else
                                                    np.float64)


def model_input(audio: np.ndarray, normalize: str) -> np.ndarray:
    """What the network is fed: float32 [B, slice_len] raw audio, peak-normalised per token
    (``'peak'``, the original loader's rule, :func:`corpus.dataset.peak_normalize_np`) or as
    it is (``'none'``)."""
    if normalize == "peak":
        return peak_normalize_np(audio)
    if normalize == "none":
        return np.asarray(audio, np.float32)
    raise ValueError(f"normalize={normalize!r}: expected one of {NORMALIZE_MODES}")


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """bool [B]: True where row ``b`` of every array (each [B, ...]) is all finite.

    A token with a NaN/inf sample or output is not a measurement: the driver leaves it out
    rather than let NaN reach the tables (or an argmax read it as code 0).
    """
    if not arrays:
        raise ValueError("finite_rows needs at least one array")
    n = len(arrays[0])
    keep = np.ones(n, bool)
    for a in arrays:
        a = np.asarray(a)
        if len(a) != n:
            raise ValueError(f"finite_rows: arrays of {n} and {len(a)} rows")
        if n:
            keep &= np.isfinite(a.reshape(n, -1)).all(axis=1)
    return keep


def make_forward(model, slice_len: int, layers: Sequence[str],
                 channels: dict[str, list[int]] | None = None):
    """tf.function x float32 [B, slice_len] -> {layer: channel mean [B, T], 'logits': [B, K]
    (Q) or [B] (D), 'ch:<layer>': selected channels [B, T, n]} from one
    ``model.layer_outputs`` pass."""
    import tensorflow as tf
    channels = channels or {}

    @tf.function(input_signature=[tf.TensorSpec([None, slice_len], tf.float32)])
    def forward(x):
        outs = model.layer_outputs(x)
        res = {name: tf.reduce_mean(outs[name], axis=2) for name in layers}
        res["logits"] = outs["logits"]
        for name, idx in channels.items():
            res["ch:" + name] = tf.gather(outs[name], idx, axis=2)
        return res

    return forward


def layer_channels(config) -> dict[str, int]:
    """Number of channels of each conv layer of D / Q: ``dim * 2**i`` for the i-th block."""
    from wavegan.config import layer_geometry
    return {name: int(config.dim * 2 ** i) for i, (name, _, _) in
            enumerate(layer_geometry(config))}


def generator_axes(G, config) -> dict[str, GLayerAxis]:
    """{block: GLayerAxis} of G's ``layer_outputs`` blocks in order ('z_project', 'upconv0'..,
    'pp' if present; 'output' is left out: it repeats the last block). Shapes come from one
    probe pass with z = 0 [1, latent_dim]."""
    import tensorflow as tf
    outs = G.layer_outputs(tf.zeros([1, config.latent_dim]), training=False)
    return {name: GLayerAxis(name, int(v.shape[1]), int(v.shape[2]), config.slice_len)
            for name, v in outs.items() if name != "output"}


def make_generator_forward(G, latent_dim: int, layers: Sequence[str]):
    """tf.function z float32 [B, latent_dim] -> {block: channel mean [B, T]} from one
    ``G.layer_outputs(z, training=False)`` pass (batch norm, if any, uses moving statistics)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32)])
    def forward(z):
        outs = G.layer_outputs(z, training=False)
        return {name: tf.reduce_mean(tf.cast(outs[name], tf.float32), axis=2)
                for name in layers}

    return forward
