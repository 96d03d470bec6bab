"""WaveGAN's discriminator D and ciwGAN / fiwGAN's Q network, both a conv encoder (as D and Q
sit side by side in the original cinfowavegan.py).

Layout for 16384 samples, d = dim:
    x [B, 16384, nch]
    downconv_0 : conv1d(d,   25, stride 4)        -> [B, 4096, d],  lrelu, phase shuffle
    downconv_1 : conv1d(2d,  25, stride 4), (BN)  -> [B, 1024, 2d], lrelu, phase shuffle
    downconv_2 : conv1d(4d,  25, stride 4), (BN)  -> [B, 256, 4d],  lrelu, phase shuffle
    downconv_3 : conv1d(8d,  25, stride 4), (BN)  -> [B, 64, 8d],   lrelu, phase shuffle
    downconv_4 : conv1d(16d, 25, stride 4), (BN)  -> [B, 16, 16d],  lrelu
    (downconv_5: conv1d(32d, 25, stride 2 | 4), (BN) -> [B, 16, 32d], lrelu; long slices)
    output     : flatten, dense -> [B, n_outputs]      (D: 1 output; Q: num_categ)
The paper numbers the blocks conv1..conv5 (conv6); their post-activation outputs are what the
interpretation technique averages over channels.
"""

from __future__ import annotations

import collections

import keras
import tensorflow as tf

from .config import WaveGANConfig, layer_geometry
from .layers import Conv1D, PhaseShuffle, TF1BatchNorm, lrelu

N_SHUFFLED_BLOCKS = 4  # phase shuffle follows blocks 0-3, never the last ones


class _ViewCache:
    """Untracked storage for functional views of a model."""

    features = None


class DownConvBlock(keras.layers.Layer):
    """conv1d (stride, 'SAME') -> optional batch norm (batch statistics always) -> lrelu(0.2)."""

    def __init__(self, filters, kernel_len, stride, batchnorm=False, **kwargs):
        super().__init__(**kwargs)
        self.conv = Conv1D(filters, kernel_len, stride, name="conv1d")
        self.bn = TF1BatchNorm(always_batch_stats=True, name="bn") if batchnorm else None

    def call(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return lrelu(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.conv.filters,
                "kernel_len": self.conv.kernel_len, "stride": self.conv.stride,
                "batchnorm": self.bn is not None}


class ConvEncoder(keras.Model):
    """D's layout with ``n_outputs`` linear outputs; the base of D (1 output) and Q.

    ``call(x, training)`` applies phase shuffle when training; ``layer_outputs(x)`` returns
    every block's post-activation output and the logits from one pass through a functional
    sub-model (phase shuffle off).
    """

    block_prefix = "downconv"
    output_name = "output"

    def __init__(self, config: WaveGANConfig, n_outputs: int, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.n_outputs = int(n_outputs)
        c = config
        self.blocks = []
        for i, stride in enumerate(c.strides()):
            self.blocks.append(DownConvBlock(
                c.dim * 2 ** i, c.kernel_len, stride, batchnorm=c.batchnorm and i > 0,
                name=f"{self.block_prefix}_{i}"))
        self.phase_shuffles = [
            PhaseShuffle(c.phaseshuffle_rad, name=f"phaseshuffle_{i}")
            for i in range(N_SHUFFLED_BLOCKS)]
        self.flatten = keras.layers.Flatten(name="flatten")
        self.dense = keras.layers.Dense(self.n_outputs, name=self.output_name)
        # A plain holder: Keras must not track the functional view as a second owner of the
        # layers (it is built after this model and shares its variables).
        self._views = _ViewCache()

    def _as_3d(self, x):
        x = tf.cast(x, self.compute_dtype)  # a cast, so bfloat16 mixed precision works too
        return x[:, :, tf.newaxis] if x.shape.rank == 2 else x

    def build(self, input_shape=None):
        if not self.built:
            c = self.config
            self.call(tf.zeros([1, c.slice_len, c.num_channels]), training=False)
        super().build(input_shape)

    def call(self, x, training=None, phases=None):
        """x [B, slice_len] or [B, slice_len, nch] -> logits [B, n_outputs].

        ``phases``: optional list of 4 fixed phase-shuffle shifts (for tests / exact replays).
        """
        x = self._as_3d(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < N_SHUFFLED_BLOCKS:
                phase = None if phases is None else phases[i]
                x = self.phase_shuffles[i](x, training=training, phase=phase)
        # Logits in float32 whatever the compute dtype (mixed precision).
        return tf.cast(self.dense(self.flatten(x)), tf.float32)

    @property
    def feature_model(self) -> keras.Model:
        """Functional view sharing this model's layers: x -> {'conv1'.., 'logits'}."""
        if self._views.features is None:
            self.build()
            c = self.config
            inp = keras.Input(shape=(c.slice_len, c.num_channels), name="audio")
            outs = collections.OrderedDict()
            h = inp
            for (name, _, _), block in zip(layer_geometry(c), self.blocks):
                h = block(h)
                outs[name] = h
            outs["logits"] = self.dense(self.flatten(h))
            self._views.features = keras.Model(inp, outs, name=f"{self.name}_features")
        return self._views.features

    def layer_outputs(self, x):
        """Post-activation output of every conv block and the logits, phase shuffle off.

        x [B, slice_len] (or [B, slice_len, nch]) -> OrderedDict
        {'conv1': [B, slice_len/4, d], ..., 'conv5': [B, 16, 16d], ('conv6'), 'logits'}.
        """
        outs = self.feature_model(self._as_3d(x), training=False)
        ordered = collections.OrderedDict((name, outs[name]) for name, _, _ in
                                          layer_geometry(self.config))
        ordered["logits"] = self._squeeze_logits(outs["logits"])
        return ordered

    def _squeeze_logits(self, logits):
        return logits

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}


class WaveGANDiscriminator(ConvEncoder):
    """D: audio [B, slice_len(, nch)] -> one critic logit per example, [B]."""

    def __init__(self, config: WaveGANConfig, **kwargs):
        kwargs.setdefault("name", "D")
        super().__init__(config, 1, **kwargs)

    def call(self, x, training=None, phases=None):
        return super().call(x, training=training, phases=phases)[:, 0]

    def _squeeze_logits(self, logits):
        return logits[:, 0]

    @classmethod
    def from_config(cls, cfg):
        return cls(WaveGANConfig.from_dict(cfg["config"]), name=cfg.get("name", "D"))


class QNetwork(ConvEncoder):
    """Q (ciwGAN / fiwGAN): audio [B, slice_len(, nch)] -> code logits [B, num_categ].

    Q only ever sees generated audio in training and learns to recover the code in z from it
    (InfoGAN-style).  Variables follow the original scope names (``Q/Qdownconv_i``,
    ``Q/Qoutput``).  Phase shuffle (radius ``config.phaseshuffle_rad``) is applied in training
    only; ``layer_outputs(x)`` gives conv1..conv5 post-activation maps and the logits.
    """

    block_prefix = "Qdownconv"
    output_name = "Qoutput"

    def __init__(self, config: WaveGANConfig, **kwargs):
        kwargs.setdefault("name", "Q")
        super().__init__(config, config.num_categ, **kwargs)

    @classmethod
    def from_config(cls, cfg):
        return cls(WaveGANConfig.from_dict(cfg["config"]), name=cfg.get("name", "Q"))
