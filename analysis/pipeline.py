"""The whole analysis of an activations folder: fits, tables, figures and the report.

``run_analysis(AnalysisOptions(activations=..., out=...))`` is what ``analyze.py`` calls.
Outputs (written to a temporary folder beside ``out``, then renamed into place):
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Optional


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
    no_figures: bool = False


def progress(msg: str, t0: float | None = None) -> None:
    text = msg if t0 is None else f"{msg} ({time.perf_counter() - t0:.1f} s)"
    print(f"[analyze] {text}", file=sys.stderr, flush=True)


def read_table(folder: str, name: str, required: bool = True):
    """<folder>/<name>.parquet, else .csv; None when absent and not required."""
    import pandas as pd
    from analysis.gamm import AnalysisInputError
    for ext, reader in (("parquet", pd.read_parquet), ("csv", pd.read_csv)):
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


def choose_diff_words(fit, requested) -> tuple:
    """(word1, word2): requested pair (validated) or the pair with the largest parametric
    difference |b_i - b_j| (reference b = 0); word1 has the larger estimate."""
    from analysis.gamm import AnalysisInputError
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


def publish(tmp: str, out: str) -> None:
    """Move the finished temporary folder to ``out`` (replacing an older output folder)."""
    old = None
    if os.path.lexists(out):
        if not os.path.isdir(out):
            raise FileExistsError(f"--out {out} exists and is not a folder")
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(out)),
                               prefix=f".{os.path.basename(out)}.old-")
        os.rmdir(old)
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def run_analysis(args: AnalysisOptions) -> dict:
    """The whole analysis into args.out (see module docstring). Returns the fit_info dict."""
    import pandas as pd
    from analysis.gamm import AnalysisInputError
    from analysis.rbridge import get_r

    src = args.activations
    if not src or not os.path.isdir(src):
        raise AnalysisInputError(f"--activations={src!r} is not a folder")
    if not args.out:
        raise AnalysisInputError("--out is required")
    acts = read_table(src, "activations")
    phone_tab = read_table(src, "phone_activations", required=False)
    up = None
    up_path = os.path.join(src, "upsampled.parquet")
    if os.path.exists(up_path) and not args.no_figures:
        up = pd.read_parquet(up_path)
    conf_path = os.path.join(src, "confusion.csv")
    confusion = pd.read_csv(conf_path, index_col=0) if os.path.exists(conf_path) else None
    cls_path = os.path.join(src, "classification.json")
    classification = json.load(open(cls_path)) if os.path.exists(cls_path) else None
    get_r(("mgcv",))  # fail early and clearly when R/mgcv/rpy2 are missing

    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(os.path.abspath(args.out))}"
                                              ".tmp-")
    from analysis.tables import default_mode
    os.chmod(tmp, default_mode(is_dir=True))
    try:
        info = _analyse(args, acts, phone_tab, up, confusion, classification, tmp)
        publish(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _analyse(args, acts, phone_tab, up, confusion, classification, tmp) -> dict:
    """Fits, tables, figures and report written into the temporary folder ``tmp``."""
    import numpy as np
    import pandas as pd
    from analysis import diffcurves, tables
    from analysis.gamm import (AnalysisInputError, fit_phone_gamm, fit_word_gamm,
                               model_data_table, r_script)
    from analysis.report import ReportInputs, write_report
    timings, notes, figures = {}, [], {}
    n_tok = acts[acts["layer"].astype(str) == args.layer]["token_id"].nunique()
    progress(f"fitting word GAMM: layer {args.layer}, {n_tok} tokens, k={args.k}, "
              f"engine {args.engine}")
    t0 = time.perf_counter()
    fit = fit_word_gamm(acts, args.layer, args.ref_word, k=args.k, ar1=True,
                        nthreads=args.nthreads, engine=args.engine, rho_method=args.rho_method)
    timings["word"] = time.perf_counter() - t0
    progress(f"word GAMM done with engine {fit.engine}, rho={fit.rho:.3f}", t0)
    tables.write_tables({args.layer: fit}, os.path.join(tmp, "table1"), "layer",
                        f"Table 1: {args.layer} word GAMM")
    if fit.data is not None:  # the rows and an R script that refits Table 1's model
        model_data_table(fit).to_csv(os.path.join(tmp, "gamm_data.csv"), index=False)
        tables.atomic_write_text(os.path.join(tmp, "table1_refit.R"),
                                 r_script(fit, "gamm_data.csv"))
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
    preds.to_csv(os.path.join(tmp, "predictions.csv"), index=False)
    w1, w2 = choose_diff_words(fit, list(args.diff))
    diff = diffcurves.difference_curve(fit, w1, w2, grid)
    regions = diff.attrs["regions"]
    diff.insert(0, "comparison", f"{w1} - {w2}")
    diff.to_csv(os.path.join(tmp, "difference.csv"), index=False)
    diffcurves.regions_table(regions).to_csv(os.path.join(tmp, "difference_regions.csv"),
                                             index=False)
    progress(f"difference {w1} - {w2}: {len(regions)} significant region(s)")

    phone_fits = {}
    phone_layers = [p for p in args.phone_layers if p]
    if phone_layers and phone_tab is None:
        notes.append("no phone_activations table: phone contrast skipped")
    elif phone_layers:
        for lay in phone_layers:
            t0 = time.perf_counter()
            progress(f"fitting phone GAMM {'/'.join(args.phones)} at {lay}")
            pf = fit_phone_gamm(phone_tab, lay, tuple(args.phones), k=args.k,
                                nthreads=args.nthreads, rho_method=args.rho_method)
            timings[f"phone {lay}"] = time.perf_counter() - t0
            phone_fits[lay] = pf
            notes.extend(pf.notes)
            progress(f"phone GAMM {lay} done (k={pf.k}, {pf.n_tokens} intervals)", t0)
        tables.write_tables(phone_fits, os.path.join(tmp, "phone_contrast"), "layer",
                            f"Phone contrast {' vs '.join(args.phones)}")
        tgrid = np.linspace(0.0, 1.0, 51)
        pp = pd.concat([diffcurves.predict_levels(pf, pf.levels, tgrid).assign(layer=lay)
                        for lay, pf in phone_fits.items()], ignore_index=True)
        pp = pp[["layer"] + [c for c in pp.columns if c != "layer"]]
        pp.to_csv(os.path.join(tmp, "phone_predictions.csv"), index=False)

    lmm_tab, lmm_backend = None, ""
    lmm_layers = list(args.lmm_layers) or sorted(acts["layer"].astype(str).unique())
    if lmm_layers != ["none"]:
        from analysis.lmm import compare_layers
        t0 = time.perf_counter()
        progress(f"mixed models of token means at {','.join(lmm_layers)}")
        lmm_tab = compare_layers(acts, lmm_layers, args.ref_word)
        lmm_backend = "lme4 + lmerTest through rpy2 (Satterthwaite df)"
        notes.extend(lmm_tab.attrs.get("notes", []))
        lmm_tab.to_csv(os.path.join(tmp, "lmm.csv"), index=False)
        timings["lmm"] = time.perf_counter() - t0
        progress("mixed models done", t0)

    if not args.no_figures:
        from analysis import figures as F
        t0 = time.perf_counter()
        fdir = os.path.join(tmp, "figures")
        if up is not None:
            F.fig_waveforms(up, fdir)
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
    tables.atomic_write_text(os.path.join(tmp, "fit_info.json"), json.dumps(info, indent=2))
    write_report(tmp, ReportInputs(
        activations=args.activations, layer=args.layer, ref_word=args.ref_word, word_fit=fit,
        diff_words=(w1, w2), diff_regions=regions, phone_fits=phone_fits,
        phones=tuple(args.phones), lmm=lmm_tab, lmm_backend=lmm_backend,
        classification=classification, figures=figures, timings=timings, notes=notes,
        command=" ".join(["analyze.py"] + sys.argv[1:])))
    return info
