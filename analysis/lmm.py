"""Per-layer comparison of mean activations with a linear mixed model (lme4 + lmerTest).

For each layer, the activation of each token is averaged over its samples and compared across
words::

    Mean ~ Word + (1 | Speaker)          lmerTest::lmer, REML, Satterthwaite df
    Mean ~ Word                          stats::lm when there are fewer than 2 speakers or no
                                         speaker has more than one token (nothing to pool)

With ``mean_by_token=False`` all rows are kept and the repeated rows of a token get a random
intercept: ``Value ~ Word + (1 | UniqueWord)``.

The means come from the rows (:func:`compare_layers`, :func:`fit_mean_lmm`) or, at scale, from
a per-token summary the table engine computes without holding the rows
(:func:`compare_layers_summary`, :mod:`analysis.columns`): the same table. A model whose dense
design R cannot hold is refused before the fit (:func:`check_lmm_memory`).

Backend: rpy2 + lme4/lmerTest directly (the R session of :mod:`analysis.rbridge`). pymer4 0.8.2
was tried and works here, but it pulls six more packages (scikit-learn, joblib, patsy, ...),
renames the terms (word1, word2, ...) and warns on pandas 2.3 (DataFrame.applymap; it fails on
pandas 3), so it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import pandas as pd

import analysis.gamm.mgcv as mgcv_engine
from analysis.gamm.data import prepare_gamm_data, prepare_token_summary
from analysis.rbridge import (pandas_to_r, r_errors, r_matrix_to_pandas, r_session,
                              take_r_warnings)

COEF_COLUMNS = ["term", "Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
# How a layer's note says the model was not fitted; the report reads the reason after it.
NOT_TESTED_NOTE = "the mixed model of token means "
LMM_SIZE_ADVICE = ("choose fewer words with analyze.py --words=w1,w2,... (one column per "
                   "word), skip the mixed models with --lmm_layers=none (or list fewer "
                   "layers), or analyse fewer tokens")
# lmm_memory_bytes' lower bound: copies of the n x p design and of p x p matrices R holds.
LMM_DESIGN_COPIES = 2
LMM_PXP = 2

_R_LMM = r"""
.ganan_lmm <- function(d, levels, formula, use_lmer) {
  d$Word <- factor(as.character(d$Word), levels = levels)
  if ("Speaker" %in% names(d)) d$Speaker <- factor(d$Speaker)
  if ("UniqueWord" %in% names(d)) d$UniqueWord <- factor(d$UniqueWord)
  f <- as.formula(formula)
  if (use_lmer) {
    singular <- FALSE
    m <- withCallingHandlers(
      lmerTest::lmer(f, data = d, REML = TRUE),
      message = function(c) {
        if (grepl("singular", conditionMessage(c))) { singular <<- TRUE
          invokeRestart("muffleMessage") }
      },
      warning = function(w) {
        .ganan_warnings$list <- c(.ganan_warnings$list, conditionMessage(w))
        invokeRestart("muffleWarning")
      })
    co <- summary(m)$coefficients
    a <- anova(m)
    vc <- as.data.frame(lme4::VarCorr(m))
    list(coef = co, F = a[["F value"]][1], p = a[["Pr(>F)"]][1], df1 = a[["NumDF"]][1],
         df2 = a[["DenDF"]][1], singular = singular || lme4::isSingular(m),
         ranef_var = vc$vcov[1], resid_var = vc$vcov[nrow(vc)])
  } else {
    m <- lm(f, data = d)
    co <- summary(m)$coefficients
    co <- cbind(co[, 1:2, drop = FALSE], df = m$df.residual, co[, 3:4, drop = FALSE])
    a <- anova(m)
    list(coef = co, F = a[["F value"]][1], p = a[["Pr(>F)"]][1], df1 = a[["Df"]][1],
         df2 = m$df.residual, singular = FALSE, ranef_var = NA_real_,
         resid_var = summary(m)$sigma^2)
  }
}
"""


@dataclass
class LmmResult:
    """coefficients: COEF_COLUMNS (Word<w> = mean difference vs the reference word).
    F, p, df1, df2: omnibus test of Word (lmerTest Type III, Satterthwaite; or lm ANOVA)."""
    layer: str
    formula: str
    backend: str
    coefficients: pd.DataFrame
    F: float
    p: float
    df1: float
    df2: float
    n_obs: int
    singular: bool
    ranef_var: float
    resid_var: float
    notes: List[str] = field(default_factory=list)


def token_means(data: pd.DataFrame) -> pd.DataFrame:
    """Mean of Value per token from prepare_gamm_data output: token_id, Word, Speaker, Mean."""
    g = data.groupby("UniqueWord", observed=True, sort=False)
    out = pd.DataFrame({"token_id": g["token_id"].first(), "Word": g["Word"].first().astype(str),
                        "Speaker": g["Speaker"].first(), "Mean": g["Value"].mean()})
    return out.reset_index(drop=True)


def lmm_memory_bytes(n_obs: int, n_levels: int) -> tuple:
    """(p, bytes): fixed-effect columns of ``Mean ~ Word (+ (1 | Speaker))`` (one per word
    level) and the memory the fit needs at the least: R holds the dense n x p design twice
    (model.matrix's X and lme4's copy in its predictor module; lm: X and its QR) and p x p
    matrices twice (RX and vcov), doubles (:data:`LMM_DESIGN_COPIES`, :data:`LMM_PXP`)."""
    p = int(n_levels)
    return p, 8 * (LMM_DESIGN_COPIES * int(n_obs) * p + LMM_PXP * p * p)


def check_lmm_memory(n_obs: int, n_levels: int, layer: str,
                     limit: Optional[int] = None) -> None:
    """Refuse before fitting a mixed model that cannot fit in memory (:func:`lmm_memory_bytes`
    against ``limit``, default :func:`analysis.gamm.mgcv.memory_limit_bytes`):
    :class:`analysis.gamm.mgcv.ModelTooLargeError` with the figure and the advice."""
    p, need = lmm_memory_bytes(n_obs, n_levels)
    mgcv_engine.refuse_over_memory(
        need, limit, f"the mixed model at {layer} ({int(n_obs):,} tokens, {p:,} words) is too "
        f"large for this machine: R holds its {int(n_obs):,} x {p:,} design at least "
        f"{LMM_DESIGN_COPIES} times", LMM_SIZE_ADVICE)


def fit_token_lmm(d: pd.DataFrame, layer: str, levels: Sequence[str]) -> LmmResult:
    """The mixed model of per-token means d (token_id, Word, Speaker, Mean; from
    :func:`token_means` or :func:`analysis.gamm.data.prepare_token_summary`) with Word's
    levels ``levels`` (reference first): lmer with a speaker intercept, or lm when there is
    nothing to pool (see module docstring)."""
    check_lmm_memory(len(d), len(levels), layer)
    from analysis.calibrated import word_random_terms, word_untestable_reason
    use_lmer = bool(word_random_terms(d))  # speakers repeat (a speaker named 'NA' counts)
    formula = "Mean ~ Word + (1 | Speaker)" if use_lmer else "Mean ~ Word"
    reason = word_untestable_reason(d)
    if reason:  # the calibrated word model's rule: no fit, the reason in the notes
        co = pd.DataFrame({"term": [f"Word{w}" for w in list(levels)[1:]]})
        co = co.reindex(columns=COEF_COLUMNS)
        nan = float("nan")
        return LmmResult(layer=str(layer), formula=formula, backend="not fitted",
                         coefficients=co, F=nan, p=nan, df1=nan, df2=nan, n_obs=int(len(d)),
                         singular=False, ranef_var=nan, resid_var=nan,
                         notes=[f"{layer}: {NOT_TESTED_NOTE}{reason}"])
    notes = [] if use_lmer else [f"{layer}: no speaker with repeated tokens; plain linear model"]
    return _fit_r(d, layer, levels, formula, use_lmer, notes)


def fit_mean_lmm(df: pd.DataFrame, layer: str, ref_word: str = "ask",
                 mean_by_token: bool = True, words: Optional[Sequence[str]] = None
                 ) -> LmmResult:
    """Mixed-model comparison of words at one layer (see module docstring) from the rows of
    an activations table; ``words``: only these words (each must have tokens)."""
    data = prepare_gamm_data(df, layer, ref_word, words=words)
    levels = [str(c) for c in data["Word"].cat.categories]
    if mean_by_token:
        return fit_token_lmm(token_means(data), layer, levels)
    d = data[["Value", "Word", "UniqueWord", "Speaker"]].copy()
    d["Word"] = d["Word"].astype(str)
    d["UniqueWord"] = d["UniqueWord"].astype(str)
    check_lmm_memory(len(d), len(levels), layer)
    return _fit_r(d, layer, levels, "Value ~ Word + (1 | UniqueWord)", True, [])


def _fit_r(d: pd.DataFrame, layer: str, levels: Sequence[str], formula: str, use_lmer: bool,
           notes: List[str]) -> LmmResult:
    session = r_session(("lme4", "lmerTest"), {"lmm": _R_LMM})
    with r_errors(f"the mixed model at {layer} ({len(d):,} rows)", LMM_SIZE_ADVICE):
        res = session.r(".ganan_lmm")(pandas_to_r(d), session.ro.StrVector(list(levels)),
                                      formula, bool(use_lmer))
    co = r_matrix_to_pandas(res.rx2("coef"))
    co.columns = COEF_COLUMNS[1:]
    co.insert(0, "term", [str(i) for i in co.index])
    notes = list(notes) + [f"{layer}: R warning: {w}" for w in take_r_warnings(session)]
    singular = bool(res.rx2("singular")[0])
    if singular:
        notes.append(f"{layer}: singular fit (random-effect variance estimated at 0)")
    return LmmResult(
        layer=str(layer), formula=formula,
        backend="lmerTest::lmer via rpy2" if use_lmer else "stats::lm via rpy2",
        coefficients=co.reset_index(drop=True), F=float(res.rx2("F")[0]),
        p=float(res.rx2("p")[0]), df1=float(res.rx2("df1")[0]), df2=float(res.rx2("df2")[0]),
        n_obs=int(len(d)), singular=singular, ranef_var=float(res.rx2("ranef_var")[0]),
        resid_var=float(res.rx2("resid_var")[0]), notes=notes)


def compare_layers(df: pd.DataFrame, layers: Sequence[str], ref_word: str = "ask",
                   mean_by_token: bool = True, words: Optional[Sequence[str]] = None
                   ) -> pd.DataFrame:
    """fit_mean_lmm for each layer; long table: layer, formula, term, Estimate, Std. Error,
    df, t value, Pr(>|t|), F_word, p_word (omnibus Word test), singular; the fits' notes
    (singular fits, R warnings) in ``attrs['notes']``."""
    return _long_table(fit_mean_lmm(df, layer, ref_word, mean_by_token, words)
                       for layer in layers)


def compare_layers_summary(summary: pd.DataFrame, layers: Sequence[str],
                           ref_word: str = "ask", words: Optional[Sequence[str]] = None
                           ) -> pd.DataFrame:
    """:func:`compare_layers` (per-token means) from a per-(layer, token) summary computed by
    the engine (:meth:`analysis.columns.ActivationTable.token_summary`), without the rows:
    the same table. Every layer's model is validated and sized before the first fit."""
    prepared = [(layer,) + prepare_token_summary(summary, layer, ref_word, words)
                for layer in layers]
    for layer, d, levels in prepared:
        check_lmm_memory(len(d), len(levels), layer)
    return _long_table(fit_token_lmm(d, layer, levels) for layer, d, levels in prepared)


def _long_table(results) -> pd.DataFrame:
    parts, notes = [], []
    for r in results:
        notes.extend(r.notes)
        t = r.coefficients.copy()
        t.insert(0, "formula", r.formula)
        t.insert(0, "layer", r.layer)
        t["F_word"] = r.F
        t["p_word"] = r.p
        t["singular"] = r.singular
        parts.append(t)
    out = pd.concat(parts, ignore_index=True)
    out.attrs["notes"] = notes
    return out
