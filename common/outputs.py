"""The safe-output rule: how every stage writes its output folder.

1. **Refuse a dangerous path** (:func:`check_output`): the output must not be, contain or lie
   inside any input of the run (``--data``, ``--checkpoint``, ``--activations``,
   ``--timit_dir``, ``--train_dir``, ...), and must not be, contain or lie inside a folder of
   this repository (``analysis/``, ``docs/``, the repository itself, ...).
2. **Replace only the stage's own output**: an existing folder is replaced only with
   ``--overwrite`` and only when it carries the marker file :data:`MARKER_NAME` naming the
   same stage.  An empty folder counts as absent.  Anything else is refused; nothing is
   deleted that the stage did not write itself.
3. **Write to a temporary sibling and rename** (:class:`OutputFolder`): the folder is built as
   ``.<name>.partial-<pid>`` beside the output, then renamed into place; an older output is
   moved aside to ``.<name>.partial-<pid>.old`` for the instant between the two renames and
   removed after.  A killed run leaves only such hidden siblings (each carrying the marker),
   which the next run of that stage tidies.

Every refusal raises :class:`common.errors.OutputPathError` (exit 2, one line).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import time
from typing import Mapping, Optional

from . import layout
from . import options as opts
from .atomic import atomic_write_json, default_mode
from .errors import OutputPathError
from .lock import LOCK_NAME

log = logging.getLogger(__name__)

MARKER_NAME = layout.MARKER_JSON
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Folders of the repository that are never outputs even when git is not available to list
# the tracked ones (an unpacked archive).
_ALWAYS_PROJECT_FOLDERS = (".git", ".venv", ".ci", "docs", "tests", "bench")


# --------------------------------------------------------------------------------------------
# Path relations
# --------------------------------------------------------------------------------------------
def real(path: str) -> str:
    """Absolute path with symbolic links resolved (also for paths that do not exist yet)."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (both already :func:`real`)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def overlap(out: str, other: str) -> Optional[str]:
    """How ``out`` relates to ``other`` ('is', 'contains', 'lies inside') or None."""
    out, other = real(out), real(other)
    if out == other:
        return "is"
    if is_within(other, out):
        return "contains"
    if is_within(out, other):
        return "lies inside"
    return None


@functools.lru_cache(maxsize=None)
def project_folders(root: str = PROJECT_ROOT) -> tuple:
    """Top-level folders of the repository that hold its own files (resolved paths).

    With git: every top-level folder that holds a tracked file; without it: every top-level
    folder with a Python package, plus :data:`_ALWAYS_PROJECT_FOLDERS`.
    """
    names = set(_ALWAYS_PROJECT_FOLDERS)
    try:
        listed = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                                timeout=20, check=True).stdout.decode("utf-8", "replace")
        names.update(p.split("/", 1)[0] for p in listed.split("\0") if "/" in p)
    except (OSError, subprocess.SubprocessError):
        for entry in os.listdir(root):
            if os.path.isfile(os.path.join(root, entry, "__init__.py")):
                names.add(entry)
    return tuple(sorted(real(os.path.join(root, n)) for n in names
                        if os.path.isdir(os.path.join(root, n))))


def check_not_project(out: str, flag: str = "--out", root: str = PROJECT_ROOT) -> None:
    """Refuse an output that is or contains the repository, or lies in one of its folders."""
    out_real, root_real = real(out), real(root)
    if is_within(root_real, out_real):
        raise OutputPathError(f"{flag}={out} {overlap(out, root)} this repository ({root}); "
                              "write outputs under a folder of their own, e.g. work/")
    for folder in project_folders(root_real):
        if is_within(out_real, folder):
            raise OutputPathError(
                f"{flag}={out} {overlap(out, folder)} the project's own folder "
                f"{os.path.relpath(folder, root_real)}/; write outputs under e.g. work/")


def check_not_input(out: str, inputs: Mapping[str, Optional[str]], flag: str = "--out") -> None:
    """Refuse an output that is, contains or lies inside any input (``{flag: path}``), in
    whichever spelling it was given: a folder, a file, a checkpoint prefix or one of its
    files (the folder it is read from, :func:`read_from`), through symbolic links (every
    path is compared resolved)."""
    for in_flag, in_path in inputs.items():
        if not in_path:
            continue
        for read in read_from(in_path):
            how = overlap(out, read)
            if how:
                where = "" if real(read) == real(in_path) else f" (read from {read})"
                raise OutputPathError(f"{flag}={out} {how} the input {in_flag}={in_path}"
                                      f"{where}; choose an output folder apart from the inputs")


# A checkpoint's files: PREFIX.index, PREFIX.data-00000-of-00001, PREFIX.meta (TF1).
_CHECKPOINT_FILE = re.compile(r"\.(index|meta)$|\.data-\d+-of-\d+$")


def read_from(path: str) -> list:
    """The paths a stage reads when given ``path``: the path itself, except for a checkpoint
    named by its prefix (``RUN/ckpt-3``, no such file but ``RUN/ckpt-3.index``) or by one of
    its files (``RUN/ckpt-3.index``): the loader reads the folder holding it (config.json,
    args.txt, the pointer file beside it), so that folder counts, and the folder the index
    file really lies in when it is reached through a symbolic link."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return [path]
    index = path if path.endswith(".index") else path + ".index"
    if not (_CHECKPOINT_FILE.search(path) or os.path.exists(index)):
        return [path]
    found = [os.path.dirname(os.path.abspath(path))]
    if os.path.exists(index):
        target = os.path.dirname(real(index))
        if target != real(found[0]):
            found.append(target)
    return found


def inputs_of(options) -> dict:
    """{'--flag': path} of every input of a stage's options (:mod:`common.options` fields with
    role 'input' or 'checkpoint'), for :func:`check_output`."""
    return opts.paths(options, "input")


def check_options_paths(options) -> None:
    """What the command line checks of a stage's paths before the stage imports anything
    heavy: no output (role 'output' or 'run') is, contains or lies inside an input or a folder
    of the repository, and a folder the stage resumes is new, empty or an earlier run of it
    (:func:`check_run_folder`).  The stage's ``run`` applies the whole rule again (the marker
    rule of an existing output folder included, :func:`check_output`)."""
    inputs = inputs_of(options)
    for role in ("output", "run"):
        for flag, path in opts.paths(options, role).items():
            check_not_project(path, flag)
            check_not_input(path, inputs, flag)
            if role == "run":
                check_run_folder(path, options, flag)


def check_run_folder(path: str, options, flag: str) -> None:
    """A folder a stage writes into and resumes (train.py's ``--train_dir``) must be new,
    empty (but for a lock file), or an earlier run of that stage: its marker names the stage
    (:func:`write_marker`), or, written before markers were, ``options.earlier_run(path)``
    says so.  Anything else (another stage's output, a folder of the user's) is refused and
    left untouched (:class:`OutputPathError`)."""
    stage = options.stage
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise OutputPathError(f"{flag}={path} exists and is not a folder")
    marker = read_marker(path)
    if marker is not None:
        if marker.get("stage") == stage:
            return
        raise OutputPathError(f"{flag}={path} holds an output of {marker.get('stage')}, not a "
                              f"run of {stage}; it is left untouched: choose a new or empty "
                              "folder")
    entries = sorted(n for n in os.listdir(path) if n not in (LOCK_NAME, MARKER_NAME))
    if entries and not options.earlier_run(path):
        raise OutputPathError(f"{flag}={path} holds files that are not a run of {stage} "
                              f"({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''})"
                              "; it is left untouched: choose a new or empty folder, or an "
                              "earlier run to resume")


# --------------------------------------------------------------------------------------------
# Markers
# --------------------------------------------------------------------------------------------
def read_marker(folder: str) -> Optional[dict]:
    """The marker of an output folder, or None when it has none (or an unreadable one); a
    marker written by a newer version of this tool is a one-line error
    (:func:`common.layout.check_version`)."""
    path = os.path.join(folder, MARKER_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    return layout.check_version(marker, path) if isinstance(marker, dict) else None


def write_marker(folder: str, stage: str, complete: bool = True) -> None:
    atomic_write_json(os.path.join(folder, MARKER_NAME), layout.stamp(
        {"stage": stage, "complete": complete, "pid": os.getpid(),
         "written": time.strftime("%Y-%m-%d %H:%M:%S")}, MARKER_NAME))


def is_stage_output(folder: str, stage: str) -> bool:
    marker = read_marker(folder)
    return bool(marker) and marker.get("stage") == stage


def check_output(out: str, stage: str, inputs: Mapping[str, Optional[str]] = (),
                 overwrite: bool = False, flag: str = "--out") -> str:
    """Apply rules 1 and 2 of the module docstring; return ``out`` as an absolute path (for a
    symbolic link: the folder it points to, which is then what is written)."""
    if not out:
        raise OutputPathError(f"{flag} is required")
    check_not_project(out, flag)
    check_not_input(out, dict(inputs), flag)
    path = os.path.abspath(out)
    if os.path.islink(path):
        # A symbolic link: the folder it points to is the output (built beside it and renamed
        # into place); the link stays, pointing to the new folder.
        path = real(path)
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise OutputPathError(f"{flag}={out} exists and is not a folder")
        if os.listdir(path):
            if not is_stage_output(path, stage):
                raise OutputPathError(
                    f"{flag}={out} exists and is not an output of {stage} (no {MARKER_NAME} "
                    f"naming {stage}); it is left untouched: choose another {flag}")
            if not overwrite:
                raise OutputPathError(f"{flag}={out} holds an earlier {stage} output; pass "
                                      "--overwrite to replace it")
    return path


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _partial_prefix(out: str) -> str:
    return f".{os.path.basename(out)}.partial-"


def clean_stale_partials(out: str, stage: str) -> None:
    """Tidy siblings of ``out`` that killed runs of ``stage`` left (pid no longer alive, marker
    of ``stage`` inside): a half-written ``.partial-<pid>`` is removed; a ``.partial-<pid>.old``
    (an output moved aside during replacement) is renamed back when ``out`` is missing."""
    parent = os.path.dirname(out)
    prefix = _partial_prefix(out)
    try:
        entries = sorted(os.listdir(parent))
    except OSError:
        return
    for name in entries:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        pid = rest[:-4] if rest.endswith(".old") else rest
        path = os.path.join(parent, name)
        if not pid.isdigit() or _pid_alive(int(pid)) or not is_stage_output(path, stage):
            continue
        if rest.endswith(".old") and not os.path.lexists(out):
            os.replace(path, out)
            log.warning("restored %s from %s (an interrupted replacement)", out, path)
        else:
            shutil.rmtree(path, ignore_errors=True)


class OutputFolder:
    """Context manager that writes a stage's output folder under the safe-output rule.

        with OutputFolder(out, "extract", inputs={"--data": data}, overwrite=False) as tmp:
            ...write files into tmp...
        # now out holds them (and the marker); on an exception out is untouched

    The rules are checked at construction, so a bad path fails before any work is done.
    """

    def __init__(self, out: str, stage: str, inputs: Mapping[str, Optional[str]] = (),
                 overwrite: bool = False, flag: str = "--out"):
        self.stage, self.flag, self.overwrite = stage, flag, overwrite
        self.inputs = dict(inputs)
        self.out = check_output(out, stage, self.inputs, overwrite, flag)
        self.tmp = os.path.join(os.path.dirname(self.out),
                                f"{_partial_prefix(self.out)}{os.getpid()}")

    def __enter__(self) -> str:
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        clean_stale_partials(self.out, self.stage)
        if os.path.lexists(self.tmp):  # our own pid: a leftover of this process
            shutil.rmtree(self.tmp)
        os.mkdir(self.tmp)
        os.chmod(self.tmp, default_mode(is_dir=True))
        write_marker(self.tmp, self.stage, complete=False)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        try:
            write_marker(self.tmp, self.stage, complete=True)
            self.install()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return False

    def install(self) -> None:
        """Rename the finished folder into place (rules re-checked: the disk may have changed
        while the stage ran)."""
        check_output(self.out, self.stage, self.inputs, self.overwrite, self.flag)
        if os.path.isdir(self.out):
            old = self.tmp + ".old"
            os.replace(self.out, old)
            os.replace(self.tmp, self.out)
            shutil.rmtree(old)  # the stage's own earlier output (or an empty folder)
        else:
            os.replace(self.tmp, self.out)

