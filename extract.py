"""Extract per-layer channel-mean activations of the Q-network (or D) for held-out words.

    python extract.py --checkpoint=runs/ciw/model.ckpt-20000 --data=work/timit8 --split=test \
        --out=work/acts --phones=s,sh --upsample

See docs/extraction.md for every flag and output file.
"""

from __future__ import annotations

import os

from absl import app, flags, logging

from common.cli import absl_flags_parser, run_main
from common.outputs import check_output

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "TF1 checkpoint prefix (model.ckpt-N), one of ours, or a "
                    "training folder")
flags.DEFINE_string("data", None, "prepared dataset folder (dataset.json) or a folder of 16 kHz "
                    "mono WAV files")
flags.DEFINE_string("out", None, "output activations folder (written atomically; never inside "
                    "--data, --checkpoint or the repository)")
flags.DEFINE_string("split", "test", "dataset split to extract")
flags.DEFINE_enum("normalize", "peak", ["peak", "none"], "per-token peak normalisation before Q "
                  "(peak = the original training loader)")
flags.DEFINE_integer("batch_size", 64, "tokens per forward pass")
flags.DEFINE_list("layers", None, "conv layers to write (default all), e.g. conv1,conv5")
flags.DEFINE_boolean("upsample", False, "also write upsampled.parquet (traces on the input axis)")
flags.DEFINE_integer("upsample_per_word", 1, "tokens per word to upsample (0 = all)")
flags.DEFINE_list("phones", None, "phone labels for phone_activations, e.g. s,sh")
flags.DEFINE_enum("network", "Q", ["Q", "D", "G"], "network to probe (G: the generator's "
                  "own block traces, needs --generate_codes)")
flags.DEFINE_string("channels", None, "single channels to write, e.g. 'conv5:0,1,2;conv4:7'")
flags.DEFINE_list("generate_codes", None, "instead of --data, feed audio that G generates from "
                  "these codes (ciwGAN: category numbers; fiwGAN: bit patterns; 'all' = every "
                  "code)")
flags.DEFINE_integer("generate_per_code", 50, "tokens generated per code (--generate_codes)")
flags.DEFINE_float("generate_value", 1.0, "value of the code entries (--generate_codes)")
flags.DEFINE_integer("seed", 0, "numpy seed of the generated noise (--generate_codes)")
flags.DEFINE_enum("model", None, ["ciwgan", "fiwgan"], "for a TF1 checkpoint with no hint "
                  "beside it: ciwGAN and fiwGAN checkpoints have the same variables (decides "
                  "how Q's outputs are read: argmax code vs bits)")
flags.DEFINE_boolean("csv", True, "also write .csv copies of the long tables")
flags.DEFINE_boolean("overwrite", False, "replace --out if it holds an earlier extract.py "
                     "output (anything else is never replaced)")
flags.DEFINE_boolean("progress", True, "show a progress bar")


def main(argv):
    del argv
    return run_main("extract.py", extract)


def extract() -> int:
    """The run behind main(): every bad input raises an InputError (one line, exit 2)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from analysis.extract_run import (ExtractionError, GeneratedSource, load_checkpoint,
                                      open_source, run_extraction)

    if not FLAGS.checkpoint:
        raise ExtractionError("--checkpoint is required")
    if FLAGS.batch_size < 1:
        raise ExtractionError(f"--batch_size={FLAGS.batch_size} must be >= 1")
    if FLAGS.network == "G" and not FLAGS.generate_codes:
        raise ExtractionError("--network=G needs --generate_codes (G's traces come from "
                              "latent codes, not from --data audio)")
    if FLAGS.generate_codes and FLAGS.data:
        raise ExtractionError("give either --data or --generate_codes, not both")
    # The output rules before the slow work (run_extraction checks them again).
    check_output(FLAGS.out, "extract", {"--data": FLAGS.data, "--checkpoint": FLAGS.checkpoint},
                 FLAGS.overwrite)
    from wavegan.runtime import describe_devices
    print(describe_devices("extract.py"), flush=True)
    prefix, config, G, D, Q = load_checkpoint(FLAGS.checkpoint, model=FLAGS.model)
    if FLAGS.generate_codes:
        codes = None if FLAGS.generate_codes == ["all"] else FLAGS.generate_codes
        source = GeneratedSource(G, config, codes, FLAGS.generate_per_code, FLAGS.batch_size,
                                 value=FLAGS.generate_value, seed=FLAGS.seed)
    else:
        source = open_source(FLAGS.data, FLAGS.split, FLAGS.batch_size, config.slice_len)
    for entry in source.skipped_files:
        logging.warning("skipped %s (%s)", entry["file"], entry["reason"])
    info = run_extraction(
        {"Q": Q, "D": D, "G": G}[FLAGS.network], config, source, FLAGS.out,
        network=FLAGS.network, layers=FLAGS.layers, normalize=FLAGS.normalize,
        phones=FLAGS.phones, upsample=FLAGS.upsample,
        upsample_per_word=FLAGS.upsample_per_word, channels=FLAGS.channels,
        overwrite=FLAGS.overwrite, checkpoint=FLAGS.checkpoint, checkpoint_prefix=prefix,
        csv=FLAGS.csv, progress=FLAGS.progress)
    c = info["counts"]
    msg = (f"wrote {FLAGS.out}: {c['tokens']} tokens, {c['words']} words, "
           f"{c['rows']['activations']} activation rows")
    if c["skipped"]:
        msg += f", skipped {sum(c['skipped'].values())} ({format_counts(c['skipped'])})"
    if "accuracy" in info:
        msg += f", Q accuracy (Hungarian) {info['accuracy']:.3f}"
    step = info["checkpoint_step"]
    msg += f", checkpoint {prefix}" + (f" (step {step})" if step is not None else "")
    msg += f", {info['seconds']['total']:.1f} s"
    print(msg)
    return 0


def format_counts(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    app.run(main, flags_parser=absl_flags_parser("extract.py"))
