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
