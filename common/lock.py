"""An OS file lock on a folder, held for a whole run (``train.py`` on ``--train_dir``).

``fcntl.flock`` on ``<folder>/.lock``: the kernel releases it when the holder exits, however it
exits (``kill -9`` included), so a lock left by a dead process never blocks the next run.  The
file records the holder (pid, host, command, start time) so a refused run can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from typing import Iterator

from .errors import LockHeldError

LOCK_NAME = ".lock"


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"process {holder.get('pid', '?')} on {holder.get('host', '?')} "
            f"({holder.get('command', '?')}, since {holder.get('started', '?')})")


@contextlib.contextmanager
def folder_lock(folder: str, flag: str = "--train_dir") -> Iterator[str]:
    """Hold the exclusive lock of ``folder`` (created if needed) for the ``with`` block.

    Raises :class:`LockHeldError` naming the holding process when another live process has it.
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except ValueError:
                holder = {}
            raise LockHeldError(f"{flag}={folder} is in use by {_describe(holder)}; wait for "
                                "it to finish or stop it, or choose another folder") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])[:300],
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
