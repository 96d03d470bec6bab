"""How long each script takes to refuse a bad ``--out`` (issue 24: under 3 s for every script).

Each script is run as a child process with an output folder inside the repository (refused by
the safe-output rule) and inputs that do not exist; the wall time from start to exit is
measured ``--repeats`` times and the median printed, with the exit status and the last stderr
line (the refusal).  The children's wall time is what a user waits for a refusal: the
imports before the check are the cost.

    .venv/bin/python bench/refusal_time.py            # every script, 3 runs each
    .venv/bin/python bench/refusal_time.py --repeats=1 --only=extract.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD_OUT = os.path.join(ROOT, "analysis", "refused_output")   # a folder of the repository


def commands(missing: str) -> dict:
    """{script: argv after the interpreter}: each one with a refused output folder and
    ``missing`` (an empty folder) for every input."""
    return {
        "prepare.py": ["prepare.py", f"--timit_dir={missing}", f"--out={BAD_OUT}"],
        "train.py": ["train.py", f"--train_dir={BAD_OUT}", f"--data_dir={missing}"],
        "generate.py": ["generate.py", f"--checkpoint={missing}", f"--out={BAD_OUT}"],
        "extract.py": ["extract.py", f"--checkpoint={missing}", f"--data={missing}",
                       f"--out={BAD_OUT}"],
        "analyze.py": ["analyze.py", f"--activations={missing}", f"--out={BAD_OUT}"],
        "demo.py": ["demo.py", f"--out={BAD_OUT}"],
        "corpus.demo_corpus": ["-m", "corpus.demo_corpus", f"--out={BAD_OUT}"],
    }


def time_refusal(argv: list, cwd: str) -> tuple:
    """(seconds, exit status, last stderr line) of one run."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    seconds = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    return seconds, proc.returncode, lines[-1] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated scripts (default all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "empty"))
        todo = commands(os.path.join(tmp, "empty"))
        only = [s for s in args.only.split(",") if s]
        print(f"{'script':<12} {'median s':>9} {'runs':>22}  exit  refusal")
        for script, argv in todo.items():
            if only and script not in only:
                continue
            runs = [time_refusal(argv, tmp) for _ in range(args.repeats)]
            times = [r[0] for r in runs]
            print(f"{script:<12} {statistics.median(times):9.2f} "
                  f"{' '.join(f'{t:.2f}' for t in times):>22}  {runs[-1][1]:>4}  "
                  f"{runs[-1][2][:110]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
