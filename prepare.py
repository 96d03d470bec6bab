"""Prepare a training/extraction dataset from TIMIT (or a folder of word recordings).

    python prepare.py --timit_dir=/data/TIMIT --out=work/timit8
    python prepare.py --folder_dir=my_words --out=work/mine --words=all

Every flag, its default and range: corpus/prepare_options.py (``--help``); the output format:
docs/CONVENTIONS.md; the output rules: docs/data.md (never the corpus or a folder around it,
never a folder of the repository; --overwrite replaces only an earlier prepare output).
"""

import logging

from common.cli import stage_script
from corpus.prepare_options import PrepareOptions


def run(options, script):
    from corpus.build import run as prepare

    logging.getLogger("corpus").setLevel(logging.INFO)
    return prepare(options, script)


def report(info) -> str:
    from corpus.build import summary_text

    return summary_text(info)


if __name__ == "__main__":
    stage_script("prepare.py", PrepareOptions, run, report)
