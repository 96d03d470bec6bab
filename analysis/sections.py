"""Optional sections of the analysis (analyze.py --contrasts, --spectra): each writes its
tables and figures into the analysis' temporary folder and returns its report section.

Called by :mod:`analysis.pipeline` after the word and phone models; ``inputs`` is the
pipeline's :class:`analysis.pipeline.ModelInputs`, ``progress`` its progress printer and
``timings`` the seconds recorded in fit_info.json.
"""

from __future__ import annotations

import time

from analysis.analyze_options import AnalysisOptions


def contrast_section(args: AnalysisOptions, inputs, tmp: str, progress,
                     timings: dict, notes: list) -> str:
    """The contrast matrix (analysis.contrasts) into ``tmp``: contrast_matrix.csv/.md and its
    heat map; returns the report section."""
    from analysis import contrast_report, contrasts
    t0 = time.perf_counter()
    cells = {}  # each tested cell's rows, for the refit scripts
    progress(f"contrast matrix: {len(inputs.contrasts)} contrast(s), engine "
             f"{args.contrast_engine}")
    matrix = contrasts.contrast_matrix(
        inputs.phones, inputs.contrasts, layers=list(args.contrast_layers) or None, k=args.k,
        engine=args.contrast_engine, min_intervals=args.min_intervals, nthreads=args.nthreads,
        rho_method=args.rho_method, progress=progress, model=args.phone_model,
        shape_terms=args.shape_terms, min_words=args.min_words, cells=cells)
    contrast_report.write_contrast_outputs(matrix, tmp, figures=args.figures, cells=cells,
                                           nthreads=args.nthreads)
    notes.extend(matrix.attrs.get("notes", []))
    timings["contrast matrix"] = time.perf_counter() - t0
    for layer, sec in matrix.attrs.get("seconds_per_layer", {}).items():
        timings[f"contrast matrix, {layer}"] = sec
    progress("contrast matrix done", t0)
    return contrast_report.contrast_report_section(
        matrix, figure="figures/contrast_matrix.png" if args.figures else None)


def spectra_section(args: AnalysisOptions, inputs, extract_info: dict, tmp: str,
                    progress, timings: dict, colours=None) -> str:
    """Spectra of the averaged feature maps (analysis.spectra) into ``tmp``, at each layer's
    rate from ``extract_info`` (extract_info.json's content); returns the report section."""
    from analysis import spectra
    t0 = time.perf_counter()
    progress(f"spectra: {args.spectra_bands} bands per layer, test {args.spectra_test}")
    # per-phone spectra for the phones of --phones only (with --contrasts=auto the phone rows
    # may hold every phone: dozens of curves would make the figure unreadable)
    phones = inputs.phones
    if phones is not None:
        phones = phones[phones["phone"].astype(str).isin([str(p) for p in args.phones])]
    res = spectra.run_spectra(inputs.spectra_rows, tmp, info=extract_info,
                              phone_table=phones, layers=list(args.spectra_layers) or None,
                              n_bands=args.spectra_bands, test=args.spectra_test,
                              figures=args.figures, colours=colours)
    timings["spectra"] = time.perf_counter() - t0
    progress("spectra done", t0)
    with open(res["paths"]["md"], encoding="utf-8") as f:
        return f.read()
