"""Prepare a training/extraction dataset from TIMIT (or a folder of word recordings).

    python prepare.py --timit_dir=/data/TIMIT --out=work/timit8
    python prepare.py --folder_dir=my_words --out=work/mine --words=all

See docs/data.md for every flag, the output format (docs/CONVENTIONS.md) and the output rules
(never the corpus or a folder around it, never a folder of the repository; --overwrite
replaces only an earlier prepare output).  --out_dir is the deprecated name of --out.
"""

from __future__ import annotations

import logging

from common.logs import define_verbose_flag, quiet_logs

quiet_logs()  # before TensorFlow is imported: its log lines hidden unless --verbose

from absl import app, flags  # noqa: E402

from common.cli import (absl_flags_parser, check_command_line,  # noqa: E402
                        define_deprecated_alias, run_main)
from common.constants import DEFAULT_WORDS, SLICE_LEN  # noqa: E402
from common.phones import PHONE_SET_CHOICES  # noqa: E402

SCRIPT = "prepare.py"

FLAGS = flags.FLAGS
flags.DEFINE_string("timit_dir", None, "TIMIT root holding TRAIN/ and TEST/ (or a TIMIT-layout "
                    "tree such as the demo corpus).")
flags.DEFINE_string("folder_dir", None, "Alternative source: one sub-folder per word holding "
                    "WAV/FLAC files, one token per file; or an aligned corpus, "
                    "<speaker>/<utt>.wav with <utt>.TextGrid beside it (MFA, WebMAUS).")
flags.DEFINE_string("out", None, "Output dataset folder (created atomically; never the "
                    "corpus, a folder around it or a folder of the repository).")
flags.DEFINE_string("words", ",".join(DEFAULT_WORDS), "Comma-separated words to slice, or "
                    "'all'. With --folder_dir and the flag not given: every word folder.")
flags.DEFINE_float("pad_ms", 25.0, "Milliseconds of zero silence added on each side of a token.")
flags.DEFINE_integer("slice_len", SLICE_LEN, "Stored length in samples (zero-padded); longer "
                     "tokens are reported and skipped.")
flags.DEFINE_enum("split", "random", ["random", "speaker", "timit"], "random: token level "
                  "(stratified by word); speaker: speaker-disjoint; timit: TIMIT's TRAIN/TEST.")
flags.DEFINE_float("test_fraction", 0.2, "Fraction of tokens in the test split.")
flags.DEFINE_integer("seed", 0, "Seed of the split.")
flags.DEFINE_integer("shard_size", 1000, "Tokens per TFRecord shard.")
flags.DEFINE_bool("write_wavs", False, "Also write each token's padded clip as "
                  "wavs/<split>/<word>/<token_id>_<speaker>_<utt>.wav.")
flags.DEFINE_string("word_tier", "", "TextGrid corpora (--folder_dir with <stem>.TextGrid "
                    "beside the audio): the word tier's name; '' = automatic (MFA's 'words' or "
                    "'<speaker> - words', WebMAUS's 'ORT-MAU', else the one tier named "
                    "'...word...').")
flags.DEFINE_string("phone_tier", "", "TextGrid corpora: the phone tier's name; '' = automatic "
                    "(MFA's 'phones', WebMAUS's 'MAU', else the one tier named '...phone...').")
flags.DEFINE_enum("phone_set", "auto", list(PHONE_SET_CHOICES),
                  "TextGrid corpora: the phone labels' set, mapped to TIMIT-style labels; "
                  "auto = detected per file.")
flags.DEFINE_bool("overwrite", False, "Replace an earlier prepare.py output in --out "
                  "(atomically); any other existing folder is refused.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
define_verbose_flag()
define_deprecated_alias("out_dir", "out")


def _prepare(extra_args: list) -> None:
    from corpus.build import prepare_dataset, summary_text

    check_command_line(SCRIPT, extra_args, required=("out",))
    words = FLAGS.words
    if FLAGS.folder_dir and not FLAGS["words"].present:
        words = "all"
    info = prepare_dataset(
        FLAGS.out, timit_dir=FLAGS.timit_dir, folder_dir=FLAGS.folder_dir, words=words,
        pad_ms=FLAGS.pad_ms, slice_len=FLAGS.slice_len, split=FLAGS.split,
        test_fraction=FLAGS.test_fraction, seed=FLAGS.seed, write_wavs=FLAGS.write_wavs,
        overwrite=FLAGS.overwrite, shard_size=FLAGS.shard_size, progress=FLAGS.progress,
        word_tier=FLAGS.word_tier, phone_tier=FLAGS.phone_tier, phone_set=FLAGS.phone_set)
    print(summary_text(info))
    print(f"wrote {FLAGS.out} in {info['seconds']:.1f} s")


def main(argv):
    logging.getLogger("corpus").setLevel(logging.INFO)
    return run_main(SCRIPT, lambda: _prepare(argv[1:]))


if __name__ == "__main__":
    app.run(main, flags_parser=absl_flags_parser(SCRIPT))
