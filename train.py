"""Train WaveGAN / ciwGAN / fiwGAN on a prepared dataset.

    python train.py --train_dir=work/ciwgan --data_dir=work/demo_data --num_categ=8

Flags mirror the original train_ciwgan.py / train_fiwgan.py (--train_dir, --data_dir,
--train_batch_size, --data_normalize, --wavegan_*); the names the other commands use work too:
--data (= --data_dir), --batch_size (= --train_batch_size), --normalize=peak|none
(= --data_normalize true|false).  Re-running the same command
resumes from the newest readable checkpoint in --train_dir; one process at a time holds the
folder.  Bad input (a flag, the dataset, a checkpoint, a folder in use): one line on stderr and
exit status 2.  Monitor with the venv's TensorBoard (the command is printed at the start).
--max_steps stops at a step, --max_seconds is a time cap; --deterministic (with the same --seed
and --max_steps) gives the same weights on machines of one kind (docs/training.md).
TensorFlow's log lines are hidden unless --verbose.
"""

import os
import sys

from common.logs import define_verbose_flag, quiet_logs

# Both act before TensorFlow is imported: the log setup (--verbose) and the exact-numerics
# switch.
quiet_logs()
if any(a in ("--exact_numerics", "--exact_numerics=true") for a in sys.argv):
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("train_dir", None, "Training folder (checkpoints, TensorBoard, previews).")
flags.DEFINE_string("data_dir", None, "Prepared dataset folder (prepare.py output).")
flags.DEFINE_enum("model", "ciwgan", ["ciwgan", "fiwgan", "wavegan"], "Model kind.")
flags.DEFINE_integer("num_categ", None, "Code size: categories (ciwGAN, default 10) or bits "
                     "(fiwGAN, default 3), as the original scripts.")
flags.DEFINE_integer("wavegan_latent_dim", 100, "Length of z.")
flags.DEFINE_integer("wavegan_kernel_len", 25, "Conv kernel length.")
flags.DEFINE_integer("wavegan_dim", 64, "Width multiplier.")
flags.DEFINE_boolean("wavegan_batchnorm", False, "Batch norm in G, D and Q.")
flags.DEFINE_integer("wavegan_disc_nupdates", 5, "D updates per G update.")
flags.DEFINE_enum("wavegan_loss", "wgan-gp", ["wgan-gp", "wgan", "lsgan", "dcgan"], "GAN loss.")
flags.DEFINE_enum("wavegan_genr_upsample", "zeros", ["zeros", "nn"], "G's upsampling.")
flags.DEFINE_boolean("wavegan_genr_pp", False, "G's post-processing filter.")
flags.DEFINE_integer("wavegan_genr_pp_len", 512, "Length of the post-processing filter.")
flags.DEFINE_integer("wavegan_disc_phaseshuffle", 2, "Phase shuffle radius of D and Q.")
flags.DEFINE_integer("train_batch_size", 64, "Batch size.")
flags.DEFINE_integer("train_save_secs", 300, "Seconds between checkpoints.")
flags.DEFINE_integer("train_summary_secs", 120, "Seconds between TensorBoard summaries.")
flags.DEFINE_integer("max_steps", None, "Stop after this many G updates (default: never).")
flags.DEFINE_float("max_seconds", None, "Time cap: stop (with a checkpoint) after this many "
                   "seconds of training in this invocation, even before --max_steps.")
flags.DEFINE_integer("seed", 0, "Seed of the initial weights, z, alpha, phase shuffle and the "
                     "data order.")
flags.DEFINE_boolean("deterministic", False, "TensorFlow's deterministic kernels "
                     "(tf.config.experimental.enable_op_determinism): the same --seed and "
                     "--max_steps give the same weights on machines of one kind "
                     "(docs/training.md).")
flags.DEFINE_string("init_from", None, "Start from a TF1 checkpoint of the original code.")
flags.DEFINE_enum("gq_semantics", "simultaneous", ["simultaneous", "sequential"],
                  "Order of G's Adam and the Q/G RMSProp update (see README).")
flags.DEFINE_boolean("data_normalize", True, "Per-example peak normalisation (the original).")
flags.DEFINE_enum("normalize", None, ["peak", "none"], "The shared name of --data_normalize: "
                  "peak (= true) or none (= false).")
flags.DEFINE_enum("distribute", "none", ["none", "mirrored", "multiworker"],
                  "tf.distribute strategy: mirrored (the local GPUs) or multiworker (several "
                  "machines, each given TF_CONFIG; see docs/training.md).")
flags.DEFINE_boolean("xla", False, "Compile the updates with XLA (jit_compile).")
flags.DEFINE_boolean("mixed_precision", False,
                     "mixed precision, chosen per device: bfloat16 on NVIDIA GPUs of compute "
                     "capability >= 8.0 and CPUs with AVX512_BF16/AMX, float16 with "
                     "dynamic loss scaling on older GPUs (env CIWGAN_MIXED_POLICY forces one); "
                     "variables and outputs stay float32.")
flags.DEFINE_boolean("exact_numerics", False, "oneDNN off, one thread: bit-comparable with "
                     "the TF1 reference (slow).")
flags.DEFINE_integer("keep_checkpoints", 5, "Checkpoints to keep.")
flags.DEFINE_boolean("progress", True, "Show a progress bar.")
define_verbose_flag()
# The shared vocabulary of the other commands, as plain aliases of the original names.
flags.DEFINE_alias("data", "data_dir")
flags.DEFINE_alias("batch_size", "train_batch_size")


def _normalize() -> bool:
    """--data_normalize, or --normalize=peak|none (the shared name) when given."""
    from common.errors import InputError

    if not FLAGS["normalize"].present:
        return FLAGS.data_normalize
    peak = FLAGS.normalize == "peak"
    if FLAGS["data_normalize"].present and FLAGS.data_normalize != peak:
        raise InputError(f"--normalize={FLAGS.normalize} and --data_normalize="
                         f"{str(FLAGS.data_normalize).lower()} disagree")
    return peak


def _train(extra_args: list) -> None:
    from contextlib import nullcontext

    from ciwgan.cluster import multiworker_role
    from common.errors import InputError
    from common.lock import folder_lock
    from common.outputs import check_not_input, check_not_project
    from corpus.pipeline import read_dataset_info

    if extra_args:
        raise InputError(f"unexpected arguments {extra_args} (flags are --name=value)")
    if not FLAGS.train_dir or not FLAGS.data_dir:
        raise InputError("--train_dir and --data_dir (or --data) are required")
    normalize = _normalize()
    # Before TensorFlow is imported (seconds): a --train_dir that would mix training files
    # with an input or the repository, an incomplete dataset, or a folder another run holds
    # is refused at once, and the run keeps the folder's lock to its end.
    check_not_project(FLAGS.train_dir, "--train_dir")
    check_not_input(FLAGS.train_dir, {"--data_dir": FLAGS.data_dir,
                                      "--init_from": FLAGS.init_from}, "--train_dir")
    info = read_dataset_info(FLAGS.data_dir)
    # Several machines: only the chief writes --train_dir, so only the chief takes its lock
    # (the other workers would otherwise be refused by a shared folder's lock).
    is_chief = multiworker_role()[0] if FLAGS.distribute == "multiworker" else True
    try:
        with folder_lock(FLAGS.train_dir, "--train_dir") if is_chief else nullcontext():
            _train_holding_lock(info, normalize)
    except OSError as err:  # the disk: a folder that cannot be written, no space left
        raise InputError(f"--train_dir={FLAGS.train_dir}: {err}") from None


def _train_holding_lock(info: dict, normalize: bool) -> None:
    if FLAGS.exact_numerics:
        from wavegan.runtime import request_exact_numerics
        request_exact_numerics()
    from ciwgan.training_loop import TrainOptions, run_training, training_summary
    from common.constants import SLICE_LEN
    from wavegan.config import WaveGANConfig
    from wavegan.runtime import describe_devices

    print(describe_devices("train.py"), flush=True)

    options = TrainOptions(
        train_dir=FLAGS.train_dir, data_dir=FLAGS.data_dir,
        batch_size=FLAGS.train_batch_size, max_steps=FLAGS.max_steps,
        max_seconds=FLAGS.max_seconds,
        save_secs=FLAGS.train_save_secs, summary_secs=FLAGS.train_summary_secs,
        seed=FLAGS.seed, loss=FLAGS.wavegan_loss, disc_nupdates=FLAGS.wavegan_disc_nupdates,
        gq_semantics=FLAGS.gq_semantics, init_from=FLAGS.init_from,
        normalize=normalize, xla=FLAGS.xla,
        mixed_precision=FLAGS.mixed_precision, distribute=FLAGS.distribute,
        keep_checkpoints=FLAGS.keep_checkpoints, progress=FLAGS.progress,
        deterministic=FLAGS.deterministic)
    num_categ = FLAGS.num_categ or {"ciwgan": 10, "fiwgan": 3}.get(FLAGS.model, 10)
    config = WaveGANConfig(
        model=FLAGS.model, num_categ=num_categ, latent_dim=FLAGS.wavegan_latent_dim,
        kernel_len=FLAGS.wavegan_kernel_len, dim=FLAGS.wavegan_dim,
        slice_len=int(info.get("slice_len", SLICE_LEN)), batchnorm=FLAGS.wavegan_batchnorm,
        upsample=FLAGS.wavegan_genr_upsample, genr_pp=FLAGS.wavegan_genr_pp,
        genr_pp_len=FLAGS.wavegan_genr_pp_len,
        phaseshuffle_rad=FLAGS.wavegan_disc_phaseshuffle)
    if FLAGS.init_from:
        # The architecture comes from the original run's checkpoint, not from the flags; a
        # folder gives its newest readable checkpoint.
        from wavegan.checkpoint_files import resolve_readable_prefix
        from wavegan.tf1_checkpoint import tf1_checkpoint_config
        init_prefix = resolve_readable_prefix(FLAGS.init_from)
        config = tf1_checkpoint_config(
            init_prefix, model=FLAGS.model if FLAGS["model"].present else None,
            slice_len=config.slice_len, phaseshuffle_rad=FLAGS.wavegan_disc_phaseshuffle)
        logging.info("--init_from: configuration from %s: %s", init_prefix, config)
        options.init_from = init_prefix
    result = run_training(config, options, hold_lock=False)
    print(training_summary(result), flush=True)


def main(argv):
    from common.cli import run_main

    return run_main("train.py", lambda: _train(argv[1:]))


if __name__ == "__main__":
    from common.cli import absl_flags_parser

    app.run(main, flags_parser=absl_flags_parser("train.py"))
