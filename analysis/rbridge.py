"""Bridge to R through rpy2: start R once, load mgcv, convert tables.

Everything that touches R in the analysis package goes through :func:`get_r`, which starts the
embedded R on first use, loads ``mgcv`` (and ``stats``/``base``) and returns a small namespace.
When R, rpy2 or an R package is missing it raises :class:`RUnavailableError` whose message says
exactly what to install. :func:`r_session` is :func:`get_r` plus R helper functions defined
once per process (each model's own, and the shared ones here: a warning collector read by
:func:`take_r_warnings`, and :func:`pandas_to_r_factors`, which builds a model's factors).

The harmless start-up message ``library '/usr/local/lib/R/site-library' contains no packages``
(Debian's R lists an empty site library) is silenced by dropping empty folders from
``.libPaths()`` before any package is loaded, and by filtering that one message out of R's
console output.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from common.errors import InputError, one_line

APT_INSTALL = ("apt-get install -y --no-install-recommends r-base-core r-cran-mgcv "
               "r-cran-lme4")
PIP_INSTALL = "pip install rpy2==3.5.17"
# Debian package providing each R package we may load.
_DEBIAN_PACKAGE = {"mgcv": "r-cran-mgcv", "lme4": "r-cran-lme4", "lmerTest": "r-cran-lmertest",
                   "stats": "r-base-core", "base": "r-base-core", "utils": "r-base-core"}

_HARMLESS = ("contains no packages",)
# R code dropping empty library folders (Debian lists an empty /usr/local/lib/R/site-library,
# and library() warns about it on every load).
_DROP_EMPTY_LIBS = """
local({
  keep <- function(p) p[vapply(p, function(x) length(list.files(x)) > 0, logical(1))]
  e <- baseenv()
  if (exists(".Library.site", envir = e)) {
    unlockBinding(".Library.site", e)
    assign(".Library.site", keep(.Library.site), envir = e)
    lockBinding(".Library.site", e)
  }
  .libPaths(keep(.libPaths()))
  invisible(NULL)
})
"""


class RUnavailableError(InputError, RuntimeError):
    """R, rpy2 or a needed R package is not installed (the message says what to install)."""


class RInputError(InputError, RuntimeError):
    """An R error caused by the size or content of the input (the message says what to
    change): one line and exit status 2, like any other bad input."""


# R errors that mean "this input is too large for this machine", not a bug.
_OUT_OF_MEMORY = re.compile(r"cannot allocate (?:vector|memory block) of size\s*[0-9.]+\s*\w*"
                            r"|vector memory (?:exhausted|limit)[^.;]*"
                            r"|long vectors not supported[^.;]*", re.IGNORECASE)
_TOO_FEW_ROWS = re.compile(r"more coefficients than data", re.IGNORECASE)


def r_input_error(message: object, what: str, advice: str) -> Optional[RInputError]:
    """The :class:`RInputError` an R error message means, or None for any other R error.

    Out of memory (``cannot allocate vector of size 29.1 Gb``): ``what``, R's words and
    ``advice`` (which engine or option fits). mgcv's ``Model has more coefficients than
    data``: too few rows for the basis dimension.
    """
    text = one_line(message)
    found = _OUT_OF_MEMORY.search(text)
    if found:
        return RInputError(f"{what}: R ran out of memory ({found.group(0).strip()}); {advice}")
    if _TOO_FEW_ROWS.search(text):
        return RInputError(f"{what}: the model has more coefficients than data rows; use more "
                           "tokens or a lower --k")
    return None


# For an R allocation failure outside the fits that name their own remedy.
R_MEMORY_ADVICE = ("use --engine=fast for the word GAMM, skip the phone GAMMs "
                   "(--phone_layers=) or the mixed models (--lmm_layers=none), or analyse "
                   "fewer tokens")


class RFailure(InputError, RuntimeError):
    """R stopped a fit: one line naming what was being fitted and R's own message."""


@contextlib.contextmanager
def named_r_failures(doing: Callable[[], str], advice: str = R_MEMORY_ADVICE
                     ) -> Iterator[None]:
    """An R error raised in the block becomes one line: :class:`RInputError` when
    :func:`r_input_error` recognises it (too large, too few rows), else :class:`RFailure`
    ``R failed while <doing()>: <R's message>`` (``doing``: what the analysis was doing, e.g.
    its latest progress line, 'fitting word GAMM: layer conv5, ...')."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "RRuntimeError":
            raise
        mapped = r_input_error(exc, "R", advice)
        if mapped is not None:
            raise mapped from exc
        raise RFailure(f"R failed while {doing()}: {one_line(exc)}") from exc


@contextlib.contextmanager
def r_errors(what: str, advice: str) -> Iterator[None]:
    """Run R calls; an R error that :func:`r_input_error` recognises is raised as
    :class:`RInputError`, any other R error as it is. R's console copy of an error is
    dropped (the exception carries the same text), so the user sees one line; other console
    output written in the block is passed on after it."""
    from rpy2.rinterface_lib import callbacks
    from rpy2.rinterface_lib.embedded import RRuntimeError

    held = []
    writer = callbacks.consolewrite_warnerror
    callbacks.consolewrite_warnerror = held.append
    try:
        yield
    except RRuntimeError as exc:
        held.clear()
        mapped = r_input_error(exc, what, advice)
        if mapped is not None:
            raise mapped from exc
        raise
    finally:
        callbacks.consolewrite_warnerror = writer
        for text in held:
            writer(text)


@dataclass
class RSession:
    """Handles to the embedded R: ``ro`` (rpy2.robjects), loaded packages by name, ``r`` (eval),
    and the names of the R helper code already defined (:func:`r_session`)."""
    ro: Any
    packages: Dict[str, Any]
    helpers: set = field(default_factory=set)

    def r(self, code: str):
        """Evaluate R code and return the R object."""
        return self.ro.r(code)

    def __getattr__(self, name):
        pkgs = self.__dict__.get("packages", {})
        if name in pkgs:
            return pkgs[name]
        raise AttributeError(name)


_LOCK = threading.Lock()
_SESSION: Optional[RSession] = None


def _install_hint(what: str) -> str:
    return (f"{what}. Install R and mgcv with `{APT_INSTALL}` (plus r-cran-lmertest for the "
            f"mixed-model comparison) and rpy2 with `{PIP_INSTALL}` (rpy2 3.6.x does not load "
            f"against Debian 12's R 4.2).")


def _quiet_console():
    """Filter the empty-site-library message out of R's stderr console callback."""
    from rpy2.rinterface_lib import callbacks

    original = callbacks.consolewrite_warnerror
    if getattr(original, "_gan_filtered", False):
        return

    def _filtered(text: str):
        if any(h in text for h in _HARMLESS) or text.strip() == "":
            return
        original(text)

    _filtered._gan_filtered = True  # type: ignore[attr-defined]
    callbacks.consolewrite_warnerror = _filtered


def get_r(packages: Iterable[str] = ("mgcv",)) -> RSession:
    """Start R (once per process) and load ``packages``; return the :class:`RSession`.

    Raises RUnavailableError naming the apt/pip command when R, rpy2 or a package is missing.
    """
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            try:
                importlib.import_module("rpy2")  # installed at all? (the message says how)
            except ImportError as exc:
                raise RUnavailableError(_install_hint(f"rpy2 is not installed ({exc})")) from exc
            # rpy2's own lines while R starts (start-up chatter; when R is missing, its
            # 'Unable to determine R home' ERROR line, which the one-line error below says
            # better) are silenced, then its warnings shown again.
            rpy2_logger = logging.getLogger("rpy2")
            rpy2_logger.setLevel(logging.CRITICAL + 1)
            # Starting R puts R's library folders on LD_LIBRARY_PATH (and sets R_* variables)
            # in os.environ; child processes (other Pythons: TensorFlow, pyarrow) would then
            # load Debian's libpython/ssl and fail. This process has its libraries mapped
            # already, so the variable is restored right after the start.
            saved_ld = os.environ.get("LD_LIBRARY_PATH")
            try:
                _quiet_console()
                import rpy2.robjects as ro
                ro.r(_DROP_EMPTY_LIBS)
            except Exception as exc:  # R missing or rpy2/R mismatch
                raise RUnavailableError(_install_hint(
                    f"R could not be started through rpy2 ({type(exc).__name__}: {exc})")) from exc
            finally:
                rpy2_logger.setLevel(logging.WARNING)
                if saved_ld is None:
                    os.environ.pop("LD_LIBRARY_PATH", None)
                else:
                    os.environ["LD_LIBRARY_PATH"] = saved_ld
            _SESSION = RSession(ro=ro, packages={})
        session = _SESSION
        for name in packages:
            if name in session.packages:
                continue
            from rpy2.robjects.packages import importr, PackageNotInstalledError
            try:
                session.packages[name] = importr(name)
            except PackageNotInstalledError as exc:
                deb = _DEBIAN_PACKAGE.get(name, f"r-cran-{name.lower()}")
                raise RUnavailableError(_install_hint(
                    f"the R package '{name}' is not installed (Debian package {deb})")) from exc
        return session


# R helpers every model shares, defined by r_session before any other:
# * warnings raised inside our R calls are collected in .ganan_warnings (read and cleared by
#   take_r_warnings, reported in GammFit.notes / LmmResult.notes) instead of being printed;
# * .ganan_data_frame(columns, names, n) and .ganan_codes(codes, levels, class) build
#   pandas_to_r's data.frame and factors from vectors converted one buffer each;
# * .ganan_factors(d, levels, factor, ordered, random, rlevels) turns the integer level codes
#   of a model's rows into its factors (see pandas_to_r_factors).
_SHARED_HELPERS = r"""
.ganan_warnings <- new.env()
.ganan_warnings$list <- character(0)
.ganan_take_warnings <- function() {
  w <- unique(.ganan_warnings$list); .ganan_warnings$list <- character(0); w
}
.ganan_codes <- function(codes, lv, cls = "factor") {
  codes <- as.integer(codes)
  codes[codes == 0L] <- NA_integer_
  structure(codes, levels = lv, class = cls)
}
.ganan_data_frame <- function(columns, names, n) {
  names(columns) <- names
  structure(columns, class = "data.frame", row.names = .set_row_names(as.integer(n)))
}
.ganan_factors <- function(d, levels, factor, ordered, random, rlevels) {
  codes <- d[[factor]]
  d[[factor]] <- .ganan_codes(codes, levels)
  d[[ordered]] <- .ganan_codes(codes, levels, c("ordered", "factor"))
  contrasts(d[[ordered]]) <- "contr.treatment"
  d[[random]] <- .ganan_codes(d[[random]], rlevels)
  d
}
"""


def r_session(packages: Iterable[str] = ("mgcv",),
              helpers: Optional[Mapping[str, str]] = None) -> RSession:
    """:func:`get_r` with R helper functions defined: the shared ones (module docstring) and
    ``helpers`` ({name: R code defining functions}), each evaluated once per process."""
    session = get_r(packages)
    wanted = {"shared": _SHARED_HELPERS, **(helpers or {})}
    with _LOCK:
        for name, code in wanted.items():
            if name not in session.helpers:
                session.r(code)
                session.helpers.add(name)
    return session


def take_r_warnings(session: RSession) -> list:
    """The distinct R warnings collected since the last call (and clear them)."""
    return [str(w) for w in session.r(".ganan_take_warnings")()]


def pandas_to_r_factors(df: pd.DataFrame, factor: str, levels: Iterable[str], ordered: str,
                        random: str, random_levels: Iterable[str]):
    """An R data.frame of ``df`` with the model's factors: ``factor`` with ``levels``
    (treatment contrasts, the first level the reference), ``ordered``, the same levels as an
    ordered factor with ``contr.treatment`` contrasts (for difference smooths), and ``random``
    with ``random_levels``. The two label columns (text or pandas categoricals) cross to R as
    integer codes (:func:`level_codes`) and become factors there, instead of crossing as text
    (400,000 rows: 17.4 s as text through rpy2's pandas converter, 0.054 s so;
    bench/r_transfer.py). A label not among the levels is NA, as R's ``factor()`` makes it."""
    session = r_session(())
    ro = session.ro
    levels, random_levels = [str(v) for v in levels], [str(v) for v in random_levels]
    coded = df.assign(**{factor: level_codes(df[factor], levels),
                         random: level_codes(df[random], random_levels)})
    return session.r(".ganan_factors")(pandas_to_r(coded), ro.StrVector(levels), factor,
                                       ordered, random, ro.StrVector(random_levels))


def level_codes(labels: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """R's factor codes of ``labels`` in ``levels`` (int32 [n], 1-based, 0 where the label is
    not a level): a categorical maps its categories once, other columns compare as text."""
    index = pd.Index([str(v) for v in levels])
    if isinstance(labels.dtype, pd.CategoricalDtype):
        per_category = index.get_indexer([str(c) for c in labels.cat.categories])
        codes = labels.cat.codes.to_numpy()
        found = np.full(len(codes), -1, dtype=np.int64)
        present = codes >= 0  # -1: a missing label
        found[present] = per_category[codes[present]]
    else:
        found = index.get_indexer(labels.astype(str))
    return (np.asarray(found, dtype=np.int64) + 1).astype(np.int32)


def r_available(packages: Iterable[str] = ("mgcv",)) -> bool:
    """True when :func:`get_r` succeeds for ``packages`` (used by tests to skip)."""
    try:
        get_r(packages)
        return True
    except RUnavailableError:
        return False


def pandas_to_r(df: pd.DataFrame):
    """Convert a pandas DataFrame to an R data.frame, column by column.

    Float and integer columns become numeric / integer vectors (integers beyond R's 32 bits
    become numeric), bool -> logical, pandas Categorical -> R factor with the same level order
    (ordered categoricals -> ordered factors; missing -> NA), other columns -> character
    vectors (None -> NA). The index is dropped; names are kept as they are.

    Numbers cross as one buffer each (``FloatVector`` / ``IntVector`` on the numpy array):
    rpy2's pandas converter copies them, not only text, value by value.
    """
    session = r_session(())
    ro = session.ro
    columns = [_r_column(session, df[name]) for name in df.columns]
    return session.r(".ganan_data_frame")(ro.r["list"](*columns),
                                          ro.StrVector([str(c) for c in df.columns]), len(df))


def _r_column(session, col: pd.Series):
    """One pandas column as an R vector (see :func:`pandas_to_r`). rpy2 copies a numpy array
    of doubles or 32-bit integers in one block, everything else value by value: booleans and
    codes cross as integers and become logicals and factors in R."""
    ro = session.ro
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int32) + 1  # 0: missing
        kind = ro.StrVector(["ordered", "factor"] if dtype.ordered else ["factor"])
        return session.r(".ganan_codes")(ro.IntVector(codes),
                                         ro.StrVector([str(c) for c in dtype.categories]),
                                         kind)
    if pd.api.types.is_bool_dtype(dtype):
        return ro.r["as.logical"](ro.IntVector(col.to_numpy(bool).astype(np.int32)))
    if pd.api.types.is_integer_dtype(dtype):
        values = col.to_numpy()
        info = np.iinfo(np.int32)
        if len(values) and (values.min() <= info.min or values.max() > info.max):
            return ro.FloatVector(values.astype(np.float64))  # R integers are 32-bit
        return ro.IntVector(values.astype(np.int32))
    if pd.api.types.is_float_dtype(dtype):
        return ro.FloatVector(np.ascontiguousarray(col.to_numpy(np.float64)))
    return ro.StrVector([ro.NA_Character if v is None or (isinstance(v, float) and v != v)
                         else str(v) for v in col.tolist()])


def r_matrix_to_pandas(mat) -> pd.DataFrame:
    """Convert an R numeric matrix with dimnames to a DataFrame (row names -> index)."""
    session = get_r(())
    ro = session.ro
    arr = np.array(ro.r["as.matrix"](mat), dtype=float)
    dimnames = ro.r["dimnames"](mat)
    rows = cols = None
    if dimnames is not ro.NULL and len(dimnames) == 2:
        if dimnames[0] is not ro.NULL:
            rows = [str(x) for x in dimnames[0]]
        if dimnames[1] is not ro.NULL:
            cols = [str(x) for x in dimnames[1]]
    return pd.DataFrame(arr, index=rows, columns=cols)


def r_numeric(obj) -> np.ndarray:
    """An R numeric vector/matrix as a float numpy array (matrices keep their shape)."""
    get_r(())
    return np.array(obj, dtype=float)


def r_names(obj) -> list:
    """names(obj) as a list of str (empty when NULL)."""
    session = get_r(())
    nm = session.ro.r["names"](obj)
    if nm is session.ro.NULL:
        return []
    return [str(x) for x in nm]
