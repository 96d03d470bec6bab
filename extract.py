"""Extract per-layer channel-mean activations of the Q-network (or D) for held-out words.

    python extract.py --checkpoint=runs/ciw/model.ckpt-20000 --data=work/timit8 --split=test \
        --out=work/acts --phones=s,sh --upsample

See docs/extraction.md for every flag and output file; the work is done by
:mod:`extraction.run` (this script maps its flags onto ``ExtractOptions``).
"""

from __future__ import annotations

import dataclasses
import signal
import sys

from common.logs import define_verbose_flag, quiet_logs

quiet_logs()  # before TensorFlow is imported: its log lines hidden unless --verbose

from absl import app, flags, logging  # noqa: E402

from common.cli import (absl_flags_parser, apply_deprecated_aliases,  # noqa: E402
                        define_deprecated_alias, run_main)
from common.constants import SAMPLE_RATE  # noqa: E402
from common.outputs import check_output  # noqa: E402

SCRIPT = "extract.py"
FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "TF1 checkpoint prefix (model.ckpt-N), one of ours, or a "
                    "training folder")
flags.DEFINE_string("data", None, "prepared dataset folder (dataset.json) or a folder of audio "
                    "files (<word>/<file>.wav or <word>_<n>.wav; resampled to "
                    f"{SAMPLE_RATE} Hz mono, as prepare.py reads it)")
flags.DEFINE_string("out", None, "output activations folder (written atomically; never inside "
                    "--data, --checkpoint or the repository)")
flags.DEFINE_string("split", "test", "dataset split to extract")
flags.DEFINE_enum("normalize", "peak", ["peak", "none"], "per-token peak normalisation before Q "
                  "(peak = the original training loader)")
flags.DEFINE_integer("batch_size", 64, "tokens per forward pass")
flags.DEFINE_list("layers", None, "conv layers to write (default all), e.g. conv1,conv5")
flags.DEFINE_boolean("upsample", False, "also write upsampled.parquet (traces on the input axis)")
flags.DEFINE_integer("upsample_per_word", 1, "tokens per word to upsample (0 = all)")
flags.DEFINE_list("phones", None, "phone labels for phone_activations, e.g. s,sh; 'all': "
                  "every speech phone of phones.csv (for analyze.py --contrasts=auto)")
flags.DEFINE_enum("network", "Q", ["Q", "D", "G"], "network to probe (G: the generator's "
                  "own block traces, needs --codes)")
flags.DEFINE_string("channels", None, "single channels to write, e.g. 'conv5:0,1,2;conv4:7'")
flags.DEFINE_list("codes", None, "instead of --data, feed audio that G generates from these "
                  "codes (ciwGAN: 3 or code_3; fiwGAN: 0101 or bits_0101; 'all' = every code); "
                  "noise shared across codes, as generate.py")
flags.DEFINE_integer("n_per_code", 50, "tokens generated per code (--codes)")
flags.DEFINE_float("value", 1.0, "value of the code entries (--codes)")
flags.DEFINE_integer("seed", 0, "numpy seed of the generated noise (--codes)")
flags.DEFINE_enum("model", None, ["ciwgan", "fiwgan"], "for a TF1 checkpoint with no hint "
                  "beside it: ciwGAN and fiwGAN checkpoints have the same variables (decides "
                  "how Q's outputs are read: argmax code vs bits)")
flags.DEFINE_boolean("csv", None, "also write .csv copies of the long tables (--csv / --nocsv; "
                     "unset: only up to a size, see docs/extraction.md; a one-line notice says "
                     "when they are left out)")
flags.DEFINE_boolean("overwrite", False, "replace --out if it holds an earlier extract.py "
                     "output (anything else is never replaced)")
flags.DEFINE_boolean("progress", True, "show a progress bar")
define_verbose_flag()
define_deprecated_alias("generate_codes", "codes")
define_deprecated_alias("generate_per_code", "n_per_code")
define_deprecated_alias("generate_value", "value")


def main(argv):
    del argv
    return run_main(SCRIPT, extract)


def extract() -> int:
    """The run behind main(): every bad input raises an InputError (one line, exit 2)."""
    apply_deprecated_aliases(SCRIPT)
    from extraction.run import ExtractOptions, check_options
    from extraction.run import extract as run_extract

    options = ExtractOptions(**{f.name: FLAGS[f.name].value
                                for f in dataclasses.fields(ExtractOptions)})
    check_options(options)
    # The output rules before the slow work (run_extraction checks them again).
    check_output(options.out, "extract", {"--data": options.data,
                                          "--checkpoint": options.checkpoint},
                 options.overwrite)
    from wavegan.runtime import describe_devices
    print(describe_devices(SCRIPT), flush=True)
    # SIGTERM (a scheduler stopping the job) ends the run as Ctrl-C does: the complete batches
    # stay in the partial folder with a notice, and the same command resumes them.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        info, prefix = run_extract(options, on_source=log_skipped_files, notify=note)
    finally:
        signal.signal(signal.SIGTERM, previous)
    c = info["counts"]
    msg = (f"wrote {options.out}: {c['tokens']} tokens, {c['words']} words, "
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


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def note(line: str) -> None:
    """run_extraction's one-line notices (CSV left out for size, resuming, interrupted)."""
    print(f"{SCRIPT}: note: {line}", file=sys.stderr, flush=True)


def log_skipped_files(source) -> None:
    for entry in source.skipped_files:
        logging.warning("skipped %s (%s)", entry["file"], entry["reason"])


def format_counts(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    app.run(main, flags_parser=absl_flags_parser(SCRIPT))
