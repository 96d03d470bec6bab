"""R code as text for a fitted GAMM (either engine): the refit script and its data table.

Labels (words, tokens, phones) are data: they reach R only through the table of
:func:`model_data_table`, never pasted into code; the one string the script needs (the data
file's name) is written by :func:`r_string`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.gamm.data import AnalysisInputError, GammFit

_R_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def r_string(text: str) -> str:
    """``text`` as an R string literal that R parses back to exactly ``text``.

    Backslash, double quote and control characters are escaped; every non-ASCII character is
    written as ``\\u{...}`` so the literal is ASCII and does not depend on the locale R reads
    the file in. NUL and lone surrogates have no R string form and are refused.
    """
    out = ['"']
    for ch in str(text):
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in _R_SHORT_ESCAPES:
            out.append(_R_SHORT_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code == 0 or 0xD800 <= code <= 0xDFFF:
            raise AnalysisInputError(f"{text!r} cannot be written as an R string (NUL or a "
                                     "lone surrogate)")
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{{{code:04x}}}")
        else:
            out.append(f"\\U{{{code:08x}}}")
    out.append('"')
    return "".join(out)


def level_column(factor: str) -> str:
    """Column of :func:`model_data_table` giving each row's 1-based level number of
    ``factor``: R rebuilds the level order from it, so no label is ever written in R code."""
    return f"{factor}Level"


def r_fit_code(formula: str, factor: str, random: str, *, discrete: bool, nthreads: int,
               rho: float, ar1: bool) -> str:
    """R code that builds the factors from a data frame ``d`` laid out as
    :func:`model_data_table` (levels from :func:`level_column`, the random factor in data
    order) and fits the model as ``m``. Labels are read from ``d``; none is pasted here."""
    ordered = f"{factor}Ordered"
    return (f"d${factor} <- factor(d${factor}, levels = unique(d${factor}"
            f"[order(d${level_column(factor)})]))\n"
            f"d${ordered} <- factor(d${factor}, levels = levels(d${factor}), ordered = TRUE); "
            f'contrasts(d${ordered}) <- "contr.treatment"\n'
            f"d${random} <- factor(d${random}, levels = unique(d${random}))  # data order\n"
            f'm <- bam({formula}, data = d, method = "fREML", discrete = '
            f'{"TRUE" if discrete else "FALSE"}, nthreads = {int(nthreads)}'
            + (f", rho = {rho:.17g}, AR.start = d$start_event)" if ar1 else ")"))


def r_script(fit: GammFit, data_csv: str, nthreads: int = 2) -> str:
    """Standalone R script refitting ``fit`` (either engine) from ``data_csv``, the table of
    :func:`model_data_table`, and printing ``summary(m)``.

    Every label (words, tokens) is read from ``data_csv`` as data: the level order comes from
    its :func:`level_column`, the random factor's from the row order, and labels are read as
    text (``colClasses``; no ``NA`` conversion, so a word spelled ``NA`` or ``nan`` stays a
    word). The script itself is ASCII and holds no label.
    """
    speaker = ", Speaker = \"character\"" if _has_speaker(fit) else ""
    return ("# Refit of the model in table files; run with: Rscript <this file>\n"
            "library(mgcv)\n"
            f"d <- read.csv({r_string(data_csv)}, colClasses = c({fit.factor} = \"character\", "
            f"{fit.random_factor} = \"character\"{speaker}), na.strings = character(0), "
            "encoding = \"UTF-8\")\n"
            "d$start_event <- as.logical(d$start_event)\n"
            + r_fit_code(fit.formula, fit.factor, fit.random_factor, discrete=fit.discrete,
                         nthreads=nthreads, rho=fit.rho, ar1=fit.rho_method != "none")
            + "\nprint(summary(m))\n")


def _has_speaker(fit: GammFit) -> bool:
    return fit.data is not None and "Speaker" in fit.data.columns


def model_data_table(fit: GammFit) -> pd.DataFrame:
    """The rows a fit used, in model order: Value, <predictor>, <factor>, <factor>Level (the
    1-based level number, :func:`level_column`), <random>, start_event (TRUE/FALSE strings for
    R's read.csv), and Speaker when the rows have it (not in the model: the paper's GAMMs
    ignore speakers; there for a reader's own models)."""
    if fit.data is None:
        raise ValueError("this GammFit does not carry its data")
    d = fit.data
    out = pd.DataFrame({"Value": d["Value"], fit.predictor: d[fit.predictor],
                        fit.factor: d[fit.factor].astype(str),
                        level_column(fit.factor): d[fit.factor].cat.codes.to_numpy() + 1,
                        fit.random_factor: d[fit.random_factor].astype(str),
                        "start_event": np.where(d["start_event"], "TRUE", "FALSE")})
    if _has_speaker(fit):
        out["Speaker"] = d["Speaker"].astype(str).to_numpy()
    return out
