"""The whole pipeline on the synthetic demo corpus, from nothing to the paper's report.

    .venv/bin/python demo.py                 # writes work/demo/ (path printed at the end)
    .venv/bin/python demo.py --train_steps=2000 --dim=16

Stages (each one a command you can run yourself; the exact command lines are printed):
    corpus   python -m corpus.demo_corpus     synthetic TIMIT-layout corpus (festival voices)
    prepare  prepare.py                words -> TFRecords, manifest, phone intervals
    train    train.py                  a small ciwGAN (8 codes), --train_steps iterations
                                       (--deterministic; --train_minutes is only a safety cap)
    generate generate.py               one WAV per code, with Q's classification
    extract  extract.py                Q's layer traces on the held-out (test) tokens
    analyze  analyze.py                GAMMs, tables, figures, report
Re-running reuses every finished stage (each writes atomically and is marked done); an
interrupted stage is redone or, for training, resumed from its last checkpoint.  Every stage
writes into its own sub-folder of --out and may replace only its own earlier output there
(--overwrite of each stage and its output marker); --out itself must not be a folder of the
repository or a folder holding anything but a demo's files.  A finished stage whose command
changed (other flags) is run again, and so is every later stage.

Reproducible: the same --seed and flags give the same tables on machines of one kind
(docs/demo.md says what may still differ).  TensorFlow's log lines are hidden unless --verbose
(passed on to every stage through $CIWGAN_VERBOSE).
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time

from common.logs import child_env, define_verbose_flag, quiet_logs, tensorboard_hint

quiet_logs()  # decides --verbose for this process and the stages (through the environment)

from absl import app, flags  # noqa: E402

from common.atomic import atomic_write_json  # noqa: E402
from common.cli import absl_flags_parser, check_command_line, run_main  # noqa: E402
from common.errors import InputError, OutputPathError  # noqa: E402
from common.outputs import check_not_project  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", os.path.join("work", "demo"), "Output folder of the whole demo.")
flags.DEFINE_integer("n_speakers", 64, "Synthetic speakers (x 8 words = tokens).")
flags.DEFINE_integer("train_steps", 800, "Training iterations (5 D + 1 G/Q updates each): "
                     "what fixes the result (about 14 minutes on 2 CPU cores at the defaults).")
flags.DEFINE_float("train_minutes", 60.0, "Safety cap on training time (minutes): a run stopped "
                   "by it before --train_steps is not reproducible (the demo says so).")
flags.DEFINE_integer("dim", 8, "Model width multiplier (the paper: 64; 8 trains on a CPU).")
flags.DEFINE_integer("batch_size", 16, "Training batch size.")
flags.DEFINE_integer("seed", 0, "Seed of corpus, split, training and the generated noise.")
flags.DEFINE_bool("progress", True, "Progress bars in the stages (--noprogress is passed on "
                  "to every stage).")
flags.DEFINE_list("redo", [], "Stages to redo even if done (corpus, prepare, train, generate, "
                  "extract, analyze).")
define_verbose_flag()

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ("corpus", "prepare", "train", "generate", "extract", "analyze")
STATE_NAME = "demo_state.json"
# The sub-folder of --out each stage writes.
STAGE_FOLDERS = {"corpus": "corpus", "prepare": "data", "train": "train",
                 "generate": "generated", "extract": "activations", "analyze": "analysis"}


def _state_path(out):
    return os.path.join(out, STATE_NAME)


def load_state(out):
    try:
        with open(_state_path(out)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(out, state):
    atomic_write_json(_state_path(out), state)


def foreign_entries(out):
    """Entries of ``out`` that a demo run did not make: anything but its state file, the stage
    folders and their hidden temporary siblings (``.<name>.partial-<pid>`` and the like, left
    by a killed stage)."""
    own = set(STAGE_FOLDERS.values()) | {STATE_NAME}
    try:
        names = os.listdir(out)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if n not in own and not any(n.startswith(f".{o}.") for o in own))


def check_demo_folder(out):
    """Refuse a --out inside the repository, or one that holds files a demo did not write
    (the stages write sub-folders and a state file into it)."""
    check_not_project(out, "--out")
    foreign = foreign_entries(out)
    if foreign:
        raise OutputPathError(f"--out={out} holds files that are not a demo's ({foreign[:3]}); "
                              "choose another --out, e.g. work/demo")


def stage_command(args) -> str:
    """The command line of a stage as printed: runnable as it is from any folder (the stages
    run in the repository, where ``python train.py`` and ``python -m corpus.demo_corpus`` resolve)."""
    return f"cd {shlex.quote(HERE)} && {shlex.join([sys.executable] + list(args))}"


def _what_counts(command: str) -> str:
    """A stage's command without what does not change its output (--noprogress)."""
    return " ".join(w for w in command.split(" ") if w not in ("--noprogress", "--progress"))


def run_stage(name, args, state, out) -> int:
    """Run one stage's command unless it is marked done with the same command; mark it done on
    success.  Returns the command's exit status (0 when reused)."""
    command = stage_command(args)
    done = state.get(name, {})
    if done.get("done") and name not in FLAGS.redo:
        if _what_counts(done.get("command", "")) == _what_counts(command):
            print(f"[demo] {name}: done earlier ({done['seconds']:.0f} s), reused", flush=True)
            return 0
        print(f"[demo] {name}: its command changed since it ran; running it again", flush=True)
    print(f"[demo] {name}: {command}", flush=True)
    t0 = time.time()
    env = child_env()
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable] + list(args), cwd=HERE, env=env)
    if proc.returncode != 0:
        return proc.returncode
    # A stage that ran makes every later stage stale.
    for later in STAGES[STAGES.index(name) + 1:]:
        state.pop(later, None)
    state[name] = {"done": True, "seconds": time.time() - t0, "command": command}
    save_state(out, state)
    return 0


def trained_step(train_dir):
    """The step of the training folder's latest checkpoint (its ``checkpoint`` pointer file,
    read as text: no TensorFlow here); None when there is none."""
    try:
        with open(os.path.join(train_dir, "checkpoint"), encoding="utf-8") as f:
            m = re.search(r'^model_checkpoint_path: "(?:.*/)?ckpt-(\d+)"', f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _demo(extra_args):
    check_command_line("demo.py", extra_args)
    for stage in FLAGS.redo:
        if stage not in STAGES:
            raise InputError(f"--redo={stage}: expected some of {', '.join(STAGES)}")
    check_demo_folder(FLAGS.out)
    out = os.path.abspath(FLAGS.out)
    os.makedirs(out, exist_ok=True)
    state = load_state(out)
    t0 = time.time()
    path = {stage: os.path.join(out, folder) for stage, folder in STAGE_FOLDERS.items()}
    corpus, data, train_dir = path["corpus"], path["prepare"], path["train"]
    acts, analysis = path["extract"], path["analyze"]
    # Each stage gets --overwrite: when it runs again (--redo, or an earlier stage ran) its
    # sub-folder holds its own earlier output, which its marker lets it replace; a folder it
    # did not write is still refused.
    # Stages speak the shared vocabulary (docs/CONVENTIONS.md); train.py keeps the original
    # scripts' names (--train_dir, --data_dir, --train_batch_size).
    stages = [
        ("corpus", ["-m", "corpus.demo_corpus", f"--out={corpus}",
                    f"--n_speakers={FLAGS.n_speakers}", f"--seed={FLAGS.seed}", "--overwrite"]),
        ("prepare", ["prepare.py", f"--timit_dir={corpus}", f"--out={data}",
                     f"--seed={FLAGS.seed}", "--overwrite"]),
        ("train", ["train.py", f"--train_dir={train_dir}", f"--data_dir={data}",
                   "--model=ciwgan", "--num_categ=8", f"--wavegan_dim={FLAGS.dim}",
                   f"--train_batch_size={FLAGS.batch_size}", f"--seed={FLAGS.seed}",
                   f"--max_steps={FLAGS.train_steps}", "--deterministic",
                   f"--max_seconds={FLAGS.train_minutes * 60:.0f}",
                   "--train_save_secs=120", "--train_summary_secs=30"]),
        ("generate", ["generate.py", f"--checkpoint={train_dir}", f"--out={path['generate']}",
                      "--n_per_code=10", f"--seed={FLAGS.seed}", "--overwrite"]),
        ("extract", ["extract.py", f"--checkpoint={train_dir}", f"--data={data}",
                     "--split=test", f"--out={acts}", "--phones=all", "--upsample",
                     "--overwrite"]),
        ("analyze", ["analyze.py", f"--activations={acts}", f"--out={analysis}",
                     f"--generated={path['generate']}", "--layer=conv5", "--ref_word=ask",
                     "--contrasts=auto", "--spectra", "--overwrite"]),
    ]
    for name, args in stages:
        if not FLAGS.progress:
            args = args + ["--noprogress"]
        code = run_stage(name, args, state, out)
        if code:
            # The stage has printed its own error; the demo only says how to go on.
            print(f"[demo] {name} failed (exit {code}); fix the cause and re-run demo.py: "
                  "finished stages are reused", file=sys.stderr, flush=True)
            return code
        if name == "train":
            step = trained_step(train_dir)
            if step is not None and step < FLAGS.train_steps:
                print(f"[demo] WARNING: the time cap (--train_minutes={FLAGS.train_minutes:g}) "
                      f"stopped training at step {step} of {FLAGS.train_steps}: the results "
                      "will not match another run's. To finish the steps: "
                      f"cd {shlex.quote(os.getcwd())} && "
                      f"{shlex.join([sys.executable] + sys.argv + ['--redo=train'])}",
                      file=sys.stderr, flush=True)
    print(f"[demo] finished in {time.time() - t0:.0f} s (this invocation).")
    print(f"[demo] report: {os.path.join(analysis, 'report.md')} (and report.html)")
    print(f"[demo] TensorBoard: {tensorboard_hint(train_dir)}")
    return 0


def main(argv):
    return run_main("demo.py", lambda: _demo(argv[1:]))


if __name__ == "__main__":
    app.run(main, flags_parser=absl_flags_parser("demo.py"))
