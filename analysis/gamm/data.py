"""The GAMMs' shared data and result: validated model rows, the formula, AR1's rho, GammFit.

Both engines (:mod:`analysis.gamm.mgcv`, :mod:`analysis.gamm.fast`) take their rows from here
and return a :class:`GammFit`; neither knows the other.

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
(see :func:`lag1_autocorrelation`) and the model is refitted with ``rho=rho,
AR.start=start_event`` (TRUE on the first sample of each token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import pandas as pd

from common.errors import InputError
from common.layout import ACTIVATIONS, LONG_TABLES, PHONE_ACTIVATIONS

# Columns the models need from extract.py's activations tables (declared in common.layout).
WORD_COLUMNS = LONG_TABLES[ACTIVATIONS].pick(
    "token_id", "word", "layer", "sample", "value")
PHONE_COLUMNS = LONG_TABLES[PHONE_ACTIVATIONS].pick(
    "token_id", "word", "layer", "phone", "phone_index", "sample", "norm_time", "value")
# Columns of GammFit.parametric and GammFit.smooths (mgcv summary.gam spelling).
PARAMETRIC_COLUMNS = ["term", "Estimate", "Std. Error", "t value", "Pr(>|t|)"]
SMOOTH_COLUMNS = ["term", "edf", "Ref.df", "F", "p-value"]


class AnalysisInputError(InputError, ValueError):
    """The activation table cannot be analysed as asked (message names the problem)."""


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
                data frame ``d`` laid out as :func:`analysis.gamm.rcode.model_data_table`
                (labels are read from ``d``, never written into the code: see
                :func:`analysis.gamm.rcode.r_fit_code`).
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

    def random_columns(self) -> np.ndarray:
        """Boolean mask [p] of the random-smooth coefficients ('s(x,RandomFactor).j')."""
        prefix = f"s({self.predictor},{self.random_factor})"
        return np.array([n.startswith(prefix) for n in self.coef_names], dtype=bool)

    def newdata(self, level: str, x: Sequence[float]) -> pd.DataFrame:
        """Prediction grid: one row per x for one factor level (str)."""
        x = np.asarray(x, dtype=float)
        return pd.DataFrame({self.predictor: x, self.factor: [str(level)] * len(x)})


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


def check_not_constant(values, what: str, flag: str) -> None:
    """Refuse, before any fit, a model whose response does not vary (a constant layer: R's
    fit would stop in eigen() with no word on the cause): one line naming the layer."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size and float(np.ptp(v)) <= 1e-12 * max(1.0, float(np.abs(v).max())):
        raise AnalysisInputError(f"{what}: every value is {v[0]:.6g} (a constant layer), so "
                                 f"there is nothing to model; choose another {flag}")


def check_varies_within(values, groups, what: str, unit: str = "token",
                        flag: str = "") -> None:
    """Refuse a GAMM whose every ``unit`` (token, or phone interval: ``groups`` labels the
    rows) has a trace constant over time: its random smooths cannot be fitted (mgcv runs
    with no end, the fast engine returns a degenerate fit). One line naming the layer
    (``what``) and, when given, the flag to change. Layers that vary within some unit pass."""
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce")
    g = pd.Series(np.asarray(groups))
    ok = v.notna().to_numpy() & np.isfinite(v.to_numpy(dtype=float))
    if not ok.any():
        return
    by = v[ok].groupby(g[ok].to_numpy(), sort=False)
    spread = (by.max() - by.min()).to_numpy(dtype=float)
    scale = max(1.0, float(v[ok].abs().max()))
    if spread.size and float(spread.max()) <= 1e-12 * scale:
        advice = f"; choose another {flag}" if flag else ""
        raise AnalysisInputError(
            f"{what}: every {unit}'s trace is constant over time (no within-"
            f"{unit.split()[-1]} "
            f"variation), so the GAMM's random smooths cannot be fitted{advice}")


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

    ``k``: when given (a GAMM's rows), every token must have more than k unique samples and
    some token's trace must vary over time (:func:`check_varies_within`). ``words``: when given,
    only these words are kept and each must have tokens.
    Raises AnalysisInputError for missing columns, empty layer, absent reference, a word with
    no tokens, fewer than two words, a token carrying two words, duplicated (token, sample),
    non-finite values, or (with k) too few samples or every token's trace constant.
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
        check_varies_within(out["Value"], out["UniqueWord"], what, "token")
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
    ``UniqueInterval`` ('<token>_<phone><index>'), ``start_event``, ``token_id``, ``Word``,
    ``Speaker``.
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
    _levels_with_reference(present, phones[0], phones, what, "phone")  # raises when absent
    levels = phones  # in the order given: phones[0] is the reference
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
        "Word": sub["word"].astype(str).to_numpy(),
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


def prepare_phone_model(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                        k: int = 10, min_samples: int = 4) -> tuple:
    """(data, k', notes) of the phone GAMM at ``layer`` (see
    :func:`analysis.gamm.fit_phone_gamm`): the validated rows, the basis dimension actually
    used and what was changed to fit them. Refuses rows whose every interval is constant over
    time (:func:`check_varies_within`: the random smooths cannot be fitted)."""
    min_samples = max(4, int(min_samples))
    data = prepare_phone_data(df, layer, phones, min_samples=min_samples)
    check_varies_within(data["Value"], data["UniqueInterval"],
                        f"phone activations (layer {layer})", "phone interval")
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



def model_name(model: str, layer: str, data: pd.DataFrame, k: int) -> str:
    """How messages name a model: 'the word GAMM at conv5 (1,067 tokens, k=10)' (``model``
    'word') or 'the phone GAMM at conv4 (96 intervals, k=5)' (``model`` 'phone')."""
    random = "UniqueWord" if model == "word" else "UniqueInterval"
    return model_label(model, layer, data[random].nunique(), k)


def model_label(model: str, layer: str, n_groups: int, k: int) -> str:
    """:func:`model_name` from the number of tokens (``model`` 'word') or intervals
    (``model`` 'phone'), for checks made before the rows are read."""
    unit = "tokens" if model == "word" else "intervals"
    return f"the {model} GAMM at {layer} ({int(n_groups):,} {unit}, k={k})"


# --------------------------------------------------------------------------- per-token rows

def prepare_token_summary(summary: pd.DataFrame, layer: str, ref_word: str = "ask",
                          words: Optional[Sequence[str]] = None) -> tuple:
    """(d, levels): the per-token means of one layer, validated as :func:`prepare_gamm_data`
    validates the rows they summarise, from a per-(layer, token) summary
    (:meth:`analysis.columns.ActivationTable.token_summary`: layer, token_id, word, speaker,
    Mean, n, n_bad, sample_min, sample_max, two_words).

    d: token_id, Word (str), Speaker (str), Mean, one row per token in token order (as
    :func:`analysis.lmm.token_means` of :func:`prepare_gamm_data`'s rows); levels: ref_word
    first, then sorted. Raises AnalysisInputError as prepare_gamm_data does (empty layer, absent
    reference or word, fewer than two words, a NUL in a label, a token carrying two words,
    non-finite values) and for duplicated samples when a token has more rows than its sample
    range holds (n > sample_max - sample_min + 1; the exact row-level check needs every row).
    """
    what = f"activations (layer {layer})"
    sub = summary[summary["layer"].astype(str) == str(layer)]
    if sub.empty:
        layers = sorted(summary["layer"].astype(str).unique().tolist())
        raise AnalysisInputError(f"{what}: layer '{layer}' has no rows (layers present: "
                                 f"{layers})")
    declared = [str(w) for w in words] if words else []
    if words:
        sub = sub[sub["word"].astype(str).isin(declared)]
    word = sub["word"].astype(str)
    levels = _levels_with_reference(word.unique(), str(ref_word), declared, what, "word")
    tok = sub["token_id"].astype(str)
    _check_r_labels(word, "word", what)
    _check_r_labels(tok, "token_id", what)
    _check_r_labels(sub["speaker"], "speaker", what)
    two = sub["two_words"].to_numpy(bool)
    if two.any():
        raise AnalysisInputError(f"{what}: token(s) {tok[two].tolist()[:10]} carry more than "
                                 "one word")
    extra = (sub["n"] - (sub["sample_max"] - sub["sample_min"] + 1)).clip(lower=0)
    if extra.sum():
        raise AnalysisInputError(f"{what}: {int(extra.sum())} duplicated (token_id, sample) "
                                 "rows")
    bad = sub["n_bad"].to_numpy() > 0
    if bad.any():
        toks = tok[bad].tolist()
        shown = ", ".join(toks[:10]) + (" ..." if len(toks) > 10 else "")
        raise AnalysisInputError(f"{what}: {int(sub['n_bad'].sum())} non-finite value(s) "
                                 f"(NaN/inf) in {len(toks)} token(s)/interval(s): {shown}")
    d = pd.DataFrame({"token_id": sub["token_id"].to_numpy(), "Word": word.to_numpy(),
                      "Speaker": sub["speaker"].astype(str).to_numpy(),
                      "Mean": sub["Mean"].to_numpy(float)})
    numeric = pd.to_numeric(d["token_id"], errors="coerce")
    key = numeric if numeric.notna().all() else d["token_id"].astype(str)
    d = d.assign(_k=key).sort_values("_k", kind="mergesort").drop(columns="_k")
    return d.reset_index(drop=True), levels


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


# --------------------------------------------------------------------------- formula

def build_formula(k: int, response: str = "Value", x: str = "Sample", factor: str = "Word",
                  ordered: str = "WordOrdered", random: str = "UniqueWord") -> str:
    """The paper's formula as an R string (see module docstring)."""
    return (f'{response} ~ {factor} + s({x}, k={k}) + s({x}, by={ordered}, k={k}) + '
            f's({x}, {random}, bs="fs", m=1, k={k})')
