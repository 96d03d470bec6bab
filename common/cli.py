"""One place where errors become exit codes, for every script.

    def main(argv):
        return run_main("extract.py", lambda: _extract(options))

* :class:`common.errors.InputError` (bad input: a flag, file or value): one line
  ``<script>: error: <message>`` on stderr, exit status 2, no traceback;
* ``KeyboardInterrupt``: one line, exit status 130;
* anything else is a bug: the traceback is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable, Optional

from .errors import InputError, one_line

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def fail(script: str, message: object, code: int = EXIT_BAD_INPUT) -> int:
    """Print ``<script>: error: <message>`` as one line on stderr; return ``code``."""
    print(f"{script}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def run_main(script: str, body: Callable[[], Optional[int]]) -> int:
    """Run ``body`` and map what it raises onto an exit status (see the module docstring)."""
    try:
        code = body()
    except InputError as err:
        return fail(script, err)
    except KeyboardInterrupt:
        return fail(script, "interrupted", EXIT_INTERRUPTED)
    except Exception:  # a bug: keep the traceback for the report
        traceback.print_exc()
        return EXIT_BUG
    return 0 if code is None else int(code)


def absl_flags_parser(script: str):
    """A ``flags_parser`` for ``absl.app.run``: a bad flag (unknown name, wrong value) is one
    line and exit status 2, like any other bad input, instead of absl's usage text and 1."""
    def parse(argv):
        from absl import flags
        try:
            return flags.FLAGS(argv)
        except flags.Error as err:
            sys.exit(fail(script, err))
    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are :class:`InputError` (one line, exit 2 through
    :func:`run_main`) instead of the usage text and exit status 2 with two lines."""

    def error(self, message):
        raise InputError(message)


def define_deprecated_alias(old: str, new: str, flag_values=None, negate: bool = False) -> None:
    """Keep ``--old`` working for a flag renamed to ``--new`` (same type): it is accepted and
    copied onto ``--new`` by :func:`apply_deprecated_aliases`, with a one-line notice.
    ``negate=True`` is for a boolean ``--old`` that meant 'not --new' (``--no_figures`` for
    ``--nofigures``): ``--new`` gets the opposite value."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    target = flag_values[new]
    if negate and not target.boolean:
        raise ValueError(f"--{new} is not a boolean: it cannot be negated")
    holder = flags.Flag(target.parser, target.serializer, old, None,
                        f"deprecated: use --{'no' if negate else ''}{new}",
                        boolean=target.boolean)
    flags.DEFINE_flag(holder, flag_values)
    _DEPRECATED.setdefault(id(flag_values), {})[old] = (new, negate)


# id(FlagValues) -> {old name: (new name, negated?)}
_DEPRECATED: dict = {}


def apply_deprecated_aliases(script: str, flag_values=None) -> None:
    """Carry every deprecated flag that was given over to its new name, printing one notice
    each (once: calling it again does nothing).  Giving both names with different meanings is
    an :class:`InputError`."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    for old, (new, negate) in _DEPRECATED.get(id(flag_values), {}).items():
        if not flag_values[old].present:
            continue
        value = flag_values[old].value
        if negate:
            value = not value
        if flag_values[new].present and flag_values[new].value != value:
            raise InputError(f"--{old}={flag_values[old].value} and "
                             f"--{new}={flag_values[new].value} disagree (--{old} is the "
                             f"deprecated {'negated form' if negate else 'name'} of --{new})")
        spelled = f"--{'' if value else 'no'}{new}" if negate else f"--{new}"
        print(f"{script}: note: --{old} is deprecated; use {spelled}", file=sys.stderr)
        flag_values[new].value = value
        flag_values[new].present = 1
        flag_values[old].present = 0  # carried over once: a second call does nothing


def check_command_line(script: str, extra_args, required=(), flag_values=None) -> None:
    """What every script checks first: deprecated names carried over
    (:func:`apply_deprecated_aliases`), no positional arguments, the ``required`` flags given.
    Each problem is an :class:`InputError` (one line, exit 2)."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    apply_deprecated_aliases(script, flag_values)
    if extra_args:
        raise InputError(f"unexpected arguments {list(extra_args)} (flags are --name=value)")
    missing = [f"--{name}" for name in required if not flag_values[name].value]
    if missing:
        raise InputError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                         "required")
