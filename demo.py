"""The whole pipeline on the synthetic demo corpus, from nothing to the paper's report.

    .venv/bin/python demo.py                 # writes demo_output/ (path printed at the end)
    .venv/bin/python demo.py --train_minutes=30 --dim=16

Stages (each one a command you can run yourself; the exact command lines are printed):
    corpus   python -m corpus.demo     synthetic TIMIT-layout corpus (festival voices)
    prepare  prepare.py                words -> TFRecords, manifest, phone intervals
    train    train.py                  a small ciwGAN (8 codes) for --train_minutes
    generate generate.py               one WAV per code, with Q's classification
    extract  extract.py                Q's layer traces on the held-out (test) tokens
    analyze  analyze.py                GAMMs, tables, figures, report
Re-running reuses every finished stage (each writes atomically and is marked done); an
interrupted stage is redone or, for training, resumed from its last checkpoint.
"""

import json
import os
import subprocess
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "demo_output", "Output folder of the whole demo.")
flags.DEFINE_integer("n_speakers", 64, "Synthetic speakers (x 8 words = tokens).")
flags.DEFINE_float("train_minutes", 12.0, "Training time budget (minutes of this machine).")
flags.DEFINE_integer("dim", 8, "Model width multiplier (the paper: 64; 8 trains on a CPU).")
flags.DEFINE_integer("batch_size", 16, "Training batch size.")
flags.DEFINE_integer("seed", 0, "Seed of corpus, split and training.")
flags.DEFINE_list("redo", [], "Stages to redo even if done (corpus, prepare, train, generate, "
                  "extract, analyze).")

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ("corpus", "prepare", "train", "generate", "extract", "analyze")


def _state_path(out):
    return os.path.join(out, "demo_state.json")


def load_state(out):
    try:
        with open(_state_path(out)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(out, state):
    tmp = _state_path(out) + f".tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, _state_path(out))


def run_stage(name, args, state, out):
    """Run one stage's command unless it is marked done; mark it done on success."""
    if state.get(name, {}).get("done") and name not in FLAGS.redo:
        print(f"[demo] {name}: done earlier ({state[name]['seconds']:.0f} s), reused", flush=True)
        return
    cmd = [sys.executable] + args
    print(f"[demo] {name}: {' '.join(cmd)}", flush=True)
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, cwd=HERE, env=env)
    if proc.returncode != 0:
        sys.exit(f"[demo] {name} failed (exit {proc.returncode}); fix the cause and re-run "
                 "demo.py: finished stages are reused")
    # A stage that ran makes every later stage stale.
    for later in STAGES[STAGES.index(name) + 1:]:
        state.pop(later, None)
    state[name] = {"done": True, "seconds": time.time() - t0, "command": " ".join(cmd)}
    save_state(out, state)


def main(argv):
    del argv
    out = os.path.abspath(FLAGS.out)
    os.makedirs(out, exist_ok=True)
    state = load_state(out)
    for stage in FLAGS.redo:
        if stage not in STAGES:
            sys.exit(f"demo.py: --redo={stage}: expected some of {STAGES}")
    t0 = time.time()
    corpus, data = os.path.join(out, "corpus"), os.path.join(out, "data")
    train_dir, acts = os.path.join(out, "train"), os.path.join(out, "activations")
    analysis = os.path.join(out, "analysis")
    run_stage("corpus", ["-m", "corpus.demo", f"--out_dir={corpus}",
                         f"--n_speakers={FLAGS.n_speakers}", f"--seed={FLAGS.seed}"], state, out)
    run_stage("prepare", ["prepare.py", f"--timit_dir={corpus}", f"--out_dir={data}",
                          f"--seed={FLAGS.seed}", "--overwrite"], state, out)
    run_stage("train", ["train.py", f"--train_dir={train_dir}", f"--data_dir={data}",
                        "--model=ciwgan", "--num_categ=8", f"--wavegan_dim={FLAGS.dim}",
                        f"--train_batch_size={FLAGS.batch_size}", f"--seed={FLAGS.seed}",
                        f"--max_seconds={FLAGS.train_minutes * 60:.0f}",
                        "--train_save_secs=120", "--train_summary_secs=30"], state, out)
    run_stage("generate", ["generate.py", f"--checkpoint={train_dir}",
                           f"--out={os.path.join(out, 'generated')}", "--n_per_code=3",
                           "--overwrite"], state, out)
    run_stage("extract", ["extract.py", f"--checkpoint={train_dir}", f"--data={data}",
                          "--split=test", f"--out={acts}", "--phones=s,sh", "--upsample",
                          "--overwrite"], state, out)
    run_stage("analyze", ["analyze.py", f"--activations={acts}", f"--out={analysis}",
                          "--layer=conv5", "--ref_word=ask"], state, out)
    print(f"[demo] finished in {time.time() - t0:.0f} s (this invocation).")
    print(f"[demo] report: {os.path.join(analysis, 'report.md')} "
          f"(and report.html); TensorBoard: tensorboard --logdir={train_dir}")


if __name__ == "__main__":
    app.run(main)
