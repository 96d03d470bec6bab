"""Losses of the original training scripts (WGAN-GP and the older GAN losses, Q losses)."""

from __future__ import annotations

import tensorflow as tf

GAN_LOSSES = ("wgan-gp", "wgan", "lsgan", "dcgan")
GP_LAMBDA = 10.0


def q_loss(model: str, code, q_logits):
    """Q's loss on the code part of z.

    ciwGAN: mean over the batch of softmax cross-entropy(labels=code, logits).
    fiwGAN: mean over batch and bits of sigmoid cross-entropy(labels=bits, logits).
    code, q_logits: [B, num_categ].
    """
    if model == "ciwgan":
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=code, logits=q_logits))
    if model == "fiwgan":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=code, logits=q_logits))
    raise ValueError(f"no Q loss for model {model!r}")


def q_accuracy(model: str, code, q_logits):
    """Fraction of generated examples whose code Q recovers (fiwGAN: of bits)."""
    if model == "ciwgan":
        hit = tf.equal(tf.argmax(q_logits, 1), tf.argmax(code, 1))
    else:
        hit = tf.equal(q_logits > 0, code > 0.5)
    return tf.reduce_mean(tf.cast(hit, tf.float32))


def generator_loss(loss: str, d_fake):
    """G's adversarial loss from D's logits on G(z), [B]."""
    if loss in ("wgan-gp", "wgan"):
        return -tf.reduce_mean(d_fake)
    if loss == "lsgan":
        return tf.reduce_mean((d_fake - 1.0) ** 2)
    if loss == "dcgan":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            logits=d_fake, labels=tf.ones_like(d_fake)))
    raise ValueError(f"unknown loss {loss!r}; expected one of {GAN_LOSSES}")


def discriminator_loss(loss: str, d_real, d_fake):
    """D's loss without the gradient penalty (added by the training step for wgan-gp)."""
    if loss in ("wgan-gp", "wgan"):
        return tf.reduce_mean(d_fake) - tf.reduce_mean(d_real)
    if loss == "lsgan":
        return (tf.reduce_mean((d_real - 1.0) ** 2) + tf.reduce_mean(d_fake ** 2)) / 2.0
    if loss == "dcgan":
        fake = tf.nn.sigmoid_cross_entropy_with_logits(logits=d_fake, labels=tf.zeros_like(d_fake))
        real = tf.nn.sigmoid_cross_entropy_with_logits(logits=d_real, labels=tf.ones_like(d_real))
        return (tf.reduce_mean(fake) + tf.reduce_mean(real)) / 2.0
    raise ValueError(f"unknown loss {loss!r}; expected one of {GAN_LOSSES}")


def gradient_penalty_from_grads(grads):
    """WGAN-GP penalty from dD/dx_hat [B, T, C]: mean((||g||_2 - 1)^2) and the slopes [B]."""
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2]))
    return tf.reduce_mean((slopes - 1.0) ** 2), slopes
