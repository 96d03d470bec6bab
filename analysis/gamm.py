"""GAMMs of layer activations over time (Beguš & Zhou 2022), fitted with mgcv from Python.

Word model (conv5, paper section 3.1), one row per (token, Sample)::

    Value ~ Word                                    # parametric: level of each word vs ref_word
          + s(Sample, k=k)                          # reference smooth (shape of ref_word)
          + s(Sample, by=WordOrdered, k=k)          # difference smooth of each word vs ref_word
          + s(Sample, UniqueWord, bs="fs", m=1, k=k)  # random smooth per token
    bam(method="fREML", discrete=TRUE), AR1 errors within tokens (rho, AR.start)

Phone model (section 3.2) is the same with Phone / PhoneOrdered / UniqueInterval over norm_time.

``Word`` is a treatment-coded factor with ``ref_word`` first; ``WordOrdered`` is the same factor
made ordered with ``contr.treatment`` contrasts, so ``s(Sample, by=WordOrdered)`` has one
*difference* smooth per non-reference word; ``UniqueWord`` is one level per token.

AR1: the model is fitted once without AR; rho is the lag-1 autocorrelation of its residuals
(see :func:`lag1_autocorrelation`, default ``'within'``: only pairs inside one token) and the
model is refitted with ``rho=rho, AR.start=start_event`` (TRUE on the first sample of each token).

Engines: ``'mgcv'`` (this module, through rpy2), ``'fast'`` (``analysis.fast_gamm``, same
:class:`GammFit`), ``'auto'`` (mgcv up to :data:`AUTO_MGCV_MAX_TOKENS` tokens, fast above when
importable).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import pandas as pd

from common.errors import InputError

AUTO_MGCV_MAX_TOKENS = 250  # mgcv takes ~2.5 min at 200 tokens, ~5 at 250 (ENVIRONMENT.md)
# A fitted mgcv model holds at least three p x p matrices of doubles (Vp, Ve, Vc), p being the
# number of coefficients: a lower bound of its memory that needs no fit to compute.
MGCV_PXP_MATRICES = 3
WORD_SIZE_ADVICE = ("use the fast engine (analyze.py --engine=fast; engine='fast' in Python), "
                    "which fits the same model block by block in memory proportional to the "
                    "number of tokens, or analyse fewer tokens or words")
PHONE_SIZE_ADVICE = ("the phone GAMMs have only the mgcv engine: skip them with "
                     "analyze.py --phone_layers= (or list fewer layers), or analyse fewer tokens")
WORD_COLUMNS = ("token_id", "word", "layer", "sample", "value")
PHONE_COLUMNS = ("token_id", "word", "layer", "phone", "phone_index", "sample", "norm_time",
                 "value")
PARAMETRIC_COLUMNS = ["term", "Estimate", "Std. Error", "t value", "Pr(>|t|)"]
SMOOTH_COLUMNS = ["term", "edf", "Ref.df", "F", "p-value"]


class AnalysisInputError(InputError, ValueError):
    """The activation table cannot be analysed as asked (message names the problem)."""


class ModelTooLargeError(AnalysisInputError):
    """mgcv cannot hold the model in this machine's memory (message gives the sizes and which
    engine or option fits)."""


@dataclass
class GammFit:
    """A fitted GAMM (any engine). Fields up to ``engine`` are the stable contract.

    parametric: DataFrame with PARAMETRIC_COLUMNS (rows '(Intercept)', 'Word<w>', ...).
    smooths:    DataFrame with SMOOTH_COLUMNS (rows 's(Sample)', 's(Sample):WordOrdered<w>',
                's(Sample,UniqueWord)').
    rho:        AR1 coefficient used in the final fit (0.0 without AR1).
    n_tokens, n_rows: number of tokens (random-smooth groups) and of data rows.
    dev_expl, r_sq: deviance explained (0-1) and adjusted R^2 as in summary.gam.
    formula:    the exact R formula string; r_call: R code reproducing the final fit from a
                data frame ``d`` laid out as :func:`model_data_table` (labels are read from
                ``d``, never written into the code: see :func:`r_fit_code`).
    coef [p], Vp [p, p]: coefficients and Bayesian posterior covariance (mgcv ``Vp``).
    coef_names: p names in mgcv's spelling ('(Intercept)', 'Wordbeard', 's(Sample).1',
                's(Sample):WordOrderedbeard.1', 's(Sample,UniqueWord).1', ...).
    lpmatrix:   newdata DataFrame -> [n, p] linear-predictor matrix (mgcv predict
                type="lpmatrix"). newdata needs the predictor column (``Sample``/``norm_time``)
                and the factor column (``Word``/``Phone``, level names as str); the ordered
                factor and the random-effect factor are filled in when absent (the random
                factor with its first level; zero :meth:`random_columns` to exclude it).
    engine:     'mgcv' or 'fast'.
    discrete:   whether bam's discrete method was used (the fast engine mirrors it).
    """
    parametric: pd.DataFrame
    smooths: pd.DataFrame
    rho: float
    n_tokens: int
    n_rows: int
    dev_expl: float
    r_sq: float
    formula: str
    r_call: str
    coef: np.ndarray
    Vp: np.ndarray
    coef_names: List[str]
    lpmatrix: Callable[[pd.DataFrame], np.ndarray]
    engine: str
    # Optional extras (defaults keep other engines' constructors simple).
    predictor: str = "Sample"
    factor: str = "Word"
    levels: List[str] = field(default_factory=list)
    random_factor: str = "UniqueWord"
    k: int = 10
    layer: str = ""
    rho_method: str = "global"
    fit_seconds: float = float("nan")
    notes: List[str] = field(default_factory=list)
    data: Optional[pd.DataFrame] = None
    r_model: Any = None
    discrete: bool = True

    @property
    def ref_level(self) -> str:
        return self.levels[0] if self.levels else ""

    def random_columns(self) -> np.ndarray:
        """Boolean mask [p] of the random-smooth coefficients ('s(x,RandomFactor).j')."""
        prefix = f"s({self.predictor},{self.random_factor})"
        return np.array([n.startswith(prefix) for n in self.coef_names], dtype=bool)

    def newdata(self, level: str, x: Sequence[float]) -> pd.DataFrame:
        """Prediction grid: one row per x for one factor level (str)."""
        x = np.asarray(x, dtype=float)
        return pd.DataFrame({self.predictor: x, self.factor: [str(level)] * len(x)})

    def summary_row(self) -> dict:
        """rho, tokens, rows, deviance explained, R^2 as a dict (for tables)."""
        return {"rho": self.rho, "n_tokens": self.n_tokens, "n_rows": self.n_rows,
                "dev_expl": self.dev_expl, "r_sq": self.r_sq}


# --------------------------------------------------------------------------- data preparation

def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise AnalysisInputError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisInputError(
            f"{what}: missing column(s) {missing}; found {list(df.columns)}")


def _select_layer(df: pd.DataFrame, layer: str, what: str) -> pd.DataFrame:
    sub = df[df["layer"].astype(str) == str(layer)]
    if sub.empty:
        layers = sorted(df["layer"].astype(str).unique().tolist())
        raise AnalysisInputError(f"{what}: layer '{layer}' has no rows (layers present: "
                                 f"{layers})")
    return sub


def _levels_with_reference(present: Sequence[str], ref: str, declared: Sequence[str],
                           what: str, name: str) -> List[str]:
    present = [str(p) for p in present]
    if declared:
        empty = [str(w) for w in declared if str(w) not in set(present)]
        if empty:
            raise AnalysisInputError(f"{what}: {name}(s) {empty} have no tokens")
    if ref not in present:
        raise AnalysisInputError(f"{what}: reference {name} '{ref}' is absent (present: "
                                 f"{sorted(present)})")
    levels = [ref] + sorted(p for p in set(present) if p != ref)
    if len(levels) < 2:
        raise AnalysisInputError(f"{what}: need at least two {name}s, found only {levels}")
    return levels


def _check_finite(values: np.ndarray, groups: pd.Series, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        toks = pd.unique(groups[bad])
        shown = ", ".join(str(t) for t in toks[:10]) + (" ..." if len(toks) > 10 else "")
        raise AnalysisInputError(f"{what}: {int(bad.sum())} non-finite value(s) (NaN/inf) in "
                                 f"{len(toks)} token(s)/interval(s): {shown}")


def _check_r_labels(labels: pd.Series, name: str, what: str) -> None:
    """Labels are passed to R as data (never as code), but R strings cannot hold a NUL
    character: rpy2 would cut the label there and two labels could silently merge."""
    text = labels.astype(str)
    bad = text[text.str.contains("\0", regex=False)]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad)[:5])
        raise AnalysisInputError(f"{what}: {name} label(s) {shown} contain a NUL character, "
                                 "which R cannot hold; rename them")


def _check_samples_per_group(x: pd.Series, groups: pd.Series, k: int, what: str,
                             xname: str) -> None:
    n_unique = x.groupby(groups, sort=False, observed=True).nunique()
    few = n_unique[n_unique <= k]
    if len(few):
        shown = ", ".join(f"{g} ({n})" for g, n in few.head(10).items())
        raise AnalysisInputError(
            f"{what}: k={k} needs more than k unique {xname} values per token, but "
            f"{len(few)} token(s) have {k} or fewer (token (count)): {shown}. Lower k "
            f"(e.g. k={max(3, int(n_unique.min()) - 1)})")


def prepare_gamm_data(df: pd.DataFrame, layer: str = "conv5", ref_word: str = "ask",
                      k: Optional[int] = None, words: Optional[Sequence[str]] = None
                      ) -> pd.DataFrame:
    """Validate one layer of an activations table and build the model's columns.

    df: the long activations table (columns token_id, word, layer, sample, value; speaker
    optional). Returns a DataFrame sorted by (token, Sample) with columns
    ``Value`` (float), ``Sample`` (float), ``Word`` (Categorical, ref_word first, then sorted),
    ``WordOrdered`` (ordered Categorical, same levels), ``UniqueWord`` (Categorical of the
    token id as str, in token order), ``start_event`` (bool, True on each token's first row),
    ``token_id`` and ``Speaker`` (str; 'NA' when absent).

    ``k``: when given, every token must have more than k unique samples. ``words``: when given,
    only these words are kept and each must have tokens.
    Raises AnalysisInputError for missing columns, empty layer, absent reference, a word with
    no tokens, fewer than two words, a token carrying two words, duplicated (token, sample),
    non-finite values, or too few samples for k.
    """
    what = f"activations (layer {layer})"
    _require_columns(df, WORD_COLUMNS, "activations table")
    sub = _select_layer(df, layer, what)
    declared = list(words) if words else []
    if not declared and isinstance(df["word"].dtype, pd.CategoricalDtype):
        declared = [str(c) for c in df["word"].cat.categories]
    if words:
        sub = sub[sub["word"].astype(str).isin([str(w) for w in words])]
    word = sub["word"].astype(str)
    levels = _levels_with_reference(word.unique(), str(ref_word), declared, what, "word")
    tok = sub["token_id"].astype(str)
    _check_r_labels(word, "word", what)
    _check_r_labels(tok, "token_id", what)
    if "speaker" in sub.columns:
        _check_r_labels(sub["speaker"], "speaker", what)
    per_tok = word.groupby(tok).nunique()
    if (per_tok > 1).any():
        raise AnalysisInputError(f"{what}: token(s) {per_tok[per_tok > 1].index[:10].tolist()} "
                                 "carry more than one word")
    dup = pd.DataFrame({"t": tok, "s": sub["sample"]}).duplicated()
    if dup.any():
        raise AnalysisInputError(f"{what}: {int(dup.sum())} duplicated (token_id, sample) rows")
    values = pd.to_numeric(sub["value"], errors="coerce").to_numpy(dtype=float)
    _check_finite(values, tok.reset_index(drop=True), what)
    out = pd.DataFrame({
        "Value": values,
        "Sample": pd.to_numeric(sub["sample"]).to_numpy(dtype=float),
        "Word": word.to_numpy(),
        "token_id": sub["token_id"].to_numpy(),
        "UniqueWord": tok.to_numpy(),
        "Speaker": (sub["speaker"].astype(str).to_numpy() if "speaker" in sub.columns
                    else np.array(["NA"] * len(sub))),
    })
    out = _sort_and_factor(out, "UniqueWord", "Sample", "Word", "WordOrdered", levels)
    if k is not None:
        _check_samples_per_group(out["Sample"], out["UniqueWord"], int(k), what, "Sample")
    return out


def _sort_and_factor(out: pd.DataFrame, group: str, x: str, factor: str, ordered: str,
                     levels: List[str]) -> pd.DataFrame:
    """Sort by (group in natural order, x); add categorical factors and start_event."""
    gkey = out[group]
    numeric = pd.to_numeric(out["token_id"], errors="coerce")
    order_key = numeric if numeric.notna().all() and group == "UniqueWord" else gkey
    out = out.assign(_g=order_key).sort_values(["_g", group, x], kind="mergesort")
    out = out.drop(columns="_g").reset_index(drop=True)
    out[factor] = pd.Categorical(out[factor].astype(str), categories=levels)
    out[ordered] = pd.Categorical(out[factor].astype(str), categories=levels, ordered=True)
    out[group] = pd.Categorical(out[group], categories=pd.unique(out[group]))
    g = out[group].cat.codes.to_numpy()
    start = np.ones(len(out), dtype=bool)
    start[1:] = g[1:] != g[:-1]
    out["start_event"] = start
    return out


def prepare_phone_data(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                       min_samples: int = 4) -> pd.DataFrame:
    """Validate one layer of a phone_activations table; build the phone model's columns.

    Returns a DataFrame sorted by (interval, norm_time) with ``Value``, ``norm_time``,
    ``Phone`` (Categorical, phones[0] = reference), ``PhoneOrdered`` (ordered),
    ``UniqueInterval`` ('<token>_<phone><index>'), ``start_event``, ``token_id``, ``Speaker``.
    Intervals with fewer than ``min_samples`` unique samples are dropped (count in
    ``out.attrs['dropped_intervals']``).
    """
    what = f"phone activations (layer {layer})"
    _require_columns(df, PHONE_COLUMNS, "phone activations table")
    phones = [str(p) for p in phones]
    if len(phones) < 2:
        raise AnalysisInputError(f"{what}: need at least two phones, got {phones}")
    sub = _select_layer(df, layer, what)
    sub = sub[sub["phone"].astype(str).isin(phones)]
    present = sub["phone"].astype(str).unique()
    levels = _levels_with_reference(present, phones[0], phones, what, "phone")
    levels = [phones[0]] + [p for p in phones[1:]]
    interval = (sub["token_id"].astype(str) + "_" + sub["phone"].astype(str)
                + sub["phone_index"].astype(str))
    _check_r_labels(interval, "phone interval (token_id, phone, phone_index)", what)
    values = pd.to_numeric(sub["value"], errors="coerce").to_numpy(dtype=float)
    _check_finite(values, interval.reset_index(drop=True), what)
    out = pd.DataFrame({
        "Value": values,
        "norm_time": pd.to_numeric(sub["norm_time"]).to_numpy(dtype=float),
        "Phone": sub["phone"].astype(str).to_numpy(),
        "token_id": sub["token_id"].to_numpy(),
        "UniqueInterval": interval.to_numpy(),
        "Speaker": (sub["speaker"].astype(str).to_numpy() if "speaker" in sub.columns
                    else np.array(["NA"] * len(sub))),
    })
    counts = out.groupby("UniqueInterval")["norm_time"].nunique()
    small = counts[counts < min_samples].index
    dropped = int(len(small))
    if dropped:
        out = out[~out["UniqueInterval"].isin(small)]
    if out.empty:
        raise AnalysisInputError(f"{what}: no interval of {phones} has at least {min_samples} "
                                 "samples")
    for p in phones:
        if not (out["Phone"] == p).any():
            raise AnalysisInputError(f"{what}: phone '{p}' has no interval with at least "
                                     f"{min_samples} samples")
    out = out.sort_values(["UniqueInterval", "norm_time"], kind="mergesort")
    out = _sort_and_factor(out.reset_index(drop=True), "UniqueInterval", "norm_time", "Phone",
                           "PhoneOrdered", levels)
    out.attrs["dropped_intervals"] = dropped
    return out


# --------------------------------------------------------------------------- AR1 rho

def lag1_autocorrelation(resid: np.ndarray, start_event: np.ndarray,
                         method: str = "within") -> float:
    """Lag-1 autocorrelation of residuals ordered by (group, time).

    resid [n], start_event [n] bool (True on each group's first row). With e = resid - mean:
      'within': rho = sum_{t: not start[t]} e[t] e[t-1] / sum_t e[t]^2  (pairs inside a group)
      'global': rho = sum_{t>=1} e[t] e[t-1] / sum_t e[t]^2  (R's acf(resid)[2], i.e. itsadug's
                start_value_rho, which also pairs the last sample of a token with the next
                token's first).
    """
    e = np.asarray(resid, dtype=float)
    e = e - e.mean()
    den = float(np.sum(e * e))
    if den == 0.0 or len(e) < 2:
        return 0.0
    prod = e[1:] * e[:-1]
    if method == "within":
        prod = prod[~np.asarray(start_event, dtype=bool)[1:]]
    elif method != "global":
        raise ValueError(f"rho method must be 'within' or 'global', got {method!r}")
    return float(np.sum(prod) / den)


# --------------------------------------------------------------------------- mgcv engine

def build_formula(k: int, response: str = "Value", x: str = "Sample", factor: str = "Word",
                  ordered: str = "WordOrdered", random: str = "UniqueWord") -> str:
    """The paper's formula as an R string (see module docstring)."""
    return (f'{response} ~ {factor} + s({x}, k={k}) + s({x}, by={ordered}, k={k}) + '
            f's({x}, {random}, bs="fs", m=1, k={k})')


_R_HELPERS = r"""
# Warnings raised inside our R calls are collected here (and reported in GammFit.notes /
# LmmResult.notes) instead of being printed to the console.
.ganan_warnings <- new.env()
.ganan_warnings$list <- character(0)
.ganan_take_warnings <- function() {
  w <- unique(.ganan_warnings$list); .ganan_warnings$list <- character(0); w
}
.ganan_factors <- function(d, levels, factor, ordered, random, rlevels) {
  d[[factor]] <- factor(as.character(d[[factor]]), levels = levels)
  d[[ordered]] <- factor(as.character(d[[factor]]), levels = levels, ordered = TRUE)
  contrasts(d[[ordered]]) <- "contr.treatment"
  d[[random]] <- factor(as.character(d[[random]]), levels = rlevels)
  d
}
.ganan_bam <- function(d, formula, discrete, nthreads, rho, use_ar) {
  f <- as.formula(formula)
  # mgcv warns "model has repeated 1-d smooths of same variable" for every model of this
  # form (reference smooth + by-smooths + fs smooth of the same variable): expected, muffled.
  withCallingHandlers({
    if (use_ar) {
      mgcv::bam(f, data = d, method = "fREML", discrete = discrete, nthreads = nthreads,
                rho = rho, AR.start = d$start_event)
    } else {
      mgcv::bam(f, data = d, method = "fREML", discrete = discrete, nthreads = nthreads)
    }
  }, warning = function(w) {
    if (!grepl("repeated 1-d smooths", conditionMessage(w)))
      .ganan_warnings$list <- c(.ganan_warnings$list, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
}
.ganan_summary <- function(m) {
  s <- summary(m)
  list(p = s$p.table, s = s$s.table, dev = s$dev.expl, r2 = s$r.sq,
       coef = coef(m), Vp = m$Vp, resid = as.numeric(residuals(m)))
}
"""


def _r_session():
    from analysis.rbridge import get_r
    session = get_r(("mgcv",))
    if not getattr(session, "_ganan_helpers", False):
        session.r(_R_HELPERS)
        session.__dict__["_ganan_helpers"] = True
    return session


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


# --------------------------------------------------------------------------- memory

def memory_limit_bytes() -> Optional[int]:
    """Memory this process can ever use: RAM plus swap, or a lower cgroup limit (plus swap);
    None when unknown."""
    total = swap = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {}
            for line in f:
                key, _, rest = line.partition(":")
                fields = rest.split()
                if fields and fields[0].isdigit():
                    info[key] = int(fields[0]) * 1024  # kB
        total, swap = info["MemTotal"] + info.get("SwapTotal", 0), info.get("SwapTotal", 0)
    except (OSError, KeyError):
        try:
            total, swap = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), 0
        except (ValueError, OSError, AttributeError):
            return None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text) + swap)
    return total


def mgcv_memory_bytes(n_groups: int, n_levels: int, k: int) -> tuple:
    """(p, bytes): coefficients of the paper's model (k per level: parametric + reference and
    difference smooths; k per random-smooth group) and the memory its fitted mgcv object
    needs at the least (:data:`MGCV_PXP_MATRICES` p x p matrices of doubles)."""
    p = (int(n_levels) + int(n_groups)) * int(k)
    return p, MGCV_PXP_MATRICES * 8 * p * p


def check_mgcv_memory(n_groups: int, n_levels: int, k: int, what: str, advice: str,
                      limit: Optional[int] = None) -> None:
    """Refuse before fitting a model that mgcv cannot hold in memory (:func:`mgcv_memory_bytes`
    against ``limit``, default :func:`memory_limit_bytes`): :class:`ModelTooLargeError`."""
    limit = memory_limit_bytes() if limit is None else limit
    p, need = mgcv_memory_bytes(n_groups, n_levels, k)
    if limit and need > limit:
        gib = 2.0 ** 30
        raise ModelTooLargeError(
            f"{what} is too large for mgcv on this machine: it has {p:,} coefficients, and a "
            f"fitted mgcv model holds at least {MGCV_PXP_MATRICES} {p:,} x {p:,} matrices "
            f"({need / gib:,.1f} GiB) while this machine has {limit / gib:,.1f} GiB; {advice}")


def _table(mat_df: pd.DataFrame, columns: List[str]) -> pd.DataFrame:
    out = mat_df.copy()
    out.columns = columns[1:]
    out.insert(0, columns[0], [str(i) for i in out.index])
    return out.reset_index(drop=True)


def _fit_mgcv(data: pd.DataFrame, *, x: str, factor: str, ordered: str, random: str,
              levels: List[str], k: int, ar1: bool, discrete: bool, nthreads: int,
              rho_method: str, layer: str, what: str, advice: str) -> GammFit:
    """Fit the paper's model with mgcv::bam on prepared data (see prepare_* functions).

    ``what`` names the model and ``advice`` says which engine or option fits when it is too
    large: checked before the fit (:func:`check_mgcv_memory`) and, for R's own allocation
    failures, after (:func:`analysis.rbridge.r_errors`)."""
    from analysis.rbridge import pandas_to_r, r_errors, r_matrix_to_pandas, r_numeric, r_names
    assert ordered == f"{factor}Ordered", "r_fit_code names the ordered factor <factor>Ordered"
    check_mgcv_memory(data[random].nunique(), len(levels), k, what, advice)
    session = _r_session()
    ro = session.ro
    t0 = time.perf_counter()
    formula = build_formula(k, "Value", x, factor, ordered, random)
    rlevels = [str(v) for v in data[random].cat.categories]
    plain = pd.DataFrame({
        "Value": data["Value"].to_numpy(float), x: data[x].to_numpy(float),
        factor: data[factor].astype(str).to_numpy(), random: data[random].astype(str).to_numpy(),
        "start_event": data["start_event"].to_numpy(bool)})
    with r_errors(what, advice):
        rd = session.r(".ganan_factors")(pandas_to_r(plain), ro.StrVector(levels), factor,
                                         ordered, random, ro.StrVector(rlevels))
        bam = session.r(".ganan_bam")
        summ = session.r(".ganan_summary")
        m0 = bam(rd, formula, bool(discrete), int(nthreads), 0.0, False)
        rho = 0.0
        model = m0
        if ar1:
            resid0 = r_numeric(summ(m0).rx2("resid"))
            rho = lag1_autocorrelation(resid0, plain["start_event"].to_numpy(), rho_method)
            model = bam(rd, formula, bool(discrete), int(nthreads), float(rho), True)
        s = summ(model)
    r_warnings = [f"{layer}: R warning: {w}" for w in session.r(".ganan_take_warnings")()]
    parametric = _table(r_matrix_to_pandas(s.rx2("p")), PARAMETRIC_COLUMNS)
    smooths = _table(r_matrix_to_pandas(s.rx2("s")), SMOOTH_COLUMNS)
    coef = r_numeric(s.rx2("coef"))
    coef_names = r_names(s.rx2("coef"))
    Vp = r_numeric(s.rx2("Vp"))
    r_call = r_fit_code(formula, factor, random, discrete=bool(discrete), nthreads=nthreads,
                        rho=rho, ar1=ar1)
    lp_fun = session.r(".ganan_factors")
    predict = ro.r["predict"]

    def lpmatrix(newdata: pd.DataFrame) -> np.ndarray:
        """[n, p] mgcv lpmatrix for newdata (predictor and factor columns)."""
        nd = pd.DataFrame({x: pd.to_numeric(newdata[x]).to_numpy(float),
                           factor: newdata[factor].astype(str).to_numpy()})
        nd[random] = (newdata[random].astype(str).to_numpy() if random in newdata.columns
                      else rlevels[0])
        unknown = sorted(set(nd[factor]) - set(levels))
        if unknown:
            raise AnalysisInputError(f"lpmatrix: unknown {factor} level(s) {unknown}; "
                                     f"levels are {levels}")
        with r_errors(f"predictions of {what}", advice):
            rnd = lp_fun(pandas_to_r(nd), ro.StrVector(levels), factor, ordered, random,
                         ro.StrVector(rlevels))
            return r_numeric(predict(model, newdata=rnd, type="lpmatrix"))

    return GammFit(
        parametric=parametric, smooths=smooths, rho=float(rho),
        n_tokens=int(data[random].nunique()), n_rows=int(len(data)),
        dev_expl=float(s.rx2("dev")[0]), r_sq=float(s.rx2("r2")[0]), formula=formula,
        r_call=r_call, coef=coef, Vp=Vp, coef_names=coef_names, lpmatrix=lpmatrix,
        engine="mgcv", predictor=x, factor=factor, levels=list(levels), random_factor=random,
        k=int(k), layer=str(layer), rho_method=rho_method if ar1 else "none",
        fit_seconds=time.perf_counter() - t0, notes=r_warnings, data=data, r_model=model,
        discrete=bool(discrete))


def r_script(fit: GammFit, data_csv: str, nthreads: int = 2) -> str:
    """Standalone R script refitting ``fit`` (either engine) from ``data_csv``, the table of
    :func:`model_data_table`, and printing ``summary(m)``.

    Every label (words, tokens) is read from ``data_csv`` as data: the level order comes from
    its :func:`level_column`, the random factor's from the row order, and labels are read as
    text (``colClasses``; no ``NA`` conversion, so a word spelled ``NA`` or ``nan`` stays a
    word). The script itself is ASCII and holds no label.
    """
    return ("# Refit of the model in table files; run with: Rscript <this file>\n"
            "library(mgcv)\n"
            f"d <- read.csv({r_string(data_csv)}, colClasses = c({fit.factor} = \"character\", "
            f"{fit.random_factor} = \"character\"), na.strings = character(0), "
            "encoding = \"UTF-8\")\n"
            "d$start_event <- as.logical(d$start_event)\n"
            + r_fit_code(fit.formula, fit.factor, fit.random_factor, discrete=fit.discrete,
                         nthreads=nthreads, rho=fit.rho, ar1=fit.rho_method != "none")
            + "\nprint(summary(m))\n")


def model_data_table(fit: GammFit) -> pd.DataFrame:
    """The rows a fit used, in model order: Value, <predictor>, <factor>, <factor>Level (the
    1-based level number, :func:`level_column`), <random>, start_event (TRUE/FALSE strings for
    R's read.csv)."""
    if fit.data is None:
        raise ValueError("this GammFit does not carry its data")
    d = fit.data
    return pd.DataFrame({"Value": d["Value"], fit.predictor: d[fit.predictor],
                         fit.factor: d[fit.factor].astype(str),
                         level_column(fit.factor): d[fit.factor].cat.codes.to_numpy() + 1,
                         fit.random_factor: d[fit.random_factor].astype(str),
                         "start_event": np.where(d["start_event"], "TRUE", "FALSE")})


def _choose_engine(engine: str, n_tokens: int) -> str:
    if engine not in ("auto", "mgcv", "fast"):
        raise AnalysisInputError(f"engine must be 'auto', 'mgcv' or 'fast', got {engine!r}")
    if engine != "auto":
        return engine
    if n_tokens <= AUTO_MGCV_MAX_TOKENS:
        return "mgcv"
    try:
        import analysis.fast_gamm  # noqa: F401
        return "fast"
    except ImportError:
        warnings.warn(
            f"{n_tokens} tokens and analysis.fast_gamm is not importable: fitting with mgcv, "
            "whose cost grows about with the cube of the number of tokens (100 tokens ~17 s, "
            "200 tokens ~150 s, 400+ tokens > 25 min on 2 cores)", RuntimeWarning, stacklevel=3)
        return "mgcv"


def fit_word_gamm(df: pd.DataFrame, layer: str = "conv5", ref_word: str = "ask", k: int = 10,
                  ar1: bool = True, discrete: bool = True, nthreads: int = 2,
                  engine: str = "mgcv", rho_method: str = "global",
                  words: Optional[Sequence[str]] = None) -> GammFit:
    """Fit the word GAMM (module docstring) to one layer of an activations table.

    df: long activations table (token_id, word, layer, sample, value). Returns a GammFit.
    engine: 'mgcv' (bam through rpy2), 'fast' (analysis.fast_gamm), or 'auto'.
    """
    k = int(k)
    if k < 3:
        raise AnalysisInputError(f"k must be at least 3, got {k}")
    data = prepare_gamm_data(df, layer, ref_word, k=k, words=words)
    chosen = _choose_engine(engine, int(data["UniqueWord"].nunique()))
    if chosen == "fast":
        from analysis.fast_gamm import fit_word_gamm_fast
        return fit_word_gamm_fast(df, layer=layer, ref_word=ref_word, k=k, ar1=ar1,
                                  rho_method=rho_method, words=words)
    levels = [str(c) for c in data["Word"].cat.categories]
    return _fit_mgcv(data, x="Sample", factor="Word", ordered="WordOrdered",
                     random="UniqueWord", levels=levels, k=k, ar1=ar1, discrete=discrete,
                     nthreads=nthreads, rho_method=rho_method, layer=layer,
                     what=f"the word GAMM at {layer} ({data['UniqueWord'].nunique():,} tokens, "
                          f"k={k})", advice=WORD_SIZE_ADVICE)


def prepare_phone_model(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                        k: int = 10, min_samples: int = 4) -> tuple:
    """(data, k', notes) of the phone GAMM at ``layer`` (see :func:`fit_phone_gamm`): the
    validated rows, the basis dimension actually used and what was changed to fit them."""
    min_samples = max(4, int(min_samples))
    data = prepare_phone_data(df, layer, phones, min_samples=min_samples)
    n_min = int(data.groupby("UniqueInterval", observed=True)["norm_time"].nunique().min())
    k_eff = max(3, min(int(k), n_min - 1))
    notes = []
    dropped = data.attrs.get("dropped_intervals", 0)
    if dropped:
        notes.append(f"{layer}: dropped {dropped} interval(s) with fewer than {min_samples} "
                     "samples")
    if k_eff != int(k):
        notes.append(f"{layer}: k lowered from {k} to {k_eff} (shortest interval has {n_min} "
                     "samples; k must be below it)")
    return data, k_eff, notes


def check_phone_model_size(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                           k: int = 10, min_samples: int = 4) -> None:
    """Raise :class:`ModelTooLargeError` when mgcv cannot hold the phone GAMM at ``layer``
    (lets a caller refuse before any fit, not after the earlier ones)."""
    data, k_eff, _ = prepare_phone_model(df, layer, phones, k, min_samples)
    check_mgcv_memory(data["UniqueInterval"].nunique(), data["Phone"].cat.categories.size,
                      k_eff, _phone_what(layer, data, k_eff), PHONE_SIZE_ADVICE)


def _phone_what(layer: str, data: pd.DataFrame, k: int) -> str:
    return (f"the phone GAMM at {layer} ({data['UniqueInterval'].nunique():,} intervals, "
            f"k={k})")


def fit_phone_gamm(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                   k: int = 10, ar1: bool = True, discrete: bool = True, nthreads: int = 2,
                   rho_method: str = "global", min_samples: int = 4) -> GammFit:
    """Fit the phone GAMM (paper 3.2) to one layer of a phone_activations table.

    Value ~ Phone + s(norm_time, k=k') + s(norm_time, by=PhoneOrdered, k=k')
            + s(norm_time, UniqueInterval, bs="fs", m=1, k=k') + AR1 within intervals.
    Deep layers have few samples per phone interval (conv4 at stride 256: ~6 per 100 ms), so
    intervals with fewer than ``min_samples`` unique samples are dropped and
    k' = min(k, smallest number of samples per remaining interval - 1) (at least 3);
    both decisions are written to ``fit.notes``.
    """
    data, k_eff, notes = prepare_phone_model(df, layer, phones, k, min_samples)
    levels = [str(c) for c in data["Phone"].cat.categories]
    fit = _fit_mgcv(data, x="norm_time", factor="Phone", ordered="PhoneOrdered",
                    random="UniqueInterval", levels=levels, k=k_eff, ar1=ar1,
                    discrete=discrete, nthreads=nthreads, rho_method=rho_method, layer=layer,
                    what=_phone_what(layer, data, k_eff), advice=PHONE_SIZE_ADVICE)
    fit.notes.extend(notes)
    return fit
