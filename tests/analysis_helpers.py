"""analyze.py and R in child processes, and whether R can fit, for the analysis tests
(test-only code)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANALYZE = os.path.join(ROOT, "analyze.py")


def child_process_env(extra: Optional[dict] = None) -> dict:
    """The environment of a child (analyze.py, Rscript) started from a test process.

    rpy2 puts R's library folders on LD_LIBRARY_PATH when this process starts R; a child
    started with it loads system libraries over the venv's (pyarrow's _ssl then fails), so it
    is left out. The repository is on PYTHONPATH, and no bytecode is written into it."""
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env["PYTHONPATH"] = os.pathsep.join([p for p in [ROOT, env.get("PYTHONPATH", "")] if p])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run_analyze(args: Sequence[str], cwd: str = ROOT, script: str = ANALYZE,
                timeout: float = 300, env_extra: Optional[dict] = None):
    """``python analyze.py args`` in a child process: the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, script] + list(args), cwd=cwd,
                          env=child_process_env(env_extra), capture_output=True, text=True,
                          timeout=timeout)


def r_ok(packages: Sequence[str] = ("mgcv", "lme4", "lmerTest")) -> bool:
    """R with ``packages`` is there (rpy2 importable and the packages load)."""
    try:
        from analysis.rbridge import r_available
        return r_available(tuple(packages))
    except ImportError:
        return False


def refit_blocks(stdout: str) -> dict:
    """An analyze.py refit script's output split at its ``== <header>`` lines (analysis.refits:
    '== 2: conv3'; the calibrated scripts: '== 1: level'): {header: the lines below it}."""
    blocks, current = {}, None
    for line in stdout.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            blocks[current] = []
            continue
        if current is not None:
            blocks[current].append(line)
    return {h: "\n".join(v) for h, v in blocks.items()}


def _numbers(parts) -> list:
    out = []
    for p in parts:
        try:
            out.append(float(p))
        except ValueError:
            continue
    return out


def r_coefficient(block: str, term: str, column: int = 0) -> float:
    """The ``column``-th number (0: Estimate) of ``term``'s row of an R table printed in
    ``block`` (the first such row); NaN when absent."""
    for line in block.splitlines():
        parts = line.split()
        if parts and parts[0] == term:
            nums = _numbers(parts[1:])
            return nums[column] if len(nums) > column else float("nan")
    return float("nan")


def r_anova_f(block: str, term: str = "Word") -> float:
    """The F value of ``term`` in an ``anova()`` table printed in ``block`` (lm's or
    lmerTest's: the F is the row's second-to-last number, the p-value the last)."""
    for line in block.splitlines():
        parts = line.split()
        if parts and parts[0] == term and ("Df" not in line):
            nums = _numbers(parts[1:])
            if len(nums) >= 3:
                return nums[-2]
    return float("nan")


def run_rscript(script: str, cwd, timeout: float = 600):
    """``Rscript script`` in ``cwd``: the CompletedProcess (text output)."""
    return subprocess.run(["Rscript", script], cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout, env=child_process_env())
