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


def snapshot(trainer, out):
    """What :func:`compare` compares: the update's losses, the optimizer slots and weights."""
    import numpy as np
    return {"out": {k: float(out[k]) for k in ("D_loss", "gradient_penalty", "G_loss", "Q_loss")},
            "slots": [np.asarray(s.numpy()) for opt in (trainer.d_opt, trainer.g_opt, trainer.q_opt)
                      for name in opt.slots for s in opt.slots[name]],
            "weights": [np.asarray(v.numpy()) for net in (trainer.G, trainer.D, trainer.Q)
                        for v in net.weights]}


def compare(single, other):
    """``(failures, summary line)`` of two :func:`snapshot` s after the same update."""
    import numpy as np
    failures = []
    for key, a in single["out"].items():
        b = other["out"][key]
        if abs(a - b) > 1e-5 * max(abs(a), 1.0):
            failures.append(f"{key}: {a} vs {b}")
    # Optimizer slots are linear (m) or quadratic (v, ms) in the gradients: they must agree up
    # to float32 reduction order, tensor by tensor; so must the weights.
    if len(single["slots"]) != len(other["slots"]) or \
            len(single["weights"]) != len(other["weights"]):
        return failures + ["different numbers of slots or weights"], "structure differs"
    worst_slot = 0.0
    for a, b in zip(single["slots"], other["slots"]):
        worst_slot = max(worst_slot, float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)))
    worst_weight = 0.0
    for a, b in zip(single["weights"], other["weights"]):
        worst_weight = max(worst_weight, float(np.max(np.abs(a - b))))
    line = (f"largest slot difference (relative to the slot's max) {worst_slot:.3g}; largest "
            f"weight difference {worst_weight:.3g} (learning rate 1e-4); D_loss "
            f"{single['out']['D_loss']:.6f} vs {other['out']['D_loss']:.6f}")
    if worst_slot > 1e-4:
        failures.append(f"slot difference {worst_slot:.3g} > 1e-4")
    # A weight moves by at most ~2e-4 in one step (Adam lr 1e-4 + RMSProp on G); a difference
    # below 1e-6 means every update agrees in sign and size.
    if worst_weight > 1e-6:
        failures.append(f"weight difference {worst_weight:.3g} > 1e-6")
    return failures, line


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
    outs = []
    for trainer in (single, mirrored):
        z_d, alpha, z_g = trainer.sample_z(8), trainer.sample_alpha(8), trainer.sample_z(8)
        outs.append({**trainer.d_update(x, z_d, alpha), **trainer.gq_update(z_g)})
    failures, line = compare(snapshot(single, outs[0]), snapshot(mirrored, outs[1]))
    print(f"replicas {strategy.num_replicas_in_sync}; {line}")
    for f in failures:
        print("MISMATCH", f)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
