"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A reader (or a killed writer) never sees a half-written file: the target is either the old
file or the complete new one.  Every stage writes its files through these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator


def default_mode(is_dir: bool = False) -> int:
    """Permission bits a plain open()/mkdir() would give under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if is_dir else 0o666) & ~mask


TEMP_INFIX = ".tmp-"   # atomic_path's temporary files: ".<name>.tmp-<random>[suffix]"


def is_atomic_leftover(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s temporary files, left behind when
    the process was killed between creating it and renaming it (SIGKILL skips ``finally``)."""
    return name.startswith(".") and TEMP_INFIX in name


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is
    removed and ``path`` is untouched.  ``suffix`` keeps an extension for writers that need
    one (``.wav``, ``.png``)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}{TEMP_INFIX}",
                               suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 text to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(table, path: str, **to_csv_kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically, every text cell quoted (no index unless
    ``index=True``/``index_label`` is passed): pandas leaves a text holding a bare carriage
    return unquoted, which readers then split into rows; quoted, any label reads back whole
    (pandas; R's read.csv turns the CR into a newline)."""
    import csv

    to_csv_kwargs.setdefault("index", "index_label" in to_csv_kwargs)
    atomic_write_text(path, table.to_csv(quoting=csv.QUOTE_NONNUMERIC, **to_csv_kwargs))


def atomic_write_json(path: str, obj: Any, **dump_kwargs) -> None:
    """Write ``obj`` as indented, key-sorted JSON (and a final newline) atomically."""
    dump_kwargs.setdefault("indent", 2)
    dump_kwargs.setdefault("sort_keys", True)
    dump_kwargs.setdefault("default", str)
    atomic_write_text(path, json.dumps(obj, **dump_kwargs) + "\n")
