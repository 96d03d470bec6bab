"""WaveGAN generator (Donahue et al. 2019), as ``WaveGANGenerator`` of the original code.

Layout for 16384 samples, d = dim (z has latent_dim = 100 values):
    z [B, 100]
    z_project : dense -> [B, 16, 16d], (BN), ReLU
    upconv_0  : -> [B, 64, 8d],   (BN), ReLU
    upconv_1  : -> [B, 256, 4d],  (BN), ReLU
    upconv_2  : -> [B, 1024, 2d], (BN), ReLU
    upconv_3  : -> [B, 4096, d],  (BN), ReLU
    upconv_4  : -> [B, 16384, nch], tanh
    pp_filt   : optional conv1d(1 channel, length 512, no bias, 'same') after tanh
For 32768 / 65536 samples the projection is 32d wide, upconv_4 gives [B, 16384, d] (BN, ReLU)
and upconv_5 (stride 2 / 4) the output.  All kernels have length kernel_len (25), stride 4.
"""

from __future__ import annotations

import collections

import keras
import tensorflow as tf

from .config import WaveGANConfig
from .layers import Conv1D, Conv1DTranspose, NearestUpsampleConv1D, TF1BatchNorm


class WaveGANGenerator(keras.Model):
    """G: z [B, latent_dim] -> audio [B, slice_len, num_channels] in (-1, 1).

    ``training=True`` uses batch statistics in batch norm and updates its moving statistics
    (as the original's training graph does on every pass through G); ``training=False`` uses
    the moving statistics (the original ``infer()`` graph).
    """

    def __init__(self, config: WaveGANConfig, **kwargs):
        kwargs.setdefault("name", "G")
        super().__init__(**kwargs)
        self.config = config
        c = config
        self.z_project = keras.layers.Dense(16 * c.dim * c.dim_mul, name="z_project")
        self.z_project_bn = TF1BatchNorm(name="z_project_bn") if c.batchnorm else None

        # Output widths of the transposed convs: 8d, 4d, 2d, d, (d,) nch.
        widths = [c.dim * c.dim_mul // 2 ** (i + 1) for i in range(4)]
        if c.n_conv == 6:
            widths.append(c.dim)
        widths.append(c.num_channels)
        strides = c.strides()
        upconv_cls = Conv1DTranspose if c.upsample == "zeros" else NearestUpsampleConv1D
        self.upconvs = []
        self.upconv_bns = []
        for i, (width, stride) in enumerate(zip(widths, strides)):
            self.upconvs.append(upconv_cls(width, c.kernel_len, stride, name=f"upconv_{i}"))
            last = i == len(widths) - 1
            self.upconv_bns.append(
                TF1BatchNorm(name=f"upconv_{i}_bn") if c.batchnorm and not last else None)
        self.pp_filt = (Conv1D(1, c.genr_pp_len, 1, use_bias=False, name="pp_filt")
                        if c.genr_pp else None)

    def build(self, input_shape=None):
        if not self.built:
            self.layer_outputs(tf.zeros([1, self.config.latent_dim]), training=False)
        super().build(input_shape)

    def layer_outputs(self, z, training=False):
        """Every block's post-activation output, in order.

        Keys: 'z_project' [B, 16, 16d], 'upconv0'.. 'upconv4' (.. 'upconv5'); the last one is
        after tanh; 'pp' (after the post-processing filter) when present; 'output' = G(z).
        """
        outs = collections.OrderedDict()
        batch = tf.shape(z)[0]
        x = self.z_project(z)
        x = tf.reshape(x, [batch, 16, self.config.dim * self.config.dim_mul])
        if self.z_project_bn is not None:
            x = self.z_project_bn(x, training=training)
        x = tf.nn.relu(x)
        outs["z_project"] = x
        n = len(self.upconvs)
        for i, (upconv, bn) in enumerate(zip(self.upconvs, self.upconv_bns)):
            x = upconv(x)
            if bn is not None:
                x = bn(x, training=training)
            x = tf.nn.tanh(x) if i == n - 1 else tf.nn.relu(x)
            outs[f"upconv{i}"] = x
        if self.pp_filt is not None:
            x = self.pp_filt(x)
            outs["pp"] = x
        outs["output"] = x
        return outs

    def call(self, z, training=None):
        # Audio in float32 whatever the compute dtype (mixed precision).
        return tf.cast(self.layer_outputs(z, training=bool(training))["output"], tf.float32)

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, cfg):
        return cls(WaveGANConfig.from_dict(cfg["config"]), name=cfg.get("name", "G"))
