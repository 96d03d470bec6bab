"""The layer-by-contrast diagnostic: which layer encodes which phone contrast (issue 16).

For every contrast (a, b) of two phones and every conv layer, the intervals of a and b at that
layer are compared by two models (``model``; docs/contrasts.md, docs/calibration.md):

* ``calibrated`` (the default): mixed models of per-interval summaries with words and
  speakers as random factors (:mod:`analysis.calibrated`): the level test is the t test of
  ``Phone<b>`` on the interval means, the shape test the Bonferroni combination of the t tests
  on the intervals' shape coefficients; both have degrees of freedom from the number of words.
  A contrast carried by fewer than ``min_words`` words per phone is reported as not testable,
  naming the words. The paper's model is fitted beside it, in columns ``*_paper``.
* ``paper``: the paper's phone GAMM (section 3.2; :func:`analysis.gamm.fit_phone_gamm`)::

      Value ~ Phone + s(norm_time, k) + s(norm_time, by=PhoneOrdered, k)
            + s(norm_time, UniqueInterval, bs="fs", m=1, k)        AR1 within intervals

  whose level test is the parametric term ``Phone<b>`` and shape test the difference smooth
  ``s(norm_time):PhoneOrdered<b>`` (Wood 2013). It treats every interval as an independent
  replicate: a difference between the words the phones come from reads as a phone difference.
  With ``model='paper'`` the matrix has exactly the columns and numbers it had before the
  calibrated model existed (:data:`PAPER_COLUMNS`).

Every p-value of one model in the matrix (two per tested cell) is one family: Holm
(family-wise error) and Benjamini-Hochberg (false discovery rate) corrections run over all of
them together (:mod:`analysis.corrections`), and a cell is *encoded* when either of its two
corrected p-values is below alpha.

Effect size (comparable across layers, whose activations differ in scale by orders of
magnitude): ``effect_size = estimate / sd_intervals``, the level difference in units of the
pooled within-phone standard deviation of the interval means; ``shape_size`` is the root mean
square of the difference curve b - a minus its mean, in the same unit.

Entry points: :func:`parse_contrast_text` and :func:`choose_contrasts` (the ``--contrasts``
text; defined in :mod:`analysis.contrast_choice`), :func:`contrast_matrix` (the fits: one row per contrast x layer); the heat map, the
report section and the files are in :mod:`analysis.contrast_report`.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.calibrated import (DEFAULT_MIN_WORDS, DEFAULT_SHAPE_TERMS, STATUS_FITTED,
                                 phone_contrast_test)
from analysis.contrast_choice import (DEFAULT_MIN_INTERVALS, ContrastInputError,
                                      check_min_intervals, contrast_label, natural_layers,
                                      require_phone_table)
from analysis.corrections import benjamini_hochberg, holm
from analysis.gamm.data import (AnalysisInputError, prepare_phone_data,
                                prepare_phone_model)

__all__ = ["CALIBRATED_COLUMNS", "MODELS", "PAPER_COLUMNS", "calibrated_cell",
           "contrast_matrix", "correct_matrix", "paper_cell"]

ENCODED = {"holm": ("p_param_holm", "p_smooth_holm"), "bh": ("p_param_bh", "p_smooth_bh")}
MODELS = ("calibrated", "paper")

# The paper model's matrix (model='paper'), column for column as before the calibrated model.
PAPER_COLUMNS = [
    "contrast", "reference", "phone", "layer", "status", "n_reference", "n_phone",
    "samples_per_interval", "k", "engine", "estimate", "se", "p_param", "edf", "F",
    "p_smooth", "sd_intervals", "effect_size", "shape_size", "rho", "p_param_holm",
    "p_smooth_holm", "p_param_bh", "p_smooth_bh", "encoded_holm", "encoded_bh"]
MATRIX_COLUMNS = PAPER_COLUMNS  # the name tests and readers of older matrices use
# The paper model's statistics in the calibrated matrix: <name>_paper.
PAPER_STATS = ["k", "engine", "estimate", "se", "p_param", "edf", "F", "p_smooth",
               "effect_size", "shape_size", "rho"]
CALIBRATED_COLUMNS = (
    ["contrast", "reference", "phone", "layer", "status", "n_reference", "n_phone",
     "words_reference", "words_phone", "samples_per_interval", "shape_terms", "estimate",
     "se", "df", "ddf", "p_param", "p_smooth", "sd_intervals", "effect_size", "shape_size",
     "random_effects", "p_param_holm", "p_smooth_holm", "p_param_bh", "p_smooth_bh",
     "encoded_holm", "encoded_bh", "status_paper"]
    + [f"{c}_paper" for c in PAPER_STATS]
    + ["p_param_paper_holm", "p_smooth_paper_holm", "p_param_paper_bh", "p_smooth_paper_bh",
       "encoded_paper_holm", "encoded_paper_bh"])


# --------------------------------------------------------------------------- corrections

def correct_matrix(matrix: pd.DataFrame, alpha: float = 0.05, suffix: str = "",
                   status: str = "status") -> pd.DataFrame:
    """Add the corrected columns to a matrix: the family is every finite p_param<suffix> and
    p_smooth<suffix> of the whole table together (2 per tested cell); encoded<suffix>_<method>
    is True when either of the cell's corrected p-values is below alpha (missing for cells
    whose ``status`` is not 'fitted')."""
    out = matrix.copy()
    n = len(out)
    both = np.concatenate([out[f"p_param{suffix}"].to_numpy(float),
                           out[f"p_smooth{suffix}"].to_numpy(float)])
    for method, fn in (("holm", holm), ("bh", benjamini_hochberg)):
        adj = fn(both)
        out[f"p_param{suffix}_{method}"] = adj[:n]
        out[f"p_smooth{suffix}_{method}"] = adj[n:]
        fitted = (out[status] == STATUS_FITTED).to_numpy()
        enc = (adj[:n] < alpha) | (adj[n:] < alpha)
        col = f"encoded{suffix}_{method}"
        out[col] = pd.array(np.where(fitted, enc, False), dtype="boolean")
        out.loc[~fitted, col] = pd.NA
    return out


def as_word_model(data: pd.DataFrame) -> pd.DataFrame:
    """A phone model's prepared rows (:func:`analysis.gamm.data.prepare_phone_model`) as the
    word model's (:func:`analysis.gamm.data.prepare_gamm_data`): one 'token' per interval,
    the phones as the words, normalised time as Sample. Both are sorted by (label of the
    token or interval, x) with the reference level first, so the renamed rows are what
    preparing them as a word model would give (tested), without preparing them again."""
    return pd.DataFrame({
        "Value": data["Value"].to_numpy(float), "Sample": data["norm_time"].to_numpy(float),
        "Word": data["Phone"], "WordOrdered": data["PhoneOrdered"],
        "token_id": data["UniqueInterval"].astype(str).to_numpy(),
        "UniqueWord": data["UniqueInterval"], "Speaker": data["Speaker"],
        "start_event": data["start_event"].to_numpy(bool)})


def pooled_interval_sd(data: pd.DataFrame) -> float:
    """Pooled within-phone SD of the interval means of prepared phone rows (Value, Phone,
    UniqueInterval): sqrt(sum over phones of sum (m_i - mean_phone)^2 / (N - number of
    phones)), N intervals."""
    g = data.groupby("UniqueInterval", observed=True, sort=False)
    means = pd.DataFrame({"m": g["Value"].mean(), "ph": g["Phone"].first().astype(str)})
    dev = means["m"] - means.groupby("ph")["m"].transform("mean")
    dof = len(means) - means["ph"].nunique()
    return float(np.sqrt(np.sum(dev.to_numpy() ** 2) / dof)) if dof > 0 else float("nan")


def _scaled(value: float, sd: float) -> float:
    return value / sd if sd > 0 else float("nan")


def _paper_fit(cell, layer, a, b, k, engine, ar1, min_samples, nthreads, rho_method):
    """Prepared rows and GammFit of one cell (fast engine: the same rows renamed as a word
    model, one 'token' per interval, which is the phone model term for term)."""
    data, k_eff, notes = prepare_phone_model(cell, layer, (a, b), k, min_samples)
    from analysis.gamm import choose_engine
    eng = choose_engine(engine, int(data["UniqueInterval"].nunique()))
    if eng == "fast":
        from analysis.gamm.fast import fit_prepared_word_gamm_fast
        fit = fit_prepared_word_gamm_fast(as_word_model(data), layer=layer, k=k_eff, ar1=ar1,
                                          rho_method=rho_method, full_vp=False)
        fit.notes.extend(notes)
    else:
        from analysis.gamm import fit_phone_gamm
        fit = fit_phone_gamm(cell, layer, (a, b), k=k, ar1=ar1, nthreads=nthreads,
                             rho_method=rho_method, min_samples=min_samples)
    return data, fit


def _difference_curve(fit, a: str, b: str, x: np.ndarray) -> np.ndarray:
    """Fitted b - a over x [n] (random smooths excluded: both rows use the same level)."""
    xa = fit.lpmatrix(fit.newdata(a, x))
    xb = fit.lpmatrix(fit.newdata(b, x))
    return (xb - xa) @ np.nan_to_num(fit.coef)


def _curve_grid(fit) -> Tuple[np.ndarray, np.ndarray]:
    """(x [U], weights [U]): the model's distinct normalised-time values (as bam's discrete
    method and the fast engine's bases hold them: :func:`discretise_sample`) and how many rows
    sit at each, so both engines average the difference curve over the same points."""
    from analysis.gamm.fast_setup import discretise_sample
    xu, idx = discretise_sample(fit.data[fit.predictor].to_numpy(float))
    return xu, np.bincount(idx, minlength=len(xu)).astype(float)


def paper_cell(cell: pd.DataFrame, layer: str, a: str, b: str, k: int = 10,
               engine: str = "fast", ar1: bool = True, min_samples: int = 4,
               nthreads: int = 2, rho_method: str = "global",
               keep: Optional[dict] = None) -> Tuple[Dict, List[str]]:
    """The paper's phone GAMM of b against a on one cell's rows: ({k, engine, estimate, se,
    p_param, edf, F, p_smooth, sd_intervals, effect_size, shape_size, rho}, notes).
    ``keep``: a dict that receives the fit ('fit'; its rows in ``fit.data``) for a refit
    script."""
    data, fit = _paper_fit(cell, layer, a, b, k, engine, ar1, min_samples, nthreads, rho_method)
    if keep is not None:
        keep["fit"] = fit
    par = fit.parametric.set_index("term")
    smo = fit.smooths.set_index("term")
    pterm = f"{fit.factor}{b}"
    sterm = f"s({fit.predictor}):{fit.factor}Ordered{b}"
    sd = pooled_interval_sd(data)
    x, w = _curve_grid(fit)
    curve = _difference_curve(fit, a, b, x)
    centred = curve - np.average(curve, weights=w)
    shape = float(np.sqrt(np.average(centred ** 2, weights=w)))
    est = float(par.loc[pterm, "Estimate"])
    stats = {"k": fit.k, "engine": fit.engine, "estimate": est,
             "se": float(par.loc[pterm, "Std. Error"]),
             "p_param": float(par.loc[pterm, "Pr(>|t|)"]),
             "edf": float(smo.loc[sterm, "edf"]), "F": float(smo.loc[sterm, "F"]),
             "p_smooth": float(smo.loc[sterm, "p-value"]), "sd_intervals": sd,
             "effect_size": _scaled(est, sd), "shape_size": _scaled(shape, sd),
             "rho": float(fit.rho)}
    notes = [n for n in fit.notes if not n.startswith(("sp =", "scale ="))]
    return stats, notes


def calibrated_cell(cell: pd.DataFrame, layer: str, a: str, b: str,
                    shape_terms: int = DEFAULT_SHAPE_TERMS, min_words: int = DEFAULT_MIN_WORDS,
                    min_samples: int = 4, ddf: Optional[str] = None
                    ) -> Tuple[Dict, List[str], pd.DataFrame]:
    """The calibrated tests (:func:`analysis.calibrated.phone_contrast_test`) of b against a
    on one cell's rows (the same intervals as the paper's model: those with at least
    ``min_samples`` samples): ({status, words_reference, words_phone, shape_terms, estimate,
    se, df, p_param, p_smooth, sd_intervals, effect_size, shape_size, random_effects}, notes).
    status is 'fitted' or the 'cannot be tested: ...' reason naming the words. The third
    element is the intervals' summaries the tests were made on
    (:func:`analysis.calibrated.phone_units`). ``ddf``: the mixed models' degrees of freedom,
    'Satterthwaite' or 'Kenward-Roger' (R's pbkrtest; slower by about 20 times at 400
    intervals, holds the level with few words: docs/calibration.md); None (the default)
    chooses by the number of words (:func:`analysis.calibrated.choose_ddf`)."""
    data = prepare_phone_data(cell, layer, (a, b), min_samples=max(4, int(min_samples)))
    test = phone_contrast_test(data, a, b, q=shape_terms, min_words=min_words, layer=layer,
                               ddf=ddf)
    sd = pooled_interval_sd(data)
    out = {"status": STATUS_FITTED if test.testable else test.reason,
           "words_reference": len(test.words[a]), "words_phone": len(test.words[b]),
           "shape_terms": test.q, "sd_intervals": sd}
    if test.testable:
        out.update({"estimate": test.estimate, "se": test.se, "df": test.df, "ddf": test.ddf,
                    "p_param": test.p_level, "p_smooth": test.p_shape,
                    "effect_size": _scaled(test.estimate, sd),
                    "shape_size": _scaled(test.shape_rms, sd),
                    "random_effects": test.formula.split("~", 1)[1].strip()})
    return out, list(test.notes), test.units


# --------------------------------------------------------------------------- the matrix

def _check_arguments(phone_table, contrasts, model, engine, k, rho_method, min_intervals):
    require_phone_table(phone_table)
    if not contrasts:
        raise ContrastInputError("--contrasts: no contrast to fit")
    if model not in MODELS:
        raise ContrastInputError(f"--phone_model={model}: expected one of {list(MODELS)}")
    check_min_intervals(min_intervals)
    # checked here, not in the cells: a cell's AnalysisInputError only marks that cell
    from analysis.gamm import ENGINES
    if engine not in ENGINES:
        raise ContrastInputError(f"--engine={engine}: expected one of {list(ENGINES)}")
    if int(k) < 3:
        raise ContrastInputError(f"--k={k} must be at least 3")
    if rho_method not in ("global", "within"):
        raise ContrastInputError(f"--rho_method={rho_method}: expected global or within")


def _usable_intervals(phone_table: pd.DataFrame, min_samples: int):
    """(intervals with >= min_samples samples per (layer, phone), median samples per interval
    per layer)."""
    keys = [phone_table["layer"].astype(str), phone_table["phone"].astype(str),
            phone_table["token_id"], phone_table["phone_index"]]
    n_samp = phone_table["norm_time"].groupby(keys, observed=True).nunique()
    n_samp.index.names = ["layer", "phone", "token_id", "phone_index"]
    usable = n_samp[n_samp >= min_samples].groupby(level=["layer", "phone"]).size()
    return usable, n_samp.groupby(level=["layer"]).median()


def _not_fitted(exc: Exception) -> str:
    return f"not fitted: {exc}".splitlines()[0]


def contrast_matrix(phone_table: pd.DataFrame, contrasts: Sequence[Tuple[str, str]],
                    layers: Optional[Sequence[str]] = None, k: int = 10, engine: str = "fast",
                    ar1: bool = True, min_intervals: int = DEFAULT_MIN_INTERVALS,
                    min_samples: int = 4, alpha: float = 0.05, nthreads: int = 2,
                    rho_method: str = "global",
                    progress: Optional[Callable[[str], None]] = None,
                    model: str = "calibrated", shape_terms: int = DEFAULT_SHAPE_TERMS,
                    min_words: int = DEFAULT_MIN_WORDS,
                    cells: Optional[dict] = None) -> pd.DataFrame:
    """Test every contrast x layer; one row per cell (:data:`CALIBRATED_COLUMNS`, or
    :data:`PAPER_COLUMNS` with ``model='paper'``).

    phone_table: extract.py's phone_activations (token_id, word, speaker, layer, phone,
    phone_index, sample, norm_time, value). contrasts: [(reference, phone)]
    (:func:`choose_contrasts`). layers: default every layer of the table (network order).
    The paper's GAMM: engine 'fast', 'mgcv' or 'auto' (:func:`analysis.gamm.choose_engine` on
    the number of intervals), ar1, rho_method, nthreads as for
    :func:`analysis.gamm.fit_phone_gamm`. The calibrated model: ``shape_terms`` shape
    coefficients, ``min_words`` words per phone at least. A cell is tested when both phones
    have at least ``min_intervals`` intervals with at least ``min_samples`` samples at that
    layer; otherwise its status says why ('too few intervals: ...'), as for a contrast the
    words cannot carry ('cannot be tested: ...') or a fit the data cannot support ('not
    fitted: <reason>'). The corrected columns come from :func:`correct_matrix` over the whole
    matrix, per model. ``attrs``: 'notes' (k lowered, intervals dropped), 'alpha', 'model',
    'seconds_per_layer' (the time spent on each layer's cells). ``cells``: a dict that
    receives, per tested cell {(contrast, layer): {'units': (units, a, b), 'fit': GammFit}},
    what the refit scripts need (:mod:`analysis.refits`)."""
    _check_arguments(phone_table, contrasts, model, engine, k, rho_method, min_intervals)
    present = natural_layers(phone_table["layer"].astype(str).unique())
    layers = present if not layers else [str(x) for x in layers]
    absent = [x for x in layers if x not in present]
    if absent:
        raise ContrastInputError(f"layer(s) {absent} have no rows in the phone_activations "
                                 f"table (layers there: {present})")
    min_samples = max(4, int(min_samples))
    usable, per_int = _usable_intervals(phone_table, min_samples)
    # each cell reads only its layer's and phones' rows (the table can hold millions)
    layer_col = phone_table["layer"].astype(str)
    by_layer = {lay: phone_table[layer_col == lay] for lay in layers}
    phone_of = {lay: t["phone"].astype(str) for lay, t in by_layer.items()}
    paper = model == "paper"
    rows, notes, seconds = [], [], collections.Counter()
    for a, b in contrasts:
        label = contrast_label(a, b)
        for layer in layers:
            t0 = time.perf_counter()
            na = int(usable.get((layer, a), 0))
            nb = int(usable.get((layer, b), 0))
            row = {"contrast": label, "reference": a, "phone": b, "layer": layer,
                   "n_reference": na, "n_phone": nb,
                   "samples_per_interval": float(per_int.get(layer, np.nan))}
            if min(na, nb) < int(min_intervals):
                row["status"] = (f"too few intervals: {a} {na}, {b} {nb} with >= {min_samples} "
                                 f"samples (need {int(min_intervals)} each, --min_intervals)")
                row["status_paper"] = row["status"]
            else:
                if progress:
                    progress(f"contrast {label} at {layer} ({na} + {nb} intervals)")
                cell = by_layer[layer][phone_of[layer].isin([a, b]).to_numpy()]
                if not paper:
                    try:
                        stats, cell_notes, units = calibrated_cell(
                            cell, layer, a, b, shape_terms, min_words, min_samples)
                        row.update(stats)
                        if cells is not None and stats["status"] == STATUS_FITTED:
                            cells.setdefault((label, layer), {})["units"] = (units, a, b)
                        notes.extend(f"{label}: {n}" for n in cell_notes)
                    except (AnalysisInputError, np.linalg.LinAlgError) as exc:
                        row["status"] = _not_fitted(exc)
                try:
                    kept = cells.setdefault((label, layer), {}) if cells is not None else None
                    stats, cell_notes = paper_cell(cell, layer, a, b, k, engine, ar1,
                                                   min_samples, nthreads, rho_method, kept)
                    if paper:
                        row.update(stats)
                        row["status"] = STATUS_FITTED
                    else:
                        row.update({f"{c}_paper": stats[c] for c in PAPER_STATS})
                        row["status_paper"] = STATUS_FITTED
                    notes.extend(f"{label}: {n}" for n in cell_notes)
                except (AnalysisInputError, np.linalg.LinAlgError) as exc:
                    # ModelTooLargeError and bad cell data are AnalysisInputErrors; R or
                    # rpy2 missing (RUnavailableError) is not and stops the whole matrix.
                    row["status" if paper else "status_paper"] = _not_fitted(exc)
            seconds[layer] += time.perf_counter() - t0
            rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=PAPER_COLUMNS if paper else CALIBRATED_COLUMNS)
    out = correct_matrix(out, alpha)
    if not paper:
        out = correct_matrix(out, alpha, suffix="_paper", status="status_paper")
    out.attrs.update({"notes": notes, "alpha": float(alpha), "model": model,
                      # the fit times stay out of the table, which the same data and seed
                      # reproduce byte for byte
                      "seconds_per_layer": dict(seconds)})
    return out
