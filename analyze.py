"""Fit the paper's GAMMs to an activations folder and write tables, figures and a report.

Example:
  .venv/bin/python analyze.py --activations=runs/acts --out=runs/analysis \
      --layer=conv5 --ref_word=ask --k=10 --phones=s,sh --phone_layers=conv1,conv2,conv3,conv4

Outputs (written to a temporary folder beside --out, then renamed into place):
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("activations", None, "activations folder written by extract.py")
flags.DEFINE_string("out", None, "output folder (replaced atomically when the run succeeds)")
flags.DEFINE_string("layer", "conv5", "layer of the word GAMM")
flags.DEFINE_string("ref_word", "ask", "reference level of Word (treatment coding)")
flags.DEFINE_integer("k", 10, "basis dimension of every smooth")
flags.DEFINE_list("phones", ["s", "sh"], "two phones to contrast (first = reference)")
flags.DEFINE_list("phone_layers", ["conv1", "conv2", "conv3", "conv4"],
                  "layers of the phone GAMMs (empty: skip)")
flags.DEFINE_list("diff", [], "WORD1,WORD2 for the difference curve (default: the two words "
                  "with the largest parametric difference)")
flags.DEFINE_enum("engine", "auto", ["auto", "mgcv", "fast"], "word GAMM engine (auto: mgcv "
                  "up to 250 tokens, analysis.fast_gamm above when available)")
flags.DEFINE_enum("rho_method", "global", ["global", "within"],
                  "lag-1 residual autocorrelation: acf over all rows (as itsadug) or within tokens")
flags.DEFINE_list("lmm_layers", [], "layers of the mean-activation mixed model (default: all "
                  "layers in the table; 'none' to skip)")
flags.DEFINE_integer("nthreads", 2, "threads for mgcv::bam")
flags.DEFINE_integer("grid", 0, "prediction points along Sample (0: 4 per sample step)")
flags.DEFINE_boolean("no_figures", False, "skip figures")


def main(argv):
    del argv
    from analysis.gamm import AnalysisInputError
    from analysis.pipeline import AnalysisOptions, progress, run_analysis
    from analysis.rbridge import RUnavailableError
    t0 = time.perf_counter()
    try:
        options = AnalysisOptions(**{f.name: FLAGS[f.name].value
                                     for f in dataclasses.fields(AnalysisOptions)})
        run_analysis(options)
    except (AnalysisInputError, RUnavailableError, FileExistsError, OSError) as exc:
        print(f"analyze.py: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # R errors surface as RRuntimeError
        if type(exc).__name__ == "RRuntimeError":
            print(f"analyze.py: error: R failed: {' '.join(str(exc).split())}", file=sys.stderr)
            sys.exit(1)
        raise
    progress(f"wrote {FLAGS.out}", t0)


if __name__ == "__main__":
    flags.mark_flags_as_required(["activations", "out"])
    app.run(main)
