"""What the scripts print besides their own messages: TensorFlow's and absl's log lines
(hidden by default, ``--verbose`` brings them back), and the hints they print.

Every script calls :func:`quiet_logs` first thing, before anything imports TensorFlow::

    from common.logs import define_verbose_flag, quiet_logs
    quiet_logs()              # reads --verbose / --noverbose from sys.argv and $CIWGAN_VERBOSE
    ...
    define_verbose_flag()     # the absl flag, so that --verbose is accepted and documented

Where the noise comes from (TensorFlow 2.21, measured in docs/training.md, "Logs"):

* TensorFlow's C++ log lines (``I0000 00:00:... cpu_feature_guard.cc:227] This TensorFlow
  binary is optimized ...``): filtered by ``TF_CPP_MIN_LOG_LEVEL``, which TensorFlow reads
  once, when it is imported: it must be in the environment before that.
* The oneDNN notice (``port.cc:153] oneDNN custom operations are on ...``), printed where
  oneDNN is on (CPUs with AVX512_VNNI/AMX, or ``TF_ENABLE_ONEDNN_OPTS=1``), and absl's
  ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``
  in front of it: both are printed during ``import tensorflow`` straight through absl's C++
  log, which does not read ``TF_CPP_MIN_LOG_LEVEL`` (even 3 keeps them), once by each of the
  two libraries that carry a copy (libtensorflow_framework and _pywrap_tensorflow_internal),
  hence twice.  Nothing in the environment turns them off; :func:`quiet_logs` therefore
  catches file descriptor 2 while ``tensorflow`` is imported and lets through what
  ``TF_CPP_MIN_LOG_LEVEL`` would have let through (E and F lines, anything that is not a log
  line).
* TensorFlow's Python INFO messages (``I1129 ... functional_saver.py:440] Sharding callback
  duration: 145 microseconds`` at every checkpoint, through the tqdm bar): TensorFlow logs
  them through absl's Python logger (31 modules do) or its own ``tensorflow`` logger; both
  inherit the root logger's level, which absl's ``app.run`` sets to INFO once the flags are
  parsed.  :func:`quiet_logs` puts a filter on absl's handler and both loggers that drops
  records below WARNING coming from installed libraries' files (site-packages), which also
  silences fontTools' ~80 INFO lines per PDF figure (``glyf subsetted``); the project's own
  INFO messages (``train.py``'s through absl) stay.

``--verbose`` leaves everything as TensorFlow makes it (``TF_CPP_MIN_LOG_LEVEL=0`` unless the
environment sets it).  The choice travels to child processes through ``$CIWGAN_VERBOSE``
(:func:`child_env`), so ``demo.py --verbose`` makes every stage verbose.

No TensorFlow here (``common`` imports none): this module must run before it is imported.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import re
import shlex
import sys
import tempfile
from typing import Optional, Sequence

VERBOSE_ENV = "CIWGAN_VERBOSE"
TF_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# TF_CPP_MIN_LOG_LEVEL by default: INFO and WARNING lines hidden, ERROR and FATAL shown.
QUIET_TF_LEVEL = "2"
# Python loggers that carry TensorFlow's INFO messages (TensorFlow's own logger may have a
# handler of its own); by default records below WARNING from installed libraries are dropped
# there and in absl's handler (_LibraryInfoFilter).
QUIET_LOGGERS = ("absl", "tensorflow")
_LIBRARY_FILE = re.compile(r"[/\\](site|dist)-packages[/\\]")

# absl/glog log lines: "I0000 00:00:1795987740.262565   28022 port.cc:153] ..." (before
# absl::InitializeLog) or "W1129 21:27:13.249042 140081639644032 file.py:440] ...".
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+:\d+\] ")
# What Python itself prints on stderr: "path.py:12: UserWarning: ...", "Traceback ...".
_PYTHON_LINE = re.compile(
    r"^(Traceback \(most recent call last\)|\S.*:\d+: \w*(Warning|Error)\b)")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
_LEVELS = "IWEF"           # TF_CPP_MIN_LOG_LEVEL 0..3 hides the levels before index N

_state = {"verbose": None}


def _parse_bool(text: str) -> Optional[bool]:
    """absl's spellings of a boolean value (true/false/t/f/1/0, any case); None otherwise."""
    low = text.strip().lower()
    if low in ("true", "t", "1"):
        return True
    if low in ("false", "f", "0"):
        return False
    return None


def verbose_requested(argv: Optional[Sequence[str]] = None,
                      environ: Optional[dict] = None) -> bool:
    """Whether ``--verbose`` is on, read before absl parses the flags: the last of
    ``--verbose``, ``--verbose=BOOL``, ``--noverbose`` in ``argv`` (up to a ``--``) wins;
    without any, ``$CIWGAN_VERBOSE`` (a boolean as absl spells it); default False."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    found = None
    for arg in argv:
        if arg == "--":
            break
        if arg in ("--verbose", "-verbose"):
            found = True
        elif arg in ("--noverbose", "-noverbose"):
            found = False
        elif arg.startswith(("--verbose=", "-verbose=")):
            value = _parse_bool(arg.split("=", 1)[1])
            found = found if value is None else value   # a bad value: absl reports it
    if found is None:
        found = bool(_parse_bool(environ.get(VERBOSE_ENV, "")))
    return found


def keep_line(line: str, min_level: int) -> bool:
    """Whether an import-time stderr line is shown at ``TF_CPP_MIN_LOG_LEVEL=min_level``: log
    lines below the level and absl's pre-InitializeLog warning are dropped, anything else
    (a Python warning, an error) is kept."""
    if line.startswith(_ABSL_PREAMBLE):
        return min_level < 1
    m = _LOG_LINE.match(line)
    return m is None or _LEVELS.index(m.group(1)) >= min_level


def filter_lines(text: str, min_level: int) -> str:
    """``text`` without the log records hidden at ``min_level``.  A record's continuation
    lines (``To enable the following instructions: ...`` after cpu_feature_guard's line) go
    with it, up to the next log line or a line Python printed (a warning, a traceback)."""
    kept, keeping = [], True
    for line in text.splitlines(keepends=True):
        if line.startswith(_ABSL_PREAMBLE) or _LOG_LINE.match(line):
            keeping = keep_line(line, min_level)
        elif _PYTHON_LINE.match(line):
            keeping = True
        if keeping:
            kept.append(line)
    return "".join(kept)


class _LibraryInfoFilter(logging.Filter):
    """Drops records below WARNING logged from an installed library's files (site-packages:
    TensorFlow, Keras, fontTools' font subsetting when matplotlib writes a PDF, ...)."""

    def filter(self, record):
        return record.levelno >= logging.WARNING or not _LIBRARY_FILE.search(
            record.pathname or "")


_LIBRARY_FILTER = _LibraryInfoFilter()


def _quiet_loggers(quiet: bool) -> None:
    from absl import logging as absl_logging   # absl's own logger class: let absl create it

    # absl's handler (app.run puts it on the root logger) sees every propagated record, a
    # library's own logger's (fontTools.subset) included; a logger's filter sees only records
    # logged to that very logger.
    for logger in (absl_logging.get_absl_handler(), absl_logging.get_absl_logger()) + tuple(
            logging.getLogger(n) for n in QUIET_LOGGERS if n != "absl"):
        if quiet:
            if _LIBRARY_FILTER not in logger.filters:
                logger.addFilter(_LIBRARY_FILTER)
        else:
            logger.removeFilter(_LIBRARY_FILTER)


def _tf_min_level() -> int:
    try:
        return max(0, min(3, int(os.environ.get(TF_LEVEL_ENV, "0"))))
    except ValueError:
        return 0


class _FilteredImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loading of the top-level ``tensorflow`` package so that
    what its C++ libraries print on file descriptor 2 meanwhile is filtered
    (:func:`filter_lines`) before it reaches the terminal."""

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow" or self._busy:
            return None
        import importlib.util
        self._busy = True          # the lookup below asks this finder again: it declines
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, finder = spec.loader, self
        original = loader.exec_module

        def exec_module(module):
            try:
                with filtered_stderr(_tf_min_level()):
                    original(module)
            finally:
                # Imported (or failed): the loader's own method again, and this finder out.
                loader.__dict__.pop("exec_module", None)
                if finder in sys.meta_path:
                    sys.meta_path.remove(finder)

        loader.exec_module = exec_module
        return spec


class filtered_stderr:
    """Send file descriptor 2 to a temporary file for the block, then write what the block
    printed, less the hidden log lines (:func:`filter_lines`), to the real stderr.  Does
    nothing when descriptor 2 cannot be duplicated (no stderr)."""

    def __init__(self, min_level: int):
        self.min_level = min_level
        self._saved = None

    def __enter__(self):
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            self._saved = None
            return self
        self._tmp = tempfile.TemporaryFile()
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        text = self._tmp.read().decode("utf-8", errors="replace")
        self._tmp.close()
        rest = filter_lines(text, self.min_level)
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()
        return False


def quiet_logs(argv: Optional[Sequence[str]] = None) -> bool:
    """Set up the logs of this process; call it before TensorFlow is imported.  Returns
    whether ``--verbose`` is on (:func:`verbose_requested`).

    Quiet (the default): ``TF_CPP_MIN_LOG_LEVEL=2`` unless the environment sets it, the
    import-time lines TensorFlow prints past that setting filtered, libraries' Python INFO
    records dropped (:class:`_LibraryInfoFilter`).  Verbose: ``TF_CPP_MIN_LOG_LEVEL=0``
    unless the environment sets it, nothing filtered.  Either way ``$CIWGAN_VERBOSE`` is set
    for child processes."""
    verbose = verbose_requested(argv)
    _state["verbose"] = verbose
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    _quiet_loggers(not verbose)
    if verbose:
        os.environ.setdefault(TF_LEVEL_ENV, "0")
        return True
    os.environ.setdefault(TF_LEVEL_ENV, QUIET_TF_LEVEL)
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, _FilteredImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _FilteredImport())
    return False


def is_verbose() -> bool:
    """What :func:`quiet_logs` decided (False before it ran)."""
    return bool(_state["verbose"])


def child_env(environ: Optional[dict] = None) -> dict:
    """The environment for a child process (a stage ``demo.py`` runs): this process's choice
    of ``--verbose`` and TensorFlow log level carried over."""
    env = dict(os.environ if environ is None else environ)
    env[VERBOSE_ENV] = "1" if is_verbose() else "0"
    if not is_verbose():
        env.setdefault(TF_LEVEL_ENV, QUIET_TF_LEVEL)
    return env


VERBOSE_HELP = ("show TensorFlow's and absl's log messages (C++ notices, INFO lines), hidden "
                f"by default; also ${VERBOSE_ENV}=1")


def define_verbose_flag(flag_values=None, module_name=None) -> None:
    """The ``--verbose`` boolean flag (absl).  Its value is read earlier, from the command line,
    by :func:`quiet_logs`; the flag makes absl accept it and list it in ``--help``
    (``module_name``: the module absl lists it under)."""
    from absl import flags

    flags.DEFINE_boolean("verbose", False, VERBOSE_HELP,
                         flag_values=flags.FLAGS if flag_values is None else flag_values,
                         **({"module_name": module_name} if module_name else {}))


# --------------------------------------------------------------------------------------------
# Hints: commands printed for the user to copy, runnable exactly as printed
# --------------------------------------------------------------------------------------------
def venv_command(name: str) -> Optional[str]:
    """The path of console script ``name`` installed beside this Python (the venv's
    ``bin/``), quoted for a shell; None when it is not installed there.  The folder of
    ``sys.executable`` is taken as it is (a venv's python is a symlink: resolving it would
    leave the venv)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return shlex.quote(path)
    return None


def tensorboard_hint(logdir: str) -> str:
    """The command that shows ``logdir`` in TensorBoard: the venv's ``tensorboard`` (it is not
    on PATH unless the venv is activated), or how to install it."""
    command = venv_command("tensorboard")
    if command is None:
        return (f"TensorBoard is not installed beside {sys.executable}: "
                f"{shlex.quote(sys.executable)} -m pip install tensorboard")
    return f"{command} --logdir={shlex.quote(logdir)}"
