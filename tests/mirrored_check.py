"""Mirrored-strategy step vs single-device step for the same global batch.

Run as a script (two logical CPU devices must be configured before TensorFlow starts):
    python tests/mirrored_check.py
Prints the largest relative difference of every variable after 2 iterations; exit 1 if any
exceeds 1e-4.
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
    for _ in range(2):
        xs = [rng.uniform(-1, 1, [8, 16384]).astype(np.float32) for _ in range(5)]
        out_s = single.train_iteration(xs)
        out_m = mirrored.train_iteration(xs)
    worst = 0.0
    pairs = [(a, b) for na, nb in ((single.G, mirrored.G), (single.D, mirrored.D),
                                   (single.Q, mirrored.Q))
             for a, b in zip(na.weights, nb.weights)]
    pairs += list(zip(single.d_opt.slots["m"], mirrored.d_opt.slots["m"]))
    for a, b in pairs:
        a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
        worst = max(worst, float(np.max(np.abs(a - b) / (np.abs(a) + 1e-3))))
    moved = max(float(np.max(np.abs(np.asarray(v.numpy()) - i)))
                for v, i in zip([v for n in (single.G, single.D, single.Q) for v in n.weights],
                                init))
    print(f"replicas {strategy.num_replicas_in_sync}; weights moved by up to {moved:.3g}; "
          f"largest relative difference mirrored vs single {worst:.3g}; "
          f"D_loss {float(out_s['D_loss']):.6f} vs {float(out_m['D_loss']):.6f}")
    return 0 if worst < 1e-4 and moved > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
