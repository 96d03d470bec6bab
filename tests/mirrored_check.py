"""Mirrored-strategy step vs single-device step for the same global batch.

Run as a script (two logical CPU devices must be configured before TensorFlow starts):
    python tests/mirrored_check.py
Two iterations on each; prints the largest differences of losses, optimizer slots and weight
updates and exits 1 if any exceeds its tolerance (float32 reduction order only).
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
    rng = np.random.RandomState(0)
    failures = []
    for it in range(2):
        xs = [rng.uniform(-1, 1, [8, 16384]).astype(np.float32) for _ in range(5)]
        out_s = single.train_iteration(xs)
        out_m = mirrored.train_iteration(xs)
        for key in ("D_loss", "gradient_penalty", "G_loss", "Q_loss"):
            a, b = float(out_s[key]), float(out_m[key])
            if abs(a - b) > 1e-5 * max(abs(a), 1.0):
                failures.append(f"iteration {it} {key}: {a} vs {b}")
    # Gradient statistics (Adam moments, RMSProp mean squares) are linear / quadratic in the
    # gradients: they must agree up to float32 reduction order, tensor by tensor.
    worst_slot = 0.0
    for opt_s, opt_m in ((single.d_opt, mirrored.d_opt), (single.g_opt, mirrored.g_opt),
                         (single.q_opt, mirrored.q_opt)):
        for name in opt_s.slots:
            for a, b in zip(opt_s.slots[name], opt_m.slots[name]):
                a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
                rel = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))
                worst_slot = max(worst_slot, rel)
    # Weights: Adam moves each weight by about +-lr per step whatever the gradient's size, so
    # a near-zero gradient whose sign differs by rounding flips that weight's step; compare
    # the total update normwise.
    worst_update = 0.0
    nets = [(single.G, mirrored.G), (single.D, mirrored.D), (single.Q, mirrored.Q)]
    flat_init = iter(init)
    for net_s, net_m in nets:
        for a, b in zip(net_s.weights, net_m.weights):
            start_value = next(flat_init)
            da = np.asarray(a.numpy()) - start_value
            db = np.asarray(b.numpy()) - start_value
            if np.linalg.norm(da) > 0:
                worst_update = max(worst_update, float(np.linalg.norm(da - db) / np.linalg.norm(da)))
    print(f"replicas {strategy.num_replicas_in_sync}; largest slot difference (relative to the "
          f"slot's max) {worst_slot:.3g}; largest normwise weight-update difference "
          f"{worst_update:.3g}; D_loss {float(out_s['D_loss']):.6f} vs {float(out_m['D_loss']):.6f}")
    if worst_slot > 1e-4:
        failures.append(f"slot difference {worst_slot:.3g} > 1e-4")
    if worst_update > 1e-3:
        failures.append(f"weight-update difference {worst_update:.3g} > 1e-3")
    for f in failures:
        print("MISMATCH", f)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
