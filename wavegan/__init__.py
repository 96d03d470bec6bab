"""WaveGAN (Donahue et al. 2019) in Keras 3, faithful to the original TF1 code.

    from wavegan import load_models
    config, G, D, Q = load_models("path/to/model.ckpt-N")   # TF1 prefix, ours, or a folder
    Q.layer_outputs(x)   # {'conv1': [B, 4096, d], ..., 'conv5': [B, 16, 16d], 'logits': ...}
"""

from .checkpoints import build_models, load_models, model_checkpoint  # noqa: F401
from .config import WaveGANConfig, layer_geometry  # noqa: F401
from .discriminator import WaveGANDiscriminator  # noqa: F401
from .generator import WaveGANGenerator  # noqa: F401
from .layers import PhaseShuffle  # noqa: F401
from .tf1_checkpoint import CheckpointError, load_tf1_checkpoint  # noqa: F401
