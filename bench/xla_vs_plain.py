"""Seconds per training iteration with and without XLA (jit_compile), in one run.

    .venv/bin/python bench/xla_vs_plain.py --dim=16 --batch=16

Two GANTrainers built from the same seed, one compiling iteration each, then the best of
--rounds interleaved iterations (5 D + 1 G+Q updates on uniform noise as real audio).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("dim", 16, "model width")
flags.DEFINE_integer("batch", 16, "batch size")
flags.DEFINE_integer("rounds", 3, "timed interleaved rounds")


def main(argv):
    del argv
    import keras

    from wavegan.runtime import describe_devices
    print(describe_devices("bench/xla_vs_plain.py"), flush=True)
    import numpy as np

    from ciwgan.trainer import GANTrainer
    from wavegan import WaveGANConfig, build_models

    config = WaveGANConfig(num_categ=8, dim=FLAGS.dim)
    x = np.random.RandomState(0).uniform(-1, 1, [FLAGS.batch, config.slice_len]).astype(np.float32)
    trainers = {}
    for name, jit in (("plain", False), ("xla", True)):
        keras.utils.set_random_seed(1)
        trainers[name] = GANTrainer(config, *build_models(config), jit_compile=jit)
        trainers[name].train_iteration([x] * 5)  # trace and compile
    times = {name: [] for name in trainers}
    for _ in range(FLAGS.rounds):
        for name, trainer in trainers.items():
            t0 = time.perf_counter()
            trainer.train_iteration([x] * 5)
            times[name].append(time.perf_counter() - t0)
    best = {name: min(t) for name, t in times.items()}
    print(f"dim {FLAGS.dim}, batch {FLAGS.batch}: plain {best['plain']:.3f} s, "
          f"xla {best['xla']:.3f} s per iteration; xla / plain = {best['xla'] / best['plain']:.2f}")


if __name__ == "__main__":
    app.run(main)
