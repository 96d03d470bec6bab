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


def prepare_part(speakers: int = 630, sentences: int = synth.DEFAULT_N_SENTENCES,
                 vocab_size: int = synth.DEFAULT_VOCAB_SIZE,
                 words_per_sentence: int = synth.DEFAULT_WORDS_PER_SENTENCE, seed: int = 0,
                 work_dir: str = os.path.join(ROOT, "work", "scale_prepare"),
                 prepare_root: str = ROOT, keep: bool = False, jobs: int = 0) -> dict:
    """Write/reuse the corpus and time prepare.py --words=all on it.

    ``prepare_root``: the tree whose prepare.py runs (another checkout, to compare versions).
    Returns one table row: COLUMNS plus 'corpus_reused', 'corpus_dir', 'data_dir',
    'prepare_inner_s' (prepare's own figure) and 'skipped'.
    """
    corpus_dir = os.path.join(work_dir, f"timit_{speakers}x{sentences}_v{vocab_size}"
                                        f"_w{words_per_sentence}_s{seed}")
    data_dir = os.path.join(work_dir, f"data_{speakers}x{sentences}")
    os.makedirs(work_dir, exist_ok=True)
    gen = _check(measured_run(
        [sys.executable, "-m", "corpus.demo_corpus", f"--out={corpus_dir}", "--voice=synthetic",
         f"--n_speakers={speakers}", f"--n_sentences={sentences}",
         f"--vocab_size={vocab_size}", f"--words_per_sentence={words_per_sentence}",
         f"--seed={seed}", f"--jobs={jobs}", "--noprogress", "--overwrite"]), "corpus.demo_corpus")
    prep = _check(measured_run(
        [sys.executable, os.path.join(prepare_root, "prepare.py"), f"--timit_dir={corpus_dir}",
         "--words=all", f"--out={data_dir}", "--overwrite", "--noprogress"],
        cwd=prepare_root), "prepare.py")
    with open(os.path.join(data_dir, DATASET_JSON), encoding="utf-8") as f:
        info = json.load(f)
    row = {"speakers": speakers, "sentences": speakers * sentences,
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
    head = ("| speakers | sentences | words | tokens | corpus tool s | corpus tool peak RSS MB "
            "| prepare s | prepare peak RSS MB |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        reused = " (reused)" if r.get("corpus_reused") else ""
        lines.append(f"| {r['speakers']} | {r['sentences']:,} | {r['words']:,} | "
                     f"{r['tokens']:,} | {r['corpus_s']:.1f}{reused} | "
                     f"{r['corpus_rss_mb']:.0f} | {r['prepare_s']:.1f} | "
                     f"{r['prepare_rss_mb']:.0f} |")
    if matmul is None:
        return "\n".join(lines)
    lines.append(f"\nmatmul reference (same run, 4096^3 float32): numpy {matmul['numpy']:.1f} "
                 f"GFLOP/s, TF {matmul['tf']:.1f} GFLOP/s")
    return "\n".join(lines)


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
    a = p.parse_args(argv)
    rows = []
    for n in (int(s) for s in a.speakers.split(",")):
        print(f"running {n} speakers ...", flush=True)
        rows.append(prepare_part(n, a.sentences, a.vocab_size, a.words_per_sentence,
                                 work_dir=a.work_dir, prepare_root=a.prepare_root,
                                 keep=a.keep))
    print(format_table(rows, matmul_rates()))


if __name__ == "__main__":
    main(sys.argv[1:])
