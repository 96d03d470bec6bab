"""ciwGAN / fiwGAN Q-network: D's layout with a ``num_categ``-way linear output.

Q only ever sees generated audio in training and learns to recover the code in z from it
(InfoGAN-style).  Variables follow the original scope names (``Q/Qdownconv_i``, ``Q/Qoutput``).
"""

from __future__ import annotations

from wavegan.config import WaveGANConfig
from wavegan.discriminator import ConvEncoder


class QNetwork(ConvEncoder):
    """Q: audio [B, slice_len(, nch)] -> code logits [B, num_categ].

    Phase shuffle (radius ``config.phaseshuffle_rad``) is applied in training only.
    ``layer_outputs(x)`` gives conv1..conv5 post-activation maps and the logits.
    """

    block_prefix = "Qdownconv"
    output_name = "Qoutput"

    def __init__(self, config: WaveGANConfig, **kwargs):
        kwargs.setdefault("name", "Q")
        super().__init__(config, config.num_categ, **kwargs)

    @classmethod
    def from_config(cls, cfg):
        return cls(WaveGANConfig.from_dict(cfg["config"]), name=cfg.get("name", "Q"))
