"""Resumable extraction: the output folder of a run that an interruption does not waste.

An extraction of the paper's 54,378 tokens runs for a long time; a Ctrl-C, a SIGTERM, a
``kill -9`` or a crash must not make the next run start again. The run
(:func:`extraction.run.run_extraction`) is built in a folder of stable name beside ``--out``,

    .<name>.partial/
        .ciwgan-output.json   the safe-output marker (stage extract, complete false)
        .lock                 common.lock.folder_lock: one run at a time on this folder
        resume.json           the journal: the run's fingerprint, the number of complete
                              batches and every counter the finished folder needs
        parts/<table>-<batch>.parquet   each complete batch's rows of each table (and of the
                              per-token side table ``tokens``), each file written atomically

and a batch counts as complete once its part files are in place and the journal says so (the
journal is written after them, atomically: a batch whose parts are there but not in the
journal is done again). Run again with the same settings, the extraction goes on from the
first incomplete batch (the source skips the complete ones, :mod:`extraction.sources`); with
different settings it is refused with one line naming the first difference (``--overwrite``
starts again instead). At the end the parts are merged, row group by row group, into the
single tables of an uninterrupted run (:func:`extraction.writers.merge_parts`), the journal
and the parts are removed and the folder is renamed into place by
:meth:`common.outputs.OutputFolder.install` (the same rules as every stage: never into an
input or the repository, ``--overwrite`` only over an earlier extract output).

What is kept after a failure: the partial folder stays when at least one batch is complete
and the failure is not bad input (an :class:`common.errors.InputError`, which a second run
would meet again: then nothing is left, as before); a run that completes no batch leaves
nothing either.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from typing import Callable, Optional

import numpy as np

from common.layout import EXTRACT_INFO_JSON
from common.atomic import default_mode, is_atomic_leftover
from common.errors import InputError, OutputPathError
from common.lock import LOCK_NAME, folder_lock
from common.outputs import (MARKER_NAME, OutputFolder, clean_stale_partials, is_stage_output,
                            write_marker)
from extraction.extraction_errors import ExtractionError
from extraction.writers import PARTS_DIR, write_json, write_part

logger = logging.getLogger(__name__)

JOURNAL_NAME = "resume.json"
JOURNAL_FORMAT = 1
STAGE = "extract"

# What each fingerprint entry is on the command line, for the one-line refusal.
FINGERPRINT_NAMES = {
    "format": "the journal's format (written by another version of extract.py)",
    "checkpoint": "--checkpoint",
    "checkpoint_prefix": "the checkpoint --checkpoint resolves to",
    "model": "the model's config (config.json / --model)",
    "weights": "the network's weights",
    "network": "--network",
    "source": "the input (--data / --split / --codes, or its contents)",
    "batch_size": "--batch_size",
    "layers": "--layers",
    "normalize": "--normalize",
    "phones": "--phones",
    "upsample": "--upsample",
    "upsample_per_word": "--upsample_per_word",
    "channels": "--channels",
    "csv": "--csv",
    "n_perm": "n_perm (permutations of the chance level)",
}
SOURCE_NAMES = {"data": "--data", "split": "--split", "kind": "the kind of input",
                "n_tokens": "the number of tokens", "latents": "--codes / --n_per_code / "
                "--value / --seed", "generator": "the generator's weights"}


# --------------------------------------------------------------------------------------------
# Fingerprints


def digest(*parts) -> str:
    """sha256 (hex, first 16 bytes) of byte strings, numpy arrays and texts, in order."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str((p.dtype.str, p.shape)).encode())
            p = np.ascontiguousarray(p).data
        elif isinstance(p, str):
            p = p.encode("utf-8", "surrogatepass")
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:32]


def file_stats(paths) -> str:
    """digest of (path, size, mtime) of files: it changes when one is replaced or rewritten
    (reading their contents again would cost as much as reading the extraction's input)."""
    rows = []
    for p in paths:
        try:
            st = os.stat(p)
            rows.append(f"{os.path.abspath(p)}\t{st.st_size}\t{st.st_mtime_ns}")
        except OSError:
            rows.append(f"{os.path.abspath(p)}\tmissing")
    return digest("\n".join(rows))


def weights_digest(model) -> Optional[str]:
    """digest of a Keras model's variables (names and values); None for an object without
    ``weights`` (a test double)."""
    weights = getattr(model, "weights", None)
    if weights is None:
        return None
    return digest(*[x for w in weights
                    for x in (str(getattr(w, "path", getattr(w, "name", ""))),
                              np.asarray(w.numpy()))])


def normalise(obj):
    """The fingerprint as it reads back from JSON (tuples -> lists, keys -> str)."""
    return json.loads(json.dumps(obj, default=str))


def _show(value) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value):
        return "(digest)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def first_difference(old: dict, new: dict) -> Optional[str]:
    """The first entry where two fingerprints differ, in words, or None when they are equal."""
    for key in list(new) + [k for k in old if k not in new]:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        name = FINGERPRINT_NAMES.get(key, key)
        if key == "source" and isinstance(a, dict) and isinstance(b, dict):
            for sub in list(b) + [k for k in a if k not in b]:
                if a.get(sub) != b.get(sub):
                    what = SOURCE_NAMES.get(sub, f"the input's {sub} (its contents changed)")
                    return f"{what}: {_show(a.get(sub))} then, {_show(b.get(sub))} now"
        if key in ("weights", "model", "format"):
            return f"{name} changed"
        return f"{name}: {_show(a)} then, {_show(b)} now"
    return None


# --------------------------------------------------------------------------------------------
# The folder


def partial_path(out: str) -> str:
    """The stable partial folder of ``out`` (absolute): ``.<name>.partial`` beside it."""
    out = os.path.abspath(out)
    return os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.partial")


_PART_NAME = re.compile(r"^(?P<stem>[a-z_]+)-(?P<index>\d{6,})\.parquet$")


class ResumableOutput:
    """Context manager around the extraction's output folder (module docstring).

        with ResumableOutput(out, inputs, overwrite, fingerprint, n_batches) as job:
            job.state          # the journal: batches_done and the run's counters
            job.commit(i, {stem: table})   # after batch i: its parts, then the journal
            ...
            job.finish()       # after the final files are written: tidy and rename into place

    The output rules are checked at construction (common.outputs.OutputFolder), before any
    work. ``notify(line)`` receives the resume / interruption notices.
    """

    def __init__(self, out: str, inputs: dict, overwrite: bool, fingerprint: dict,
                 n_batches: int, notify: Optional[Callable[[str], None]] = None,
                 flag: str = "--out"):
        self.folder = OutputFolder(out, STAGE, inputs=inputs, overwrite=overwrite, flag=flag)
        self.out, self.flag, self.overwrite = self.folder.out, flag, overwrite
        self.partial = partial_path(self.out)
        # OutputFolder.install renames its tmp into place: here that is the stable folder.
        self.folder.tmp = self.partial
        self.fingerprint = normalise(fingerprint)
        self.n_batches = int(n_batches)
        self.notify = notify or logger.info
        self.state: dict = {}
        self.resumed_from = 0
        self.finished = False
        self._stack = contextlib.ExitStack()

    # ---- entering --------------------------------------------------------------------------
    def __enter__(self) -> "ResumableOutput":
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        clean_stale_partials(self.out, STAGE)          # pid-named partials of older versions
        self._tidy_old()
        if os.path.lexists(self.partial) and not (os.path.isdir(self.partial) and
                                                   is_stage_output(self.partial, STAGE)):
            raise OutputPathError(
                f"{self.flag}={self.out}: {self.partial} exists and is not an interrupted "
                f"{STAGE} output (no {MARKER_NAME} naming {STAGE}); it is left untouched: "
                f"remove it or choose another {self.flag}")
        self._stack.enter_context(folder_lock(self.partial, flag=self.flag))
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _tidy_old(self) -> None:
        """``.<name>.partial.old``: an earlier output moved aside by an install that was
        killed between its two renames; put back when ``out`` is missing, else removed."""
        old = self.partial + ".old"
        if not (os.path.isdir(old) and is_stage_output(old, STAGE)):
            return
        if os.path.lexists(self.out):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, self.out)
            logger.warning("restored %s from %s (an interrupted replacement)", self.out, old)

    def _open(self) -> None:
        journal = self._read_journal()
        if journal is None and self._looks_finished():
            # Killed after the journal was removed, before the rename: only the rename is left.
            self.finished = True
            return
        if journal is not None:
            diff = first_difference(journal.get("fingerprint", {}), self.fingerprint) \
                if journal.get("format") == JOURNAL_FORMAT else FINGERPRINT_NAMES["format"]
            if diff is None:
                self.state = journal
                self.resumed_from = int(journal["batches_done"])
                self.finished = bool(journal.get("finished"))
                self._drop_incomplete_parts()
                if self.resumed_from:
                    self.notify(f"resuming the interrupted extraction in {self.partial}: "
                                f"{self.resumed_from} of {self.n_batches} batches are done")
                return
            if not self.overwrite:
                raise ExtractionError(
                    f"{self.flag}={self.out}: the interrupted extraction in {self.partial} "
                    f"was run with other settings ({diff}); run the same command as then to "
                    f"resume it, or pass --overwrite (or remove {self.partial}) to start again")
            self.notify(f"--overwrite: discarding the interrupted extraction in {self.partial} "
                        f"({diff})")
        self._start_fresh()

    def _read_journal(self) -> Optional[dict]:
        try:
            with open(os.path.join(self.partial, JOURNAL_NAME), encoding="utf-8") as f:
                journal = json.load(f)
        except (OSError, ValueError):
            return None
        return journal if isinstance(journal, dict) and "batches_done" in journal else None

    def _looks_finished(self) -> bool:
        return (os.path.isfile(os.path.join(self.partial, EXTRACT_INFO_JSON))
                and not os.path.exists(os.path.join(self.partial, PARTS_DIR)))

    def _start_fresh(self) -> None:
        for name in os.listdir(self.partial):
            if name == LOCK_NAME:
                continue
            path = os.path.join(self.partial, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        os.chmod(self.partial, default_mode(is_dir=True))
        write_marker(self.partial, STAGE, complete=False)
        self.state = {"format": JOURNAL_FORMAT, "fingerprint": self.fingerprint,
                      "batches_done": 0, "finished": False}
        self.save()

    def _drop_incomplete_parts(self) -> None:
        """Remove part files of batches the journal does not count (written just before a
        kill) and temporary files of atomic writes that were cut short."""
        for name in os.listdir(self.partial):   # e.g. the journal's, killed mid-write
            if is_atomic_leftover(name):
                os.unlink(os.path.join(self.partial, name))
        folder = os.path.join(self.partial, PARTS_DIR)
        if not os.path.isdir(folder):
            return
        for name in os.listdir(folder):
            m = _PART_NAME.match(name)
            if m is None or int(m.group("index")) >= self.resumed_from:
                os.unlink(os.path.join(folder, name))

    # ---- during the run --------------------------------------------------------------------
    def save(self) -> None:
        write_json(os.path.join(self.partial, JOURNAL_NAME), self.state)

    def commit(self, index: int, tables: dict) -> dict:
        """Batch ``index`` is done: write its tables ({stem: pyarrow table or None}) as part
        files, then the journal (``state`` as the caller updated it, batches_done = index+1).
        Returns {stem: rows written}."""
        if index != self.state["batches_done"]:
            raise RuntimeError(f"batch {index} committed after {self.state['batches_done']}")
        rows = {stem: write_part(self.partial, stem, index, t) for stem, t in tables.items()}
        self.state["batches_done"] = index + 1
        self.save()
        return rows

    def finish(self) -> None:
        """The final files are in the partial folder: remove the journal and the parts, mark
        the folder complete and rename it into place (common.outputs rules re-checked)."""
        self.state["finished"] = True
        self.save()
        shutil.rmtree(os.path.join(self.partial, PARTS_DIR), ignore_errors=True)
        os.unlink(os.path.join(self.partial, JOURNAL_NAME))
        self._install()

    def install_finished(self) -> None:
        """Only the rename was left (an earlier run was killed after finishing)."""
        shutil.rmtree(os.path.join(self.partial, PARTS_DIR), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.partial, JOURNAL_NAME))
        self._install()

    def _install(self) -> None:
        # The lock file is ours, not part of the output; our descriptor keeps the lock until
        # the context exits.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.partial, LOCK_NAME))
        write_marker(self.partial, STAGE, complete=True)
        self.folder.install()

    # ---- leaving ---------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is not None and os.path.isdir(self.partial):
                done = int(self.state.get("batches_done", 0))
                finished = bool(self.state.get("finished"))
                keep = finished or (done > 0 and not issubclass(exc_type, InputError))
                if finished:
                    self.notify(f"the finished extraction stays in {self.partial}; run the "
                                "same command again to put it in place")
                elif keep:
                    self.notify(f"interrupted: {done} of {self.n_batches} batches are kept in "
                                f"{self.partial}; run the same command again to resume")
                else:
                    shutil.rmtree(self.partial, ignore_errors=True)
        finally:
            self._stack.close()
        return False
