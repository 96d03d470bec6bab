"""Generate WAVs for each code from a checkpoint, with Q's classification of each.

    python generate.py --checkpoint=runs/demo --out=work/demo_generated --n_per_code=3
    python generate.py --checkpoint=model.ckpt-1000 --codes=0,3 --value=5 --out=work/gen5

Files are named by code label and noise index (code_3_z000.wav, bits_0101_z000.wav); noise
index j is the same noise vector for every code.

--out is never the checkpoint, a folder around it or a folder of the repository; --overwrite
replaces only an earlier generate.py output (docs/training.md).
"""

from common.logs import define_verbose_flag, quiet_logs

quiet_logs()  # before TensorFlow is imported: its log lines hidden unless --verbose

from absl import app, flags  # noqa: E402

from common.cli import absl_flags_parser, check_command_line, run_main  # noqa: E402
from common.outputs import check_output  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "Training folder, our checkpoint, or a TF1 prefix.")
flags.DEFINE_string("out", None, "Output folder (created atomically; never the checkpoint, a "
                    "folder around it or a folder of the repository).")
flags.DEFINE_list("codes", None, "ciwGAN: categories (3 or code_3); fiwGAN: bit patterns "
                  "(0101 or bits_0101); 'all' or none given: every code (fiwGAN: every "
                  "pattern, up to 12 bits).")
flags.DEFINE_float("value", 1.0, "Value of the active code entries (e.g. 5 to exaggerate).")
flags.DEFINE_integer("n_per_code", 1, "Noise vectors per code (shared across codes).")
flags.DEFINE_integer("seed", 0, "Seed of the noise vectors.")
flags.DEFINE_integer("batch_size", 32, "Clips generated per batch.")
flags.DEFINE_boolean("progress", True, "Show a progress bar over the batches.")
flags.DEFINE_enum("model", None, ["ciwgan", "fiwgan"], "For TF1 checkpoints without a hint: "
                  "ciwGAN and fiwGAN checkpoints have the same variables.")
flags.DEFINE_boolean("overwrite", False, "Replace --out when it holds an earlier generate.py "
                     "output; any other existing folder is refused.")
define_verbose_flag()


def _generate(extra_args: list) -> None:
    check_command_line("generate.py", extra_args, required=("checkpoint", "out"))
    inputs = {"--checkpoint": FLAGS.checkpoint}
    # Refuse a dangerous --out before TensorFlow is imported and the models are loaded.
    check_output(FLAGS.out, "generate", inputs, FLAGS.overwrite)

    from ciwgan.generation import generate_to_folder
    from wavegan import load_models
    from wavegan.checkpoint_files import checkpoint_step

    # The prefix printed is the one loaded (a folder's newest readable checkpoint; a fallback
    # to an older one has logged its own warning).
    config, G, _, Q, prefix = load_models(FLAGS.checkpoint, model=FLAGS.model)
    # Our ckpt-N and TF1's model.ckpt-N both number by training step.
    step = checkpoint_step(prefix)
    print(f"checkpoint: {prefix}" + (f" (step {step})" if step is not None else ""))
    table = generate_to_folder(config, G, Q, FLAGS.out, FLAGS.codes, FLAGS.value,
                               FLAGS.n_per_code, FLAGS.seed, overwrite=FLAGS.overwrite,
                               batch_size=FLAGS.batch_size, progress=FLAGS.progress,
                               inputs=inputs)
    print(f"wrote {len(table)} WAVs and generated.csv to {FLAGS.out}")
    if "q_agrees" in table:
        print(f"Q recovers the code of {table['q_agrees'].mean():.0%} of them")


def main(argv):
    return run_main("generate.py", lambda: _generate(argv[1:]))


if __name__ == "__main__":
    app.run(main, flags_parser=absl_flags_parser("generate.py"))
