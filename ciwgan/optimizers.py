"""The TF1 optimizers of the original training scripts, update rule for update rule.

Keras' own optimizers differ from ``tf.compat.v1.train`` ones (Keras' RMSprop starts its
mean-square accumulator at zeros and puts epsilon outside the square root; Keras' Adam folds
epsilon differently), so a faithful port carries its own:

TF1 Adam (``ApplyAdam`` kernel), t = number of updates so far + 1:
    alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
    w -= m * alpha / (sqrt(v) + epsilon)                      (epsilon 1e-8)
    beta1_power *= beta1; beta2_power *= beta2                (they start at beta1, beta2)
TF1 RMSProp (``ApplyRMSProp`` kernel), mean square ``ms`` initialised to ONES:
    ms += (g^2 - ms) * (1 - decay)
    mom = momentum * mom + lr * g / sqrt(ms + epsilon)        (epsilon 1e-10, momentum 0)
    w -= mom
Slot names in TF1 checkpoints: ``<var>/Adam`` (m), ``<var>/Adam_1`` (v), ``<var>/RMSProp``
(ms), ``<var>/RMSProp_1`` (mom).
"""

from __future__ import annotations

from typing import Dict, Sequence

import tensorflow as tf


def _slot(var, init: str, name: str) -> tf.Variable:
    fill = tf.ones if init == "ones" else tf.zeros
    return tf.Variable(fill(var.shape, dtype=var.dtype), trainable=False, name=name)


def _var_key(var) -> str:
    return getattr(var, "path", None) or var.name


class TF1Optimizer(tf.Module):
    """Base: one list of slot variables per slot name, aligned with ``variables``.

    ``slot(name, var)`` finds a slot by the model variable; ``tf1_slot_suffixes`` maps slot
    names to the suffixes TF1 gives them in checkpoints.
    """

    slot_inits: Dict[str, str] = {}
    tf1_slot_suffixes: Dict[str, str] = {}

    def __init__(self, variables: Sequence, name: str):
        super().__init__(name=name)
        self._variables = list(variables)
        self._index = {id(v): i for i, v in enumerate(self._variables)}
        self.slots = {slot: [_slot(v, init, f"{slot}_{i}") for i, v in enumerate(self._variables)]
                      for slot, init in self.slot_inits.items()}

    def slot(self, slot_name: str, var):
        return self.slots[slot_name][self._index[id(var)]]

    def has_variable(self, var) -> bool:
        return id(var) in self._index

    def apply_gradients(self, grads):
        if len(grads) != len(self._variables):
            raise ValueError(f"{self.name}: {len(grads)} gradients for "
                             f"{len(self._variables)} variables")
        shared = self._prepare()
        for i, (var, grad) in enumerate(zip(self._variables, grads)):
            if grad is None:
                raise ValueError(f"{self.name}: no gradient for {_var_key(var)}")
            self._apply_one(i, var, tf.convert_to_tensor(grad), shared)
        self._finish()

    def _prepare(self):
        """Values shared by all variables of one update (e.g. Adam's step size)."""
        return None

    def _apply_one(self, i, var, grad, shared):
        raise NotImplementedError

    def _finish(self):
        pass


class TF1Adam(TF1Optimizer):
    """``tf.compat.v1.train.AdamOptimizer`` (see the module docstring for the rule)."""

    slot_inits = {"m": "zeros", "v": "zeros"}
    tf1_slot_suffixes = {"m": "Adam", "v": "Adam_1"}

    def __init__(self, variables, learning_rate=1e-4, beta1=0.5, beta2=0.9, epsilon=1e-8,
                 name="adam"):
        super().__init__(variables, name)
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.beta1_power = tf.Variable(self.beta1, trainable=False, name="beta1_power")
        self.beta2_power = tf.Variable(self.beta2, trainable=False, name="beta2_power")

    def _prepare(self):
        return self.learning_rate * tf.sqrt(1.0 - self.beta2_power) / (1.0 - self.beta1_power)

    def _apply_one(self, i, var, grad, alpha):
        m, v = self.slots["m"][i], self.slots["v"][i]
        m.assign_add((grad - m) * (1.0 - self.beta1))
        v.assign_add((tf.square(grad) - v) * (1.0 - self.beta2))
        var.assign_sub((m * alpha) / (tf.sqrt(v) + self.epsilon))

    def _finish(self):
        self.beta1_power.assign(self.beta1_power * self.beta1)
        self.beta2_power.assign(self.beta2_power * self.beta2)


class TF1RMSProp(TF1Optimizer):
    """``tf.compat.v1.train.RMSPropOptimizer`` (decay 0.9, momentum 0, epsilon 1e-10)."""

    slot_inits = {"ms": "ones", "mom": "zeros"}
    tf1_slot_suffixes = {"ms": "RMSProp", "mom": "RMSProp_1"}

    def __init__(self, variables, learning_rate=1e-4, decay=0.9, momentum=0.0, epsilon=1e-10,
                 name="rmsprop"):
        super().__init__(variables, name)
        self.learning_rate = float(learning_rate)
        self.decay, self.momentum, self.epsilon = float(decay), float(momentum), float(epsilon)

    def _apply_one(self, i, var, grad, shared):
        ms, mom = self.slots["ms"][i], self.slots["mom"][i]
        ms.assign_add((tf.square(grad) - ms) * (1.0 - self.decay))
        mom.assign(mom * self.momentum + (grad * self.learning_rate) / tf.sqrt(ms + self.epsilon))
        var.assign_sub(mom)


def make_gan_optimizers(loss: str, g_vars, d_vars):
    """G's and D's optimizers as the original creates them for each loss."""
    if loss == "wgan-gp":
        return (TF1Adam(g_vars, 1e-4, 0.5, 0.9, name="g_adam"),
                TF1Adam(d_vars, 1e-4, 0.5, 0.9, name="d_adam"))
    if loss == "dcgan":
        return (TF1Adam(g_vars, 2e-4, 0.5, 0.999, name="g_adam"),
                TF1Adam(d_vars, 2e-4, 0.5, 0.999, name="d_adam"))
    if loss == "lsgan":
        return TF1RMSProp(g_vars, 1e-4, name="g_rmsprop"), TF1RMSProp(d_vars, 1e-4, name="d_rmsprop")
    if loss == "wgan":
        return TF1RMSProp(g_vars, 5e-5, name="g_rmsprop"), TF1RMSProp(d_vars, 5e-5, name="d_rmsprop")
    raise ValueError(f"unknown loss {loss!r}")
