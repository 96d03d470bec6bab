"""Extract per-layer channel-mean activations of the Q-network (or D) for held-out words.

    python extract.py --checkpoint=runs/ciw/model.ckpt-20000 --data=work/timit8 --split=test \
        --out=work/acts --phones=s,sh --upsample

Every flag, its default and range: extraction/extract_options.py (``--help``); every output
file: docs/extraction.md.  The work is done by :func:`extraction.run.run`.
"""

from common.cli import stage_script
from extraction.extract_options import ExtractOptions


def run(options, script):
    from extraction.run import run as extract

    return extract(options, script)


def report(result) -> str:
    from extraction.run import summary

    return summary(result)


if __name__ == "__main__":
    stage_script("extract.py", ExtractOptions, run, report)
