"""Fit the paper's GAMMs to an activations folder and write tables, figures and a report.

Example:
  .venv/bin/python analyze.py --activations=work/acts --out=work/analysis \
      --layer=conv5 --ref_word=ask --k=10 --phones=s,sh --phone_layers=conv1,conv2,conv3,conv4
  # all of TIMIT (6,229 words): the word GAMM and mixed models on three of them
  .venv/bin/python analyze.py --activations=work/acts_all --out=work/analysis_all \
      --engine=fast --words=ask,carry,dark --ref_word=ask --phone_layers=

The activations are read by column through DuckDB (analysis.columns): only the rows each model
needs are held in memory.

Outputs (written to a hidden folder beside --out, then renamed into place; --out is never the
activations folder or a folder of this repository, and an existing --out is replaced only when
it is an earlier analyze.py output and --overwrite is given):
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.

Exit status: 0 done, 2 bad input (one line on stderr: a flag, file, value, an --out that is
refused, an absent word, or a model too large for this machine's memory), 1 a bug or an
unexpected R error.
"""

from __future__ import annotations

import dataclasses
import time

from common.logs import define_verbose_flag, quiet_logs

quiet_logs()  # before TensorFlow is imported: its log lines hidden unless --verbose

from absl import app, flags  # noqa: E402

from analysis.gamm import AUTO_MGCV_MAX_TOKENS, ENGINES  # noqa: E402
from analysis.pipeline import AnalysisOptions, Progress, run_analysis  # noqa: E402
from common.cli import (EXIT_BUG, absl_flags_parser, apply_deprecated_aliases,  # noqa: E402
                        check_command_line, define_deprecated_alias, fail, run_main)

# Each flag maps onto the field of AnalysisOptions with its name; its default is the field's.
DEFAULTS = AnalysisOptions()
FLAGS = flags.FLAGS
flags.DEFINE_string("activations", None, "activations folder written by extract.py")
flags.DEFINE_string("out", None, "output folder (created atomically; never the activations "
                    "folder or a folder of the repository)")
flags.DEFINE_boolean("overwrite", DEFAULTS.overwrite, "replace --out when it holds an earlier "
                     "analyze.py output (any other existing folder is refused)")
flags.DEFINE_string("generated", DEFAULTS.generated, "generate.py's output folder (its "
                    "generated.csv): Q's accuracy on generated audio per code, in the report")
flags.DEFINE_string("layer", DEFAULTS.layer, "layer of the word GAMM")
flags.DEFINE_string("ref_word", DEFAULTS.ref_word, "reference level of Word (treatment coding)")
flags.DEFINE_integer("k", DEFAULTS.k, "basis dimension of every smooth")
flags.DEFINE_list("phones", DEFAULTS.phones, "two phones to contrast (first = reference)")
flags.DEFINE_list("phone_layers", DEFAULTS.phone_layers,
                  "layers of the phone GAMMs (empty: skip)")
flags.DEFINE_string("words", DEFAULTS.words, "words to use: comma-separated words of the word "
                    "GAMM, the difference curves and the mixed models, or 'all' (--ref_word "
                    "must be one of them)")
flags.DEFINE_list("diff", DEFAULTS.diff, "difference curves (Fig. 5): pairs a:b, each the curve "
                  "b - a (a the reference), e.g. ask:wash,ask:greasy; or WORD1,WORD2 for the "
                  "one curve WORD1 - WORD2 (default: the paper's pairs ask:wash,ask:greasy "
                  "that the data have, else the two words with the largest difference)")
flags.DEFINE_boolean("simultaneous", DEFAULTS.simultaneous, "a simultaneous 95% band beside "
                     "the pointwise CI of each difference curve (covers the whole curve at "
                     "once)")
flags.DEFINE_enum("engine", DEFAULTS.engine, list(ENGINES), "word GAMM engine (auto: mgcv up "
                  f"to {AUTO_MGCV_MAX_TOKENS} tokens, the fast engine analysis.gamm.fast above "
                  "when available)")
flags.DEFINE_enum("rho_method", DEFAULTS.rho_method, ["global", "within"],
                  "lag-1 residual autocorrelation: acf over all rows (as itsadug) or within tokens")
flags.DEFINE_list("lmm_layers", DEFAULTS.lmm_layers, "layers of the mean-activation mixed model "
                  "(default: all layers in the table; 'none' to skip)")
flags.DEFINE_integer("nthreads", DEFAULTS.nthreads, "threads for mgcv::bam")
flags.DEFINE_integer("grid", DEFAULTS.grid, "prediction points along Sample (0: 4 per sample "
                     "step)")
flags.DEFINE_boolean("figures", DEFAULTS.figures, "write the figures (--nofigures skips them)")
flags.DEFINE_boolean("progress", DEFAULTS.progress, "progress lines on stderr (--noprogress: "
                     "none)")
flags.DEFINE_string("contrasts", DEFAULTS.contrasts, "phone contrasts for the layer-by-contrast "
                    "matrix: 'a:b,c:d' (first phone = reference) or 'auto' (empty: none); "
                    "needs phone_activations with those phones (docs/contrasts.md)")
flags.DEFINE_integer("min_intervals", DEFAULTS.min_intervals, "intervals each phone of a "
                     "contrast needs in a layer for its cell to be fitted (and for 'auto')")
flags.DEFINE_integer("max_contrasts", DEFAULTS.max_contrasts, "--contrasts=auto: at most this "
                     "many pairs (the best-powered first)")
flags.DEFINE_list("contrast_layers", DEFAULTS.contrast_layers, "layers of the contrast matrix "
                  "(default: every layer of the phone table)")
flags.DEFINE_enum("contrast_engine", DEFAULTS.contrast_engine, list(ENGINES), "engine of the "
                  "contrast matrix's phone GAMMs (fast: seconds a cell; mgcv: exact, slow)")
flags.DEFINE_boolean("spectra", DEFAULTS.spectra, "power spectra of the averaged feature maps "
                     "per word and phone, with band-power tests (docs/contrasts.md)")
flags.DEFINE_integer("spectra_bands", DEFAULTS.spectra_bands, "equal-width frequency bands "
                     "per layer for the band-power tests")
flags.DEFINE_enum("spectra_test", DEFAULTS.spectra_test, ["lmm", "anova"], "band-power test: "
                  "a mixed model per band (lmm, needs R) or a one-way ANOVA")
flags.DEFINE_list("spectra_layers", DEFAULTS.spectra_layers, "layers of the spectra (default: "
                  "all)")
flags.DEFINE_enum("phone_model", DEFAULTS.phone_model, ["calibrated", "paper"], "model of "
                  "the phone contrast and the contrast matrix: calibrated (mixed models of "
                  "per-interval level and shape, words and speakers as random factors; "
                  "docs/calibration.md) or paper (the paper's phone GAMM, intervals as "
                  "independent replicates)")
flags.DEFINE_enum("word_model", DEFAULTS.word_model, ["calibrated", "paper"], "model of Table "
                  "1's tests: calibrated (mixed models of per-token level and shape, speakers "
                  "as a random factor) or paper (the paper's word GAMM)")
flags.DEFINE_integer("shape_terms", DEFAULTS.shape_terms, "calibrated models: Legendre shape "
                     "coefficients per interval or token (1-8)", lower_bound=1, upper_bound=8)
flags.DEFINE_integer("min_words", DEFAULTS.min_words, "calibrated phone model: a phone "
                     "contrast needs at least this many words per phone to be tested "
                     "(at least 2)", lower_bound=2)
define_verbose_flag()

SCRIPT = "analyze.py"
# For an R allocation failure outside the fits that name their own remedy.
R_MEMORY_ADVICE = ("use --engine=fast for the word GAMM, skip the phone GAMMs "
                   "(--phone_layers=) or the mixed models (--lmm_layers=none), or analyse "
                   "fewer tokens")

define_deprecated_alias("no_figures", "figures", negate=True)


def analysis_options() -> AnalysisOptions:
    """The flags as :class:`analysis.pipeline.AnalysisOptions` (deprecated names applied)."""
    apply_deprecated_aliases(SCRIPT)
    return AnalysisOptions(**{f.name: FLAGS[f.name].value
                              for f in dataclasses.fields(AnalysisOptions)})


def _analyze(extra_args: list):
    check_command_line(SCRIPT, extra_args)
    t0 = time.perf_counter()
    options = analysis_options()
    try:
        info = run_analysis(options)
    except Exception as exc:
        if type(exc).__name__ != "RRuntimeError":
            raise
        from analysis.rbridge import r_input_error
        mapped = r_input_error(exc, "R", R_MEMORY_ADVICE)
        if mapped is not None:
            raise mapped from exc
        return fail(SCRIPT, f"R failed: {exc}", EXIT_BUG)  # R's message is the useful part
    Progress(options.progress)(f"wrote {options.out}", t0)
    print(summary_line(info, options.out, time.perf_counter() - t0))
    return 0


def summary_line(info: dict, out: str, seconds: float) -> str:
    """The stage's closing line (stdout): what was fitted, where the report is, how long."""
    w1, w2 = info["diff"]
    parts = [f"word GAMM at {info['layer']} (engine {info['engine']}, rho {info['rho']:.3f})",
             f"difference {w1} - {w2}: {len(info['regions'])} significant region(s)"]
    if info["phone_fits"]:
        parts.append(f"phone GAMMs at {','.join(info['phone_fits'])}")
    parts.append(f"report {out}/report.html")
    return f"wrote {out}: " + "; ".join(parts) + f"; {seconds:.1f} s"


def main(argv):
    return run_main(SCRIPT, lambda: _analyze(argv[1:]))


if __name__ == "__main__":
    flags.mark_flags_as_required(["activations", "out"])
    app.run(main, flags_parser=absl_flags_parser(SCRIPT))
