"""WaveGAN (Donahue et al. 2019) in Keras 3, faithful to the original TF1 code, with
ciwGAN / fiwGAN's Q network beside D (as in the original cinfowavegan.py).

    from wavegan import load_models
    config, G, D, Q = load_models("path/to/model.ckpt-N")   # TF1 prefix, ours, or a folder
    Q.layer_outputs(x)   # {'conv1': [B, 4096, d], ..., 'conv5': [B, 16, 16d], 'logits': ...}

Importing the package imports nothing heavy: each name below is imported from its module on
first use, so ``wavegan.config`` and ``wavegan.runtime`` (``request_exact_numerics()`` must
run before TensorFlow is imported) can be used without loading TensorFlow.
"""

import importlib

# name -> the module of this package that defines it
_EXPORTS = {
    "CheckpointError": "checkpoint_files", "PhaseShuffle": "layers",
    "QNetwork": "discriminator", "WaveGANConfig": "config",
    "WaveGANDiscriminator": "discriminator", "WaveGANGenerator": "generator",
    "build_models": "checkpoints", "layer_geometry": "config", "load_models": "checkpoints",
    "load_tf1_checkpoint": "tf1_checkpoint", "model_checkpoint": "checkpoints",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'wavegan' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # imported once
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
