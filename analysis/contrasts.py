"""The layer-by-contrast diagnostic: which layer encodes which phone contrast (issue 16).

For every contrast (a, b) of two phones and every conv layer, the paper's phone model
(section 3.2; :func:`analysis.gamm.fit_phone_gamm`) is fitted to the intervals of a and b::

    Value ~ Phone + s(norm_time, k) + s(norm_time, by=PhoneOrdered, k)
          + s(norm_time, UniqueInterval, bs="fs", m=1, k)        AR1 within intervals

with a (the first phone named) as the reference. Two tests say whether the layer tells b from
a: the parametric term ``Phone<b>`` (a level difference, t test) and the difference smooth
``s(norm_time):PhoneOrdered<b>`` (a shape difference, mgcv's Wood (2013) F test). Every
p-value of the matrix (two per fitted cell) is one family: Holm (family-wise error) and
Benjamini-Hochberg (false discovery rate) corrections run over all of them together
(:func:`holm`, :func:`benjamini_hochberg`), and a cell is *encoded* when either of its two
corrected p-values is below alpha.

Effect size (comparable across layers, whose activations differ in scale by orders of
magnitude): ``effect_size = Estimate / sd_intervals``, the level difference in units of the
pooled within-phone standard deviation of the interval means (a Cohen's d of interval means).
It is the natural unit of the comparison the model makes (interval against interval), it
does not change when a layer's values are multiplied by a constant, and unlike the residual
SD of the GAMM it does not depend on how many samples an interval has at that layer (4 at
conv4 to hundreds at conv1) nor on how much the random smooths and AR1 absorb.
``shape_size`` is the root mean square of the fitted difference curve b - a minus its mean
(the shape part of the difference), over the rows' normalised times, in the same unit.

Entry points: :func:`parse_contrasts` (the ``--contrasts`` text), :func:`contrast_matrix`
(the fits: a DataFrame, one row per contrast x layer, :data:`MATRIX_COLUMNS`),
:func:`fig_contrast_matrix` (heat map), :func:`contrast_report_section` (Markdown) and
:func:`write_contrast_outputs` (all of them into a folder). docs/contrasts.md describes the
columns and the limits.
"""

from __future__ import annotations

import collections
import re
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.gamm.data import PHONE_COLUMNS, AnalysisInputError, prepare_phone_model
from analysis.tables import format_number, md_text

__all__ = ["DEFAULT_MAX_AUTO", "DEFAULT_MIN_INTERVALS", "MATRIX_COLUMNS", "ContrastInputError",
           "benjamini_hochberg", "contrast_matrix", "contrast_report_section",
           "correct_matrix", "fig_contrast_matrix", "holm", "interval_counts",
           "parse_contrasts", "parse_contrast_text", "choose_contrasts",
           "write_contrast_outputs"]

# A phone needs this many intervals (with at least min_samples samples at the layer) for its
# cell to be fitted: the fs term estimates one random smooth per interval, and with fewer
# intervals the level test has almost no residual df between intervals (docs/contrasts.md).
DEFAULT_MIN_INTERVALS = 10
# 'auto' keeps this many pairs at most: P phones give P (P - 1) / 2 pairs (TIMIT's ~50
# phones: 1,225 pairs, x 5 layers = 6,125 fits), so the best-powered pairs are kept.
DEFAULT_MAX_AUTO = 10
ENCODED = {"holm": ("p_param_holm", "p_smooth_holm"), "bh": ("p_param_bh", "p_smooth_bh")}
STATUS_FITTED = "fitted"

MATRIX_COLUMNS = [
    "contrast", "reference", "phone", "layer", "status", "n_reference", "n_phone",
    "samples_per_interval", "k", "engine", "estimate", "se", "p_param", "edf", "F",
    "p_smooth", "sd_intervals", "effect_size", "shape_size", "rho", "p_param_holm",
    "p_smooth_holm", "p_param_bh", "p_smooth_bh", "encoded_holm", "encoded_bh"]


class ContrastInputError(AnalysisInputError):
    """--contrasts or --min_intervals cannot be used as given (message names the value)."""


# --------------------------------------------------------------------------- corrections

def _finite_order(p: Sequence[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p as floats [m], an all-NaN output [m], the indices of the finite p in ascending order
    (stable: ties keep their input order)): the family of a correction is its finite p."""
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), ok[np.argsort(p[ok], kind="mergesort")]


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values [m], in the input order; NaN stays NaN and is not
    counted in the family. With the finite p sorted p_(1) <= ... <= p_(m):
    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))."""
    p, out, order = _finite_order(p)
    m = len(order)
    if m == 0:
        return out
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values [m] (q-values), in the input order; NaN stays NaN
    and is not counted. With the finite p sorted: adj_(i) = min_{j >= i} min(1, m p_(j) / j)."""
    p, out, order = _finite_order(p)
    m = len(order)
    if m == 0:
        return out
    adj = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    out[order] = np.minimum.accumulate(adj[::-1])[::-1]
    return out


def correct_matrix(matrix: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Add the corrected columns to a matrix: the family is every finite p_param and p_smooth
    of the whole table together (2 per fitted cell); encoded_<method> is True when either of
    the cell's corrected p-values is below alpha (missing for cells not fitted)."""
    out = matrix.copy()
    n = len(out)
    both = np.concatenate([out["p_param"].to_numpy(float), out["p_smooth"].to_numpy(float)])
    for method, fn in (("holm", holm), ("bh", benjamini_hochberg)):
        adj = fn(both)
        out[f"p_param_{method}"] = adj[:n]
        out[f"p_smooth_{method}"] = adj[n:]
        fitted = out["status"] == STATUS_FITTED
        enc = (adj[:n] < alpha) | (adj[n:] < alpha)
        out[f"encoded_{method}"] = pd.array(np.where(fitted, enc, False), dtype="boolean")
        out.loc[~fitted, f"encoded_{method}"] = pd.NA
    return out


# --------------------------------------------------------------------------- --contrasts

def interval_counts(phone_table: pd.DataFrame, layer: Optional[str] = None) -> pd.Series:
    """Number of intervals (distinct token_id, phone, phone_index) per phone, at ``layer`` or
    in any layer; sorted by count (descending), then phone."""
    _require(phone_table)
    t = phone_table if layer is None else phone_table[phone_table["layer"].astype(str) == layer]
    keys = t[["token_id", "phone", "phone_index"]].drop_duplicates()
    counts = keys["phone"].astype(str).value_counts()
    return counts.sort_index().sort_values(ascending=False, kind="mergesort")


def parse_contrasts(text: str, phone_table: Optional[pd.DataFrame] = None,
                    min_intervals: int = DEFAULT_MIN_INTERVALS,
                    max_auto: int = DEFAULT_MAX_AUTO) -> List[Tuple[str, str]]:
    """The ``--contrasts`` text as [(reference, phone), ...]: :func:`parse_contrast_text`,
    then, with a phone table, :func:`choose_contrasts` (without one, 'auto' is refused and a
    listed text is returned as parsed). Raises :class:`ContrastInputError` naming the bad
    value."""
    listed = parse_contrast_text(text)
    if phone_table is None:
        _check_min_intervals(min_intervals)
        if listed is None:
            raise ContrastInputError("--contrasts=auto needs a phone_activations table "
                                     "(extract.py --phones)")
        return listed
    return choose_contrasts(listed, phone_table, min_intervals, max_auto)


def parse_contrast_text(text: str) -> Optional[List[Tuple[str, str]]]:
    """'a:b,c:d' -> [('a', 'b'), ('c', 'd')] (the first phone of each pair is the reference);
    'auto' (any case) -> None. Refuses an empty text, a malformed or self pair and a pair
    given twice (in either order)."""
    text = "" if text is None else str(text).strip()
    if text.lower() == "auto":
        return None
    if not text:
        raise ContrastInputError("--contrasts is empty: give pairs like s:sh,p:b or 'auto'")
    pairs, seen = [], set()
    for item in text.split(","):
        item = item.strip()
        parts = [x.strip() for x in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ContrastInputError(f"--contrasts: {item!r} is not a pair of phones like "
                                     "s:sh")
        if parts[0] == parts[1]:
            raise ContrastInputError(f"--contrasts: {item!r} pairs a phone with itself")
        key = frozenset(parts)
        if key in seen:
            raise ContrastInputError(f"--contrasts: the pair {item!r} is given twice")
        seen.add(key)
        pairs.append((parts[0], parts[1]))
    return pairs


def choose_contrasts(listed: Optional[List[Tuple[str, str]]], phone_table: pd.DataFrame,
                     min_intervals: int = DEFAULT_MIN_INTERVALS,
                     max_auto: int = DEFAULT_MAX_AUTO) -> List[Tuple[str, str]]:
    """The contrasts to fit on ``phone_table``. Listed pairs (:func:`parse_contrast_text`):
    every phone must occur in the table. None ('auto'): every phone with at least
    ``min_intervals`` intervals (:func:`interval_counts`, any layer) is paired with every
    other such phone; the pairs are sorted by the smaller count of the pair (descending: the
    best-powered first), then the larger, then the names, and the first ``max_auto`` are kept
    (P phones give P (P - 1) / 2 pairs). Within a pair the more frequent phone is the
    reference."""
    _check_min_intervals(min_intervals)
    counts = interval_counts(phone_table)
    if listed is not None:
        unknown = sorted({p for ab in listed for p in ab} - set(counts.index))
        if unknown:
            raise ContrastInputError(
                f"--contrasts: phone(s) {unknown} have no interval in the phone_activations "
                f"table (phones there: {_show_counts(counts)}); extract.py --phones must "
                "list every phone of every contrast")
        return list(listed)
    if int(max_auto) < 1:
        raise ContrastInputError(f"--max_contrasts={max_auto} must be at least 1")
    keep = counts[counts >= int(min_intervals)]
    if len(keep) < 2:
        raise ContrastInputError(
            f"--contrasts=auto: fewer than two phones have at least {min_intervals} "
            f"intervals (--min_intervals); counts: {_show_counts(counts)}")
    phones = list(keep.index)  # count descending, then name
    pairs = [(a, b) for i, a in enumerate(phones) for b in phones[i + 1:]]
    pairs.sort(key=lambda ab: (-min(keep[ab[0]], keep[ab[1]]),
                               -max(keep[ab[0]], keep[ab[1]]), ab[0], ab[1]))
    return pairs[:int(max_auto)]


def _check_min_intervals(min_intervals: int) -> None:
    if int(min_intervals) < 2:
        raise ContrastInputError(f"--min_intervals={min_intervals} must be at least 2")


def _show_counts(counts: pd.Series, n: int = 20) -> str:
    items = [f"{p} ({c})" for p, c in counts.head(n).items()]
    return ", ".join(items) + (" ..." if len(counts) > n else "") if items else "none"


def _require(phone_table: pd.DataFrame) -> None:
    if not isinstance(phone_table, pd.DataFrame):
        raise ContrastInputError("phone_activations: expected a pandas DataFrame")
    missing = [c for c in PHONE_COLUMNS if c not in phone_table.columns]
    if missing:
        raise ContrastInputError(f"phone_activations table: missing column(s) {missing}")


def contrast_label(a: str, b: str) -> str:
    """How tables name a contrast: 'a:b' (a the reference)."""
    return f"{a}:{b}"


def natural_layers(layers: Sequence[str]) -> List[str]:
    """Layer names in network order: conv2 before conv10 (digits compared as numbers)."""
    def key(s):
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", str(s))]
    return sorted({str(x) for x in layers}, key=key)


# --------------------------------------------------------------------------- the matrix

def _cell_fit(phone_table, layer, a, b, k, engine, ar1, min_samples, nthreads, rho_method):
    """Prepared rows and GammFit of one cell (fast engine: the same rows renamed as a word
    model, one 'token' per interval, which is the phone model term for term)."""
    data, k_eff, notes = prepare_phone_model(phone_table, layer, (a, b), k, min_samples)
    from analysis.gamm import choose_engine
    eng = choose_engine(engine, int(data["UniqueInterval"].nunique()))
    if eng == "fast":
        from analysis.gamm.fast import fit_prepared_word_gamm_fast
        fit = fit_prepared_word_gamm_fast(as_word_model(data), layer=layer, k=k_eff, ar1=ar1,
                                          rho_method=rho_method, full_vp=False)
        fit.notes.extend(notes)
    else:
        from analysis.gamm import fit_phone_gamm
        fit = fit_phone_gamm(phone_table, layer, (a, b), k=k, ar1=ar1, nthreads=nthreads,
                             rho_method=rho_method, min_samples=min_samples)
    return data, fit


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


def _fit_row(fit, data, a, b) -> Dict[str, float]:
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
    return {"k": fit.k, "engine": fit.engine, "estimate": est,
            "se": float(par.loc[pterm, "Std. Error"]), "p_param": float(par.loc[pterm, "Pr(>|t|)"]),
            "edf": float(smo.loc[sterm, "edf"]), "F": float(smo.loc[sterm, "F"]),
            "p_smooth": float(smo.loc[sterm, "p-value"]), "sd_intervals": sd,
            "effect_size": est / sd if sd > 0 else float("nan"),
            "shape_size": shape / sd if sd > 0 else float("nan"), "rho": float(fit.rho)}


def contrast_matrix(phone_table: pd.DataFrame, contrasts: Sequence[Tuple[str, str]],
                    layers: Optional[Sequence[str]] = None, k: int = 10, engine: str = "fast",
                    ar1: bool = True, min_intervals: int = DEFAULT_MIN_INTERVALS,
                    min_samples: int = 4, alpha: float = 0.05, nthreads: int = 2,
                    rho_method: str = "global",
                    progress: Optional[Callable[[str], None]] = None) -> pd.DataFrame:
    """Fit the phone model for every contrast x layer; one row per cell (:data:`MATRIX_COLUMNS`).

    phone_table: extract.py's phone_activations (token_id, word, speaker, layer, phone,
    phone_index, sample, norm_time, value). contrasts: [(reference, phone)]
    (:func:`parse_contrasts`). layers: default every layer of the table (network order).
    engine: 'fast', 'mgcv' or 'auto' (:func:`analysis.gamm.choose_engine` on the number of
    intervals); ar1, rho_method, nthreads as for :func:`analysis.gamm.fit_phone_gamm`. A
    cell is fitted when both phones have at least ``min_intervals`` intervals
    with at least ``min_samples`` samples at that layer; otherwise its status says why
    ('too few intervals: ...') and its statistics are empty, as for a fit the data cannot
    support ('not fitted: <reason>'). The corrected columns come from :func:`correct_matrix`
    over the whole matrix. ``attrs['notes']`` collects the fits' notes (k lowered, intervals
    dropped), ``attrs['seconds_per_layer']`` the time spent on each layer's cells.
    """
    _require(phone_table)
    if not contrasts:
        raise ContrastInputError("--contrasts: no contrast to fit")
    _check_min_intervals(min_intervals)
    # checked here, not in the cells: a cell's AnalysisInputError only marks that cell
    from analysis.gamm import ENGINES
    if engine not in ENGINES:
        raise ContrastInputError(f"--engine={engine}: expected one of {list(ENGINES)}")
    if int(k) < 3:
        raise ContrastInputError(f"--k={k} must be at least 3")
    if rho_method not in ("global", "within"):
        raise ContrastInputError(f"--rho_method={rho_method}: expected global or within")
    present = natural_layers(phone_table["layer"].astype(str).unique())
    layers = present if not layers else [str(x) for x in layers]
    absent = [x for x in layers if x not in present]
    if absent:
        raise ContrastInputError(f"layer(s) {absent} have no rows in the phone_activations "
                                 f"table (layers there: {present})")
    min_samples = max(4, int(min_samples))
    # intervals per (layer, phone) with enough samples: decides which cells are fitted
    keys = [phone_table["layer"].astype(str), phone_table["phone"].astype(str),
            phone_table["token_id"], phone_table["phone_index"]]
    n_samp = phone_table["norm_time"].groupby(keys, observed=True).nunique()
    n_samp.index.names = ["layer", "phone", "token_id", "phone_index"]
    usable = n_samp[n_samp >= min_samples].groupby(level=["layer", "phone"]).size()
    per_int = n_samp.groupby(level=["layer"]).median()
    # each cell reads only its layer's and phones' rows (the table can hold millions)
    layer_col = phone_table["layer"].astype(str)
    by_layer = {lay: phone_table[layer_col == lay] for lay in layers}
    phone_of = {lay: t["phone"].astype(str) for lay, t in by_layer.items()}
    rows, notes, seconds = [], [], collections.Counter()
    for a, b in contrasts:
        for layer in layers:
            t0 = time.perf_counter()
            na = int(usable.get((layer, a), 0))
            nb = int(usable.get((layer, b), 0))
            row = {"contrast": contrast_label(a, b), "reference": a, "phone": b,
                   "layer": layer, "n_reference": na, "n_phone": nb,
                   "samples_per_interval": float(per_int.get(layer, np.nan))}
            if min(na, nb) < int(min_intervals):
                row["status"] = (f"too few intervals: {a} {na}, {b} {nb} with >= {min_samples} "
                                 f"samples (need {int(min_intervals)} each, --min_intervals)")
            else:
                if progress:
                    progress(f"contrast {contrast_label(a, b)} at {layer} ({na} + {nb} "
                             "intervals)")
                try:
                    cell = by_layer[layer][phone_of[layer].isin([a, b]).to_numpy()]
                    data, fit = _cell_fit(cell, layer, a, b, k, engine, ar1, min_samples,
                                          nthreads, rho_method)
                    row.update(_fit_row(fit, data, a, b))
                    row["status"] = STATUS_FITTED
                    notes.extend(f"{contrast_label(a, b)}: {n}" for n in fit.notes
                                 if not n.startswith(("sp =", "scale =")))
                except (AnalysisInputError, np.linalg.LinAlgError) as exc:
                    # ModelTooLargeError and bad cell data are AnalysisInputErrors; R or
                    # rpy2 missing (RUnavailableError) is not and stops the whole matrix.
                    row["status"] = f"not fitted: {exc}".splitlines()[0]
            seconds[layer] += time.perf_counter() - t0
            rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=MATRIX_COLUMNS)
    out = correct_matrix(out, alpha)
    out.attrs["notes"] = notes
    out.attrs["alpha"] = float(alpha)
    # the fit times stay out of the table, which the same data and seed reproduce byte for byte
    out.attrs["seconds_per_layer"] = dict(seconds)
    return out


# --------------------------------------------------------------------------- heat map

def fig_contrast_matrix(matrix: pd.DataFrame, folder: str, name: str = "contrast_matrix",
                        method: str = "holm") -> List[str]:
    """Heat map, contrasts (rows) x layers (columns): colour = signed effect_size (level
    difference b - a in SDs of interval means, diverging around 0), text = effect size with
    '*' when the cell is encoded (``encoded_<method>``), grey 'n/f' where not fitted."""
    import matplotlib.pyplot as plt
    from matplotlib import colors

    from analysis.phones import phone_label
    from analysis.style import figure, plot_text, save_figure

    if method not in ENCODED:
        raise ValueError(f"method must be one of {sorted(ENCODED)}, got {method!r}")
    contrasts = list(pd.unique(matrix["contrast"]))
    layers = list(pd.unique(matrix["layer"]))
    eff = matrix.pivot(index="contrast", columns="layer", values="effect_size").reindex(
        index=contrasts, columns=layers)
    enc = matrix.pivot(index="contrast", columns="layer", values=f"encoded_{method}").reindex(
        index=contrasts, columns=layers)
    pairs = matrix.drop_duplicates("contrast").set_index("contrast")
    names = [f"{phone_label(pairs.loc[c, 'reference'])} vs {phone_label(pairs.loc[c, 'phone'])}"
             for c in contrasts]
    vals = eff.to_numpy(float)
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    lim = lim if lim > 0 else 1.0
    # one journal column up to 5 layers, two beyond; 0.22 in per contrast row
    fig, axes = figure("single" if len(layers) <= 5 else "double",
                       height_in=min(9.0, 1.1 + 0.22 * len(contrasts)))
    ax = axes[0, 0]
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap,
                   norm=colors.TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim), aspect="auto")
    for i in range(len(contrasts)):
        for j in range(len(layers)):
            v = vals[i, j]
            e = enc.iloc[i, j]
            if not np.isfinite(v):
                text = "n/f"
            else:
                text = f"{v:.2f}" + ("*" if (e is not pd.NA and bool(e)) else "")
            dark = np.isfinite(v) and abs(v) > 0.6 * lim
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if dark else "black")
    ax.set_xticks(range(len(layers)), [plot_text(x) for x in layers])
    ax.set_yticks(range(len(contrasts)), [plot_text(x) for x in names])
    ax.set_xlabel("layer")
    fig.colorbar(im, ax=ax, label="effect size (SD of interval means)")
    label = "Holm" if method == "holm" else "BH"
    alpha = matrix.attrs.get("alpha", 0.05)
    ax.set_title(f"*: encoded ({label}, alpha {alpha:g}); n/f: not fitted")
    return save_figure(fig, folder, name)


# --------------------------------------------------------------------------- report

def encoding_summary(matrix: pd.DataFrame, method: str = "holm") -> pd.DataFrame:
    """Per contrast (matrix order): first_encoded (layer or None), encoded, not_encoded,
    not_fitted (lists of layers, in the matrix's layer order)."""
    if method not in ENCODED:
        raise ValueError(f"method must be one of {sorted(ENCODED)}, got {method!r}")
    col = f"encoded_{method}"
    out = []
    for c in pd.unique(matrix["contrast"]):
        sub = matrix[matrix["contrast"] == c]
        fitted = sub["status"] == STATUS_FITTED
        enc = [str(x) for x, e, f in zip(sub["layer"], sub[col], fitted) if f and bool(e)]
        not_enc = [str(x) for x, e, f in zip(sub["layer"], sub[col], fitted) if f and not bool(e)]
        nf = [str(x) for x, f in zip(sub["layer"], fitted) if not f]
        out.append({"contrast": c, "first_encoded": enc[0] if enc else None, "encoded": enc,
                    "not_encoded": not_enc, "not_fitted": nf})
    return pd.DataFrame(out, columns=["contrast", "first_encoded", "encoded", "not_encoded",
                                      "not_fitted"])


def _join(layers: Sequence[str]) -> str:
    return ", ".join(md_text(x) for x in layers)


def contrast_report_section(matrix: pd.DataFrame, method: str = "holm",
                            figure: Optional[str] = None, level: int = 2) -> str:
    """Markdown section: per contrast the first layer where it is encoded and the layers where
    it is not (and those not fitted), then the matrix as a table (effect size, '*' encoded).
    ``figure``: relative path of the heat map to show. Pure function of the matrix."""
    alpha = matrix.attrs.get("alpha", 0.05)
    label = "Holm" if method == "holm" else "Benjamini-Hochberg"
    h = "#" * level
    n_fit = int((matrix["status"] == STATUS_FITTED).sum())
    lines = [f"{h} Phone contrasts by layer", "",
             f"The phone GAMM (level and shape of the second phone against the first) at "
             f"every layer: {n_fit} of {len(matrix)} cells fitted. A contrast is *encoded* at "
             f"a layer when its level or its difference smooth differs after {label} "
             f"correction over the whole matrix (alpha {alpha:g}).", ""]
    for r in encoding_summary(matrix, method).itertuples(index=False):
        if r.first_encoded is None:
            first = "encoded at no layer"
        else:
            first = f"first encoded at {md_text(r.first_encoded)}"
        parts = [first]
        if r.not_encoded:
            parts.append(f"not encoded at {_join(r.not_encoded)}")
        if r.not_fitted:
            parts.append(f"not fitted at {_join(r.not_fitted)} (too few intervals)")
        lines.append(f"- **{md_text(r.contrast)}**: " + "; ".join(parts) + ".")
    lines.append("")
    if figure:
        lines += [f"![Contrast matrix]({figure})", ""]
    layers = list(pd.unique(matrix["layer"]))
    lines += ["| contrast | " + " | ".join(md_text(x) for x in layers) + " |",
              "|---|" + "---:|" * len(layers)]
    col = f"encoded_{method}"
    for c in pd.unique(matrix["contrast"]):
        sub = matrix[matrix["contrast"] == c].set_index("layer")
        cells = []
        for lay in layers:
            r = sub.loc[lay]
            if r["status"] != STATUS_FITTED:
                cells.append("n/f")
            else:
                cells.append(format_number(float(r["effect_size"]), 2)
                             + ("\\*" if bool(r[col]) else ""))
        lines.append(f"| {md_text(c)} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: effect size (level difference in SDs of interval means); \\*: "
              "encoded; n/f: not fitted. Every number is in contrast_matrix.csv.", ""]
    return "\n".join(lines)


def write_contrast_outputs(matrix: pd.DataFrame, folder: str, figures: bool = True,
                           figure_folder: str = "figures", method: str = "holm"
                           ) -> Dict[str, str]:
    """Write ``contrast_matrix.csv``, ``contrast_matrix.md`` (the report section) and, with
    ``figures``, ``<figure_folder>/contrast_matrix.{png,pdf}`` into ``folder`` (atomic writes;
    ``folder`` is the caller's output folder, already made safe by common.outputs).
    Returns {'csv', 'md'[, 'figure']: path}."""
    import os

    from common.atomic import atomic_write_csv, atomic_write_text

    paths = {"csv": os.path.join(folder, "contrast_matrix.csv"),
             "md": os.path.join(folder, "contrast_matrix.md")}
    atomic_write_csv(matrix, paths["csv"])
    rel = None
    if figures:
        fdir = os.path.join(folder, figure_folder)
        os.makedirs(fdir, exist_ok=True)
        paths["figure"] = fig_contrast_matrix(matrix, fdir, method=method)[0]
        rel = f"{figure_folder}/contrast_matrix.png"
    atomic_write_text(paths["md"], contrast_report_section(matrix, method, figure=rel))
    return paths


