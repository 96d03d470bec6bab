"""The training step of WaveGAN / ciwGAN / fiwGAN, as the original training scripts run it.

One iteration = ``disc_nupdates`` (5) D updates, each on a new real batch and new z, then one
G (+Q) update on new z:

    D update:  G_z = G(z, training=True)      (no gradient into G; G's batch-norm moving
                                               statistics are updated, as in the original)
               D_loss = mean(D(G_z)) - mean(D(x)) + 10 * mean((||dD(x_hat)/dx_hat|| - 1)^2),
               x_hat = x + alpha * (G_z - x), alpha ~ U(0, 1) per example          (wgan-gp)
               Adam(1e-4, 0.5, 0.9) on D's variables
    G+Q update: G_z = G(z, training=True), one forward pass shared by both losses
               G_loss = -mean(D(G_z));  Q_loss = cross-entropy(code(z), Q(G_z))
               Adam(1e-4, 0.5, 0.9) on G with dG_loss;  RMSProp(1e-4) on Q AND G with dQ_loss

The original runs G's Adam and the Q/G RMSProp in one ``sess.run`` with no order between them.
``gq_semantics='simultaneous'`` (default: what the original's scheduling was observed to do)
computes both gradients at the same weights, then applies Adam, then RMSProp;
``'sequential'`` applies Adam first and recomputes Q's loss with the updated G.

Mixed precision: under Keras' "mixed_float16" policy (G's compute dtype float16) each update
scales its loss by a :class:`DynamicLossScale` (one for the D update, one for the G+Q update),
unscales the gradients, and skips the update (optimizer state untouched, the scale halved)
when any gradient is not finite; after ``growth_interval`` finite steps the scale doubles.
"mixed_bfloat16" needs no scaling (float32's exponent range).  Variables stay float32.

Exact-reproduction hooks: :meth:`GANTrainer.d_update` and :meth:`GANTrainer.gq_update` take
explicit ``x``, ``z`` and ``alpha``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Dict, Optional

import tensorflow as tf

from wavegan.config import WaveGANConfig
from wavegan.tf1_checkpoint import CheckpointError, encoder_links, generator_links

from . import losses
from .codes import sample_training_z
from .optimizers import TF1RMSProp, make_gan_optimizers

log = logging.getLogger(__name__)

GQ_SEMANTICS = ("simultaneous", "sequential")
WGAN_CLIP = 0.01


class DynamicLossScale(tf.Module):
    """The usual dynamic loss scale (as Keras' LossScaleOptimizer): start at ``initial``,
    halve on non-finite gradients (that update is skipped), double after ``growth_interval``
    consecutive finite ones."""

    def __init__(self, initial: float = 2.0 ** 15, growth_interval: int = 2000,
                 name: str = "loss_scale"):
        super().__init__(name=name)
        self.scale = tf.Variable(float(initial), dtype=tf.float32, trainable=False,
                                 name="scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
        self.growth_interval = int(growth_interval)

    def scaled(self, loss):
        return loss * tf.cast(self.scale, loss.dtype)

    def unscale(self, grads):
        """(gradients / scale, all finite?)"""
        inv = 1.0 / self.scale
        grads = [None if g is None else g * tf.cast(inv, g.dtype) for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g))
                                for g in grads if g is not None])
        return grads, finite

    def update(self, finite):
        """Adjust the scale after a step whose gradients were ``finite`` (a bool tensor)."""
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.growth_interval)
        new_scale = tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale),
                             tf.maximum(self.scale * 0.5, 1.0))
        self.good_steps.assign(tf.where(tf.logical_and(finite, tf.logical_not(grow)),
                                        self.good_steps + 1, tf.zeros_like(self.good_steps)))
        self.scale.assign(new_scale)


class GANTrainer(tf.Module):
    """Owns the optimizers, the step counter and the random state of one training run.

    G, D, Q: the Keras models (Q None for WaveGAN).  ``loss``: 'wgan-gp' (default), 'wgan'
    (weight clipping), 'lsgan', 'dcgan'.  ``seed`` seeds z, alpha and phase shuffle.
    ``loss_scaling``: None = on exactly when G computes in float16 (Keras "mixed_float16");
    True / False force it.
    """

    def __init__(self, config: WaveGANConfig, G, D, Q=None, loss: str = "wgan-gp",
                 disc_nupdates: int = 5, seed: int = 0, gq_semantics: str = "simultaneous",
                 jit_compile: bool = False, strategy=None, loss_scaling: Optional[bool] = None,
                 fused_iteration: bool = True, name: str = "trainer"):
        super().__init__(name=name)
        if loss not in losses.GAN_LOSSES:
            raise ValueError(f"loss={loss!r}: expected one of {losses.GAN_LOSSES}")
        if gq_semantics not in GQ_SEMANTICS:
            raise ValueError(f"gq_semantics={gq_semantics!r}: expected one of {GQ_SEMANTICS}")
        if config.has_q != (Q is not None):
            raise ValueError(f"model {config.model!r} {'needs' if config.has_q else 'has no'} Q")
        self.config, self.G, self.D, self.Q = config, G, D, Q
        self.loss, self.disc_nupdates, self.gq_semantics = loss, int(disc_nupdates), gq_semantics
        for net in (G, D, Q):
            if net is not None:
                net.build()
        self.strategy = strategy
        if strategy is not None and (config.batchnorm or gq_semantics != "simultaneous"):
            raise ValueError("--distribute=mirrored supports models without batch norm and the "
                             "simultaneous G+Q update (batch statistics would be per replica)")
        if loss_scaling is None:
            loss_scaling = G.compute_dtype == "float16"
        if loss_scaling and strategy is not None:
            raise ValueError("float16 loss scaling (mixed_float16) is not supported with "
                             "--distribute=mirrored: use mixed_bfloat16 (CIWGAN_MIXED_POLICY)")
        self.loss_scaling = bool(loss_scaling)
        self.rng = tf.random.Generator.from_seed(seed)  # outside any strategy scope
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            self._make_state(loss)
        self._d_fn = tf.function(self._d_update if strategy is None else self._d_update_dist,
                                 jit_compile=jit_compile)
        self._gq_fn = tf.function(self._gq_update if strategy is None else self._gq_update_dist,
                                  jit_compile=jit_compile)
        # A whole iteration (disc_nupdates D updates + the G+Q update) as ONE function: one
        # dispatch and one host round trip instead of six (issue 28; at dim 8 it gained 0-30 %
        # in loaded runs, docs/performance.md).  fused_iteration=False keeps six calls (the
        # loop before issue 28; the exact path, benchmarks).
        self._iteration_fn = (tf.function(self._iteration, jit_compile=jit_compile)
                              if fused_iteration and strategy is None else None)
        # Its random draws come from a function of their own, never compiled with XLA (whose
        # random kernels give other numbers than TensorFlow's from the same state).
        self._draws_fn = tf.function(self._iteration_draws)

    def _make_state(self, loss):
        """Optimizers and the step counter (under the strategy's scope when distributed)."""
        G, Q = self.G, self.Q
        self.g_vars = list(G.trainable_variables)
        self.d_vars = list(self.D.trainable_variables)
        self.q_vars = list(Q.trainable_variables) if Q is not None else []
        self.g_opt, self.d_opt = make_gan_optimizers(loss, self.g_vars, self.d_vars)
        # The original's Q optimizer updates Q's and G's variables.
        self.q_opt = TF1RMSProp(self.q_vars + self.g_vars, 1e-4, name="q_rmsprop") if Q else None
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.d_scale = DynamicLossScale(name="d_loss_scale") if self.loss_scaling else None
        self.gq_scale = DynamicLossScale(name="gq_loss_scale") if self.loss_scaling else None

    # ----------------------------------------------------------------------------------------
    # Sampling
    # ----------------------------------------------------------------------------------------
    def sample_z(self, batch_size: int):
        return sample_training_z(self.config, batch_size, self.rng)

    def sample_alpha(self, batch_size: int):
        return self.rng.uniform([batch_size, 1, 1], 0.0, 1.0)

    def _as_audio(self, x):
        """Real audio as D sees it: [B, slice_len, nch] float32."""
        x = tf.convert_to_tensor(x, tf.float32)
        return x[:, :, tf.newaxis] if x.shape.rank == 2 else x

    # ----------------------------------------------------------------------------------------
    # The two updates (traced once per input shape)
    # ----------------------------------------------------------------------------------------
    def _draw_phases(self):
        """Phase-shuffle shifts for one call of D or Q: 4 ints in [-rad, rad], or None.

        Drawn from the trainer's generator (checkpointed with the run, shared by all replicas
        under a distribution strategy) instead of each layer's own seed.
        """
        rad = self.config.phaseshuffle_rad
        if rad == 0:
            return None
        return tf.unstack(self.rng.uniform([4], -rad, rad + 1, dtype=tf.int32))

    def _d_grads(self, x, z, alpha, phases):
        """D's loss, its gradients w.r.t. D's variables, and the monitored values.

        phases: three lists of shifts (real, generated, interpolated calls) or Nones.
        """
        G, D = self.G, self.D
        # G runs in training mode (its batch norm updates its moving statistics, as the
        # original's update ops attached to G's output do) but outside the tape: no gradient
        # flows into G during D updates.
        g_z = G(z, training=True)
        with tf.GradientTape() as tape:
            d_x = D(x, training=True, phases=phases[0])
            d_g_z = D(g_z, training=True, phases=phases[1])
            d_loss = losses.discriminator_loss(self.loss, d_x, d_g_z)
            out = {"D_x": d_x, "D_G_z": d_g_z}
            if self.loss == "wgan-gp":
                x_hat = x + alpha * (g_z - x)
                with tf.GradientTape() as gp_tape:
                    gp_tape.watch(x_hat)
                    d_interp = D(x_hat, training=True, phases=phases[2])
                # tf.gradients of the [B] logits w.r.t. x_hat sums over the batch, as here.
                # (Not loss-scaled under float16: an overflow here would make D_loss itself
                # inf, which stops the training loop; the outer gradients are scaled.)
                grads = gp_tape.gradient(d_interp, x_hat)
                gp, slopes = losses.gradient_penalty_from_grads(grads)
                d_loss += losses.GP_LAMBDA * gp
                out.update(gradient_penalty=gp, slopes=slopes)
            if self.d_scale is not None:  # inside the tape
                scaled_loss = self.d_scale.scaled(d_loss)
        out["D_loss"] = d_loss
        out["G_z_rms"] = tf.reduce_mean(tf.sqrt(tf.reduce_mean(tf.square(g_z), axis=[1, 2])))
        out["x_rms"] = tf.reduce_mean(tf.sqrt(tf.reduce_mean(tf.square(x), axis=[1, 2])))
        if self.d_scale is None:
            return tape.gradient(d_loss, self.d_vars), out
        grads, finite = self.d_scale.unscale(
            tape.gradient(scaled_loss, self.d_vars))
        out["D_grads_finite"] = finite
        return grads, out

    def _apply_d(self, grads, finite=None):
        """D's update, or (float16 loss scaling, a non-finite gradient) none."""
        if finite is None:
            self._apply_d_now(grads)
            return
        tf.cond(finite, lambda: self._apply_d_now(grads), tf.no_op)
        self.d_scale.update(finite)

    def _apply_d_now(self, grads):
        self.d_opt.apply_gradients(grads)
        if self.loss == "wgan":
            for var in self.d_vars:
                var.assign(tf.clip_by_value(var, -WGAN_CLIP, WGAN_CLIP))
        return tf.no_op()

    def _d_update(self, x, z, alpha, phases=None):
        if phases is None:
            phases = [self._draw_phases() for _ in range(3)]
        grads, out = self._d_grads(x, z, alpha, phases)
        self._apply_d(grads, out.pop("D_grads_finite", None))
        return out

    def _iteration_draws(self, batch: int):
        """Every random draw of one iteration, in the order of :meth:`d_update` and
        :meth:`gq_update` called one by one (per D update z, alpha, then its three calls'
        phases; then G's z and two phases), so both give the same numbers from the same
        generator state: ([(z, alpha, phases)] * disc_nupdates, (z, phases))."""
        d_draws = []
        for _ in range(self.disc_nupdates):
            z = self.sample_z(batch)
            alpha = self.sample_alpha(batch)
            d_draws.append((z, alpha, [self._draw_phases() for _ in range(3)]))
        z = self.sample_z(batch)
        return d_draws, (z, [self._draw_phases() for _ in range(2)])

    def _iteration(self, xs, draws):
        """``xs``: disc_nupdates real batches [B, slice_len, nch]; ``draws``: as
        :meth:`_iteration_draws` returns them."""
        d_draws, (z_g, phases_g) = draws
        d_out = {}
        for x, (z, alpha, phases) in zip(xs, d_draws):  # unrolled: one graph
            d_out = self._d_update(x, z, alpha, phases)
        return {**d_out, **self._gq_update(z_g, phases_g)}

    def _q_terms(self, z, g_z, phases):
        n = self.config.num_categ
        code = z[:, :n]
        q_logits = self.Q(g_z, training=True, phases=phases)[:, :n]
        return (losses.q_loss(self.config.model, code, q_logits),
                losses.q_accuracy(self.config.model, code, q_logits))

    def _gq_grads(self, z, phases):
        """Gradients of G_loss (G's variables) and Q_loss (Q's + G's) at the same weights."""
        G, D, Q = self.G, self.D, self.Q
        out = {}
        with tf.GradientTape(persistent=True) as tape:
            g_z = G(z, training=True)
            g_loss = losses.generator_loss(self.loss, D(g_z, training=True, phases=phases[0]))
            if Q is not None:
                q_loss, q_acc = self._q_terms(z, g_z, phases[1])
                out.update(Q_loss=q_loss, Q_accuracy=q_acc)
            sc = self.gq_scale
            if sc is not None:  # inside the tape
                scaled_g = sc.scaled(g_loss)
                scaled_q = sc.scaled(q_loss) if Q is not None else None
        if sc is None:
            g_grads = tape.gradient(g_loss, self.g_vars)
            q_grads = tape.gradient(q_loss, self.q_vars + self.g_vars) if Q is not None else []
        else:
            g_grads, g_ok = sc.unscale(tape.gradient(scaled_g, self.g_vars))
            q_grads, q_ok = (sc.unscale(tape.gradient(scaled_q, self.q_vars + self.g_vars))
                             if Q is not None else ([], tf.constant(True)))
            out["GQ_grads_finite"] = tf.logical_and(g_ok, q_ok)
        del tape
        out["G_loss"] = g_loss
        return g_grads, q_grads, out

    def _apply_gq(self, g_grads, q_grads, finite=None):
        """Both updates, or (float16 loss scaling, a non-finite gradient) neither; the step
        counter counts iterations, skipped or not."""
        if finite is None:
            self._apply_gq_now(g_grads, q_grads)
        else:
            tf.cond(finite, lambda: self._apply_gq_now(g_grads, q_grads), tf.no_op)
            self.gq_scale.update(finite)
        self.step.assign_add(1)

    def _apply_gq_now(self, g_grads, q_grads):
        self.g_opt.apply_gradients(g_grads)
        if self.Q is not None:
            self.q_opt.apply_gradients(q_grads)
        return tf.no_op()

    def _gq_update(self, z, phases=None):
        if phases is None:
            phases = [self._draw_phases() for _ in range(2)]
        if self.Q is None or self.gq_semantics == "simultaneous":
            g_grads, q_grads, out = self._gq_grads(z, phases)
            self._apply_gq(g_grads, q_grads, out.pop("GQ_grads_finite", None))
            return out
        # Sequential: G's Adam first, then Q's loss and gradients with the updated G.
        sc = self.gq_scale
        with tf.GradientTape() as tape:
            g_loss = losses.generator_loss(
                self.loss, self.D(self.G(z, training=True), training=True, phases=phases[0]))
            scaled = g_loss if sc is None else sc.scaled(g_loss)
        if sc is None:
            self.g_opt.apply_gradients(tape.gradient(g_loss, self.g_vars))
        else:
            grads, ok = sc.unscale(tape.gradient(scaled, self.g_vars))
            tf.cond(ok, lambda: self._apply_opt(self.g_opt, grads), tf.no_op)
            sc.update(ok)
        with tf.GradientTape() as tape:
            q_loss, q_acc = self._q_terms(z, self.G(z, training=True), phases[1])
            scaled = q_loss if sc is None else sc.scaled(q_loss)
        if sc is None:
            self.q_opt.apply_gradients(tape.gradient(q_loss, self.q_vars + self.g_vars))
        else:
            grads, ok = sc.unscale(tape.gradient(scaled, self.q_vars + self.g_vars))
            tf.cond(ok, lambda: self._apply_opt(self.q_opt, grads), tf.no_op)
            sc.update(ok)
        self.step.assign_add(1)
        return {"G_loss": g_loss, "Q_loss": q_loss, "Q_accuracy": q_acc}

    @staticmethod
    def _apply_opt(opt, grads):
        opt.apply_gradients(grads)
        return tf.no_op()

    # ----------------------------------------------------------------------------------------
    # The same updates under a tf.distribute strategy (data parallel, mean of gradients)
    # ----------------------------------------------------------------------------------------
    def _split(self, tensor):
        """A global batch as per-replica slices (equal shares, in replica order)."""
        n = self.strategy.num_replicas_in_sync
        per = tensor.shape[0] // n
        if per * n != tensor.shape[0]:
            raise ValueError(f"batch {tensor.shape[0]} does not split over {n} replicas")
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tensor[ctx.replica_id_in_sync_group * per:
                               (ctx.replica_id_in_sync_group + 1) * per])

    def _gather_out(self, per_replica_out):
        """Scalars: mean over replicas; per-example tensors: concatenated in replica order."""
        out = {}
        for key, value in per_replica_out.items():
            rank = self.strategy.experimental_local_results(value)[0].shape.rank
            out[key] = (self.strategy.reduce("MEAN", value, axis=None) if rank == 0
                        else self.strategy.gather(value, axis=0))
        return out

    def _mean_grads(self, per_replica_grads):
        # Each replica's loss is a mean over its equal share, so the mean of the replicas'
        # gradients is the gradient of the global batch mean.
        return [self.strategy.reduce("MEAN", g, axis=None) for g in per_replica_grads]

    def _d_update_dist(self, x, z, alpha):
        phases = [self._draw_phases() for _ in range(3)]
        grads, out = self.strategy.run(lambda *a: self._d_grads(*a, phases),
                                       args=(self._split(x), self._split(z), self._split(alpha)))
        self._apply_d(self._mean_grads(grads))
        return self._gather_out(out)

    def _gq_update_dist(self, z):
        phases = [self._draw_phases() for _ in range(2)]
        g_grads, q_grads, out = self.strategy.run(
            lambda z_: self._gq_grads(z_, phases), args=(self._split(z),))
        self._apply_gq(self._mean_grads(g_grads), self._mean_grads(q_grads))
        return self._gather_out(out)

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------
    def d_update(self, x, z=None, alpha=None) -> Dict[str, tf.Tensor]:
        """One D update on real audio ``x`` [B, slice_len(, nch)].

        ``z`` [B, latent_dim] and ``alpha`` [B, 1, 1] are drawn when not given.  Returns the
        values before the update: D_loss, D_x, D_G_z, gradient_penalty, slopes (wgan-gp).
        """
        x = self._as_audio(x)
        batch = x.shape[0]
        z = self.sample_z(batch) if z is None else tf.convert_to_tensor(z, tf.float32)
        alpha = (self.sample_alpha(batch) if alpha is None
                 else tf.reshape(tf.convert_to_tensor(alpha, tf.float32), [batch, 1, 1]))
        return self._d_fn(x, z, alpha)

    def gq_update(self, z=None, batch_size: Optional[int] = None) -> Dict[str, tf.Tensor]:
        """One G (+Q) update; ``z`` drawn (``batch_size`` rows) when not given."""
        if z is None:
            if batch_size is None:
                raise ValueError("gq_update needs z or batch_size")
            z = self.sample_z(batch_size)
        return self._gq_fn(tf.convert_to_tensor(z, tf.float32))

    def train_iteration(self, x_batches) -> Dict[str, tf.Tensor]:
        """``disc_nupdates`` D updates (one real batch each) then one G+Q update.

        ``x_batches``: a sequence of ``disc_nupdates`` real batches.  Returns the last D
        update's values and the G+Q update's values.
        """
        if len(x_batches) != self.disc_nupdates:
            raise ValueError(f"{len(x_batches)} real batches for {self.disc_nupdates} D updates")
        if self._iteration_fn is not None:
            xs = [self._as_audio(x) for x in x_batches]
            return self._iteration_fn(xs, self._draws_fn(int(xs[0].shape[0])))
        d_out = {}
        for x in x_batches:
            d_out = self.d_update(x)
        batch = self._as_audio(x_batches[0]).shape[0]
        return {**d_out, **self.gq_update(batch_size=batch)}

    # ----------------------------------------------------------------------------------------
    # TF1 optimizer state
    # ----------------------------------------------------------------------------------------
    def tf1_state_links(self, shapes=()):
        """(tf1 name, variable) for every optimizer slot and counter of the original graph."""
        links = []
        owners = [(generator_links(self.G, shapes), [self.g_opt, self.q_opt]),
                  (encoder_links(self.D, "D", shapes), [self.d_opt])]
        if self.Q is not None:
            owners.append((encoder_links(self.Q, "Q", shapes), [self.q_opt]))
        for model_links, opts in owners:
            for link in model_links:
                for opt in opts:
                    if opt is None or not opt.has_variable(link.variable):
                        continue
                    for slot, suffix in opt.tf1_slot_suffixes.items():
                        links.append((f"{link.tf1_name}/{suffix}", opt.slot(slot, link.variable)))
        if self.loss in ("wgan-gp", "dcgan"):
            # G's Adam is created first in the original, so its powers have no suffix.
            links += [("beta1_power", self.g_opt.beta1_power),
                      ("beta2_power", self.g_opt.beta2_power),
                      ("beta1_power_1", self.d_opt.beta1_power),
                      ("beta2_power_1", self.d_opt.beta2_power)]
        links.append(("global_step", self.step))
        return links

    def load_tf1_state(self, prefix: str, strict: bool = True) -> int:
        """Load optimizer slots, beta powers and global_step of a TF1 checkpoint.

        The models must already hold the checkpoint's weights (``load_tf1_checkpoint``).
        Returns the number of values loaded; with ``strict`` a missing slot is an error.
        """
        shapes = {n: tuple(s) for n, s in tf.train.list_variables(prefix)}
        reader = tf.train.load_checkpoint(prefix)
        links = self.tf1_state_links(shapes)
        missing = [name for name, _ in links if name not in shapes]
        if missing and strict:
            raise CheckpointError(f"{prefix}: optimizer state missing ({len(missing)}): "
                                  + ", ".join(missing[:12]) + (" ..." if len(missing) > 12 else ""))
        loaded = 0
        for name, var in links:
            if name in shapes:
                value = reader.get_tensor(name)
                # Slots have their variable's TF1 shape (conv2d_transpose: a leading 1).
                if value.size != int(tf.size(var)) or (
                        tuple(s for s in value.shape if s != 1)
                        != tuple(s for s in var.shape if s != 1)):
                    raise CheckpointError(f"{prefix}: {name} has shape {value.shape}, "
                                          f"expected {tuple(var.shape)}")
                var.assign(tf.cast(tf.reshape(value, var.shape), var.dtype))
                loaded += 1
        if missing:
            log.warning("%s: %d optimizer values not in the checkpoint (kept fresh): %s",
                        prefix, len(missing), ", ".join(missing[:6]))
        return loaded
