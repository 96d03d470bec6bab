"""ciwGAN / fiwGAN: the Q network, latent codes, losses, TF1-exact optimizers, training."""

from .qnetwork import QNetwork  # noqa: F401
