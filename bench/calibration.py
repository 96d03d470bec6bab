"""Calibration study: do the p-values the report prints keep their nominal level? (issue 22)

Simulates data with the structure real layer traces have (synthetic/designs.py: phones inside
words with word-level random levels and shapes, speakers with random levels, balanced or not,
AR1 noise inside each interval or token), with no effect (nulls) or a planted one (power),
and counts how often each test's p-value falls below 0.05 and 0.01, under the paper's models
and the calibrated ones (analysis/calibrated.py). Every p-value is appended to
``<out>/pvalues.csv`` as it is made, so an interrupted study resumes where it stopped; the
summary table (rates with 95 % Wilson intervals) is printed and written to
``<out>/summary.md``.

Parts:
* ``phone``: the phone contrast tests (the [s]/[ʃ] model and every cell of the contrast
  matrix): three contrasts per data set (s:sh, p:b, iy:ih), level and shape tests, paper's
  GAMM (fast engine, AR1) and the calibrated model.
* ``word``: the word model's tests (Table 1): each word against the reference, level and
  shape; the paper's GAMM (the fast engine, which agrees with mgcv to ~1e-3, AR1) and the
  calibrated model. Tests of one data set share the reference word, so their interval comes
  from a bootstrap over data sets.
* ``spectra``: the band-power tests of the spectra (lmerTest with a speaker intercept, the
  default, against the one-way ANOVA) with speakers whose voices differ in gain.
* ``power``: planted phone effects of one SD of the word-level variation (level, and shape),
  at 5, 10 and 20 words per phone, with the bound any test of the words' means can reach.
* ``ddf_time``: the time of one calibrated cell (four mixed models) with Satterthwaite's and
  Kenward-Roger's degrees of freedom at growing numbers of intervals (printed, not stored).

    .venv/bin/python bench/calibration.py --part=phone --sims=200
    .venv/bin/python bench/calibration.py --part=phone --sims=200 --sizes=paper --models=paper
    .venv/bin/python bench/calibration.py --summary   # the table of what is in --out
"""

from __future__ import annotations

import csv
import dataclasses
import os
import sys
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.common import wilson  # noqa: E402
from synthetic.designs import PhoneDesign, WordDesign  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["phone"], "phone, word, spectra, power, ddf_time")
flags.DEFINE_integer("sims", 100, "data sets per scenario")
flags.DEFINE_list("sizes", ["demo"], "demo, paper and/or minimum (phone part: 3 words per phone)")
flags.DEFINE_list("nulls", [], "scenarios (default: every null of the part)")
flags.DEFINE_list("models", ["calibrated", "paper"], "calibrated and/or paper")
flags.DEFINE_string("out", "work/calibration", "folder of pvalues.csv and summary.md")
flags.DEFINE_integer("seed0", 0, "first seed")
flags.DEFINE_bool("summary", False, "only print the summary of what --out holds")
flags.DEFINE_enum("ddf", "auto", ["auto", "Satterthwaite", "Kenward-Roger"], "the calibrated "
                  "phone model's denominator degrees of freedom: auto is the tool's rule "
                  "(Kenward-Roger below 5 words per phone, analysis.calibrated.choose_ddf; "
                  "model name calibrated), or one forced (calibrated-S, calibrated-KR; "
                  "Kenward-Roger needs R's pbkrtest, r-cran-pbkrtest)")

PAIRS = (("s", "sh"), ("p", "b"), ("iy", "ih"))
FIELDS = ["part", "scenario", "size", "model", "test", "seed", "unit", "p"]

# The phone nulls: word_sd, word_shape_sd, speaker_sd in units of the interval-level SD (0.5).
PHONE_NULLS = {
    "independent": dict(word_sd=0.0, word_shape_sd=0.0, speaker_sd=0.0),
    "words": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=0.0),
    "words+speakers": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=1.0,
                           speakers="unbalanced"),
    "words+speakers, rho 0.3": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=1.0,
                                    speakers="unbalanced", rho=0.3),
    "words+speakers, rho 0.8": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=1.0,
                                    speakers="unbalanced", rho=0.8),
    "crossed words+speakers": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=1.0,
                                   speakers="unbalanced", words="crossed"),
    "short intervals": dict(word_sd=1.0, word_shape_sd=0.5, speaker_sd=1.0,
                            speakers="unbalanced", samples=(4, 6)),
}
PHONE_SIZES = {
    # the demo: 8 held-out tokens per word, a few words per phone
    "demo": dict(words_per_phone=5, tokens_per_word=8, n_speakers=24),
    # the paper's experiment: ~213 intervals per phone
    "paper": dict(words_per_phone=10, tokens_per_word=20, n_speakers=60),
    # the fewest words per phone the default --min_words (3) lets through
    "minimum": dict(words_per_phone=3, tokens_per_word=8, n_speakers=24),
}
WORD_NULLS = {
    "independent tokens": dict(speaker_sd=0.0, speakers="balanced"),
    "unbalanced speakers": dict(speaker_sd=1.0, speakers="unbalanced"),
    "unbalanced speakers, rho 0.3": dict(speaker_sd=1.0, speakers="unbalanced", rho=0.3),
    "unbalanced speakers, rho 0.8": dict(speaker_sd=1.0, speakers="unbalanced", rho=0.8),
}
WORD_SIZES = {
    "demo": dict(n_words=8, tokens_per_word=12, n_speakers=24),
    "paper": dict(n_words=8, tokens_per_word=133, n_speakers=100),
}
POWER_WORDS = (5, 10, 20)


# --------------------------------------------------------------------------- records

def done_seeds(path: str) -> set:
    """{(part, scenario, size, model, seed)} already in pvalues.csv."""
    if not os.path.exists(path):
        return set()
    with open(path, newline="") as f:
        return {(r["part"], r["scenario"], r["size"], r["model"], int(r["seed"]))
                for r in csv.DictReader(f)}


def append_rows(path: str, rows: list) -> None:
    """Append rows (dicts of FIELDS) and flush: a killed study keeps every finished seed."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------------- one data set

def phone_tests(table, model: str, pairs=PAIRS) -> list:
    model = model.split("-")[0]
    """[(test, unit, p)] of every pair: level and shape, under ``model``."""
    from analysis.contrasts import calibrated_cell, paper_cell
    out = []
    layer = str(table["layer"].iloc[0])
    for a, b in pairs:
        cell = table[table["phone"].isin([a, b])]
        if model == "paper":
            s, _ = paper_cell(cell, layer, a, b, k=10, engine="fast")
        else:
            s, _, _ = calibrated_cell(cell, layer, a, b, min_words=3,
                                      ddf=None if FLAGS.ddf == "auto" else FLAGS.ddf)
        out += [("level", f"{a}:{b}", s.get("p_param", np.nan)),
                ("shape", f"{a}:{b}", s.get("p_smooth", np.nan))]
    return out


def word_tests(table, model: str) -> list:
    """[(test, unit, p)] of every word against the first, level and shape."""
    from analysis.gamm.data import prepare_gamm_data
    layer = str(table["layer"].iloc[0])
    if model == "paper":
        from analysis.gamm import fit_word_gamm
        fit = fit_word_gamm(table, layer, "w1", k=10, engine="fast", full_vp=False)
        par = fit.parametric.set_index("term")["Pr(>|t|)"]
        smo = fit.smooths.set_index("term")["p-value"]
        out = []
        for w in fit.levels[1:]:
            out += [("level", w, float(par[f"Word{w}"])),
                    ("shape", w, float(smo[f"s(Sample):WordOrdered{w}"]))]
        return out
    from analysis.calibrated import token_units, word_tests as calibrated_word_tests
    data = prepare_gamm_data(table, layer, "w1")
    levels = [str(c) for c in data["Word"].cat.categories]
    res = calibrated_word_tests(token_units(data, 3), levels, layer)
    return [(t, r.word, getattr(r, "p_level" if t == "level" else "p_shape"))
            for r in res.itertuples(index=False) for t in ("level", "shape")]


def spectra_tests(table, model: str) -> list:
    """[(test, unit, p)] of every band of every layer: 'lmm' (calibrated) or 'anova'."""
    from analysis.spectra import band_tests
    rates = {"conv1": 4000.0, "conv3": 250.0}
    res = band_tests(table, rates, n_bands=4, test="lmm" if model == "calibrated" else "anova",
                     ref_word="w1")
    return [("band", f"{r.layer}/{r.band}", r.p) for r in res.itertuples(index=False)]


def spectra_table(design: WordDesign, seed: int):
    """Two layers of AR1 traces (conv1: 256 samples, conv3: 64) per token, each token's
    trace scaled by its speaker's gain exp(N(0, 0.5)) (voices differ in loudness), words
    identical in distribution."""
    import pandas as pd
    from synthetic.designs import make_word_token_table
    parts = []
    rng = np.random.default_rng(seed + 10_000)
    gains = None
    for i, (layer, n) in enumerate((("conv1", 256), ("conv3", 64))):
        d = dataclasses.replace(design, n_samples=n, layer=layer, speaker_sd=0.0,
                                token_sd=0.0, token_shape_sd=0.0)
        t = make_word_token_table(d, seed=seed * 7 + i)
        if gains is None:
            spk = sorted(t["speaker"].unique())
            gains = dict(zip(spk, np.exp(rng.normal(0.0, 0.5, len(spk)))))
        t["value"] = t["value"] * t["speaker"].map(gains).to_numpy()
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- scenarios

def scenarios(part: str):
    """[(scenario, size, make(seed) -> table, tests(table, model))] of a part."""
    from synthetic.designs import make_word_phone_table, make_word_token_table
    out = []
    if part == "phone":
        for name in FLAGS.nulls or PHONE_NULLS:
            for size in FLAGS.sizes:
                d = PhoneDesign(**PHONE_SIZES[size], **PHONE_NULLS[name])
                out.append((name, size, lambda s, d=d: make_word_phone_table(d, s),
                            phone_tests))
    elif part == "word":
        for name in FLAGS.nulls or WORD_NULLS:
            for size in FLAGS.sizes:
                d = WordDesign(**WORD_SIZES[size], **WORD_NULLS[name])
                out.append((name, size, lambda s, d=d: make_word_token_table(d, s), word_tests))
    elif part == "spectra":
        for size in FLAGS.sizes:
            d = WordDesign(**WORD_SIZES[size], speakers="unbalanced")
            out.append(("speaker gains, unbalanced", size,
                        lambda s, d=d: spectra_table(d, s), spectra_tests))
    elif part == "power":
        base = PHONE_NULLS["words+speakers"]
        for w in POWER_WORDS:
            for kind, eff in (("level 1 SD", {"level_effect": {"sh": 1.0, "b": 1.0,
                                                              "ih": 1.0}}),
                              ("shape 1 SD", {"shape_effect": {"sh": 0.5, "b": 0.5,
                                                              "ih": 0.5}})):
                d = PhoneDesign(**{**PHONE_SIZES["demo"], "words_per_phone": w}, **base, **eff)
                out.append((f"{kind}, {w} words per phone", "demo",
                            lambda s, d=d: make_word_phone_table(d, s), phone_tests))
    else:
        raise ValueError(f"unknown part {part!r}")
    return out


def run_part(part: str, path: str) -> None:
    done = done_seeds(path)
    models = ["calibrated", "anova"] if part == "spectra" else FLAGS.models
    forced = {"Kenward-Roger": "calibrated-KR", "Satterthwaite": "calibrated-S"}.get(FLAGS.ddf)
    if forced:
        models = [forced if m == "calibrated" else m for m in models]
    for name, size, make, tests in scenarios(part):
        for model in models:
            t0, n = time.perf_counter(), 0
            for seed in range(FLAGS.seed0, FLAGS.seed0 + FLAGS.sims):
                if (part, name, size, model, seed) in done:
                    continue
                table = make(seed)
                rows = [{"part": part, "scenario": name, "size": size, "model": model,
                         "test": t, "seed": seed, "unit": u, "p": p}
                        for t, u, p in tests(table, model)]
                append_rows(path, rows)
                n += 1
            print(f"[calibration] {part} / {name} / {size} / {model}: {n} new data sets in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- summary



def cluster_interval(hits, seeds, n_boot: int = 2000, seed: int = 0) -> tuple:
    """95 % percentile bootstrap interval of a rate whose tests come in clusters (the data
    sets): data sets are resampled whole."""
    import pandas as pd
    g = pd.DataFrame({"h": hits, "s": seeds}).groupby("s")["h"].agg(["sum", "count"])
    k, n = g["sum"].to_numpy(float), g["count"].to_numpy(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(k), (n_boot, len(k)))
    rates = k[idx].sum(1) / n[idx].sum(1)
    return tuple(np.quantile(rates, [0.025, 0.975]))


def power_bound(words: int, d: float = 1.0, alpha: float = 0.05) -> float:
    """Power of the two-sided t test on the true word means (no other noise) of a phone
    difference of d word-level SDs with ``words`` words per phone: the best any test of
    whether the phones differ beyond their words can do."""
    from scipy import stats
    df = 2 * words - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = d * np.sqrt(words / 2.0)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def summary_table(path: str) -> str:
    import pandas as pd
    df = pd.read_csv(path, keep_default_na=True)
    df = df[np.isfinite(df["p"].astype(float))]
    lines = ["| part | scenario | size | model | test | tests (data sets) | < 0.05 (95 % CI) "
             "| < 0.01 (95 % CI) |", "|---|---|---|---|---|---:|---|---|"]
    keys = ["part", "scenario", "size", "model", "test"]
    for key, g in df.groupby(keys, sort=False):
        cells = []
        for alpha in (0.05, 0.01):
            hits = (g["p"].astype(float) < alpha).to_numpy()
            if g.groupby("seed").size().max() > 1 and key[0] in ("word", "spectra"):
                lo, hi = cluster_interval(hits, g["seed"].to_numpy())
            else:
                lo, hi = wilson(int(hits.sum()), len(hits))
            cells.append(f"{hits.mean():.3f} ({lo:.3f}-{hi:.3f})")
        lines.append("| " + " | ".join(str(k) for k in key)
                     + f" | {len(g)} ({g['seed'].nunique()}) | " + " | ".join(cells) + " |")
    if (df["part"] == "power").any():
        lines += ["", "Power bound (two-sided t test on the true word means, 1 SD, alpha "
                  "0.05): " + ", ".join(f"{w} words per phone {power_bound(w):.2f}"
                                         for w in POWER_WORDS)]
    return "\n".join(lines) + "\n"


def ddf_times(sizes=((5, 8), (10, 20), (20, 25))) -> None:
    """Seconds of one calibrated cell (phone_contrast_test, four models) with each ddf."""
    from analysis.calibrated import phone_contrast_test
    from analysis.gamm.data import prepare_phone_data
    from synthetic.designs import make_word_phone_table
    phone_contrast_test(prepare_phone_data(make_word_phone_table(PhoneDesign(
        phones=("s", "sh"), words_per_phone=3, tokens_per_word=3), 0), "conv2", ("s", "sh")),
        "s", "sh")  # R and lme4 started before the clock
    print("| intervals | Satterthwaite (s) | Kenward-Roger (s) | df (S / KR) |\n|---:|---:|---:|---|")
    for words, tokens in sizes:
        d = PhoneDesign(phones=("s", "sh"), words_per_phone=words, tokens_per_word=tokens,
                        n_speakers=60, speakers="unbalanced")
        data = prepare_phone_data(make_word_phone_table(d, 0), d.layer, ("s", "sh"))
        res = {}
        for ddf in ("Satterthwaite", "Kenward-Roger"):
            t0 = time.perf_counter()
            test = phone_contrast_test(data, "s", "sh", ddf=ddf)
            res[ddf] = (time.perf_counter() - t0, test.df)
        print(f"| {data['UniqueInterval'].nunique()} | {res['Satterthwaite'][0]:.2f} | "
              f"{res['Kenward-Roger'][0]:.2f} | {res['Satterthwaite'][1]:.1f} / "
              f"{res['Kenward-Roger'][1]:.1f} |", flush=True)


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    path = os.path.join(FLAGS.out, "pvalues.csv")
    if not FLAGS.summary:
        for part in FLAGS.parts:
            if part == "ddf_time":
                ddf_times()
                continue
            run_part(part, path)
    if os.path.exists(path):
        text = summary_table(path)
        with open(os.path.join(FLAGS.out, "summary.md"), "w") as f:
            f.write(text)
        print(text)


if __name__ == "__main__":
    app.run(main)
