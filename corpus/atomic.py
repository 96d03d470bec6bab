"""Atomic output folders: build in a hidden temporary sibling, rename into place at the end.

``.<name>.partial-<pid>`` is the folder being written; while an existing output is being
replaced, it is moved aside to ``.<name>.partial-<pid>.old`` for the instant between the two
renames. A killed run leaves only such hidden siblings, which the next run tidies.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Callable

logger = logging.getLogger("corpus")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 probe)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partial_dir(out_dir: str) -> str:
    """The temporary sibling folder of this process for ``out_dir``."""
    parent, name = os.path.split(os.path.abspath(out_dir))
    return os.path.join(parent, f".{name}.partial-{os.getpid()}")


def clean_stale_partials(out_dir: str, is_complete: Callable[[str], bool]) -> None:
    """Tidy siblings of ``out_dir`` left by killed runs (their pid no longer alive): remove
    ``.<name>.partial-<pid>`` folders; rename a complete ``.<name>.partial-<pid>.old`` back to
    ``out_dir`` when that is absent (an interrupted replacement), else remove it."""
    parent, name = os.path.split(os.path.abspath(out_dir))
    prefix = f".{name}.partial-"
    for d in sorted(os.listdir(parent)):
        if not d.startswith(prefix):
            continue
        rest = d[len(prefix):]
        pid = rest[:-4] if rest.endswith(".old") else rest
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        path = os.path.join(parent, d)
        if rest.endswith(".old") and not os.path.exists(out_dir) and is_complete(path):
            os.replace(path, out_dir)
            logger.warning("restored %s from %s (an interrupted replacement)", out_dir, path)
        else:
            shutil.rmtree(path, ignore_errors=True)


def install(tmp: str, out_dir: str) -> None:
    """Rename the finished ``tmp`` folder to ``out_dir``; an existing ``out_dir`` is moved
    aside first and deleted after, so ``out_dir`` is never a half-written folder."""
    if os.path.isdir(out_dir):
        old = f"{tmp}.old"
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
