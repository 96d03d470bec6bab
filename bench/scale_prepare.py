"""Benchmark (issue 14, part 4): prepare.py --words=all on a full-size TIMIT-layout corpus.

Writes (or reuses) the synthetic-voice demo corpus (``python -m corpus.demo_corpus --voice=synthetic``:
speakers x sentences x words per sentence pseudo-words from a vocabulary of ``vocab_size``),
then runs ``prepare.py --timit_dir=<corpus> --words=all`` on it. Both run as child processes;
each child's wall time and peak RSS are measured on that child alone (``os.wait4`` returns the
child's own rusage, the per-child form of ``getrusage(RUSAGE_CHILDREN)``; ru_maxrss is in kB on
Linux). The prepared dataset (3.5 GB at full size: every record is slice_len floats) is deleted
after it was counted unless ``keep``; the corpus (~1 GB) is kept for reuse.

    .venv/bin/python -m bench.scale_prepare                       # 630 speakers x 10 sentences
    .venv/bin/python -m bench.scale_prepare --speakers=8 --vocab_size=200

``--layouts=timit,textgrid`` (issue 25) writes the corpus in both layouts (``corpus.demo
--layout=textgrid``: the same audio and labels as MFA's ``<speaker>/<utt>.wav + .TextGrid``)
and runs prepare.py on them in turn, ``--repeats`` times (timit, textgrid, timit, textgrid,
...: the machine's load falls on both alike), the TextGrid corpus through
``--folder_dir``; it prints each run and the TextGrid/TIMIT ratios of the medians.

    .venv/bin/python -m bench.scale_prepare --layouts=timit,textgrid --repeats=2
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from common.layout import DATASET_JSON  # noqa: E402  (after the path set-up)
from corpus import synth  # noqa: E402

COLUMNS = ("speakers", "sentences", "words", "tokens", "corpus_s", "corpus_rss_mb",
           "prepare_s", "prepare_rss_mb")


def measured_run(cmd: list, cwd: str = ROOT) -> dict:
    """Run ``cmd`` as a child (:func:`bench.common.run_measured`, TF's C++ log quiet);
    {'seconds', 'peak_rss_mb', 'rc', 'output'} (stdout+stderr)."""
    from bench.common import run_measured
    res = run_measured(cmd, cwd, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return {"seconds": res["wall_s"], "peak_rss_mb": res["peak_rss_mb"], "rc": res["rc"],
            "output": res["output"]}


def _check(res: dict, what: str) -> dict:
    if res["rc"] != 0:
        raise RuntimeError(f"{what} failed (rc {res['rc']}): {res['output'][-2000:]}")
    return res


def write_corpus(speakers: int, sentences: int, vocab_size: int, words_per_sentence: int,
                 seed: int, work_dir: str, jobs: int = 0, layout: str = "timit") -> tuple:
    """Write (or reuse) the synthetic corpus in ``layout``: (corpus_dir, measured run)."""
    name = "timit" if layout == "timit" else layout
    corpus_dir = os.path.join(work_dir, f"{name}_{speakers}x{sentences}_v{vocab_size}"
                                        f"_w{words_per_sentence}_s{seed}")
    os.makedirs(work_dir, exist_ok=True)
    gen = _check(measured_run(
        [sys.executable, "-m", "corpus.demo_corpus", f"--out={corpus_dir}", "--voice=synthetic",
         f"--n_speakers={speakers}", f"--n_sentences={sentences}",
         f"--vocab_size={vocab_size}", f"--words_per_sentence={words_per_sentence}",
         f"--seed={seed}", f"--jobs={jobs}", "--noprogress", "--overwrite",
         f"--layout={layout}"]), "corpus.demo_corpus")
    return corpus_dir, gen


def run_prepare(corpus_dir: str, data_dir: str, layout: str = "timit",
                prepare_root: str = ROOT) -> tuple:
    """prepare.py --words=all on the corpus (``--timit_dir``, or ``--folder_dir`` for the
    TextGrid layout) as a measured child: (measured run, dataset.json dict)."""
    source = "--timit_dir" if layout == "timit" else "--folder_dir"
    prep = _check(measured_run(
        [sys.executable, os.path.join(prepare_root, "prepare.py"), f"{source}={corpus_dir}",
         "--words=all", f"--out={data_dir}", "--overwrite", "--noprogress"],
        cwd=prepare_root), "prepare.py")
    with open(os.path.join(data_dir, DATASET_JSON), encoding="utf-8") as f:
        return prep, json.load(f)


def prepare_part(speakers: int = 630, sentences: int = synth.DEFAULT_N_SENTENCES,
                 vocab_size: int = synth.DEFAULT_VOCAB_SIZE,
                 words_per_sentence: int = synth.DEFAULT_WORDS_PER_SENTENCE, seed: int = 0,
                 work_dir: str = os.path.join(ROOT, "work", "scale_prepare"),
                 prepare_root: str = ROOT, keep: bool = False, jobs: int = 0,
                 layout: str = "timit", corpus: Optional[tuple] = None) -> dict:
    """Write/reuse the corpus (or take ``corpus``, a :func:`write_corpus` result) and time
    prepare.py --words=all on it.

    ``prepare_root``: the tree whose prepare.py runs (another checkout, to compare versions).
    Returns one table row: COLUMNS plus 'layout', 'corpus_reused', 'corpus_dir', 'data_dir',
    'prepare_inner_s' (prepare's own figure) and 'skipped'.
    """
    corpus_dir, gen = corpus or write_corpus(speakers, sentences, vocab_size,
                                             words_per_sentence, seed, work_dir, jobs, layout)
    data_dir = os.path.join(work_dir, f"data_{speakers}x{sentences}")
    prep, info = run_prepare(corpus_dir, data_dir, layout, prepare_root)
    row = {"layout": layout, "speakers": speakers, "sentences": speakers * sentences,
           "words": len(info["words"]), "tokens": sum(info["splits"].values()),
           "corpus_s": gen["seconds"], "corpus_rss_mb": gen["peak_rss_mb"],
           "prepare_s": prep["seconds"], "prepare_rss_mb": prep["peak_rss_mb"],
           "corpus_reused": "reused" in gen["output"], "corpus_dir": corpus_dir,
           "data_dir": data_dir, "skipped": info["skipped"]}
    for line in prep["output"].splitlines():
        if line.startswith("wrote ") and " in " in line:
            row["prepare_inner_s"] = float(line.rsplit(" in ", 1)[1].split()[0])
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return row


def format_table(rows: list, matmul: Optional[dict] = None) -> str:
    """The rows as a Markdown table with the same-run matmul reference below it (when given)."""
    head = ("| layout | speakers | sentences | words | tokens | corpus tool s | corpus tool "
            "peak RSS MB | prepare s | prepare peak RSS MB |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        reused = " (reused)" if r.get("corpus_reused") else ""
        lines.append(f"| {r.get('layout', 'timit')} | {r['speakers']} | {r['sentences']:,} | "
                     f"{r['words']:,} | "
                     f"{r['tokens']:,} | {r['corpus_s']:.1f}{reused} | "
                     f"{r['corpus_rss_mb']:.0f} | {r['prepare_s']:.1f} | "
                     f"{r['prepare_rss_mb']:.0f} |")
    if matmul is None:
        return "\n".join(lines)
    lines.append(f"\nmatmul reference (same run, 4096^3 float32): numpy {matmul['numpy']:.1f} "
                 f"GFLOP/s, TF {matmul['tf']:.1f} GFLOP/s")
    return "\n".join(lines)


def format_ratios(rows: list, base: str = "timit") -> str:
    """Each other layout against ``base``: the medians of prepare's seconds and peak RSS over
    the runs of each layout, and their ratios."""
    import statistics
    out = []
    for n in sorted({r["speakers"] for r in rows}):
        med = {}
        for r in rows:
            if r["speakers"] == n:
                med.setdefault(r["layout"], []).append((r["prepare_s"], r["prepare_rss_mb"]))
        b_s = statistics.median(s for s, _ in med[base])
        b_m = statistics.median(m for _, m in med[base])
        for layout, runs in med.items():
            if layout == base:
                continue
            s = statistics.median(x for x, _ in runs)
            m = statistics.median(x for _, x in runs)
            out.append(f"{n} speakers: {layout} / {base}: time {s:.1f} / {b_s:.1f} s = "
                       f"{s / b_s:.2f}x, peak RSS {m:.0f} / {b_m:.0f} MB = {m / b_m:.2f}x "
                       f"(medians of {len(runs)} and {len(med[base])} runs)")
    return "\n".join(out)


def main(argv: list) -> None:
    import argparse

    from bench.common import matmul_rates

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--speakers", default="630", help="comma-separated speaker counts")
    p.add_argument("--sentences", type=int, default=synth.DEFAULT_N_SENTENCES)
    p.add_argument("--vocab_size", type=int, default=synth.DEFAULT_VOCAB_SIZE)
    p.add_argument("--words_per_sentence", type=int,
                   default=synth.DEFAULT_WORDS_PER_SENTENCE)
    p.add_argument("--work_dir", default=os.path.join(ROOT, "work", "scale_prepare"))
    p.add_argument("--prepare_root", default=ROOT)
    p.add_argument("--keep", action="store_true", help="keep the prepared datasets")
    p.add_argument("--layouts", default="timit", help="comma-separated corpus layouts "
                   "(timit, textgrid), prepared in turn")
    p.add_argument("--repeats", type=int, default=1, help="prepare runs per layout, "
                   "interleaved")
    a = p.parse_args(argv)
    layouts = a.layouts.split(",")
    rows = []
    for n in (int(s) for s in a.speakers.split(",")):
        corpora = {}
        for layout in layouts:
            print(f"corpus: {n} speakers, layout {layout} ...", flush=True)
            corpora[layout] = write_corpus(n, a.sentences, a.vocab_size, a.words_per_sentence,
                                           0, a.work_dir, layout=layout)
        for r in range(a.repeats):
            for layout in layouts:
                print(f"prepare: {n} speakers, layout {layout}, run {r + 1} "
                      f"(load average {os.getloadavg()[0]:.1f}) ...", flush=True)
                rows.append(prepare_part(n, a.sentences, a.vocab_size, a.words_per_sentence,
                                         work_dir=a.work_dir, prepare_root=a.prepare_root,
                                         keep=a.keep, layout=layout, corpus=corpora[layout]))
                print(format_table(rows[-1:]), flush=True)
    print(format_table(rows, matmul_rates()))
    if len(layouts) > 1:
        print(format_ratios(rows, layouts[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
