"""Mirrored-strategy step vs single-device step for the same global batch.

Run as a script (two logical CPU devices must be configured before TensorFlow starts):
    python tests/mirrored_check.py
One D update and one G+Q update on each; prints the largest differences of losses, optimizer
slots and weights and exits 1 if any exceeds its tolerance (float32 reduction order only).
"""

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    import numpy as np
    import tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    from ciwgan.trainer import GANTrainer
    from wavegan import WaveGANConfig, build_models

    import keras
    keras.utils.set_random_seed(3)
    config = WaveGANConfig(model="ciwgan", num_categ=4, dim=4, phaseshuffle_rad=2)
    G0, D0, Q0 = build_models(config)
    init = [v.numpy() for net in (G0, D0, Q0) for v in net.weights]

    def make(strategy):
        scope = strategy.scope() if strategy else contextlib.nullcontext()
        with scope:
            G, D, Q = build_models(config)
            for v, value in zip([v for net in (G, D, Q) for v in net.weights], init):
                v.assign(value)
        return GANTrainer(config, G, D, Q, seed=7, strategy=strategy)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single, mirrored = make(None), make(strategy)
    # One step: a D update and a G+Q update on the same global batch. (Over many steps the two
    # drift apart chaotically: Adam moves every weight by about +-lr whatever its gradient's
    # size, so a near-zero gradient whose sign differs by float rounding flips that weight.)
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, [8, 16384]).astype(np.float32)
    failures = []
    outs = []
    for trainer in (single, mirrored):
        z_d, alpha, z_g = trainer.sample_z(8), trainer.sample_alpha(8), trainer.sample_z(8)
        outs.append({**trainer.d_update(x, z_d, alpha), **trainer.gq_update(z_g)})
    for key in ("D_loss", "gradient_penalty", "G_loss", "Q_loss"):
        a, b = float(outs[0][key]), float(outs[1][key])
        if abs(a - b) > 1e-5 * max(abs(a), 1.0):
            failures.append(f"{key}: {a} vs {b}")
    # Optimizer slots are linear (m) or quadratic (v, ms) in the gradients: they must agree up
    # to float32 reduction order, tensor by tensor; so must the weights.
    worst_slot = 0.0
    for opt_s, opt_m in ((single.d_opt, mirrored.d_opt), (single.g_opt, mirrored.g_opt),
                         (single.q_opt, mirrored.q_opt)):
        for name in opt_s.slots:
            for a, b in zip(opt_s.slots[name], opt_m.slots[name]):
                a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
                worst_slot = max(worst_slot, float(np.max(np.abs(a - b)) /
                                                   max(np.max(np.abs(a)), 1e-30)))
    worst_weight = 0.0
    for net_s, net_m in ((single.G, mirrored.G), (single.D, mirrored.D), (single.Q, mirrored.Q)):
        for a, b in zip(net_s.weights, net_m.weights):
            a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
            worst_weight = max(worst_weight, float(np.max(np.abs(a - b))))
    print(f"replicas {strategy.num_replicas_in_sync}; largest slot difference (relative to the "
          f"slot's max) {worst_slot:.3g}; largest weight difference {worst_weight:.3g} "
          f"(learning rate 1e-4); D_loss {float(outs[0]['D_loss']):.6f} vs "
          f"{float(outs[1]['D_loss']):.6f}")
    if worst_slot > 1e-4:
        failures.append(f"slot difference {worst_slot:.3g} > 1e-4")
    # A weight moves by at most ~2e-4 in one step (Adam lr 1e-4 + RMSProp on G); a difference
    # below 1e-6 means every update agrees in sign and size.
    if worst_weight > 1e-6:
        failures.append(f"weight difference {worst_weight:.3g} > 1e-6")
    for f in failures:
        print("MISMATCH", f)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
