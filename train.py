"""Train WaveGAN / ciwGAN / fiwGAN on a prepared dataset.

    python train.py --train_dir=work/ciwgan --data_dir=work/demo_data --num_categ=8

Flags mirror the original train_ciwgan.py / train_fiwgan.py (--train_dir, --data_dir,
--train_batch_size, --data_normalize, --wavegan_*); the names the other commands use work too:
--data (= --data_dir), --batch_size (= --train_batch_size), --normalize=peak|none
(= --data_normalize true|false).  Every flag, its default and range: ciwgan/train_options.py
(``--help``).  Re-running the same command resumes from the newest readable checkpoint in
--train_dir; one process at a time holds the folder.  Bad input (a flag, the dataset, a
checkpoint, a folder in use): one line on stderr and exit status 2.  Monitor with the venv's
TensorBoard (the command is printed at the start).  --max_steps stops at a step,
--max_seconds is a time cap; --deterministic (with the same --seed and --max_steps) gives the
same weights on machines of one kind (docs/training.md).  TensorFlow's log lines are hidden
unless --verbose.
"""

from ciwgan.train_options import TrainOptions
from common.cli import stage_script


def run(options, script):
    from ciwgan.training import run as train

    return train(options, script)


def report(result) -> str:
    from ciwgan.progress_text import training_summary

    return training_summary(result)


if __name__ == "__main__":
    stage_script("train.py", TrainOptions, run, report)
