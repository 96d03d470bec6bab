"""How long a model's rows take to cross from pandas to R (analysis/rbridge.py).

Every GAMM fit sends its rows to R: the mgcv engine the whole table, the fast engine its
set-up (analysis/gamm/fast_setup.py). This compares, interleaved in one process (so the
machine's load hits both alike), the two ways on the same rows:

* ``pandas2ri``: the earlier path: label columns as text, converted by rpy2's pandas
  converter (value by value), factors built from the text in R;
* ``codes``: :func:`analysis.rbridge.pandas_to_r_factors` now: numbers and the labels'
  integer codes cross as one buffer each, factors built from the codes in R.

Both results are checked equal in R (``identical`` on every column) before timing.

    .venv/bin/python bench/r_transfer.py --rows=400000 --rounds=3
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
flags.DEFINE_integer("rows", 400_000, "rows of the model table (a word GAMM's Value, Sample, "
                     "Word, UniqueWord, start_event)")
flags.DEFINE_integer("tokens", 4000, "tokens (levels of UniqueWord); rows / tokens samples each")
flags.DEFINE_integer("words", 8, "words (levels of Word)")
flags.DEFINE_integer("rounds", 3, "timed rounds of each way (interleaved)")


def model_rows(n_rows: int, n_tokens: int, n_words: int, seed: int = 0) -> pd.DataFrame:
    """A word GAMM's rows as analysis.gamm.data prepares them (labels as categoricals)."""
    rng = np.random.default_rng(seed)
    per_token = max(1, n_rows // n_tokens)
    token = np.repeat(np.arange(n_tokens), per_token)[:n_rows]
    words = [f"w{i}" for i in range(n_words)]
    tokens = [f"t{i}" for i in range(n_tokens)]
    return pd.DataFrame({
        "Value": rng.normal(size=len(token)),
        "Sample": (np.arange(len(token)) % per_token).astype(float),
        "Word": pd.Categorical.from_codes(token % n_words, categories=words),
        "UniqueWord": pd.Categorical.from_codes(token, categories=tokens),
        "start_event": np.arange(len(token)) % per_token == 0})


def main(argv):
    del argv
    from analysis.rbridge import pandas_to_r_factors, r_session
    from bench.common import interleaved_min

    session = r_session(("mgcv",))
    ro = session.ro
    from rpy2.robjects import pandas2ri
    from rpy2.robjects.conversion import localconverter
    to_factors = ro.r("""function(d, levels, rlevels) {
      d$WordOrdered <- factor(as.character(d$Word), levels = levels, ordered = TRUE)
      contrasts(d$WordOrdered) <- "contr.treatment"
      d$Word <- factor(as.character(d$Word), levels = levels)
      d$UniqueWord <- factor(as.character(d$UniqueWord), levels = rlevels)
      d[, c("Value", "Sample", "Word", "UniqueWord", "start_event", "WordOrdered")]
    }""")
    rows = model_rows(FLAGS.rows, FLAGS.tokens, FLAGS.words)
    levels = [str(c) for c in rows["Word"].cat.categories]
    rlevels = [str(c) for c in rows["UniqueWord"].cat.categories]

    def earlier():
        plain = rows.assign(Word=rows["Word"].astype(str), UniqueWord=rows["UniqueWord"]
                            .astype(str))
        with localconverter(ro.default_converter + pandas2ri.converter):
            rd = ro.conversion.py2rpy(plain)
        return to_factors(rd, ro.StrVector(levels), ro.StrVector(rlevels))

    def codes():
        rd = pandas_to_r_factors(rows, "Word", levels, "WordOrdered", "UniqueWord", rlevels)
        return ro.r("function(d) d[, c('Value', 'Sample', 'Word', 'UniqueWord', "
                    "'start_event', 'WordOrdered')]")(rd)

    same = ro.r("""function(a, b) all(mapply(function(x, y) identical(unclass(x), unclass(y)) &&
                   identical(levels(x), levels(y)) && identical(class(x), class(y)), a, b))""")
    equal = bool(same(earlier(), codes())[0])
    times = interleaved_min({"pandas2ri": earlier, "codes": codes}, FLAGS.rounds, warmup=0)
    best = {name: min(t) for name, t in times.items()}
    result = {"rows": len(rows), "tokens": FLAGS.tokens, "words": FLAGS.words,
              "identical_in_R": equal, "seconds": times, "best_s": best,
              "speedup": best["pandas2ri"] / best["codes"]}
    print(json.dumps(result, indent=1))
    print(f"{len(rows):,} rows: pandas2ri {best['pandas2ri']:.2f} s, codes {best['codes']:.3f} s "
          f"(x{result['speedup']:.0f}); identical in R: {equal}")
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
