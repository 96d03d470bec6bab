"""Small Keras layers that compute exactly what the original TF1 WaveGAN code computes.

Each layer keeps its variables in the layout of the TF1 ``tf.layers`` variable it replaces, so
that TF1 checkpoints load by reshaping only (see :mod:`wavegan.tf1_checkpoint`).  Shapes are
written ``[batch, time, channels]``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from . import fast_ops


def lrelu(x, alpha: float = 0.2):
    """Leaky ReLU as the original writes it: max(alpha * x, x)."""
    return tf.maximum(alpha * x, x)


class Conv1D(keras.layers.Layer):
    """1-D convolution with TF 'SAME' padding (the extra padding sample goes to the right).

    kernel [kernel_len, in_ch, filters] (= TF1 ``.../conv1d/kernel``), bias [filters].
    [B, T, in_ch] -> [B, ceil(T / stride), filters].
    """

    def __init__(self, filters, kernel_len, stride=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_len = int(kernel_len)
        self.stride = int(stride)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        in_ch = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_len, in_ch, self.filters),
            initializer="glorot_uniform")
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        # fast_ops picks the implementation (im2col / space-to-depth / native, same numbers).
        y = fast_ops.conv1d(x, self.kernel, self.stride)
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_len": self.kernel_len,
                "stride": self.stride, "use_bias": self.use_bias}


class Conv1DTranspose(keras.layers.Layer):
    """Transposed 1-D convolution, 'SAME' padding: [B, T, in_ch] -> [B, T * stride, filters].

    The original builds it as ``conv2d_transpose`` on [B, 1, T, C]; its kernel
    [1, kernel_len, filters, in_ch] is stored here as [kernel_len, filters, in_ch].
    """

    def __init__(self, filters, kernel_len, stride=4, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_len = int(kernel_len)
        self.stride = int(stride)

    def build(self, input_shape):
        in_ch = int(input_shape[-1])
        # Glorot fans of TF1's [1, K, out, in] kernel: K*out and K*in; the same for [K, out, in].
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_len, self.filters, in_ch),
            initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        # fast_ops picks the implementation (matmul + overlap-add / space-to-depth / native).
        y = fast_ops.conv1d_transpose(x, self.kernel, self.stride)
        return tf.nn.bias_add(y, self.bias)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_len": self.kernel_len,
                "stride": self.stride}


class NearestUpsampleConv1D(keras.layers.Layer):
    """The original 'nn' upsampling: nearest-neighbour resize by ``stride``, then a stride-1 conv.

    ``tf.image.resize_nearest_neighbor`` (align_corners=False) to w * stride repeats each sample
    ``stride`` times.  [B, T, in_ch] -> [B, T * stride, filters]; kernel [K, in_ch, filters].
    """

    def __init__(self, filters, kernel_len, stride=4, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)
        self.conv = Conv1D(filters, kernel_len, 1, name="conv1d")

    def call(self, x):
        return self.conv(tf.repeat(x, self.stride, axis=1))

    def get_config(self):
        return {**super().get_config(), "filters": self.conv.filters,
                "kernel_len": self.conv.kernel_len, "stride": self.stride}


class TF1BatchNorm(keras.layers.Layer):
    """``tf.layers.batch_normalization`` (non-fused: the inputs are 3-D) with TF1 defaults.

    momentum 0.99, epsilon 1e-3, statistics over batch and time (biased variance).
    ``always_batch_stats=True`` is how the original builds it in D and Q (``training=True``
    always): batch statistics at inference too, moving statistics never updated.  Otherwise
    (G) batch statistics and a moving-average update when ``training``, moving statistics
    when not.
    """

    def __init__(self, always_batch_stats=False, momentum=0.99, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.always_batch_stats = bool(always_batch_stats)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        ch = (int(input_shape[-1]),)
        self.gamma = self.add_weight(name="gamma", shape=ch, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=ch, initializer="zeros")
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=ch, initializer="zeros", trainable=False,
            aggregation="mean")
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=ch, initializer="ones", trainable=False,
            aggregation="mean")

    def call(self, x, training=None):
        if self.always_batch_stats or training:
            mean, variance = tf.nn.moments(x, axes=[0, 1])
            if training and not self.always_batch_stats:
                # tf.compat.v1 assign_moving_average (zero_debias=False): v -= (v - x) * (1 - m).
                decay = 1.0 - self.momentum
                self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
                self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "always_batch_stats": self.always_batch_stats,
                "momentum": self.momentum, "epsilon": self.epsilon}


def phase_shift(x, phase, max_shift=None):
    """Shift [B, T, C] by ``phase`` samples with reflect padding, keeping length T.

    phase > 0: the content moves right and the first ``phase`` samples are the reflection
    x[phase], ..., x[1]; phase < 0: it moves left with the reflection at the end.  This equals
    the original's pad(x, [max(phase, 0), max(-phase, 0)], 'REFLECT')[:, max(-phase, 0):][:, :T],
    computed as a static reflect pad of ``max_shift`` (>= |phase|) on both sides and a
    window whose start depends on ``phase`` (shapes stay static, so XLA can compile it).
    """
    if max_shift is None:
        if not isinstance(phase, int):
            raise ValueError("phase_shift: a tensor phase needs max_shift")
        max_shift = abs(phase)
    length = x.shape[1]
    padded = tf.pad(x, [[0, 0], [max_shift, max_shift], [0, 0]], mode="REFLECT")
    start = max_shift - tf.convert_to_tensor(phase, tf.int32)
    # A gather (not a dynamic slice): XLA compiles it and it has second derivatives, which the
    # gradient penalty needs.
    return tf.gather(padded, tf.range(length) + start, axis=1)


class PhaseShuffle(keras.layers.Layer):
    """WaveGAN's phase shuffle: one random phase in [-rad, rad] per call, shared by the batch.

    Off (identity) when ``training`` is falsy or ``rad`` is 0.  The random state lives in a
    Keras SeedGenerator, so it is saved and restored with checkpoints.  ``phase`` may be given
    explicitly (an int) to apply a fixed shift.
    """

    def __init__(self, rad, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rad = int(rad)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None, phase=None):
        if phase is None:
            if not training or self.rad == 0:
                return x
            phase = keras.random.randint(
                (), -self.rad, self.rad + 1, dtype="int32", seed=self.seed_generator)
        max_shift = max(self.rad, abs(phase) if isinstance(phase, int) else 0)
        return phase_shift(x, phase, max_shift)

    def get_config(self):
        return {**super().get_config(), "rad": self.rad, "seed": self.seed}
