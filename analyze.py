"""Fit the paper's GAMMs to an activations folder and write tables, figures and a report.

Example:
  .venv/bin/python analyze.py --activations=work/acts --out=work/analysis \
      --layer=conv5 --ref_word=ask --k=10 --phones=s,sh --phone_layers=conv1,conv2,conv3,conv4
  # all of TIMIT (6,229 words): the word GAMM and mixed models on three of them
  .venv/bin/python analyze.py --activations=work/acts_all --out=work/analysis_all \
      --engine=fast --words=ask,carry,dark --ref_word=ask --phone_layers=

Every flag, its default and range: analysis/analyze_options.py (``--help``).  The
activations are read by column through DuckDB (analysis.columns): only the rows each model
needs are held in memory.

Outputs (written to a hidden folder beside --out, then renamed into place; --out is never an
input (the activations folder, --generated) or a folder of this repository, and an existing
--out is replaced only when it is an earlier analyze.py output and --overwrite is given):
  table1.{csv,md,tex}, gamm_data.csv + table1_refit.R, phone_contrast.{csv,md,tex},
  predictions.csv, difference.csv, difference_regions.csv, phone_predictions.csv, lmm.csv,
  fit_info.json, figures/*.{png,pdf}, report.md, report.html. See docs/analysis.md.

Exit status: 0 done, 2 bad input (one line on stderr: a flag, file, value, an --out that is
refused, an absent word, a model too large for this machine's memory, or an error R raised
in a fit, named), 1 a bug.
"""

from analysis.analyze_options import AnalysisOptions
from common.cli import stage_script


def run(options, script):
    from analysis.pipeline import run as analyze

    return analyze(options, script)


def report(info) -> str:
    from analysis.pipeline import summary

    return summary(info)


if __name__ == "__main__":
    stage_script("analyze.py", AnalysisOptions, run, report)
