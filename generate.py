"""Generate WAVs for each code from a checkpoint, with Q's classification of each.

    python generate.py --checkpoint=runs/demo --out=runs/demo/generated --n_per_code=3
    python generate.py --checkpoint=model.ckpt-1000 --codes=0,3 --value=5   # exaggerate
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Training folder, our checkpoint, or a TF1 prefix.")
flags.DEFINE_string("out", None, "Output folder (created atomically).")
flags.DEFINE_list("codes", None, "ciwGAN: category indices; fiwGAN: bit patterns like 0101. "
                  "Default: every code (fiwGAN: every pattern, up to 12 bits).")
flags.DEFINE_float("value", 1.0, "Value of the active code entries (e.g. 5 to exaggerate).")
flags.DEFINE_integer("n_per_code", 1, "Noise vectors per code (shared across codes).")
flags.DEFINE_integer("seed", 0, "Seed of the noise vectors.")
flags.DEFINE_enum("model", None, ["ciwgan", "fiwgan"], "For TF1 checkpoints without a hint: "
                  "ciwGAN and fiwGAN checkpoints have the same variables.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --out folder.")


def main(argv):
    del argv
    if not FLAGS.checkpoint or not FLAGS.out:
        sys.exit("generate.py: --checkpoint and --out are required")
    from ciwgan.generation import generate_to_folder
    from wavegan import CheckpointError, load_models

    try:
        config, G, _, Q = load_models(FLAGS.checkpoint, model=FLAGS.model)
        table = generate_to_folder(config, G, Q, FLAGS.out, FLAGS.codes, FLAGS.value,
                                   FLAGS.n_per_code, FLAGS.seed, overwrite=FLAGS.overwrite)
    except (CheckpointError, FileExistsError, ValueError) as err:
        sys.exit(f"generate.py: {err}")
    print(f"wrote {len(table)} WAVs and generated.csv to {FLAGS.out}")
    if "q_agrees" in table:
        print(f"Q recovers the code of {table['q_agrees'].mean():.0%} of them")


if __name__ == "__main__":
    app.run(main)
