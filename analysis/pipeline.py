"""The whole analysis of an activations folder: fits, tables, figures and the report.

``run(AnalysisOptions(activations=..., out=...))`` is the analyze stage (``analyze.py``; the
options: :mod:`analysis.analyze_options`).
``out`` follows the safe-output rule of :mod:`common.outputs` (stage "analyze"): never the
activations folder or a folder of this repository, an existing folder replaced only when it
is an earlier analyze output and ``overwrite`` is set, everything written to a hidden sibling
and renamed into place at the end. Outputs:
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.

The activations are read by column (:mod:`analysis.columns`, DuckDB): a per-token summary for
the mixed models and the size checks, then only the word GAMM's layer and words
(``AnalysisOptions.words``); every check that can refuse the run comes before the first fit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from typing import Optional

from analysis.analyze_options import AnalysisOptions
from analysis.columns import open_table, read_csv_labels
from common import layout
from common.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from common.errors import OutputPathError
from common.options import require
from common.outputs import OutputFolder, inputs_of

STAGE = "analyze"


class Progress:
    """Progress lines on stderr, ``[analyze] <message> (<seconds since t0> s)``; silent when
    ``enabled`` is False (analyze.py --noprogress).  ``last`` is the latest message, printed
    or not: what the analysis was doing when something failed."""

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)
        self.last = "starting"

    def __call__(self, msg: str, t0: Optional[float] = None) -> None:
        self.last = msg
        if not self.enabled:
            return
        text = msg if t0 is None else f"{msg} ({time.perf_counter() - t0:.1f} s)"
        print(f"[analyze] {text}", file=sys.stderr, flush=True)


def read_table(folder: str, name: str, required: bool = True):
    """<folder>/<name>.parquet, else .csv, whole into pandas; None when absent and not
    required. (run_analysis reads the large tables by column instead: analysis.columns.)"""
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


def requested_words(words) -> Optional[list]:
    """``AnalysisOptions.words`` as a list of words, or None for every word ('all', empty)."""
    if words is None:
        return None
    items = words.split(",") if isinstance(words, str) else list(words)
    items = [str(w) for w in items if str(w) != ""]
    if not items or items == ["all"]:
        return None
    return list(dict.fromkeys(items))  # in the order given, each once


@dataclasses.dataclass
class ModelInputs:
    """What the fits need from the activations folder, read by column (analysis.columns):
    ``rows``: the word GAMM's rows (its layer and words); ``summary``: one row per (layer,
    token) with the token's mean (the mixed models); ``phones``: the phone table's rows of
    the requested phones (None when not needed or absent); ``words``: the selected words
    (None: all); ``engine``: the word GAMM's engine; ``lmm_layers``: the mixed models'
    layers (['none']: none); ``contrasts``: the contrast matrix's (reference, phone) pairs
    (``phones`` then holds their rows too); ``spectra_rows``: the activations rows of the
    spectra's layers (None: no spectra)."""
    rows: object
    summary: object
    phones: object
    words: Optional[list]
    engine: str
    lmm_layers: list
    contrasts: list = dataclasses.field(default_factory=list)
    spectra_rows: object = None


def read_model_inputs(args: AnalysisOptions, progress: "Progress") -> ModelInputs:
    """Read what the fits need and refuse, before any fit and before the word GAMM's rows are
    read, a request that cannot be fitted: an absent word, a reference word outside --words,
    a model too large for this machine's memory (word GAMM, mixed models, phone GAMMs)."""
    from analysis.gamm import check_word_model_size
    from analysis.gamm.data import (AnalysisInputError, check_not_constant,
                                    check_varies_within, prepare_token_summary)
    from analysis.lmm import check_lmm_memory
    words = requested_words(args.words)
    if words is not None and str(args.ref_word) not in words:
        raise AnalysisInputError(f"--ref_word={args.ref_word} is not among --words="
                                 f"{','.join(words)}: add it (it is the reference level)")
    t0 = time.perf_counter()
    with open_table(args.activations, layout.ACTIVATIONS, threads=args.nthreads) as table:
        summary = table.token_summary(words=words)
        if words is not None:
            absent = [w for w in words if w not in set(summary["word"].astype(str))]
            if absent:
                raise AnalysisInputError(
                    f"--words: {', '.join(repr(w) for w in absent)} not in {table.name}")
        progress(f"read {len(summary):,} (layer, token) means from {table.name}", t0)
        d, levels = prepare_token_summary(summary, args.layer, args.ref_word, words)
        engine = check_word_model_size(args.engine, len(d), len(levels), args.k, args.layer)
        lmm_layers = (list(args.lmm_layers)
                      or sorted(summary["layer"].astype(str).unique().tolist()))
        if lmm_layers != ["none"]:
            for lay in lmm_layers:
                dl, lv = prepare_token_summary(summary, lay, args.ref_word, words)
                check_lmm_memory(len(dl), len(lv), lay)
                check_not_constant(dl["Mean"], f"layer {lay} (the mixed models' token means)",
                                   "--layer / --lmm_layers" if lay == str(args.layer)
                                   else "--lmm_layers")
        phone_layers = [p for p in args.phone_layers if p]
        phone_tab, pairs = None, []
        if phone_layers or args.contrasts:
            phone_tab, pairs = read_phone_rows(args, phone_layers)
            for lay in phone_layers if phone_tab is not None else []:
                at = phone_tab[(phone_tab["layer"].astype(str) == str(lay)) &
                               phone_tab["phone"].astype(str).isin([str(p) for p in
                                                                    args.phones])]
                check_not_constant(at["value"], f"layer {lay} (the phone GAMM's rows)",
                                   "--phone_layers")
                check_varies_within(at["value"], at["token_id"].astype(str) + "_" +
                                    at["phone"].astype(str) + at["phone_index"].astype(str),
                                    f"layer {lay} (the phone GAMM's rows)", "phone interval",
                                    "--phone_layers")
            check_model_sizes(args, phone_tab)
        spectra_rows = None
        if args.spectra:
            t0 = time.perf_counter()
            spectra_rows = table.rows({"layer": list(args.spectra_layers) or None,
                                       "word": words})
            progress(f"read {len(spectra_rows):,} rows for the spectra", t0)
        t0 = time.perf_counter()
        columns = [c for c in ("token_id", "word", "speaker", "layer", "sample", "time",
                               "value")
                   if c in table.columns]
        rows = table.rows({"layer": [args.layer], "word": words}, columns)
        progress(f"read {len(rows):,} rows of {args.layer}", t0)
        check_not_constant(rows["value"], f"layer {args.layer} (the word GAMM's rows)",
                           "--layer")
        check_varies_within(rows["value"], rows["token_id"], f"layer {args.layer}", "token",
                            "--layer")
    return ModelInputs(rows=rows, summary=summary, phones=phone_tab, words=words,
                       engine=engine, lmm_layers=lmm_layers, contrasts=pairs,
                       spectra_rows=spectra_rows)


def read_phone_rows(args: AnalysisOptions, phone_layers: list) -> tuple:
    """(phone_activations rows, contrast pairs): the rows of the phones the phone GAMMs
    (``args.phones`` when ``phone_layers``) and the contrast matrix (``args.contrasts``; every
    phone for 'auto') need, read by column; the pairs parsed and checked against those rows
    before any fit. (None, []) without a phone table and without --contrasts."""
    from analysis.contrast_choice import (ContrastInputError, choose_contrasts, parse_contrast_text,
                                    table_label)
    wanted = set(str(p) for p in args.phones) if phone_layers else set()
    listed = parse_contrast_text(args.contrasts) if args.contrasts else []  # None: 'auto'
    auto = listed is None
    with contextlib.ExitStack() as stack:
        ptable = open_table(args.activations, layout.PHONE_ACTIVATIONS, threads=args.nthreads,
                            required=False)
        if ptable is None:
            if args.contrasts:
                raise ContrastInputError(f"--contrasts needs {args.activations}/"
                                         "phone_activations (extract.py --phones=...)")
            return None, []
        stack.enter_context(ptable)
        if not auto:  # phones as typed in any phone set -> the table's labels (common.phones)
            present = ptable.distinct("phone")
            listed = [tuple(table_label(p, present) for p in pair) for pair in listed]
            wanted |= {p for pair in listed for p in pair}
        rows = ptable.rows({"phone": None if auto else sorted(wanted)})
    include = [tuple(str(p) for p in args.phones[:2])] if len(args.phones) >= 2 else []
    pairs = choose_contrasts(listed, rows, args.min_intervals, args.max_contrasts,
                             include=include) if args.contrasts else []
    return rows, pairs


def run(options: AnalysisOptions, script: str = "analyze") -> dict:
    """The whole analysis into ``options.out`` (see the module docstring); returns the
    fit_info dict plus 'out' and 'seconds'.  An error R raises is one line naming what was
    being fitted (:func:`analysis.rbridge.named_r_failures`), never a traceback."""
    from analysis.rbridge import named_r_failures

    t0 = time.perf_counter()
    progress = Progress(options.progress)
    with named_r_failures(lambda: progress.last):
        info = _run(options, progress, script)
    progress(f"wrote {options.out}", t0)
    return {**info, "out": options.out, "seconds": time.perf_counter() - t0}


def summary(info: dict) -> str:
    """The stage's closing line (stdout): what was fitted, where the report is, how long."""
    if info.get("sweep"):                       # latent sweeps (docs/sweeps.md)
        from analysis.report_sweeps import summary as sweep_summary
        return sweep_summary(info)
    w1, w2 = info["diff"]
    out = info["out"]
    parts = [f"word GAMM at {info['layer']} (engine {info['engine']}, rho {info['rho']:.3f})",
             f"difference {w1} - {w2} (paper's word GAMM, pointwise CI): "
             f"{len(info['regions'])} region(s) where the CI excludes 0"]
    if info["phone_fits"]:
        parts.append(f"phone GAMMs at {','.join(info['phone_fits'])}")
    parts.append(f"report {out}/report.html")
    return f"wrote {out}: " + "; ".join(parts) + f"; {info['seconds']:.1f} s"


def command_line(options: AnalysisOptions, script: str) -> str:
    """The command that asks for ``options`` (the options that differ from their defaults),
    as the report quotes it."""
    from common.cli import options_args

    return " ".join([script] + options_args(options))


def _run(args: AnalysisOptions, progress: Progress, script: str) -> dict:
    import pandas as pd
    from analysis.gamm.data import AnalysisInputError
    from analysis.rbridge import get_r
    from analysis.records import check_generated, read_activations_records, read_optional

    require(args)
    src = args.activations
    if not src or not os.path.isdir(src):
        raise AnalysisInputError(f"--activations={src!r} is not a folder")
    from analysis import report_sweeps          # latent sweeps (docs/sweeps.md)
    if report_sweeps.is_sweep(args):
        return report_sweeps.run_sweep(args, progress, command_line(args, "analyze.py"))
    if args.acoustics:  # --acoustics needs the acoustics table (#26; analysis.acoustic_*)
        from analysis.acoustic_correlates import check_acoustics_folder
        check_acoustics_folder(src)
    check_generated(args.generated)   # --generated names a generate.py folder, if given
    # Checked before anything is read or fitted: a refused --out costs nothing.
    output = OutputFolder(args.out, STAGE, inputs=inputs_of(args), overwrite=args.overwrite)
    inputs = read_model_inputs(args, progress)
    if args.acoustics:  # the input's intensity as a layer 'input' (analysis.acoustic_baseline)
        from analysis.acoustic_baseline import add_input_layer
        inputs = add_input_layer(args, inputs)
    up = read_optional(os.path.join(src, f"{layout.UPSAMPLED}.parquet"), pd.read_parquet) \
        if args.figures else None
    records = read_activations_records(src)
    get_r(("mgcv",))  # fail early and clearly when R/mgcv/rpy2 are missing
    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(output)
        except OSError as exc:
            raise OutputPathError(f"--out={args.out}: cannot create it ({exc})") from exc
        return _analyse(args, inputs, up, records, tmp, progress,
                        command_line(args, "analyze.py" if script == STAGE else script))


def fixed_part(fit):
    """The GammFit restricted to its non-random coefficients, for population-level curves.

    The predictions and difference curves exclude the by-token smooths (their lpmatrix
    columns are zeroed), so x' Vp x uses only the fixed block of Vp: the same numbers from
    coef [P_A] and Vp [P_A, P_A] instead of coef [p] and Vp [p, p] with p = P_A + tokens x k
    (18,930 at 1,890 tokens: each prediction would otherwise sum 16 x 18,930^2 products)."""
    import numpy as np
    keep = ~fit.random_columns()
    if keep.all():
        return fit
    idx = np.flatnonzero(keep)
    full = fit.lpmatrix
    return dataclasses.replace(
        fit, coef=np.asarray(fit.coef)[idx], Vp=np.asarray(fit.Vp)[np.ix_(idx, idx)],
        coef_names=[fit.coef_names[i] for i in idx],
        lpmatrix=lambda newdata: full(newdata)[:, idx])


def check_model_sizes(args: AnalysisOptions, phone_tab) -> None:
    """Refuse, before the first fit, a phone GAMM that mgcv cannot hold in memory (the word
    GAMM is checked as its fit starts, which is before any other fit)."""
    from analysis.gamm.mgcv import check_phone_model_size
    phone_layers = [p for p in args.phone_layers if p]
    if phone_tab is None:
        return
    for lay in phone_layers:
        check_phone_model_size(phone_tab, lay, tuple(args.phones), k=args.k)


def _analyse(args, inputs: ModelInputs, up, records, tmp, progress: Progress,
             command: str) -> dict:
    """Fits, tables, figures and report written into the temporary folder ``tmp``."""
    import numpy as np
    import pandas as pd
    from analysis import diffcurves, tables
    from analysis.gamm import AnalysisInputError, fit_phone_gamm, fit_word_gamm
    from analysis.gamm.rcode import model_data_table, r_script
    from analysis.records import read_layer_time
    from analysis.report import ReportInputs, write_report
    from analysis import refits
    from common.phones import phone_label
    from analysis.provenance import software_versions
    from analysis.labels import visible
    timings, notes, figures = {}, [], {}
    acts, phone_tab, words = inputs.rows, inputs.phones, inputs.words
    n_tok = acts["token_id"].nunique()
    progress(f"fitting word GAMM: layer {visible(args.layer)}, {n_tok} tokens, k={args.k}, "
             f"engine {inputs.engine}")
    t0 = time.perf_counter()
    fit = fit_word_gamm(acts, args.layer, args.ref_word, k=args.k, ar1=True,
                        nthreads=args.nthreads, engine=inputs.engine,
                        rho_method=args.rho_method, words=words, full_vp=False)
    timings["word"] = time.perf_counter() - t0
    progress(f"word GAMM done with engine {fit.engine}, rho={fit.rho:.3f}", t0)
    # Table 1 is the default model's: the paper's GAMM goes to table1_paper.* beside the
    # calibrated table unless --word_model=paper (then everything as before)
    paper_words = args.word_model == "paper"
    t1 = layout.TABLE1 if paper_words else layout.TABLE1_PAPER
    tables.write_tables({args.layer: fit}, os.path.join(tmp, t1), "layer",
                        f"Table 1: {args.layer} word GAMM" + ("" if paper_words else
                                                              " (the paper's model)"))
    if fit.data is not None:  # the rows and an R script that refits Table 1's model
        atomic_write_csv(model_data_table(fit), os.path.join(tmp, layout.GAMM_DATA_CSV))
        atomic_write_text(os.path.join(tmp, layout.refit_script(t1)),
                          r_script(fit, layout.GAMM_DATA_CSV, nthreads=args.nthreads))
    word_tests = None
    if not paper_words:
        from analysis.calibrated_tables import calibrated_word_outputs
        t0 = time.perf_counter()
        word_tests = calibrated_word_outputs(tmp, fit, args.layer, args.shape_terms)
        timings["word (calibrated)"] = time.perf_counter() - t0
    xs = np.sort(fit.data["Sample"].unique()) if fit.data is not None else \
        np.sort(acts["sample"].unique()).astype(float)
    n_grid = args.grid or 4 * (len(xs) - 1) + 1
    grid = np.linspace(xs.min(), xs.max(), n_grid)
    t0 = time.perf_counter()
    curves = fixed_part(fit)
    try:
        preds = diffcurves.predict_levels(curves, fit.levels, grid)
    except AnalysisInputError:  # the fast engine predicts only at the fitted Sample values
        grid = xs.astype(float)
        preds = diffcurves.predict_levels(curves, fit.levels, grid)
        notes.append(f"engine {fit.engine}: predictions at the {len(grid)} fitted Sample "
                     "values only")
    atomic_write_csv(preds, os.path.join(tmp, layout.PREDICTIONS_CSV))
    from analysis.differences import choose_pairs, difference_tables
    pairs = choose_pairs(fit, list(args.diff))
    diff, diff_regions, differences = difference_tables(curves, pairs, grid, args.simultaneous)
    atomic_write_csv(diff, os.path.join(tmp, layout.DIFFERENCE_CSV))
    atomic_write_csv(diff_regions, os.path.join(tmp, layout.DIFFERENCE_REGIONS_CSV))
    (w1, w2), regions = pairs[0], differences[0]["regions"]
    progress("difference (paper's word GAMM, pointwise CI) " + "; ".join(
        f"{visible(a)} - {visible(b)}: {len(d['regions'])} region(s) where the CI excludes 0"
        for (a, b), d in zip(pairs, differences)), t0)

    phone_fits, phone_regions, phone_tests = {}, None, None
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
        paper_phones = args.phone_model == "paper"
        tables.write_tables(phone_fits, os.path.join(
            tmp, layout.PHONE_CONTRAST if paper_phones else layout.PHONE_CONTRAST_PAPER), "layer",
            f"Phone contrast {' vs '.join(phone_label(p) for p in args.phones)}"
            + ("" if paper_phones else " (the paper's model)"))
        refits.write_gamm_refit(tmp, layout.PHONE_CONTRAST if paper_phones else
                                layout.PHONE_CONTRAST_PAPER, phone_fits, "the paper's phone GAMMs",
                                nthreads=args.nthreads)
        if not paper_phones:
            from analysis.calibrated_tables import calibrated_phone_outputs
            t0 = time.perf_counter()
            phone_tests, cal_notes = calibrated_phone_outputs(
                tmp, phone_tab, phone_layers, args.phones, args.shape_terms, args.min_words,
                progress)
            notes.extend(cal_notes)
            timings["phone (calibrated)"] = time.perf_counter() - t0
        tgrid = np.linspace(0.0, 1.0, 51)
        pp = pd.concat([diffcurves.predict_levels(pf, pf.levels, tgrid).assign(layer=lay)
                        for lay, pf in phone_fits.items()], ignore_index=True)
        pp = pp[["layer"] + [c for c in pp.columns if c != "layer"]]
        atomic_write_csv(pp, os.path.join(tmp, layout.PHONE_PREDICTIONS_CSV))
        phone_regions = diffcurves.contrast_regions(phone_fits, args.phones[1], args.phones[0],
                                                    tgrid)

    lmm_tab, lmm_backend = None, ""
    lmm_layers = inputs.lmm_layers
    if lmm_layers != ["none"]:
        from analysis.lmm import compare_layers_summary
        t0 = time.perf_counter()
        progress(f"mixed models of token means at {visible(','.join(lmm_layers))}")
        lmm_tab = compare_layers_summary(inputs.summary, lmm_layers, args.ref_word, words)
        lmm_backend = "lme4 + lmerTest through rpy2 (Satterthwaite df)"
        notes.extend(lmm_tab.attrs.get("notes", []))
        atomic_write_csv(lmm_tab, os.path.join(tmp, layout.LMM_CSV))
        refits.write_lmm_refit(tmp, layout.LMM, refits.lmm_groups(inputs.summary, lmm_tab,
                                                              args.ref_word, words),
                               "Mean", "the mixed models of token means (lmm.csv)")
        timings["lmm"] = time.perf_counter() - t0
        progress("mixed models done", t0)

    # one colour per word, fixed by word, in every figure (analysis.style.word_colours)
    colours = None
    if args.figures:
        from analysis.style import word_colours
        colours = word_colours(inputs.summary["word"].astype(str).unique())
    from analysis.sections import contrast_section, spectra_section
    sections = []
    if inputs.contrasts:
        sections.append(contrast_section(args, inputs, tmp, progress, timings, notes))
    if inputs.spectra_rows is not None:
        sections.append(spectra_section(args, inputs, records.info, tmp, progress, timings,
                                        colours))

    if args.acoustics:  # acoustic correlates (#26): analysis.report_acoustics
        from analysis.report_acoustics import acoustics_outputs
        sections.append(acoustics_outputs(args, records, tmp, progress, timings))

    layer_time = read_layer_time(records, args.layer, rows=acts)
    if args.figures:
        from analysis.figures import paper_figures
        t0 = time.perf_counter()
        figures = paper_figures(
            os.path.join(tmp, "figures"), records=records, upsampled=up, word_data=fit.data,
            predictions=preds, layer=args.layer, layer_time=layer_time, colours=colours,
            phone_predictions=pp if phone_fits else None, phone_regions=phone_regions,
            differences=diff, pairs=differences, nthreads=args.nthreads)
        timings["figures"] = time.perf_counter() - t0
        progress("figures written", t0)

    notes.extend(fit.notes)
    versions = software_versions()
    info = {"activations": os.path.abspath(args.activations), "layer": args.layer,
            "ref_word": args.ref_word, "words": words or "all", "k": args.k,
            "engine": fit.engine,
            "formula": fit.formula, "r_call": fit.r_call, "rho": fit.rho,
            "rho_method": fit.rho_method, "diff": [w1, w2], "regions": regions,
            "phone_fits": {lay: {"formula": pf.formula, "k": pf.k, "rho": pf.rho,
                                 "r_call": pf.r_call} for lay, pf in phone_fits.items()},
            "models": {"word": args.word_model, "phone": args.phone_model},
            "differences": [{"comparison": f"{a} - {b}", "regions": d["regions"],
                             "simultaneous_regions": d["simultaneous"],
                             "simultaneous_multiplier": d["multiplier"]}
                            for (a, b), d in zip(pairs, differences)],
            "versions": versions, "timings_s": timings, "notes": notes}
    t0 = time.perf_counter()
    info = layout.stamp(info, layout.FIT_INFO_JSON)
    atomic_write_json(os.path.join(tmp, layout.FIT_INFO_JSON), info, sort_keys=False)
    write_report(tmp, ReportInputs(
        activations=args.activations, layer=args.layer, ref_word=args.ref_word, word_fit=fit,
        diff_words=(w1, w2), diff_regions=regions, phone_fits=phone_fits,
        phones=tuple(args.phones), lmm=lmm_tab, lmm_backend=lmm_backend,
        figures=figures, timings=timings, notes=notes,
        command=command, records=records,
        engine_requested=args.engine, phone_regions=phone_regions, layer_time=layer_time,
        phone_table=phone_tab, generated=args.generated, sections=sections,
        word_tests=word_tests, phone_tests=phone_tests, differences=differences,
        versions=versions))
    progress("report written", t0)
    return info
