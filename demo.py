"""The whole pipeline on the synthetic demo corpus, from nothing to the paper's report.

    .venv/bin/python demo.py                 # writes work/demo/ (path printed at the end)
    .venv/bin/python demo.py --train_steps=2000 --dim=16

Stages (each one a command you can run yourself; the exact command lines are printed):
    corpus   python -m corpus.demo_corpus   synthetic TIMIT-layout corpus (festival voices)
    prepare  prepare.py                words -> TFRecords, manifest, phone intervals
    train    train.py                  a small ciwGAN (8 codes), --train_steps iterations
                                       (--deterministic; --train_minutes is only a safety cap)
    generate generate.py               one WAV per code, with Q's classification
    extract  extract.py                Q's layer traces on the held-out (test) tokens, and
                                       their acoustics (--acoustics: Praat)
    analyze  analyze.py                GAMMs, tables, figures, acoustic correlates, report
    sweep    extract.py --values       a latent sweep: every code at values 0 and 5, G's blocks
    sweep_analyze analyze.py           which code drives which G block (docs/sweeps.md)
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

import dataclasses
import os
import re
import shlex
import subprocess
import sys
import time

from analysis.analyze_options import AnalysisOptions
from ciwgan.generate_options import GenerateOptions
from ciwgan.train_options import TrainOptions
from common import layout
from common.atomic import atomic_write_json
from common.cli import command_args, stage_script
from common.errors import InputError, OutputPathError
from common.logs import child_env, tensorboard_hint
from common.options import StageOptions, choice, integer, items, number, shared
from common.outputs import check_not_project
from common.constants import DEFAULT_WORDS
from corpus.demo_corpus_options import LAYOUTS, DemoCorpusOptions
from corpus.prepare_options import PrepareOptions
from extraction.extract_options import ExtractOptions

HERE = os.path.dirname(os.path.abspath(__file__))
STATE_NAME = layout.DEMO_STATE_JSON


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the demo: its name, how it is run (after the interpreter: the script, or
    -m and the module), its options class (its flags) and the sub-folder of --out it writes."""
    name: str
    command: tuple
    options: type
    folder: str


# extract before generate: generate names its files with the word Q's mapping (extract's
# classification.json) gives each code
STAGES = (Stage("corpus", ("-m", "corpus.demo_corpus"), DemoCorpusOptions, "corpus"),
          Stage("prepare", ("prepare.py",), PrepareOptions, "data"),
          Stage("train", ("train.py",), TrainOptions, "train"),
          Stage("extract", ("extract.py",), ExtractOptions, "activations"),
          Stage("generate", ("generate.py",), GenerateOptions, "generated"),
          Stage("analyze", ("analyze.py",), AnalysisOptions, "analysis"),
          # a latent sweep (docs/sweeps.md): two values, few draws, so the demo stays fast
          Stage("sweep", ("extract.py",), ExtractOptions, "sweep"),
          Stage("sweep_analyze", ("analyze.py",), AnalysisOptions, "sweep_analysis"))
STAGE_NAMES = tuple(stage.name for stage in STAGES)
# The demo's sweep: code values and shared z draws per code and value.
SWEEP_VALUES = (0, 5)
SWEEP_DRAWS = 12
# The sub-folder of --out each stage writes.
STAGE_FOLDERS = {stage.name: stage.folder for stage in STAGES}
# Commands recorded before corpus/demo.py became corpus/demo_corpus.py run the same stage.
_RENAMED_COMMANDS = ((" -m corpus.demo ", " -m corpus.demo_corpus "),)


@dataclasses.dataclass(frozen=True)
class DemoOptions(StageOptions):
    out: str = shared("out", os.path.join("work", "demo"), help="the whole demo's: each stage "
                      "writes a sub-folder of it", role="")
    n_speakers: int = integer(64, "synthetic speakers (x 8 words = tokens)", low=1)
    train_steps: int = integer(800, "training iterations (5 D + 1 G/Q updates each): what "
                               "fixes the result (about 14 minutes on 2 CPU cores at the "
                               "defaults)", low=1)
    train_minutes: float = number(60.0, "safety cap on training time (minutes): a run stopped "
                                  "by it before --train_steps is not reproducible (the demo "
                                  "says so)", low=0, low_open=True)
    dim: int = integer(8, "model width multiplier (the paper: 64; 8 trains on a CPU)", low=1)
    batch_size: int = shared("batch_size", 16, help="training's")
    seed: int = shared("seed", 0, help="the corpus', the split's, training's and the generated "
                       "noise's")
    progress: bool = shared("progress", True, help="--noprogress is passed on to every stage")
    layout: str = choice("timit", LAYOUTS, "the corpus's layout: timit (TIMIT's tree, prepared "
                         "with --timit_dir) or textgrid (the Montreal Forced Aligner's "
                         "<speaker>/<utt>.wav + .TextGrid, prepared with --folder_dir)")
    redo: list = items([], "stages to redo even if done (" + ", ".join(STAGE_NAMES) + ")")

    def check(self) -> None:
        for stage in self.redo:
            if stage not in STAGE_NAMES:
                raise InputError(f"--redo={stage}: expected some of {', '.join(STAGE_NAMES)}")


def stage_values(options: DemoOptions, path: dict) -> dict:
    """{stage: {option: value}}: what the demo asks of each stage (``path``: the sub-folder of
    each stage).  Each stage gets --overwrite: when it runs again (--redo, or an earlier stage
    ran) its sub-folder holds its own earlier output, which its marker lets it replace; a
    folder it did not write is still refused."""
    seed = options.seed
    # --layout=textgrid: the same corpus in MFA's layout, read through its TextGrids
    corpus_layout = {} if options.layout == "timit" else {"layout": options.layout}
    source = ({"timit_dir": path["corpus"]} if options.layout == "timit" else
              {"folder_dir": path["corpus"], "words": ",".join(DEFAULT_WORDS)})
    values = {
        "corpus": dict(out=path["corpus"], n_speakers=options.n_speakers, seed=seed,
                       overwrite=True, **corpus_layout),
        "prepare": dict(out=path["prepare"], seed=seed, overwrite=True, **source),
        "train": dict(train_dir=path["train"], data_dir=path["prepare"], model="ciwgan",
                      num_categ=8, dim=options.dim, batch_size=options.batch_size, seed=seed,
                      max_steps=options.train_steps, deterministic=True,
                      max_seconds=max(1, int(round(options.train_minutes * 60))),
                      save_secs=120, summary_secs=30),
        "generate": dict(checkpoint=path["train"], out=path["generate"], n_per_code=10,
                         seed=seed, classification=path["extract"], overwrite=True),
        "extract": dict(checkpoint=path["train"], data=path["prepare"], split="test",
                        out=path["extract"], phones=["all"], upsample=True, acoustics=True,
                        overwrite=True),
        "analyze": dict(activations=path["extract"], out=path["analyze"],
                        generated=path["generate"], layer="conv5", ref_word="ask",
                        contrasts="auto", spectra=True, acoustics=True, overwrite=True),
        "sweep": dict(checkpoint=path["train"], out=path["sweep"], network="G",
                      codes=["all"], values=[str(v) for v in SWEEP_VALUES],
                      n_per_code=SWEEP_DRAWS, seed=seed, overwrite=True),
        "sweep_analyze": dict(activations=path["sweep"], out=path["sweep_analyze"],
                              folder_kind="sweep", overwrite=True),
    }
    if not options.progress:
        for stage_values_ in values.values():
            stage_values_["progress"] = False
    return values


def _state_path(out):
    return os.path.join(out, STATE_NAME)


def load_state(out):
    """The stages done in ``out`` ({} when none; a state of a newer version is refused)."""
    try:
        state = layout.read_record(_state_path(out))
    except (OSError, ValueError):
        return {}
    return layout.without_version(state) if isinstance(state, dict) else {}


def save_state(out, state):
    atomic_write_json(_state_path(out), layout.stamp(state, layout.DEMO_STATE_JSON))


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
    run in the repository, where ``python train.py`` and ``python -m corpus.demo_corpus``
    resolve)."""
    return f"cd {shlex.quote(HERE)} && {shlex.join([sys.executable] + list(args))}"


def _what_counts(command: str) -> str:
    """A stage's command without what does not change its output (--noprogress), with the
    modules' earlier names (:data:`_RENAMED_COMMANDS`) read as the present ones."""
    for old, new in _RENAMED_COMMANDS:
        command = command.replace(old, new)
    return " ".join(w for w in command.split(" ") if w not in ("--noprogress", "--progress"))


def run_stage(name, args, state, out, redo=()) -> int:
    """Run one stage's command unless it is marked done with the same command; mark it done on
    success.  Returns the command's exit status (0 when reused)."""
    command = stage_command(args)
    done = state.get(name, {})
    if done.get("done") and name not in redo:
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
    for later in STAGE_NAMES[STAGE_NAMES.index(name) + 1:]:
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


def run(options: DemoOptions, script: str = "demo.py") -> int:
    """Every stage in turn (each one's command checked against its options before any runs);
    returns the exit status of the first that fails, else 0."""
    check_demo_folder(options.out)
    out = os.path.abspath(options.out)
    path = {stage.name: os.path.join(out, stage.folder) for stage in STAGES}
    values = stage_values(options, path)
    commands = [(stage.name, list(stage.command) + command_args(stage.options,
                                                                values[stage.name]))
                for stage in STAGES]
    os.makedirs(out, exist_ok=True)
    state = load_state(out)
    t0 = time.time()
    for name, args in commands:
        code = run_stage(name, args, state, out, options.redo)
        if code:
            # The stage has printed its own error; the demo only says how to go on.
            print(f"[demo] {name} failed (exit {code}); fix the cause and re-run demo.py: "
                  "finished stages are reused", file=sys.stderr, flush=True)
            return code
        if name == "train":
            step = trained_step(path["train"])
            if step is not None and step < options.train_steps:
                again = [sys.executable, os.path.join(HERE, "demo.py")] + command_args(
                    DemoOptions, {**_given(options), "redo": ["train"]})
                print(f"[demo] WARNING: the time cap (--train_minutes="
                      f"{options.train_minutes:g}) stopped training at step {step} of "
                      f"{options.train_steps}: the results will not match another run's. To "
                      f"finish the steps: cd {shlex.quote(os.getcwd())} && "
                      f"{shlex.join(again)}", file=sys.stderr, flush=True)
    print(f"[demo] finished in {time.time() - t0:.0f} s (this invocation).")
    print(f"[demo] report: {os.path.join(path['analyze'], 'report.md')} (and report.html)")
    print(f"[demo] latent sweep: {os.path.join(path['sweep_analyze'], 'report.md')}")
    print(f"[demo] TensorBoard: {tensorboard_hint(path['train'])}")
    return 0


def _given(options: DemoOptions) -> dict:
    """The options that differ from their defaults (how to ask for this demo again)."""
    defaults = DemoOptions()
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if getattr(options, f.name) != getattr(defaults, f.name)}


if __name__ == "__main__":
    stage_script("demo.py", DemoOptions, run)
