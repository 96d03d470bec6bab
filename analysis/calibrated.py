"""Calibrated tests: mixed models of per-unit summaries, with words and speakers as the random
factors they are (docs/calibration.md says why, with the measurements).

The paper's GAMMs treat every phone interval (or token) as an independent replicate given its
random smooth. Intervals of one word share that word's level and shape, and tokens of one
speaker share the speaker's level, so a difference between a few words or speakers is read as
a difference between phones or words: under a null with that structure, half of the paper
model's phone contrasts came out "significant" at 0.05 (bench/calibration.py).

Here each unit (a phone interval for the phone models, a token for the word model) is first
summarised by its level (mean) and q shape coefficients (:mod:`analysis.summaries`); then
every summary is compared with a linear mixed model (lme4 + lmerTest, REML, Satterthwaite
degrees of freedom)::

    phone contrast a:b      Y ~ Phone + (1 | WordPhone) [+ (1 | Word)] [+ (1 | Speaker)]
                                      [+ (1 | Token)]
    word model              Y ~ Word + (1 | Speaker)

Y is the level or one shape coefficient. ``WordPhone`` is the word x phone cell: the word's own
version of the phone (in a design where every word holds one of the two phones it is the
word); ``(1 | Word)`` is added when some word holds both phones, ``(1 | Speaker)`` when
speakers repeat, ``(1 | Token)`` when a token holds more than one interval of the contrast.
The degrees of freedom of the phone term then come from the number of words, not of
intervals. The level test is the t test of ``Phone<b>`` in the level model; the shape test
combines the q shape models' t tests of ``Phone<b>`` by Bonferroni (p = min(1, q min_j p_j)),
which holds its level whatever the coefficients' correlation.

A contrast carried by fewer than ``min_words`` words per phone cannot separate phone from word
(the paper's [s]/[ʃ]: two words with [s], one with [ʃ]): :func:`phone_contrast_test` then
returns the words instead of a p-value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.gamm.data import AnalysisInputError
from analysis.summaries import curve_rms, normalised_position, unit_summaries

DEFAULT_SHAPE_TERMS = 3
DEFAULT_MIN_WORDS = 3
STATUS_FITTED = "fitted"  # a table row's status when it was tested (else: why not)
# Below this many words per phone the phone model's df are Kenward-Roger's: Satterthwaite's
# are liberal there (crossed words, 3 per phone: shape test 9.2 % at 0.05, Kenward-Roger
# 2.9 %; docs/calibration.md), and with few words the intervals are few, so KR is cheap.
KENWARD_ROGER_BELOW_WORDS = 5
MODEL_NAMES = ("calibrated", "paper")
CALIBRATED_BACKEND = ("lme4 + lmerTest through rpy2 (REML; Satterthwaite df, Kenward-Roger for "
                      f"a phone contrast with fewer than {KENWARD_ROGER_BELOW_WORDS} words per "
                      "phone)")

_R_UNIT_LMM = r"""
.ganan_unit_lmm <- function(d, responses, factor, levels, re_terms, ddf) {
  d[[factor]] <- factor(as.character(d[[factor]]), levels = levels)
  if (ddf == "Kenward-Roger" && !requireNamespace("pbkrtest", quietly = TRUE))
    ddf <- "Satterthwaite"
  out <- list()
  for (resp in responses) {
    rhs <- paste(c(factor, re_terms), collapse = " + ")
    f <- as.formula(paste(resp, "~", rhs))
    notes <- character(0)
    if (length(re_terms)) {
      m <- withCallingHandlers(
        lmerTest::lmer(f, data = d, REML = TRUE,
                       control = lme4::lmerControl(calc.derivs = FALSE)),
        message = function(c) invokeRestart("muffleMessage"),
        warning = function(w) { notes <<- c(notes, conditionMessage(w))
                                invokeRestart("muffleWarning") })
      co <- summary(m, ddf = ddf)$coefficients
      a <- anova(m, ddf = ddf)
      vc <- as.data.frame(lme4::VarCorr(m))
      out[[resp]] <- list(coef = co, F = a[["F value"]][1], p = a[["Pr(>F)"]][1],
                          df1 = a[["NumDF"]][1], df2 = a[["DenDF"]][1],
                          singular = lme4::isSingular(m), vc_names = as.character(vc$grp),
                          vc = vc$vcov, notes = notes, ddf = ddf)
    } else {
      m <- lm(f, data = d)
      co <- summary(m)$coefficients
      co <- cbind(co[, 1:2, drop = FALSE], df = m$df.residual, co[, 3:4, drop = FALSE])
      a <- anova(m)
      out[[resp]] <- list(coef = co, F = a[["F value"]][1], p = a[["Pr(>F)"]][1],
                          df1 = a[["Df"]][1], df2 = m$df.residual, singular = FALSE,
                          vc_names = "Residual", vc = summary(m)$sigma^2, notes = notes,
                          ddf = "residual")
    }
  }
  out
}
"""


@dataclass
class UnitFit:
    """One summary's mixed model: coefficients (term, Estimate, Std. Error, df, t value,
    Pr(>|t|)), the factor's omnibus F test, variance components and notes."""
    response: str
    formula: str
    coefficients: pd.DataFrame
    F: float
    p: float
    df1: float
    df2: float
    singular: bool
    variances: Dict[str, float]
    notes: List[str] = field(default_factory=list)
    ddf: str = "Satterthwaite"   # the denominator df used ('residual' for lm)

    def term(self, name: str) -> Optional[pd.Series]:
        co = self.coefficients.set_index("term")
        return co.loc[name] if name in co.index else None


def fit_unit_lmms(units: pd.DataFrame, responses: Sequence[str], factor: str,
                  levels: Sequence[str], re_terms: Sequence[str],
                  what: str, ddf: str = "Satterthwaite") -> Dict[str, UnitFit]:
    """Fit ``Y ~ factor + re_terms`` for every response column Y of ``units`` in one R call;
    {response: UnitFit}. Label columns should be pandas Categoricals (they cross to R as
    codes). ``re_terms`` empty: a plain linear model (nothing to pool)."""
    from analysis.rbridge import pandas_to_r, r_errors, r_matrix_to_pandas, r_session
    session = r_session(("lme4", "lmerTest"), {"unit_lmm": _R_UNIT_LMM})
    ro = session.ro
    with r_errors(what, "analyse fewer units or use the paper's model (--phone_model=paper)"):
        res = session.r(".ganan_unit_lmm")(
            pandas_to_r(units), ro.StrVector(list(responses)), factor,
            ro.StrVector([str(v) for v in levels]), ro.StrVector(list(re_terms)), ddf)
    rhs = " + ".join([factor] + list(re_terms))
    out = {}
    for i, resp in enumerate(responses):
        r = res[i]
        co = r_matrix_to_pandas(r.rx2("coef"))
        co.columns = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
        co.insert(0, "term", [str(t) for t in co.index])
        out[resp] = UnitFit(
            response=resp, formula=f"{resp} ~ {rhs}", coefficients=co.reset_index(drop=True),
            F=float(r.rx2("F")[0]), p=float(r.rx2("p")[0]), df1=float(r.rx2("df1")[0]),
            df2=float(r.rx2("df2")[0]), singular=bool(r.rx2("singular")[0]),
            variances=dict(zip([str(x) for x in r.rx2("vc_names")],
                               [float(x) for x in r.rx2("vc")])),
            notes=sorted(set(str(x) for x in r.rx2("notes"))), ddf=str(r.rx2("ddf")[0]))
    return out


def bonferroni_min(p: Sequence[float]) -> float:
    """min(1, m min_j p_j) over the m finite p-values (NaN when there is none): the
    Bonferroni combination of m tests of one hypothesis."""
    a = np.asarray(p, dtype=float)
    a = a[np.isfinite(a)]
    return float(min(1.0, len(a) * a.min())) if len(a) else float("nan")


# --------------------------------------------------------------------------- phone units

def shape_columns(q: int) -> List[str]:
    return [f"shape{j}" for j in range(1, int(q) + 1)]


def phone_units(data: pd.DataFrame, q: int) -> pd.DataFrame:
    """One row per interval of a phone model's prepared rows
    (:func:`analysis.gamm.data.prepare_phone_data`: Value, norm_time, Phone, Word, Speaker,
    token_id, UniqueInterval): Phone, Word, Speaker, Token, WordPhone (Categoricals), n
    (samples), level and shape1..shape_q (:func:`analysis.summaries.unit_summaries`)."""
    codes = data["UniqueInterval"].astype("category").cat.codes.to_numpy()
    first = pd.DataFrame({"code": codes}).drop_duplicates("code")
    idx = first.index.to_numpy()
    order = np.argsort(first["code"].to_numpy())
    idx = idx[order]
    level, shape, n = unit_summaries(data["norm_time"].to_numpy(float),
                                     data["Value"].to_numpy(float), codes,
                                     int(codes.max()) + 1, q)
    word = data["Word"].astype(str).to_numpy()[idx]
    phone = data["Phone"].astype(str).to_numpy()[idx]
    out = pd.DataFrame({
        "Phone": phone, "Word": word, "Speaker": data["Speaker"].astype(str).to_numpy()[idx],
        "Token": data["token_id"].astype(str).to_numpy()[idx],
        "n": n, "level": level})
    # the word x phone cell as an opaque id: labels are data, and no separator can keep
    # any two (word, phone) pairs of arbitrary text apart
    out.insert(4, "WordPhone", "wp" + out.groupby(["Word", "Phone"], sort=True)
               .ngroup().astype(str))
    for j, col in enumerate(shape_columns(q)):
        out[col] = shape[:, j]
    for col in ("Word", "Speaker", "Token", "WordPhone"):
        out[col] = out[col].astype("category")
    return out


def phone_random_terms(units: pd.DataFrame) -> List[str]:
    """The random intercepts a phone contrast's units support (module docstring)."""
    terms = []
    # with one interval per word x phone cell, WordPhone is the residual (lme4 refuses a
    # factor with as many levels as units): the intervals are then the words' own units
    if _repeats(units["WordPhone"]):
        terms.append("(1 | WordPhone)")
    both = units.groupby("Word", observed=True)["Phone"].nunique()
    if (both > 1).any() and _repeats(units["Word"]):
        terms.append("(1 | Word)")
    if _repeats(units["Speaker"]):
        terms.append("(1 | Speaker)")
    if _repeats(units["Token"]):
        terms.append("(1 | Token)")
    return terms


def _repeats(labels: pd.Series) -> bool:
    """Whether a grouping factor can carry a random intercept beside the residual: at least
    two levels, and some level with more than one unit (a factor with one unit per level is
    the residual itself, and lme4 refuses it). The label's text does not matter: a speaker
    named 'NA' is a speaker (a missing speaker column is one level for every unit)."""
    counts = labels.astype(str).value_counts()
    return len(counts) >= 2 and int(counts.max()) > 1


@dataclass
class PhoneTest:
    """The calibrated level and shape tests of one contrast a:b at one layer (b - a)."""
    testable: bool
    reason: str
    words: Dict[str, List[str]]
    q: int = 0
    estimate: float = float("nan")
    se: float = float("nan")
    df: float = float("nan")
    p_level: float = float("nan")
    shape: Dict[str, float] = field(default_factory=dict)      # shape_j: estimate b - a
    shape_p: Dict[str, float] = field(default_factory=dict)    # shape_j: its p
    p_shape: float = float("nan")
    shape_rms: float = float("nan")
    formula: str = ""
    ddf: str = ""
    singular: bool = False
    variances: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    units: Optional[pd.DataFrame] = None   # the per-interval summaries tested (phone_units)


def choose_ddf(words: Dict[str, List[str]]) -> str:
    """The phone model's denominator df: Kenward-Roger when a phone has fewer than
    :data:`KENWARD_ROGER_BELOW_WORDS` words, else Satterthwaite (docs/calibration.md)."""
    fewest = min(len(w) for w in words.values()) if words else 0
    return "Kenward-Roger" if fewest < KENWARD_ROGER_BELOW_WORDS else "Satterthwaite"


def words_per_phone(units: pd.DataFrame, phones: Sequence[str]) -> Dict[str, List[str]]:
    """{phone: sorted words holding at least one of its intervals}."""
    return {p: sorted(units.loc[units["Phone"] == p, "Word"].astype(str).unique())
            for p in phones}


def untestable_reason(words: Dict[str, List[str]], min_words: int) -> str:
    """'' when every phone occurs in at least ``min_words`` words; else why the contrast
    cannot be tested, naming the words."""
    few = {p: w for p, w in words.items() if len(w) < int(min_words)}
    if not few:
        return ""
    from common.phones import phone_label
    parts = [f"{phone_label(p)} in {len(w)} word(s) ({', '.join(w)})"
             for p, w in words.items()]
    return (f"cannot be tested: {'; '.join(parts)}: with fewer than {int(min_words)} words per "
            "phone a phone difference cannot be told apart from a difference between these "
            "words (--min_words)")


def phone_contrast_test(data: pd.DataFrame, a: str, b: str, q: int = DEFAULT_SHAPE_TERMS,
                        min_words: int = DEFAULT_MIN_WORDS, layer: str = "",
                        ddf: Optional[str] = None) -> PhoneTest:
    """The calibrated tests of b against a on a phone model's prepared rows (module
    docstring). q is lowered to (fewest samples per interval - 1) when intervals are short.
    ``ddf``: 'Satterthwaite' or 'Kenward-Roger'; None chooses by the words
    (:func:`choose_ddf`)."""
    n_min = int(data.groupby("UniqueInterval", observed=True)["norm_time"].nunique().min())
    q_eff = max(0, min(int(q), n_min - 1))
    units = phone_units(data, q_eff)
    words = words_per_phone(units, (a, b))
    reason = untestable_reason(words, min_words)
    notes = []
    if q_eff != int(q):
        notes.append(f"{layer}: shape terms lowered from {q} to {q_eff} (shortest interval "
                     f"has {n_min} samples)")
    if reason:
        return PhoneTest(False, reason, words, q=q_eff, notes=notes, units=units)
    terms = phone_random_terms(units)
    responses = ["level"] + shape_columns(q_eff)
    fits = fit_unit_lmms(units, responses, "Phone", [a, b], terms,
                         f"the calibrated phone model {a}:{b} at {layer}",
                         ddf=ddf or choose_ddf(words))
    term = f"Phone{b}"
    lvl = fits["level"].term(term)
    shape = {c: float(fits[c].term(term)["Estimate"]) for c in responses[1:]}
    shape_p = {c: float(fits[c].term(term)["Pr(>|t|)"]) for c in responses[1:]}
    for f in fits.values():
        notes.extend(f"{layer} {f.response}: R warning: {n}" for n in f.notes)
    return PhoneTest(
        True, "", words, q=q_eff, estimate=float(lvl["Estimate"]), se=float(lvl["Std. Error"]),
        df=float(lvl["df"]), p_level=float(lvl["Pr(>|t|)"]), shape=shape, shape_p=shape_p,
        p_shape=bonferroni_min(list(shape_p.values())),
        shape_rms=curve_rms(list(shape.values())), formula=fits["level"].formula,
        ddf=fits["level"].ddf, singular=any(f.singular for f in fits.values()),
        variances=fits["level"].variances, notes=notes, units=units)


# --------------------------------------------------------------------------- word units

def token_units(data: pd.DataFrame, q: int) -> pd.DataFrame:
    """One row per token of a word model's prepared rows
    (:func:`analysis.gamm.data.prepare_gamm_data`: Value, Sample, Word, UniqueWord, Speaker,
    token_id): token_id, Word, Speaker, n, level, shape1..shape_q, with the shape on the
    layer's sample axis mapped to [0, 1] (:func:`analysis.summaries.normalised_position`)."""
    codes = data["UniqueWord"].cat.codes.to_numpy()
    x = normalised_position(data["Sample"].to_numpy(float))
    level, shape, n = unit_summaries(x, data["Value"].to_numpy(float), codes,
                                     len(data["UniqueWord"].cat.categories), q)
    first = data.drop_duplicates("UniqueWord")
    idx = np.argsort(first["UniqueWord"].cat.codes.to_numpy())
    first = first.iloc[idx]
    out = pd.DataFrame({"token_id": first["token_id"].to_numpy(),
                        "Word": first["Word"].astype(str).to_numpy(),
                        "Speaker": first["Speaker"].astype(str).to_numpy(),
                        "n": n, "level": level})
    for j, col in enumerate(shape_columns(q)):
        out[col] = shape[:, j]
    out["Speaker"] = out["Speaker"].astype("category")
    return out


def word_random_terms(units: pd.DataFrame) -> List[str]:
    """``(1 | Speaker)`` when speakers repeat (:func:`_repeats`), else none."""
    return ["(1 | Speaker)"] if _repeats(units["Speaker"]) else []


def word_untestable_reason(units: pd.DataFrame) -> str:
    """'' when the word model can test words on these token units; else why not:

    * one token per word: the Word term fits every token exactly (no residual df);
    * speakers known, and each word spoken by one speaker of its own (no speaker in two words):
      a word difference cannot be told apart from a speaker difference (Judd, Westfall &
      Kenny 2012), and lme4 would split the variance arbitrarily."""
    n_words = units["Word"].nunique()
    if len(units) <= n_words:
        return (f"cannot be tested: one token per word ({len(units)} tokens of {n_words} "
                "words): no residual degrees of freedom")
    spk = units["Speaker"].astype(str)
    if spk.nunique() >= 2:
        per_word = units.groupby("Word", observed=True)["Speaker"].nunique()
        per_speaker = pd.DataFrame({"s": spk, "w": units["Word"].astype(str)}) \
            .groupby("s")["w"].nunique()
        if int(per_word.max()) == 1 and int(per_speaker.max()) == 1:
            return ("cannot be tested: each word is spoken by one speaker of its own (word and "
                    "speaker confounded: a word difference cannot be told apart from a "
                    "difference between speakers)")
    return ""


def word_tests(units: pd.DataFrame, levels: Sequence[str], layer: str) -> pd.DataFrame:
    """Per non-reference word: its level difference from the reference (estimate, SE, df, p)
    and its shape test (Bonferroni over the shape coefficients), from ``Y ~ Word +
    (1 | Speaker)`` on :func:`token_units`. Columns: layer, word, estimate, se, df, p_level,
    p_shape, shape_rms, F_level, p_level_omnibus, formula, singular."""
    if units.empty:
        raise AnalysisInputError(f"{layer}: no token to test")
    q = len([c for c in units.columns if c.startswith("shape")])
    responses = ["level"] + shape_columns(q)
    fits = fit_unit_lmms(units, responses, "Word", levels, word_random_terms(units),
                         f"the calibrated word model at {layer}")
    rows = []
    for w in list(levels)[1:]:
        term = f"Word{w}"
        lvl = fits["level"].term(term)
        if lvl is None:
            continue
        sp = [float(fits[c].term(term)["Pr(>|t|)"]) for c in responses[1:]]
        se = [float(fits[c].term(term)["Estimate"]) for c in responses[1:]]
        rows.append({"layer": layer, "word": str(w), "estimate": float(lvl["Estimate"]),
                     "se": float(lvl["Std. Error"]), "df": float(lvl["df"]),
                     "p_level": float(lvl["Pr(>|t|)"]), "p_shape": bonferroni_min(sp),
                     "shape_rms": curve_rms(se), "F_level": fits["level"].F,
                     "p_level_omnibus": fits["level"].p, "formula": fits["level"].formula,
                     "singular": fits["level"].singular})
    return pd.DataFrame(rows)
