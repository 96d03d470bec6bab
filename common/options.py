"""The options of a stage: one frozen dataclass per stage whose fields carry their default,
their allowed values and their help; the command-line flags are generated from them
(:func:`common.cli.define_option_flags`), so a flag, its range and its help have one home.

    @dataclasses.dataclass(frozen=True)
    class GenerateOptions(StageOptions):
        checkpoint: Optional[str] = shared("checkpoint", required=True)
        n_per_code: int = integer(1, "noise vectors per code", low=1)

        def check(self):          # rules between fields (optional)
            ...

Building an options object checks every field (its type, range or choices) and then the
class's :meth:`StageOptions.check`; a bad value is a :class:`common.errors.InputError` whose
one line names the flag and the allowed values: ``--n_per_code=0: must be an integer >= 1``.
Required fields are checked apart (:func:`require`), by the command line and by each stage's
``run(options)``, so that an options object can be built field by field in Python.

The flags every stage shares (``--out``, ``--overwrite``, ``--progress``, ``--seed``,
``--batch_size``, ``--data``, ``--checkpoint``, ``--normalize``, ...) are declared once, in
:data:`SHARED`: a stage field takes one with :func:`shared`, which keeps its type, meaning and
range and lets the stage choose the default and add a sentence of its own.

No absl, no TensorFlow here: options are read and checked before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Dict, Optional, Tuple

from .errors import InputError

KINDS = ("string", "int", "float", "bool", "enum", "list")
SEED_MAX = 2 ** 32 - 1      # numpy's RandomState and Keras' set_random_seed take 0..2^32-1


@dataclasses.dataclass(frozen=True)
class Renamed:
    """Another name of a flag, accepted beside it (:func:`common.cli.define_renamed_flag`).

    ``values`` maps the old flag's values onto the new one's (e.g. the boolean
    ``--data_normalize`` onto ``--normalize=peak|none``; ``--no_figures`` onto the negated
    ``--figures``); None: the same value.  ``deprecated``: a one-line notice says to use the
    new name (False for a name kept on purpose, such as the original training scripts')."""
    name: str
    values: Optional[Tuple[Tuple[Any, Any], ...]] = None
    deprecated: bool = True
    help: str = ""

    def convert(self, value):
        return value if self.values is None else dict(self.values)[value]


@dataclasses.dataclass(frozen=True)
class Option:
    """What a field of a stage's options accepts (kept in the field's metadata)."""
    kind: str                        # one of KINDS
    help: str
    choices: Tuple[str, ...] = ()    # kind 'enum'
    low: Optional[float] = None      # numbers: the smallest allowed value ...
    high: Optional[float] = None     # ... and the largest
    low_open: bool = False           # low itself excluded (> rather than >=)
    high_open: bool = False          # high itself excluded (< rather than <=)
    flag: Optional[str] = None       # the flag's name when not the field's; '' = no flag
    synonyms: Tuple[str, ...] = ()   # further names of the same flag (train.py's --data)
    renamed: Tuple[Renamed, ...] = ()
    required: bool = False
    role: str = ""                   # a path: 'input', 'checkpoint' (an input), 'output' (a
                                     # folder the stage builds) or 'run' (one it resumes)
    shared: bool = False             # declared in SHARED

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")
        if (self.kind == "enum") != bool(self.choices):
            raise ValueError("an 'enum' option and only it has choices")

    def allowed(self) -> str:
        """The allowed values in words: 'an integer >= 1', 'one of peak, none', ..."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind not in ("int", "float"):
            return {"string": "a text", "bool": "true or false",
                    "list": "a comma-separated list"}[self.kind]
        what = "an integer" if self.kind == "int" else "a finite number"
        bounds = self.range_text()
        return f"{what} {bounds}" if bounds else what

    def range_text(self) -> str:
        """'>= 1', '> 0', 'in [0, 1)', '0..4294967295' or '' (numbers only)."""
        low, high = self.low, self.high
        fmt = (lambda v: f"{int(v)}") if self.kind == "int" else (lambda v: f"{v:g}")
        if low is not None and high is not None:
            if self.kind == "int":
                return f"{fmt(low)}..{fmt(high)}"
            return (f"in {'(' if self.low_open else '['}{fmt(low)}, {fmt(high)}"
                    f"{')' if self.high_open else ']'}")
        if low is not None:
            return f"{'>' if self.low_open else '>='} {fmt(low)}"
        if high is not None:
            return f"{'<' if self.high_open else '<='} {fmt(high)}"
        return ""

    def help_text(self) -> str:
        """The flag's help: the meaning, then the allowed range of a number."""
        bounds = self.range_text() if self.kind in ("int", "float") else ""
        return f"{self.help} ({bounds})" if bounds else self.help


def _field(default, option: Option) -> dataclasses.Field:
    if isinstance(default, (list, dict, set)):
        value = list(default)
        return dataclasses.field(default_factory=lambda: list(value),
                                 metadata={"option": option})
    return dataclasses.field(default=default, metadata={"option": option})


def text(default: Optional[str], help: str, **kw) -> dataclasses.Field:
    """A string option (None allowed when it is the default)."""
    return _field(default, Option("string", help, **kw))


def integer(default: Optional[int], help: str, *, low=None, high=None, **kw):
    """An integer option within [low, high] (either may be None: unbounded)."""
    return _field(default, Option("int", help, low=low, high=high, **kw))


def number(default: Optional[float], help: str, *, low=None, high=None, low_open=False,
           high_open=False, **kw):
    """A finite float option within the bounds (NaN and infinities are always refused)."""
    return _field(default, Option("float", help, low=low, high=high, low_open=low_open,
                                  high_open=high_open, **kw))


def boolean(default: Optional[bool], help: str, **kw):
    """A boolean option (``--name`` / ``--noname``)."""
    return _field(default, Option("bool", help, **kw))


def choice(default: Optional[str], choices, help: str, **kw):
    """One of ``choices`` (an absl enum flag)."""
    return _field(default, Option("enum", help, choices=tuple(choices), **kw))


def items(default, help: str, **kw):
    """A list of strings (a comma-separated flag); None allowed when it is the default."""
    return _field(default, Option("list", help, **kw))


# --------------------------------------------------------------------------------------------
# The shared vocabulary: every stage that has one of these flags takes it from here.
# --------------------------------------------------------------------------------------------
SHARED: Dict[str, Option] = {
    "data": Option("string", "the input: a prepared dataset folder (prepare.py's output)",
                   role="input", shared=True),
    "checkpoint": Option("string", "a training folder (its newest readable checkpoint), one "
                         "of our checkpoints (.../ckpt-N) or a TF1 prefix (.../model.ckpt-N)",
                         role="checkpoint", shared=True),
    "out": Option("string", "the output folder: built beside, renamed into place; never an "
                  "input, a folder around one or a folder of the repository",
                  role="output", shared=True),
    "overwrite": Option("bool", "replace --out when it holds this stage's own earlier output "
                        "(any other existing folder is refused)", shared=True),
    "progress": Option("bool", "progress bars and messages (--noprogress for logs)",
                       shared=True),
    "seed": Option("int", "seed of everything random the stage draws", low=0, high=SEED_MAX,
                   shared=True),
    "batch_size": Option("int", "examples per step or per forward pass", low=1, shared=True),
    "normalize": Option("enum", "per-example peak normalisation of the input audio (x / "
                        "max|x|, the original loader's): peak or none",
                        choices=("peak", "none"), shared=True),
    "codes": Option("list", "codes to generate audio from: ciwGAN categories (3 or code_3), "
                    "fiwGAN bit patterns (0101 or bits_0101) or 'all'", shared=True),
    "value": Option("float", "value of the active code entries (e.g. 5 to exaggerate a "
                    "code's effect)", shared=True),
    "n_per_code": Option("int", "noise vectors per code (the same noise for every code)",
                         low=1, shared=True),
    "words": Option("string", "words to use, comma-separated, or 'all'", shared=True),
}


def shared(name: str, default=None, *, help: str = "", **changes) -> dataclasses.Field:
    """A field for the shared flag ``name`` (:data:`SHARED`): its type, meaning and range from
    there; the stage gives the default and may add a sentence (``help``) and change the
    bounds (``high``), flag name, synonyms, renamed names or ``required``."""
    base = SHARED[name]
    option = dataclasses.replace(
        base, help=f"{base.help}; {help}" if help else base.help, **changes)
    return _field(default, option)


# --------------------------------------------------------------------------------------------
# Reading the fields
# --------------------------------------------------------------------------------------------
def option_of(field: dataclasses.Field) -> Optional[Option]:
    return field.metadata.get("option")


def option_fields(cls_or_obj):
    """[(field, Option)] of every option field, in declaration order."""
    return [(f, option_of(f)) for f in dataclasses.fields(cls_or_obj) if option_of(f)]


def flag_name(field: dataclasses.Field) -> str:
    """The command-line name of a field ('' when it has no flag)."""
    option = option_of(field)
    return field.name if option is None or option.flag is None else option.flag


def field_default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None if field.default is dataclasses.MISSING else field.default


def _bad(field, value, option: Option) -> InputError:
    shown = "" if value is None else (",".join(map(str, value))
                                      if isinstance(value, (list, tuple)) else value)
    if isinstance(value, bool) or option.kind == "bool":
        shown = str(value).lower()
    return InputError(f"--{flag_name(field) or field.name}={shown}: must be "
                      f"{option.allowed()}")


def check_value(field: dataclasses.Field, value) -> None:
    """Raise an InputError naming the flag when ``value`` is not allowed for ``field``."""
    option = option_of(field)
    if option is None or value is None:
        # None is what an optional option holds when it is not given: allowed when it is the
        # default (the help says what None means); a required one is checked by require().
        if option is not None and value is None and field_default(field) is not None:
            raise _bad(field, value, option)
        return
    kind = option.kind
    if kind in ("string", "enum"):
        ok = isinstance(value, str) and (kind == "string" or value in option.choices)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and kind == "int":
            ok = isinstance(value, int)
        if ok:
            v = float(value)
            ok = math.isfinite(v) and (
                option.low is None or (v > option.low if option.low_open else v >= option.low)
            ) and (option.high is None or
                   (v < option.high if option.high_open else v <= option.high))
    if not ok:
        raise _bad(field, value, option)


class StageOptions:
    """Base of every stage's frozen options dataclass: building one checks each field
    (:func:`check_value`), then :meth:`check` (the class's rules between fields).
    ``stage``: the stage's name in the output markers (:mod:`common.outputs`)."""

    stage: ClassVar[str] = ""

    def __post_init__(self):
        for field, _ in option_fields(self):
            check_value(field, getattr(self, field.name))
        self.check()

    def check(self) -> None:
        """Rules between fields (InputError); none by default."""

    def earlier_run(self, folder: str) -> bool:
        """Whether ``folder`` (without the stage's marker) holds an earlier run of the stage
        written before markers were (a folder the stage resumes, role 'run'); no by
        default."""
        return False

    def replace(self, **changes):
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)


def require(options) -> None:
    """The one check of required options: an InputError naming every one that is empty."""
    missing = [f"--{flag_name(f) or f.name}" for f, option in option_fields(options)
               if option.required and getattr(options, f.name) in (None, "", [], ())]
    if missing:
        raise InputError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                         "required")


def paths(options, role: str) -> Dict[str, str]:
    """{'--flag': path} of the fields with ``role`` ('input' includes 'checkpoint') that are
    set, e.g. the inputs an output must keep apart from (:mod:`common.outputs`)."""
    roles = ("input", "checkpoint") if role == "input" else (role,)
    found = {}
    for field, option in option_fields(options):
        value = getattr(options, field.name)
        if option.role in roles and value:
            found[f"--{flag_name(field) or field.name}"] = value
    return found
