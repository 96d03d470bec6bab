"""GAMMs of layer activations over time (Beguš & Zhou 2022): the engines and which one fits.

Modules (imports point down this list only; the two engines never import each other):

* :mod:`analysis.gamm.data`: the shared data and result: validated model rows, the formula,
  AR1's rho, :class:`GammFit`, :class:`AnalysisInputError` (the models are described there);
* :mod:`analysis.gamm.rcode`: a fit as R code and a data table (the refit script);
* :mod:`analysis.gamm.mgcv`: the mgcv engine (``bam`` through rpy2) and mgcv's size rule;
* :mod:`analysis.gamm.fast` (+ ``fast_design``, ``fast_setup``, ``fast_stats``): the fast engine, the same
  word model fitted block by block in time and memory linear in the number of tokens;
* this package: :func:`fit_word_gamm` (either engine, :func:`choose_engine`),
  :func:`fit_phone_gamm` (mgcv only), and :func:`check_word_model_size` (the word model sized
  for the engine that will fit it, before its rows are read; :func:`fast_memory_bytes`).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Optional, Sequence

import pandas as pd

import analysis.gamm.mgcv as mgcv_engine
from analysis.gamm.data import (AnalysisInputError, GammFit, model_label, model_name,
                                prepare_gamm_data, prepare_phone_model)
from analysis.gamm.mgcv import (PHONE_SIZE_ADVICE, WORD_SIZE_ADVICE, ModelTooLargeError,
                                check_mgcv_memory, fit_mgcv)

__all__ = ["AUTO_MGCV_MAX_TOKENS", "ENGINES", "AnalysisInputError", "GammFit",
           "ModelTooLargeError", "check_word_model_size", "choose_engine", "fast_memory_bytes",
           "fit_phone_gamm", "fit_word_gamm"]

# The engines --engine chooses from, and where 'auto' switches (declared with the flag).
from analysis.analyze_options import AUTO_MGCV_MAX_TOKENS, ENGINES  # noqa: E402
# The fast engine's arrays that grow with the model (analysis.gamm.fast, fast_stats): with
# P_A = n_words * k fixed coefficients (parametric, reference and difference smooths),
# T tokens and p = P_A + T * k: the sufficient statistics B [T, P_A, k] and about three
# P_A x P_A matrices (A'A, the Schur complement and its inverse), all doubles. analyze.py
# keeps only the fixed block of the posterior covariance (fit_word_gamm(full_vp=False)); the
# whole Vp [p, p] would add 8 p^2 bytes (2.9 GB at 1,890 tokens).
FAST_PXP_FIXED = 3
FAST_SIZE_ADVICE = ("choose fewer words with analyze.py --words=w1,w2,... (the fixed part "
                    "grows with the square of the number of words, the statistics with "
                    "tokens x words), or analyse fewer tokens")


def fast_memory_bytes(n_tokens: int, n_levels: int, k: int, full_vp: bool = False) -> tuple:
    """(p, bytes): coefficients of the word model and the memory the fast engine's fit holds
    at the least (see :data:`FAST_PXP_FIXED`; ``full_vp``: with the whole covariance)."""
    pa, T, k = int(n_levels) * int(k), int(n_tokens), int(k)
    p = pa + T * k
    return p, 8 * (T * pa * k + FAST_PXP_FIXED * pa * pa + (p * p if full_vp else 0))


def check_word_model_size(engine: str, n_tokens: int, n_levels: int, k: int, layer: str,
                          limit=None) -> str:
    """The engine that will fit the word GAMM at ``layer`` (:func:`choose_engine`), after
    refusing, before any row is read, a model it cannot hold in memory
    (:class:`ModelTooLargeError` with the figure and the advice; ``limit`` default
    :func:`analysis.gamm.mgcv.memory_limit_bytes`)."""
    chosen = choose_engine(engine, int(n_tokens))
    what = model_label("word", layer, n_tokens, k)
    if chosen == "mgcv":
        check_mgcv_memory(n_tokens, n_levels, k, what, WORD_SIZE_ADVICE, limit=limit)
        return chosen
    p, need = fast_memory_bytes(n_tokens, n_levels, k)
    mgcv_engine.refuse_over_memory(
        need, limit, f"{what} over {int(n_levels):,} words is too large for the fast engine "
        f"on this machine: it has {int(n_levels) * int(k):,} fixed and {p:,} coefficients in "
        "all, and the fit holds at least its fixed and token-by-fixed blocks", FAST_SIZE_ADVICE)
    return chosen


def choose_engine(engine: str, n_tokens: int) -> str:
    """'mgcv' or 'fast' for ``engine`` (one of :data:`ENGINES`) and a word model of
    ``n_tokens`` tokens: 'auto' is mgcv up to :data:`AUTO_MGCV_MAX_TOKENS` tokens, the fast
    engine above when it can be imported (else mgcv, with a warning about the time)."""
    if engine not in ENGINES:
        raise AnalysisInputError(f"engine must be 'auto', 'mgcv' or 'fast', got {engine!r}")
    if engine != "auto":
        return engine
    if n_tokens <= AUTO_MGCV_MAX_TOKENS:
        return "mgcv"
    try:
        importlib.import_module("analysis.gamm.fast")
        return "fast"
    except ImportError:
        warnings.warn(
            f"{n_tokens} tokens and analysis.gamm.fast is not importable: fitting with mgcv, "
            "whose cost grows about with the cube of the number of tokens (100 tokens ~17 s, "
            "200 tokens ~150 s, 400+ tokens > 25 min on 2 cores)", RuntimeWarning, stacklevel=3)
        return "mgcv"


def fit_word_gamm(df: pd.DataFrame, layer: str = "conv5", ref_word: str = "ask", k: int = 10,
                  ar1: bool = True, discrete: bool = True, nthreads: int = 2,
                  engine: str = "mgcv", rho_method: str = "global",
                  words: Optional[Sequence[str]] = None, full_vp: bool = True) -> GammFit:
    """Fit the word GAMM (:mod:`analysis.gamm.data`) to one layer of an activations table.

    df: long activations table (token_id, word, layer, sample, value). Returns a GammFit.
    engine: 'mgcv' (bam through rpy2), 'fast' (:mod:`analysis.gamm.fast`), or 'auto'.
    full_vp=False: the fast engine returns the fixed part only (coef, Vp, lpmatrix without the
    by-token random smooths; see :func:`analysis.gamm.fast.fit_word_gamm_fast`).
    """
    k = int(k)
    if k < 3:
        raise AnalysisInputError(f"k must be at least 3, got {k}")
    data = prepare_gamm_data(df, layer, ref_word, k=k, words=words)
    if choose_engine(engine, int(data["UniqueWord"].nunique())) == "fast":
        from analysis.gamm.fast import fit_word_gamm_fast
        return fit_word_gamm_fast(df, layer=layer, ref_word=ref_word, k=k, ar1=ar1,
                                  rho_method=rho_method, words=words, full_vp=full_vp)
    levels = [str(c) for c in data["Word"].cat.categories]
    return fit_mgcv(data, x="Sample", factor="Word", ordered="WordOrdered",
                    random="UniqueWord", levels=levels, k=k, ar1=ar1, discrete=discrete,
                    nthreads=nthreads, rho_method=rho_method, layer=layer,
                    what=model_name("word", layer, data, k), advice=WORD_SIZE_ADVICE)


def fit_phone_gamm(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                   k: int = 10, ar1: bool = True, discrete: bool = True, nthreads: int = 2,
                   rho_method: str = "global", min_samples: int = 4) -> GammFit:
    """Fit the phone GAMM (paper 3.2) to one layer of a phone_activations table (mgcv).

    Value ~ Phone + s(norm_time, k=k') + s(norm_time, by=PhoneOrdered, k=k')
            + s(norm_time, UniqueInterval, bs="fs", m=1, k=k') + AR1 within intervals.
    Deep layers have few samples per phone interval (conv4 at stride 256: ~6 per 100 ms), so
    intervals with fewer than ``min_samples`` unique samples are dropped and
    k' = min(k, smallest number of samples per remaining interval - 1) (at least 3);
    both decisions are written to ``fit.notes``.
    """
    data, k_eff, notes = prepare_phone_model(df, layer, phones, k, min_samples)
    levels = [str(c) for c in data["Phone"].cat.categories]
    fit = fit_mgcv(data, x="norm_time", factor="Phone", ordered="PhoneOrdered",
                   random="UniqueInterval", levels=levels, k=k_eff, ar1=ar1,
                   discrete=discrete, nthreads=nthreads, rho_method=rho_method, layer=layer,
                   what=model_name("phone", layer, data, k_eff), advice=PHONE_SIZE_ADVICE)
    fit.notes.extend(notes)
    return fit
