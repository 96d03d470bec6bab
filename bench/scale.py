"""Benchmark: the project at the paper's large scale (issue 14: all of TIMIT, 54,378 tokens of
6,229 words), one function per stage (``--parts``).

Part ``analyze``: for each token count, a synthetic activations table with the paper's layer
sizes (conv1 4,096 samples per token, conv2 1,024, conv3 256, conv4 64, conv5 16: 5,456 rows
a token, 297 M rows at 54,378 tokens), written as extract.py writes it
(synthetic/activations.write_scale_activations: Parquet, extraction.schema, one row group
per 64-token batch, generated batch by batch); then analyze.py in a child process with the
issue's goal, the word GAMM on three words and the mixed models on every layer::

    analyze.py --engine=fast --nofigures --phone_layers= --words=ask,carry,dark --ref_word=ask \
        --lmm_layers=conv1,conv2,conv3,conv4,conv5

and its wall time and peak RSS (os.wait4 of that child: its own ru_maxrss), with the same-run
matmul reference of bench/common.py (the machine is shared: compare ratios). The three words
get 630 tokens each when there are enough tokens (every TIMIT speaker reads SA1 and SA2), at
most a quarter of the tokens between them otherwise; the rest are spread over the other words
(6,229 in all at 54,378 tokens, tokens / 9 below). Goal: 54,378 tokens within 3 GB peak RSS and
5 minutes on 2 cores.

    .venv/bin/python bench/scale.py --parts=analyze --tokens=1067,10000,54378

Tables go under --work (default work/scale/, ~2.4 GB at 54,378 tokens) and are deleted at the
end unless --keep_tables.

Part ``extract`` (bench/scale_extract.py): extract.py's peak RSS at growing token counts with a
small model (flat in the number of tokens is the goal). Part ``prepare``
(bench/scale_prepare.py): prepare.py --words=all on a full-size synthetic TIMIT-layout corpus
(630 speakers x 10 sentences, 6,229 words; goal within 2 GB).

    .venv/bin/python bench/scale.py --parts=extract,prepare
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["analyze"], "stages to benchmark: analyze, extract, prepare")
flags.DEFINE_list("tokens", ["1067", "10000", "54378"], "token counts of the analyze part")
flags.DEFINE_string("work", os.path.join(ROOT, "work", "scale"), "folder for the tables and "
                    "outputs")
flags.DEFINE_list("words", ["ask", "carry", "dark"], "the three words of the word GAMM "
                  "(first = reference)")
flags.DEFINE_integer("n_words", 6229, "distinct words at 54,378 tokens (TIMIT); scaled down "
                     "with the tokens below that")
flags.DEFINE_integer("timeout", 3600, "seconds allowed to one analyze.py run")
flags.DEFINE_boolean("keep_tables", False, "keep the generated tables")
flags.DEFINE_integer("seed", 0, "synthetic data seed")
flags.DEFINE_list("extract_tokens", ["500", "2000", "8000"], "token counts of the extract part "
                  "(peak RSS must stay flat)")
flags.DEFINE_list("speakers", ["630"], "speakers of the prepare part's corpora (630: all of "
                  "TIMIT's size, 10 sentences each)")

TIMIT_TOKENS = 54378
GOAL = {"tokens": TIMIT_TOKENS, "peak_rss_gb": 3.0, "wall_s": 300.0}


def run_child(cmd, timeout: float) -> dict:
    """Run cmd (list) from the repository root (:func:`bench.common.run_measured`): its exit
    status, wall time, peak RSS in GiB and its output."""
    from bench.common import run_measured
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    res = run_measured(cmd, ROOT, os.path.join(FLAGS.work, "child_output.txt"), timeout, env)
    return {"rc": res["rc"], "wall_s": res["wall_s"],
            "peak_rss_gb": res["peak_rss_mb"] / 1024, "stderr": res["output"]}


def analyze_table(n_tokens: int, work: str, seed: int) -> str:
    """The activations folder of ``n_tokens`` synthetic tokens under ``work`` (written once:
    reused when its table has the expected number of rows)."""
    import pyarrow.parquet as pq
    from synthetic.activations import (PAPER_LAYER_SIZES, scale_token_words,
                                       write_scale_activations)
    folder = os.path.join(work, f"acts_{n_tokens}")
    path = os.path.join(folder, "activations.parquet")
    per_tok = sum(length for _, _, length in PAPER_LAYER_SIZES)
    os.makedirs(folder, exist_ok=True)
    _write_extract_info(folder, n_tokens)
    if os.path.exists(path) and pq.ParquetFile(path).metadata.num_rows == n_tokens * per_tok:
        return folder
    n_words = max(8, round(FLAGS.n_words * n_tokens / TIMIT_TOKENS))
    words = scale_token_words(n_tokens, n_words, FLAGS.words, seed=seed)
    # a planted level difference, so the tables have something to find
    write_scale_activations(path + ".partial", words, level={FLAGS.words[1]: 0.5}, seed=seed)
    os.replace(path + ".partial", path)
    return folder


def _write_extract_info(folder: str, n_tokens: int) -> None:
    """extract_info.json as extract.py writes it for Q's layers (the fields analyze.py reads:
    sample_rate and each layer's stride, jump, length and centre0, the centre of the input
    span of index 0), so that the report takes the layers' time axis from it as it does for a
    real extraction instead of scanning the table's ``time`` column."""
    from common.layout import EXTRACT_INFO_JSON
    from common.atomic import atomic_write_json
    from common.constants import SAMPLE_RATE
    from synthetic.activations import PAPER_LAYER_SIZES
    layers = [{"name": name, "stride": 4, "jump": stride, "length": length,
               "centre0": stride / 2.0} for name, stride, length in PAPER_LAYER_SIZES]
    atomic_write_json(os.path.join(folder, EXTRACT_INFO_JSON), {
        "checkpoint": "synthetic (bench/scale.py)", "sample_rate": SAMPLE_RATE,
        "layers": layers, "counts": {"tokens": int(n_tokens)}}, sort_keys=False)


def part_analyze(work: str) -> list:
    """analyze.py at each --tokens: [{tokens, rows, table_gb, wall_s, peak_rss_gb, rc, ...}]."""
    from synthetic.activations import PAPER_LAYER_SIZES
    layers = [name for name, _, _ in PAPER_LAYER_SIZES]
    results = []
    for n in [int(t) for t in FLAGS.tokens]:
        t0 = time.perf_counter()
        folder = analyze_table(n, work, FLAGS.seed)
        gen_s = time.perf_counter() - t0
        out = os.path.join(work, f"analysis_{n}")
        cmd = [sys.executable, os.path.join(ROOT, "analyze.py"), f"--activations={folder}",
               f"--out={out}", "--overwrite", "--engine=fast", "--nofigures",
               "--phone_layers=", f"--words={','.join(FLAGS.words)}",
               f"--ref_word={FLAGS.words[0]}", f"--lmm_layers={','.join(layers)}"]
        res = run_child(cmd, FLAGS.timeout)
        info = {}
        if res["rc"] == 0:
            with open(os.path.join(out, "fit_info.json"), encoding="utf-8") as f:
                info = json.load(f)
        size = os.path.getsize(os.path.join(folder, "activations.parquet"))
        row = {"tokens": n, "rows": n * sum(ln for _, _, ln in PAPER_LAYER_SIZES),
               "table_gb": size / 2 ** 30, "generate_s": gen_s, "rc": res["rc"],
               "wall_s": res["wall_s"], "peak_rss_gb": res["peak_rss_gb"],
               "timings_s": info.get("timings_s", {}),
               "progress": [ln for ln in res["stderr"].splitlines() if ln.startswith("[")],
               "error": "" if res["rc"] == 0 else res["stderr"][-2000:]}
        print(json.dumps(row), flush=True)
        results.append(row)
        shutil.rmtree(out, ignore_errors=True)
    return results


def part_extract(work: str) -> list:
    """extract.py's peak RSS at each --extract_tokens with a dim-4 model
    (bench/scale_extract.py, which prints its table)."""
    from bench.scale_extract import extract_part
    return extract_part([int(t) for t in FLAGS.extract_tokens], dim=4,
                        workdir=os.path.join(work, "extract"), matmul=False)


def part_prepare(work: str) -> list:
    """prepare.py --words=all on a full-size synthetic TIMIT-layout corpus for each --speakers
    (bench/scale_prepare.py)."""
    from bench.scale_prepare import format_table, prepare_part
    rows = [prepare_part(int(n), work_dir=os.path.join(work, "prepare"))
            for n in FLAGS.speakers]
    print(format_table(rows))
    return rows


PARTS = {"analyze": part_analyze, "extract": part_extract, "prepare": part_prepare}


def main(argv):
    del argv
    unknown = [p for p in FLAGS.parts if p not in PARTS]
    if unknown:
        print(f"scale.py: error: --parts {unknown} not implemented (parts: {list(PARTS)})",
              file=sys.stderr)
        return 2
    os.makedirs(FLAGS.work, exist_ok=True)
    from bench.common import matmul_rates
    mm_before = matmul_rates()
    results = {part: PARTS[part](FLAGS.work) for part in FLAGS.parts}
    mm_after = matmul_rates()
    ref_s = {k: 2 * 4096 ** 3 / 1e9 / v for k, v in mm_before.items()}
    print(f"\nmatmul reference (same run, before / after): numpy {mm_before['numpy']:.1f} / "
          f"{mm_after['numpy']:.1f} GFLOP/s; one 4096^3 float32 matmul = "
          f"{ref_s['numpy']:.2f} s (numpy, before)")
    if "analyze" in results:
        print("\n| tokens | rows | table (GiB) | analyze.py wall (s) | x matmul | peak RSS (GiB) "
              "| word GAMM (s) | mixed models (s) | status |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in results["analyze"]:
            t = r["timings_s"]
            ok = "ok" if r["rc"] == 0 else f"exit {r['rc']}"
            if r["tokens"] == GOAL["tokens"] and r["rc"] == 0:
                ok += (" (goal met)" if r["peak_rss_gb"] <= GOAL["peak_rss_gb"]
                       and r["wall_s"] <= GOAL["wall_s"] else " (goal missed)")
            print(f"| {r['tokens']:,} | {r['rows'] / 1e6:.1f} M | {r['table_gb']:.2f} | "
                  f"{r['wall_s']:.0f} | {r['wall_s'] / ref_s['numpy']:.0f} | "
                  f"{r['peak_rss_gb']:.2f} | {t.get('word', float('nan')):.0f} | "
                  f"{t.get('lmm', float('nan')):.0f} | {ok} |")
    if not FLAGS.keep_tables:
        for name in os.listdir(FLAGS.work):
            if name.startswith("acts_"):
                shutil.rmtree(os.path.join(FLAGS.work, name), ignore_errors=True)
    return 0


if __name__ == "__main__":
    app.run(main)
