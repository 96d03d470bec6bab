"""WaveGAN (Donahue et al. 2019) in Keras 3, faithful to the original TF1 code, with
ciwGAN / fiwGAN's Q network beside D (as in the original cinfowavegan.py).

    from wavegan import load_models
    config, G, D, Q = load_models("path/to/model.ckpt-N")   # TF1 prefix, ours, or a folder
    Q.layer_outputs(x)   # {'conv1': [B, 4096, d], ..., 'conv5': [B, 16, 16d], 'logits': ...}
"""

from .checkpoints import build_models, load_models, model_checkpoint
from .config import WaveGANConfig, layer_geometry
from .discriminator import QNetwork, WaveGANDiscriminator
from .generator import WaveGANGenerator
from .layers import PhaseShuffle
from .tf1_checkpoint import CheckpointError, load_tf1_checkpoint

__all__ = ["CheckpointError", "PhaseShuffle", "QNetwork", "WaveGANConfig",
           "WaveGANDiscriminator", "WaveGANGenerator", "build_models", "layer_geometry",
           "load_models", "load_tf1_checkpoint", "model_checkpoint"]
