"""The whole analysis of an activations folder: fits, tables, figures and the report.

``run_analysis(AnalysisOptions(activations=..., out=...))`` is what ``analyze.py`` calls.
``out`` follows the safe-output rule of :mod:`common.outputs` (stage "analyze"): never the
activations folder or a folder of this repository, an existing folder replaced only when it
is an earlier analyze output and ``overwrite`` is set, everything written to a hidden sibling
and renamed into place at the end. Outputs:
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from typing import Optional

from common.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from common.constants import SAMPLE_RATE
from common.errors import OutputPathError
from common.outputs import OutputFolder

STAGE = "analyze"
# Columns of the activations tables that hold labels: read from CSV as text, with no NA
# conversion (a word spelled "NA", "null" or "nan" is a word).
LABEL_COLUMNS = ("word", "speaker", "layer", "phone")
# What pandas reads as missing by default, kept for the numeric columns.
CSV_NA_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                 "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan",
                 "null"]


@dataclasses.dataclass
class AnalysisOptions:
    """What analyze.py's flags say (see analyze.py for their help)."""

    activations: Optional[str] = None
    out: Optional[str] = None
    layer: str = "conv5"
    ref_word: str = "ask"
    k: int = 10
    phones: list = dataclasses.field(default_factory=lambda: ["s", "sh"])
    phone_layers: list = dataclasses.field(default_factory=lambda: ["conv1", "conv2", "conv3", "conv4"])
    diff: list = dataclasses.field(default_factory=list)
    engine: str = "auto"
    rho_method: str = "global"
    lmm_layers: list = dataclasses.field(default_factory=list)
    nthreads: int = 2
    grid: int = 0
    figures: bool = True
    overwrite: bool = False
    progress: bool = True


class Progress:
    """Progress lines on stderr, ``[analyze] <message> (<seconds since t0> s)``; silent when
    ``enabled`` is False (analyze.py --noprogress)."""

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)

    def __call__(self, msg: str, t0: Optional[float] = None) -> None:
        if not self.enabled:
            return
        text = msg if t0 is None else f"{msg} ({time.perf_counter() - t0:.1f} s)"
        print(f"[analyze] {text}", file=sys.stderr, flush=True)


def read_csv_labels(path: str, **kwargs):
    """A CSV of the activations folder with its :data:`LABEL_COLUMNS` read as text, exactly
    as written (no NA conversion, no numbers: token labels like '007' stay as they are)."""
    import pandas as pd
    columns = list(pd.read_csv(path, nrows=0, **kwargs).columns)
    labels = [c for c in columns if c in LABEL_COLUMNS]
    return pd.read_csv(path, dtype={c: str for c in labels}, keep_default_na=False,
                       na_values={c: CSV_NA_VALUES for c in columns if c not in labels},
                       **kwargs)


def read_table(folder: str, name: str, required: bool = True):
    """<folder>/<name>.parquet, else .csv; None when absent and not required."""
    import pandas as pd
    from analysis.gamm.data import AnalysisInputError
    for ext, reader in (("parquet", pd.read_parquet), ("csv", read_csv_labels)):
        path = os.path.join(folder, f"{name}.{ext}")
        if os.path.exists(path):
            try:
                return reader(path)
            except Exception as exc:
                raise AnalysisInputError(f"cannot read {path}: {exc}") from exc
    if required:
        raise AnalysisInputError(f"{folder} has no {name}.parquet or {name}.csv (is it an "
                                 "activations folder written by extract.py?)")
    return None


def _read_optional(path: str, reader):
    """``reader(path)`` when the file exists, else None; unreadable -> AnalysisInputError."""
    from analysis.gamm.data import AnalysisInputError
    if not os.path.exists(path):
        return None
    try:
        return reader(path)
    except Exception as exc:
        raise AnalysisInputError(f"cannot read {path}: {exc}") from exc


def _read_confusion(path: str):
    """confusion.csv: word labels as text (index), counts as numbers. A file whose rows do not
    parse as one count per code and word (e.g. a label with a bare carriage return written
    unquoted) is refused rather than drawn."""
    import pandas as pd
    table = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
    counts = table.apply(pd.to_numeric, errors="coerce")
    if counts.isna().to_numpy().any() or not counts.index.is_unique:
        raise ValueError("expected one row of counts per word (a label with an unquoted line "
                         "break or a missing count?)")
    return counts


def _read_json(path: str):
    import json
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def choose_diff_words(fit, requested) -> tuple:
    """(word1, word2): requested pair (validated) or the pair with the largest parametric
    difference |b_i - b_j| (reference b = 0); word1 has the larger estimate."""
    from analysis.gamm.data import AnalysisInputError
    levels = list(fit.levels)
    if requested:
        if len(requested) != 2 or requested[0] == requested[1]:
            raise AnalysisInputError(f"--diff needs two different words, got {requested}")
        bad = [w for w in requested if w not in levels]
        if bad:
            raise AnalysisInputError(f"--diff word(s) {bad} not in the data (words: {levels})")
        return tuple(requested)
    par = fit.parametric.set_index("term")["Estimate"]
    est = {w: (0.0 if w == levels[0] else float(par.get(f"{fit.factor}{w}", 0.0)))
           for w in levels}
    hi = max(est, key=est.get)
    lo = min(est, key=est.get)
    return (hi, lo)


def run_analysis(args: AnalysisOptions) -> dict:
    """The whole analysis into args.out (see module docstring). Returns the fit_info dict."""
    import pandas as pd
    from analysis.gamm.data import AnalysisInputError
    from analysis.rbridge import get_r

    src = args.activations
    if not src or not os.path.isdir(src):
        raise AnalysisInputError(f"--activations={src!r} is not a folder")
    # Checked before anything is read or fitted: a refused --out costs nothing.
    output = OutputFolder(args.out, STAGE, inputs={"--activations": src},
                          overwrite=args.overwrite)
    acts = read_table(src, "activations")
    phone_tab = read_table(src, "phone_activations", required=False)
    up = _read_optional(os.path.join(src, "upsampled.parquet"), pd.read_parquet) \
        if args.figures else None
    confusion = _read_optional(os.path.join(src, "confusion.csv"), _read_confusion)
    classification = _read_optional(os.path.join(src, "classification.json"), _read_json)
    sample_rate = activations_sample_rate(src)
    check_model_sizes(args, phone_tab)
    get_r(("mgcv",))  # fail early and clearly when R/mgcv/rpy2 are missing
    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(output)
        except OSError as exc:
            raise OutputPathError(f"--out={args.out}: cannot create it ({exc})") from exc
        return _analyse(args, acts, phone_tab, up, confusion, classification, sample_rate,
                        tmp)


def activations_sample_rate(folder: str) -> int:
    """The audio's sample rate (Hz) as ``extract_info.json`` of the activations folder gives
    it; :data:`common.constants.SAMPLE_RATE` when the file or the key is absent."""
    from analysis.gamm.data import AnalysisInputError
    path = os.path.join(folder, "extract_info.json")
    info = _read_optional(path, _read_json) or {}
    try:
        rate = int(info.get("sample_rate", SAMPLE_RATE))
    except (AttributeError, TypeError, ValueError) as exc:
        raise AnalysisInputError(f"{path}: sample_rate must be a positive number of Hz "
                                 f"({exc})") from exc
    if rate <= 0:
        raise AnalysisInputError(f"{path}: sample_rate must be a positive number of Hz, "
                                 f"got {rate}")
    return rate


def check_model_sizes(args: AnalysisOptions, phone_tab) -> None:
    """Refuse, before the first fit, a phone GAMM that mgcv cannot hold in memory (the word
    GAMM is checked as its fit starts, which is before any other fit)."""
    from analysis.gamm.mgcv import check_phone_model_size
    phone_layers = [p for p in args.phone_layers if p]
    if phone_tab is None:
        return
    for lay in phone_layers:
        check_phone_model_size(phone_tab, lay, tuple(args.phones), k=args.k)


def _analyse(args, acts, phone_tab, up, confusion, classification, sample_rate, tmp) -> dict:
    """Fits, tables, figures and report written into the temporary folder ``tmp``."""
    import numpy as np
    import pandas as pd
    from analysis import diffcurves, tables
    from analysis.gamm import AnalysisInputError, fit_phone_gamm, fit_word_gamm
    from analysis.gamm.rcode import model_data_table, r_script
    from analysis.report import ReportInputs, write_report
    from analysis.tables import visible
    progress = Progress(args.progress)
    timings, notes, figures = {}, [], {}
    n_tok = acts[acts["layer"].astype(str) == args.layer]["token_id"].nunique()
    progress(f"fitting word GAMM: layer {visible(args.layer)}, {n_tok} tokens, k={args.k}, "
             f"engine {args.engine}")
    t0 = time.perf_counter()
    fit = fit_word_gamm(acts, args.layer, args.ref_word, k=args.k, ar1=True,
                        nthreads=args.nthreads, engine=args.engine, rho_method=args.rho_method)
    timings["word"] = time.perf_counter() - t0
    progress(f"word GAMM done with engine {fit.engine}, rho={fit.rho:.3f}", t0)
    tables.write_tables({args.layer: fit}, os.path.join(tmp, "table1"), "layer",
                        f"Table 1: {args.layer} word GAMM")
    if fit.data is not None:  # the rows and an R script that refits Table 1's model
        atomic_write_csv(model_data_table(fit), os.path.join(tmp, "gamm_data.csv"))
        atomic_write_text(os.path.join(tmp, "table1_refit.R"),
                          r_script(fit, "gamm_data.csv", nthreads=args.nthreads))
    xs = np.sort(fit.data["Sample"].unique()) if fit.data is not None else \
        np.sort(acts[acts["layer"] == args.layer]["sample"].unique()).astype(float)
    n_grid = args.grid or 4 * (len(xs) - 1) + 1
    grid = np.linspace(xs.min(), xs.max(), n_grid)
    try:
        preds = diffcurves.predict_levels(fit, fit.levels, grid)
    except AnalysisInputError:  # the fast engine predicts only at the fitted Sample values
        grid = xs.astype(float)
        preds = diffcurves.predict_levels(fit, fit.levels, grid)
        notes.append(f"engine {fit.engine}: predictions at the {len(grid)} fitted Sample "
                     "values only")
    atomic_write_csv(preds, os.path.join(tmp, "predictions.csv"))
    w1, w2 = choose_diff_words(fit, list(args.diff))
    diff = diffcurves.difference_curve(fit, w1, w2, grid)
    regions = diff.attrs["regions"]
    diff.insert(0, "comparison", f"{w1} - {w2}")
    atomic_write_csv(diff, os.path.join(tmp, "difference.csv"))
    atomic_write_csv(diffcurves.regions_table(regions),
                     os.path.join(tmp, "difference_regions.csv"))
    progress(f"difference {visible(w1)} - {visible(w2)}: {len(regions)} significant "
             "region(s)")

    phone_fits = {}
    phone_layers = [p for p in args.phone_layers if p]
    if phone_layers and phone_tab is None:
        notes.append("no phone_activations table: phone contrast skipped")
    elif phone_layers:
        for lay in phone_layers:
            t0 = time.perf_counter()
            progress(f"fitting phone GAMM {visible('/'.join(args.phones))} at {visible(lay)}")
            pf = fit_phone_gamm(phone_tab, lay, tuple(args.phones), k=args.k,
                                nthreads=args.nthreads, rho_method=args.rho_method)
            timings[f"phone {lay}"] = time.perf_counter() - t0
            phone_fits[lay] = pf
            notes.extend(pf.notes)
            progress(f"phone GAMM {visible(lay)} done (k={pf.k}, {pf.n_tokens} intervals)", t0)
        tables.write_tables(phone_fits, os.path.join(tmp, "phone_contrast"), "layer",
                            f"Phone contrast {' vs '.join(args.phones)}")
        tgrid = np.linspace(0.0, 1.0, 51)
        pp = pd.concat([diffcurves.predict_levels(pf, pf.levels, tgrid).assign(layer=lay)
                        for lay, pf in phone_fits.items()], ignore_index=True)
        pp = pp[["layer"] + [c for c in pp.columns if c != "layer"]]
        atomic_write_csv(pp, os.path.join(tmp, "phone_predictions.csv"))

    lmm_tab, lmm_backend = None, ""
    lmm_layers = list(args.lmm_layers) or sorted(acts["layer"].astype(str).unique())
    if lmm_layers != ["none"]:
        from analysis.lmm import compare_layers
        t0 = time.perf_counter()
        progress(f"mixed models of token means at {visible(','.join(lmm_layers))}")
        lmm_tab = compare_layers(acts, lmm_layers, args.ref_word)
        lmm_backend = "lme4 + lmerTest through rpy2 (Satterthwaite df)"
        notes.extend(lmm_tab.attrs.get("notes", []))
        atomic_write_csv(lmm_tab, os.path.join(tmp, "lmm.csv"))
        timings["lmm"] = time.perf_counter() - t0
        progress("mixed models done", t0)

    if args.figures:
        from analysis import figures as F
        t0 = time.perf_counter()
        fdir = os.path.join(tmp, "figures")
        if up is not None:
            F.fig_waveforms(up, fdir, sample_rate=sample_rate)
            figures["fig2"] = "figures/fig2_waveforms.png"
        F.fig_word_curves(fit.data, preds, fdir, layer=args.layer)
        figures["fig3"] = "figures/fig3_word_curves.png"
        if phone_fits:
            F.fig_phone_contrast(pp, fdir)
            figures["fig4"] = "figures/fig4_phone_contrast.png"
        F.fig_difference(preds, diff, w1, w2, fdir, regions=regions)
        figures["fig5"] = "figures/fig5_difference.png"
        if confusion is not None:
            F.fig_confusion(confusion, fdir)
            figures["confusion"] = "figures/confusion.png"
        timings["figures"] = time.perf_counter() - t0
        progress("figures written", t0)

    notes.extend(fit.notes)
    info = {"activations": os.path.abspath(args.activations), "layer": args.layer,
            "ref_word": args.ref_word, "k": args.k, "engine": fit.engine,
            "formula": fit.formula, "r_call": fit.r_call, "rho": fit.rho,
            "rho_method": fit.rho_method, "diff": [w1, w2], "regions": regions,
            "phone_fits": {lay: {"formula": pf.formula, "k": pf.k, "rho": pf.rho,
                                 "r_call": pf.r_call} for lay, pf in phone_fits.items()},
            "timings_s": timings, "notes": notes}
    atomic_write_json(os.path.join(tmp, "fit_info.json"), info, sort_keys=False)
    write_report(tmp, ReportInputs(
        activations=args.activations, layer=args.layer, ref_word=args.ref_word, word_fit=fit,
        diff_words=(w1, w2), diff_regions=regions, phone_fits=phone_fits,
        phones=tuple(args.phones), lmm=lmm_tab, lmm_backend=lmm_backend,
        classification=classification, figures=figures, timings=timings, notes=notes,
        command=" ".join(["analyze.py"] + sys.argv[1:])))
    return info
