"""Which checkpoint a path names, for our checkpoints and the original TF1 code's alike.

A path given as ``--checkpoint`` (or ``--init_from``) is one of

    a training folder        ours (``ckpt-N`` of tf.train.CheckpointManager) or the original's
                             (``model.ckpt-N`` of tf.train.Saver): its newest readable
                             checkpoint (:func:`newest_readable`)
    a checkpoint prefix      ``.../ckpt-N`` or ``.../model.ckpt-N``, which must be readable
    one of its files         ``.../ckpt-N.index``, ``.data-00000-of-00001``, ``.meta``

:func:`resolve_readable_prefix` turns it into the prefix to load, reading each candidate's
tensors once (a truncated file is found before the models are built);
:func:`wavegan.checkpoints.load_models` calls it once and returns the prefix it loaded.
Nothing here keeps state between calls, and nothing is deleted or rewritten.  TensorFlow is
imported only by the functions that read checkpoints.
"""

from __future__ import annotations

import logging
import os
import re
from typing import List, Optional, Tuple

from common.errors import InputError

log = logging.getLogger(__name__)


class CheckpointError(InputError, ValueError):
    """A checkpoint that cannot be read or does not fit the models."""


def resolve_readable_prefix(path: str) -> str:
    """The checkpoint to load from ``path``: a training folder of ours or of the original code
    (its newest checkpoint that can be read: an unreadable newer one, e.g. truncated by a full
    disk, is skipped with one warning line and left in place; a missing or damaged
    ``checkpoint`` pointer file is made up for by the numbered ckpt-N / model.ckpt-N files
    present), or a prefix (ours or TF1; it must be readable: a named checkpoint is never
    silently replaced by another).  Raises :class:`CheckpointError` naming the path and why.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise CheckpointError(f"{path}: no such checkpoint, prefix or folder")
    prefix = resolve_prefix(path)  # a folder: already its newest readable checkpoint
    if not os.path.isdir(path):
        problem = checkpoint_problem(prefix)
        if problem is not None:
            raise CheckpointError(f"{prefix}: the checkpoint cannot be read ({problem}); name "
                                  "an older one, or its folder to take the newest readable")
    return prefix


def resolve_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix, a data/index file name, or a folder (its newest
    readable checkpoint, see :func:`newest_readable`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = _latest_in_folder(path)
        if latest is None:
            raise CheckpointError(f"{path}: no checkpoint found in this folder")
        return latest
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    m = re.match(r"^(.*)\.data-\d+-of-\d+$", path)
    if m:
        return m.group(1)
    if not os.path.exists(path + ".index"):
        raise CheckpointError(f"{path}: no checkpoint here (expected {path}.index)")
    return path


def _latest_in_folder(folder: str) -> Optional[str]:
    """The folder's newest readable checkpoint (None when it holds none); an unreadable newer
    one is skipped with a warning, and none readable at all is a :class:`CheckpointError`."""
    latest, skipped = newest_readable(folder)
    if latest is None and skipped:
        raise CheckpointError(f"{folder}: no readable checkpoint ("
                              + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
                              + "); the files are left as they are")
    return latest


# Numbered checkpoints: ours are ckpt-N (tf.train.CheckpointManager), the original's
# model.ckpt-N (tf.train.Saver).  A set-aside or temporary name does not end in -N.
_NUMBERED = re.compile(r"-(\d+)$")


def checkpoint_step(prefix: str) -> Optional[int]:
    """N of a prefix ending in -N, else None."""
    m = _NUMBERED.search(os.path.basename(prefix))
    return int(m.group(1)) if m else None


def folder_checkpoints(folder: str, name_pattern: Optional[str] = None) -> List[str]:
    """Every checkpoint of ``folder`` whose index file is present, newest first.

    First the one the ``checkpoint`` pointer file names (TensorFlow's choice; looked up under
    this folder too when the pointer holds absolute paths of the machine that wrote it, a copied
    run), then the numbered ones present by step, highest first: a missing or damaged pointer
    still finds them.  ``name_pattern`` (a regular expression) keeps only matching names.
    """
    keep = re.compile(name_pattern) if name_pattern else None
    found: List[str] = []
    seen = set()

    def add(prefix: str) -> None:
        key = os.path.realpath(prefix)
        name = os.path.basename(prefix)
        if key not in seen and os.path.exists(prefix + ".index") and (
                keep is None or keep.fullmatch(name)):
            seen.add(key)
            found.append(prefix)

    import tensorflow as tf

    state = tf.train.get_checkpoint_state(folder)
    if state is not None and state.model_checkpoint_path:
        for candidate in (state.model_checkpoint_path,
                          os.path.join(folder, os.path.basename(state.model_checkpoint_path))):
            if os.path.exists(candidate + ".index"):
                add(candidate)
                break
    names = [f[:-len(".index")] for f in os.listdir(folder) if f.endswith(".index")]
    numbered = sorted(((checkpoint_step(n), n) for n in names if checkpoint_step(n) is not None),
                      reverse=True)
    for _, name in numbered:
        add(os.path.join(folder, name))
    return found


def checkpoint_problem(prefix: str) -> Optional[str]:
    """None when the checkpoint can be read: its index and data files open and every tensor
    reads (TensorFlow checks each tensor's length and checksum); else why not, on one line."""
    import tensorflow as tf

    problem = None
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_dtype_map():
            reader.get_tensor(name)
    # The reader reports a short data file as IndexError, a bad index or checksum as OpError.
    except (tf.errors.OpError, IndexError, ValueError, OSError, RuntimeError) as err:
        problem = " ".join(str(getattr(err, "message", None) or err).split())[:300] or \
            type(err).__name__
    return problem


def newest_readable(folder: str, name_pattern: Optional[str] = None,
                    warn: bool = True) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """``(prefix, skipped)``: the newest checkpoint of ``folder`` that can be read (None when
    none can, or there is none) and the newer ``(prefix, reason)`` that could not.  With
    ``warn``, one warning line names what was skipped.  Nothing is deleted or rewritten."""
    skipped: List[Tuple[str, str]] = []
    for prefix in folder_checkpoints(folder, name_pattern):
        problem = checkpoint_problem(prefix)
        if problem is None:
            if skipped and warn:
                log.warning("skipped unreadable checkpoint %s; using %s (the unreadable files "
                            "are left in place)", "; ".join(f"{p} ({why})" for p, why in skipped),
                            prefix)
            return prefix, skipped
        skipped.append((prefix, problem))
    return None, skipped
