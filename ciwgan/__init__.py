"""ciwGAN / fiwGAN on top of wavegan/: latent codes, losses, TF1-exact optimizers, the training
step and loop, generation from codes."""
