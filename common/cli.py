"""The command line of every script: flags generated from a stage's options, and one place
where errors become exit codes.

A stage script is a shim (:func:`stage_script`): its flags come from the stage's options
dataclass (:mod:`common.options`: name, type, default, range, help, renamed names), the
command line is parsed and checked (a bad flag, a value out of range, a stray argument, a
missing required flag: one line, exit 2) before the stage's ``run(options)`` imports anything
heavy, and what ``run`` raises becomes an exit status:

* :class:`common.errors.InputError` (bad input: a flag, file or value): one line
  ``<script>: error: <message>`` on stderr, exit status 2, no traceback;
* an OS error that says what the machine or a folder refuses (permission, read-only, disk
  full, quota: :data:`OS_BAD_INPUT`), TensorFlow's ResourceExhaustedError (disk or memory
  full) and MemoryError: one line, exit status 2;
* ``KeyboardInterrupt``: one line, exit status 130;
* anything else is a bug: the traceback is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
import weakref
from typing import Callable, Optional

from . import options as opts
from .errors import InputError, one_line

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def fail(script: str, message: object, code: int = EXIT_BAD_INPUT) -> int:
    """Print ``<script>: error: <message>`` as one line on stderr; return ``code``."""
    print(f"{script}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


# OS errors that say what the machine or the user's folders refuse, not a bug: one line and
# exit 2 like other bad input.  (Outputs are built in a temporary folder and renamed into
# place, so such a failure leaves what was on disk as it was.)
OS_BAD_INPUT = {errno.EACCES: "permission denied: choose a folder you can write, or change "
                              "its permissions",
                errno.EPERM: "operation not permitted: choose another folder",
                errno.EROFS: "the file system is read-only: write elsewhere",
                errno.ENOSPC: "no space left on the device: free space or write elsewhere",
                errno.EDQUOT: "disk quota exceeded: free space or write elsewhere",
                errno.ENAMETOOLONG: "file name too long: choose a shorter path",
                errno.ELOOP: "too many levels of symbolic links",
                errno.EMFILE: "too many open files (raise `ulimit -n`)"}


def os_error_line(err: OSError) -> Optional[str]:
    """The one line an OS error of :data:`OS_BAD_INPUT` is reported with (None for any other
    error: a bug until shown otherwise)."""
    advice = OS_BAD_INPUT.get(getattr(err, "errno", None))
    if advice is None:
        return None
    where = err.filename if err.filename is not None else "writing"
    return f"{where}: {advice}; what was already on disk is unchanged"


def resource_error_line(err: BaseException) -> Optional[str]:
    """A full disk or memory while TensorFlow writes or computes (its ResourceExhaustedError)
    or a numpy allocation that failed (MemoryError), as one line; None for anything else."""
    if isinstance(err, MemoryError):
        return ("out of memory: use a smaller --batch_size, a smaller model or less data; "
                "what was already on disk is unchanged")
    if any(c.__name__ == "ResourceExhaustedError" for c in type(err).__mro__):
        text = one_line(getattr(err, "message", None) or err)
        what = ("no space left on the device" if "space left" in text.lower() else
                "out of memory or disk space")
        return (f"{what} ({text[:200]}): free space or memory, or use a smaller --batch_size; "
                "the last complete checkpoint or output is unchanged")
    return None


def run_main(script: str, body: Callable[[], Optional[int]]) -> int:
    """Run ``body`` and map what it raises onto an exit status (see the module docstring)."""
    try:
        code = body()
    except InputError as err:
        return fail(script, err)
    except KeyboardInterrupt:
        return fail(script, "interrupted", EXIT_INTERRUPTED)
    except Exception as err:
        line = os_error_line(err) if isinstance(err, OSError) else resource_error_line(err)
        if line is not None:
            return fail(script, line)
        traceback.print_exc()  # a bug: keep the traceback for the report
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


# --------------------------------------------------------------------------------------------
# Flags from a stage's options
# --------------------------------------------------------------------------------------------
def define_option_flags(options_class, flag_values=None, module_name=None) -> None:
    """Define one absl flag per field of ``options_class`` that has one (its name, type,
    default, allowed values and help from the field), its synonyms and its renamed names
    (both through :func:`define_renamed_flag`: two names given with different values are
    refused by :func:`apply_renamed_flags`).  ``module_name``: the module absl lists them
    under (a script's ``--help`` shows its main module's flags: ``sys.argv[0]``)."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    where = {"module_name": module_name} if module_name else {}
    define = {"string": flags.DEFINE_string, "int": flags.DEFINE_integer,
              "float": flags.DEFINE_float, "bool": flags.DEFINE_boolean,
              "list": flags.DEFINE_list}
    for field, option in opts.option_fields(options_class):
        name = opts.flag_name(field)
        if not name:
            continue
        default = opts.field_default(field)
        if option.kind == "enum":
            flags.DEFINE_enum(name, default, list(option.choices), option.help_text(),
                              flag_values=flag_values, **where)
        else:
            define[option.kind](name, default, option.help_text(), flag_values=flag_values,
                                **where)
        for synonym in option.synonyms:  # a name kept on purpose: refused when it disagrees
            define_renamed_flag(opts.Renamed(synonym, deprecated=False), name, flag_values,
                                **where)
        for renamed in option.renamed:
            define_renamed_flag(renamed, name, flag_values, **where)


def options_from_flags(options_class, flag_values=None):
    """The parsed flags as ``options_class`` (each field checked: an InputError names the
    flag and its allowed values).  Renamed names must have been applied
    (:func:`check_command_line`)."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    values = {}
    for field, _ in opts.option_fields(options_class):
        name = opts.flag_name(field)
        if name:
            values[field.name] = flag_values[name].value
    return options_class(**values)


def define_renamed_flag(renamed: "opts.Renamed", new: str, flag_values=None,
                        module_name=None) -> None:
    """Accept ``--<renamed.name>`` for the flag ``--new``: its value (converted through
    ``renamed.values`` when given, e.g. a boolean onto an enum or onto the negated boolean)
    is copied onto ``--new`` by :func:`apply_renamed_flags`, with a one-line notice when the
    name is deprecated."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    target = flag_values[new]
    boolean = target.boolean if renamed.values is None else all(
        isinstance(k, bool) for k, _ in renamed.values)
    parser = flags.BooleanParser() if boolean else target.parser
    serializer = flags.ArgumentSerializer() if boolean else target.serializer
    hint = renamed.help or (f"deprecated: use --{new}" if renamed.deprecated
                            else f"the same as --{new}")
    holder = flags.Flag(parser, serializer, renamed.name, None, hint, boolean=boolean)
    flags.DEFINE_flag(holder, flag_values, module_name=module_name)
    _RENAMED.setdefault(flag_values, {})[renamed.name] = (new, renamed)


# FlagValues -> {old name: (new name, Renamed)}
_RENAMED = weakref.WeakKeyDictionary()


def _spelled(name: str, value, boolean: bool) -> str:
    if boolean:
        return f"--{'' if value else 'no'}{name}"
    return f"--{name}={value}"


def apply_renamed_flags(script: str, flag_values=None) -> None:
    """Carry every renamed flag that was given over to its new name, printing one notice
    each for the deprecated ones (once: calling it again does nothing).  Giving both names
    with different meanings is an :class:`InputError`."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    for old, (new, renamed) in _RENAMED.get(flag_values, {}).items():
        if not flag_values[old].present:
            continue
        given = flag_values[old].value
        value = renamed.convert(given)
        target = flag_values[new]
        if target.present and target.value != value:
            shown = str(given).lower() if isinstance(given, bool) else given
            what = "the deprecated name of" if renamed.deprecated else "another name for"
            raise InputError(f"--{old}={shown} and {_spelled(new, target.value, target.boolean)}"
                             f" disagree (--{old} is {what} --{new})")
        if renamed.deprecated:
            print(f"{script}: note: --{old} is deprecated; use "
                  f"{_spelled(new, value, target.boolean) if renamed.values else f'--{new}'}",
                  file=sys.stderr)
        target.value = value
        target.present = 1
        flag_values[old].present = 0  # carried over once: a second call does nothing


def check_command_line(script: str, extra_args, flag_values=None) -> None:
    """What every script checks first: renamed names carried over
    (:func:`apply_renamed_flags`) and no positional arguments (an :class:`InputError`)."""
    apply_renamed_flags(script, flag_values)
    if extra_args:
        raise InputError(f"unexpected arguments {list(extra_args)} (flags are --name=value)")


def parse_options(script: str, options_class, argv, flag_values=None):
    """``argv`` (after absl parsed the flags) checked and turned into ``options_class``: the
    renamed names carried over, no stray argument, every field in range, the required ones
    given.  Each problem is an :class:`InputError` naming the flag."""
    check_command_line(script, argv[1:], flag_values)
    options = options_from_flags(options_class, flag_values)
    opts.require(options)
    return options


def _stage_body(script, options_class, run, report, argv, flag_values=None):
    def body():
        from .outputs import check_options_paths

        options = parse_options(script, options_class, argv, flag_values)
        check_options_paths(options)
        result = run(options, script=script)
        if report is not None:
            print(report(result), flush=True)
            return None
        # a run without a report may return its exit status (demo.py: a stage's)
        return result if isinstance(result, int) and not isinstance(result, bool) else None
    return run_main(script, body)


def stage_script(script: str, options_class, run: Callable, report: Optional[Callable] = None,
                 ) -> None:
    """The whole of a stage's script: TensorFlow's logs quietened (before it is imported),
    the flags defined from ``options_class`` (and ``--verbose``), the command line parsed and
    checked (:func:`parse_options`), its output folders checked against its inputs and the
    repository (:func:`common.outputs.check_options_paths`), then ``run(options,
    script=script)``; ``report(result)`` is printed on stdout when given.  Exits with
    :func:`run_main`'s status.  Nothing heavy is imported before ``run``."""
    from absl import app

    from .logs import define_verbose_flag, quiet_logs

    quiet_logs()
    define_option_flags(options_class, module_name=sys.argv[0])
    define_verbose_flag(module_name=sys.argv[0])
    app.run(lambda argv: _stage_body(script, options_class, run, report, argv),
            flags_parser=absl_flags_parser(script))


def run_stage_command(script: str, options_class, run: Callable, argv,
                      report: Optional[Callable] = None) -> int:
    """What :func:`stage_script` does with ``argv`` (``[script, flags...]``), in this process
    and on flags of its own (absl's global FLAGS untouched); returns the exit status.  For
    tests and for calling a stage as its command line would."""
    from absl import flags

    from .logs import define_verbose_flag

    flag_values = flags.FlagValues()
    define_option_flags(options_class, flag_values)
    define_verbose_flag(flag_values)
    try:
        rest = flag_values(list(argv))
    except flags.Error as err:
        return fail(script, err)
    return _stage_body(script, options_class, run, report, rest, flag_values)


def _arg(flag: str, option, value) -> str:
    if option.kind == "bool":
        return _spelled(flag, value, True)
    if option.kind == "list":
        return f"--{flag}={','.join(value)}"
    return f"--{flag}={value}"


def options_args(options) -> list:
    """``--name=value`` arguments that give ``options``: each field with a flag whose value
    differs from its default, in declaration order (e.g. the command a report quotes)."""
    return [_arg(opts.flag_name(field), option, getattr(options, field.name))
            for field, option in opts.option_fields(options)
            if opts.flag_name(field) and getattr(options, field.name) is not None
            and getattr(options, field.name) != opts.field_default(field)]


def command_args(options_class, values: dict) -> list:
    """``--name=value`` arguments giving ``values`` ({field name: value}, in that order) to
    the script of ``options_class``, after checking them against it (an InputError names
    the flag): how one script asks another (demo.py) to run a stage."""
    options_class(**values)
    fields = {f.name: (f, option) for f, option in opts.option_fields(options_class)}
    return [_arg(opts.flag_name(fields[name][0]), fields[name][1], value)
            for name, value in values.items()]
