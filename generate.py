"""Generate WAVs for each code from a checkpoint, with Q's classification of each.

    python generate.py --checkpoint=runs/demo --out=work/demo_generated --n_per_code=3
    python generate.py --checkpoint=model.ckpt-1000 --codes=0,3 --value=5 --out=work/gen5

Files are named by code label and noise index (code_3_z000.wav, bits_0101_z000.wav); noise
index j is the same noise vector for every code.  Every flag, its default and range:
ciwgan/generate_options.py (``--help``).  --out is never the checkpoint, a folder around it
or a folder of the repository; --overwrite replaces only an earlier generate.py output
(docs/training.md).
"""

from ciwgan.generate_options import GenerateOptions
from common.cli import stage_script


def run(options, script):
    from ciwgan.generation import run as generate

    return generate(options, script)


def report(result) -> str:
    from ciwgan.generation import summary

    return summary(result)


if __name__ == "__main__":
    stage_script("generate.py", GenerateOptions, run, report)
