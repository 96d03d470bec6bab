"""The mgcv engine: the paper's GAMMs fitted by ``mgcv::bam`` through rpy2, and mgcv's size rule.

:func:`fit_mgcv` fits rows prepared by :mod:`analysis.gamm.data` and returns a
:class:`~analysis.gamm.data.GammFit` with mgcv's own tables, coefficients, ``Vp`` and
lpmatrix. Its cost grows about with the cube of the number of random-smooth groups (tokens or
phone intervals) and its memory with the square: :func:`check_mgcv_memory` refuses, before a
fit, a model whose fitted object cannot fit in this machine's memory.
"""

from __future__ import annotations

import os
import time
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.gamm.data import (PARAMETRIC_COLUMNS, SMOOTH_COLUMNS, AnalysisInputError,
                                GammFit, build_formula, lag1_autocorrelation, model_name,
                                prepare_phone_model)
from analysis.gamm.rcode import r_fit_code
from analysis.rbridge import (pandas_to_r_factors, r_errors, r_matrix_to_pandas, r_names,
                              r_numeric, r_session, take_r_warnings)

# A fitted mgcv model holds at least three p x p matrices of doubles (Vp, Ve, Vc), p being the
# number of coefficients: a lower bound of its memory that needs no fit to compute.
MGCV_PXP_MATRICES = 3
WORD_SIZE_ADVICE = ("use the fast engine (analyze.py --engine=fast; engine='fast' in Python), "
                    "which fits the same model block by block in memory proportional to the "
                    "number of tokens, choose fewer words (analyze.py --words=w1,w2,...), or "
                    "analyse fewer tokens")
PHONE_SIZE_ADVICE = ("the phone GAMMs have only the mgcv engine: skip them with "
                     "analyze.py --phone_layers= (or list fewer layers), or analyse fewer tokens")


class ModelTooLargeError(AnalysisInputError):
    """mgcv cannot hold the model in this machine's memory (message gives the sizes and which
    engine or option fits)."""


_R_HELPERS = r"""
# .ganan_warnings and .ganan_factors are analysis.rbridge's shared helpers.
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
    p, need = mgcv_memory_bytes(n_groups, n_levels, k)
    refuse_over_memory(
        need, limit, f"{what} is too large for mgcv on this machine: it has {p:,} "
        f"coefficients, and a fitted mgcv model holds at least {MGCV_PXP_MATRICES} {p:,} x "
        f"{p:,} matrices", advice)


def refuse_over_memory(need: int, limit: Optional[int], problem: str, advice: str) -> None:
    """Raise :class:`ModelTooLargeError` when a fit needs ``need`` bytes and this machine has
    less (``limit``; None: :func:`memory_limit_bytes`; 0: unknown, nothing refused), as one
    line: '<problem> (<need> GiB) while this machine has <limit> GiB; <advice>'. The one
    wording of every size refusal: mgcv's GAMMs, the fast engine's, the mixed models'."""
    limit = memory_limit_bytes() if limit is None else limit
    if limit and need > limit:
        gib = 2.0 ** 30
        raise ModelTooLargeError(f"{problem} ({need / gib:,.1f} GiB) while this machine has "
                                 f"{limit / gib:,.1f} GiB; {advice}")


def check_phone_model_size(df: pd.DataFrame, layer: str, phones: Sequence[str] = ("s", "sh"),
                           k: int = 10, min_samples: int = 4) -> None:
    """Raise :class:`ModelTooLargeError` when mgcv cannot hold the phone GAMM at ``layer``
    (lets a caller refuse before any fit, not after the earlier ones)."""
    data, k_eff, _ = prepare_phone_model(df, layer, phones, k, min_samples)
    check_mgcv_memory(data["UniqueInterval"].nunique(), data["Phone"].cat.categories.size,
                      k_eff, model_name("phone", layer, data, k_eff), PHONE_SIZE_ADVICE)


# --------------------------------------------------------------------------- fit

def _table(mat_df: pd.DataFrame, columns: List[str]) -> pd.DataFrame:
    out = mat_df.copy()
    out.columns = columns[1:]
    out.insert(0, columns[0], [str(i) for i in out.index])
    return out.reset_index(drop=True)


def fit_mgcv(data: pd.DataFrame, *, x: str, factor: str, ordered: str, random: str,
             levels: List[str], k: int, ar1: bool, discrete: bool, nthreads: int,
             rho_method: str, layer: str, what: str, advice: str) -> GammFit:
    """Fit the paper's model with mgcv::bam on rows prepared by
    :mod:`analysis.gamm.data` (``prepare_gamm_data``, ``prepare_phone_model``).

    ``what`` names the model and ``advice`` says which engine or option fits when it is too
    large: checked before the fit (:func:`check_mgcv_memory`) and, for R's own allocation
    failures, after (:func:`analysis.rbridge.r_errors`)."""
    assert ordered == f"{factor}Ordered", "r_fit_code names the ordered factor <factor>Ordered"
    check_mgcv_memory(data[random].nunique(), len(levels), k, what, advice)
    session = r_session(("mgcv",), {"mgcv_engine": _R_HELPERS})
    ro = session.ro
    t0 = time.perf_counter()
    formula = build_formula(k, "Value", x, factor, ordered, random)
    rlevels = [str(v) for v in data[random].cat.categories]
    plain = pd.DataFrame({
        "Value": data["Value"].to_numpy(float), x: data[x].to_numpy(float),
        factor: data[factor].array, random: data[random].array,
        "start_event": data["start_event"].to_numpy(bool)})
    with r_errors(what, advice):
        rd = pandas_to_r_factors(plain, factor, levels, ordered, random, rlevels)
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
    r_warnings = [f"{layer}: R warning: {w}" for w in take_r_warnings(session)]
    parametric = _table(r_matrix_to_pandas(s.rx2("p")), PARAMETRIC_COLUMNS)
    smooths = _table(r_matrix_to_pandas(s.rx2("s")), SMOOTH_COLUMNS)
    coef = r_numeric(s.rx2("coef"))
    coef_names = r_names(s.rx2("coef"))
    Vp = r_numeric(s.rx2("Vp"))
    r_call = r_fit_code(formula, factor, random, discrete=bool(discrete), nthreads=nthreads,
                        rho=rho, ar1=ar1)
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
            rnd = pandas_to_r_factors(nd, factor, levels, ordered, random, rlevels)
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
