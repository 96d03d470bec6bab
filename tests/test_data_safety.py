"""Data safety, second round (issue 23), with cases of our own for each class:

1. every path a stage reads counts as an input of the output rule, in any spelling (a folder,
   a file, a checkpoint prefix or one of its files, through a symbolic link);
2. a training folder is new, empty or an earlier run of train.py;
3. OS errors (permission, read-only, full disk, TensorFlow's ResourceExhaustedError) are one
   line and exit 2 and leave what is on disk as it was; a symbolic link as --out is written
   through; prepare's spool lives in its own temporary folder;
4. a batch far beyond the data is refused before memory is taken;
6. a constant layer and an R failure are one line naming the layer; no rpy2 log line when R
   is missing.
(Class 4's ranges are fuzzed in tests/test_options.py, class 5 is in
tests/test_corpus_reading.py and tests/test_corpus_prepare.py.)  Everything here refuses
before TensorFlow or R is imported, or runs in-process on tiny inputs.
"""

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from common import layout
from common.cli import run_main, run_stage_command
from common.errors import OutputPathError
from common.outputs import MARKER_NAME, check_not_input, write_marker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(script, *args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)],
                          cwd=cwd or ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def one_line(proc, script):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, \
        proc.stderr[-3000:]
    assert lines[0].startswith(f"{script}: error: "), lines
    return lines[0]


def tree(folder):
    """{relative path: bytes} of every file under ``folder`` (links as 'link -> target')."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            out[rel] = (f"link -> {os.readlink(path)}" if os.path.islink(path)
                        else open(path, "rb").read())
    return out


def stage_folder(path, stage, files=("a.txt",)):
    os.makedirs(path, exist_ok=True)
    for name in files:
        with open(os.path.join(path, name), "w") as f:
            f.write(f"{stage} {name}")
    write_marker(str(path), stage)
    return path


# --------------------------------------------------------------------------------------------
# 1. Every input counts, in any spelling
# --------------------------------------------------------------------------------------------
def test_analyze_never_replaces_or_writes_into_its_generated_folder(tmp_path):
    """--generated=O/gen --out=O --overwrite deleted the --generated folder; --out inside it
    was accepted.  Both are refused now, in any spelling of --generated."""
    acts = stage_folder(tmp_path / "acts", "extract")
    out = stage_folder(tmp_path / "O", "analyze")
    gen = stage_folder(out / "gen", "generate", files=(layout.GENERATED_CSV,))
    before = tree(tmp_path)
    for generated, target, how in ((gen, out, "contains"),
                                   (gen / layout.GENERATED_CSV, out, "contains"),
                                   (gen, gen / "report", "lies inside"),
                                   (gen, gen, "is")):
        line = one_line(cli("analyze.py", f"--activations={acts}", f"--generated={generated}",
                            f"--out={target}", "--overwrite"), "analyze.py")
        assert f"--out={target} {how} the input --generated={generated}" in line, line
    assert tree(tmp_path) == before


def test_a_checkpoint_counts_through_its_folder_and_its_links(tmp_path):
    run = tmp_path / "RUN"
    run.mkdir()
    (run / "ckpt-3.index").write_bytes(b"")
    (tmp_path / "LINK").symlink_to(run, target_is_directory=True)
    other = tmp_path / "OTHER"
    other.mkdir()
    (other / "ckpt-7.index").write_bytes(b"")
    (run / "ckpt-7.index").symlink_to(other / "ckpt-7.index")
    for given, out in ((run / "ckpt-3", run / "generated"),             # a prefix
                       (run / "ckpt-3.index", run / "generated"),       # one of its files
                       (tmp_path / "LINK" / "ckpt-3", run / "generated"),  # through a link
                       (run / "ckpt-3", tmp_path / "LINK" / "generated"),
                       (run / "ckpt-7", other / "generated")):          # its index linked
        with pytest.raises(OutputPathError, match="lies inside the input --checkpoint="):
            check_not_input(str(out), {"--checkpoint": str(given)})
    check_not_input(str(tmp_path / "elsewhere"), {"--checkpoint": str(run / "ckpt-3")})


@pytest.mark.parametrize("script, args", [
    ("extract.py", ["--checkpoint={run}/ckpt-3", "--data={data}", "--out={run}/acts"]),
    ("generate.py", ["--checkpoint={run}/ckpt-3.index", "--out={run}/wavs"]),
    ("train.py", ["--init_from={run}/ckpt-3", "--data={data}", "--train_dir={run}/more"]),
    ("prepare.py", ["--folder_dir={data}", "--out={data}/../data/sub"]),
])
def test_each_script_refuses_an_output_in_an_input_before_loading(tmp_path, script, args):
    run, data = tmp_path / "run", tmp_path / "data"
    run.mkdir()
    data.mkdir()
    (run / "ckpt-3.index").write_bytes(b"")
    before = tree(tmp_path)
    line = one_line(cli(script, *[a.format(run=run, data=data) for a in args]), script)
    assert " the input --" in line
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------------------------
# 2. A training folder is new, empty or an earlier run
# --------------------------------------------------------------------------------------------
@pytest.fixture
def dataset(tmp_path):
    """A dataset.json with 3 training tokens (enough for read_dataset_info, no TensorFlow)."""
    data = tmp_path / "data"
    (data / "tfrecords").mkdir(parents=True)
    (data / "tfrecords" / "train-00000-of-00001.tfrecord").write_bytes(b"")
    (data / layout.DATASET_JSON).write_text(json.dumps(layout.stamp(
        {"sample_rate": 16000, "slice_len": 16384, "words": ["a"], "splits": {"train": 3},
         "shards": {"train": ["tfrecords/train-00000-of-00001.tfrecord"]}},
        layout.DATASET_JSON)))
    return data


def train(train_dir, data, *extra):
    return cli("train.py", f"--train_dir={train_dir}", f"--data={data}", *extra)


@pytest.mark.parametrize("content, refused", [
    ({".ciwgan-output.json": "extract"}, "holds an output of extract, not a run of train"),
    ({"flags.json": "{\"mine\": 1}", "notes.txt": "my notes"}, "holds files that are not a "
                                                               "run of train (flags.json, "
                                                               "notes.txt)"),
    ({"results.csv": "1,2"}, "holds files that are not a run of train"),
    ({}, None),                                         # empty: a new run
    ({".lock": ""}, None),                              # a killed run's lock only
    ({"config.json": "{}", "ckpt-1.index": ""}, None),  # a run older than the marker
    ({".ciwgan-output.json": "train", "ckpt-2.index": ""}, None),   # an earlier run
])
def test_train_dir_is_new_empty_or_an_earlier_run(tmp_path, dataset, content, refused):
    train_dir = tmp_path / "run"
    train_dir.mkdir()
    for name, text in content.items():
        if name == MARKER_NAME:
            write_marker(str(train_dir), text)
        else:
            (train_dir / name).write_text(text)
    before = tree(train_dir)
    # a batch larger than the data: refused after the folder's check, before anything else
    line = one_line(train(train_dir, dataset, "--train_batch_size=8"), "train.py")
    if refused:
        assert f"--train_dir={train_dir} {refused}" in line and "left untouched" in line
    else:
        assert "--train_batch_size=8 is more than the 3 training tokens" in line, line
    assert tree(train_dir) == before


def test_a_batch_beyond_the_data_is_refused_before_anything_is_written(tmp_path, dataset):
    line = one_line(train(tmp_path / "new", dataset, "--batch_size=10000"), "train.py")
    assert "--train_batch_size=10000 is more than the 3 training tokens of --data_dir" in line
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------------------------
# 3. OS errors, links, the spool
# --------------------------------------------------------------------------------------------
def word_folder(root, n=3):
    rng = np.random.default_rng(0)
    (root / "yes").mkdir(parents=True)
    for i in range(n):
        sf.write(str(root / "yes" / f"s{i}.wav"), rng.standard_normal(3000) * 0.1, 16000)
    return root


def prepare(*args):
    import prepare as script
    from corpus.prepare_options import PrepareOptions
    return run_stage_command("prepare.py", PrepareOptions, script.run,
                             ["prepare.py", "--noprogress", "--test_fraction=0", *map(str, args)])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A word folder and an earlier prepare output of it (the data a failure must keep)."""
    base = tmp_path_factory.mktemp("prep")
    words = word_folder(base / "words")
    assert prepare(f"--folder_dir={words}", f"--out={base / 'out' / 'data'}") == 0
    return base


@pytest.mark.parametrize("err", [
    (errno.EACCES, "Permission denied", "permission denied"),
    (errno.EROFS, "Read-only file system", "the file system is read-only"),
    (errno.ENOSPC, "No space left on device", "no space left on the device"),
])
def test_an_os_error_is_one_line_and_keeps_what_was_there(prepared, monkeypatch, capsys, err):
    """A folder that cannot be created (read-only parent) or a disk that fills up while the
    tables are written: one line naming the path, exit 2, the earlier output unchanged and no
    temporary folder left."""
    import corpus.build
    out = prepared / "out" / "data"
    before = tree(prepared / "out")
    code, text, advice = err

    def refuse(path, *a, **k):
        raise OSError(code, text, str(path))

    for target, name in ((os, "mkdir"), (corpus.build, "atomic_write_csv")):
        with monkeypatch.context() as m:
            m.setattr(target, name, refuse)
            assert prepare(f"--folder_dir={prepared / 'words'}", f"--out={out}",
                           "--overwrite") == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("prepare.py: error: "), lines
        assert advice in lines[0] and "what was already on disk is unchanged" in lines[0]
        assert tree(prepared / "out") == before


def test_resource_exhausted_and_memory_errors_are_one_line(capsys):
    class ResourceExhaustedError(Exception):     # as TensorFlow names it
        message = "ckpt-9.data-00000-of-00001; No space left on device"

    def disk_full():
        raise ResourceExhaustedError("x")

    def no_memory():
        raise MemoryError()

    assert run_main("train.py", disk_full) == 2
    assert run_main("train.py", no_memory) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("train.py: error: no space left on the device (ckpt-9")
    assert lines[1].startswith("train.py: error: out of memory")
    assert len(lines) == 2


def test_a_symlinked_out_is_written_through(prepared, tmp_path):
    """--out a symbolic link to an earlier output, with --overwrite: the folder it points to
    is replaced (rmtree on the link raised, and the link became a folder with a hidden
    leftover); the link stays and nothing else is left beside either."""
    target = tmp_path / "real" / "data"
    assert prepare(f"--folder_dir={prepared / 'words'}", f"--out={target}") == 0
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    (target / "stale.txt").write_text("from before")      # the earlier output's own file
    write_marker(str(target), "prepare")
    assert prepare(f"--folder_dir={prepared / 'words'}", f"--out={link}", "--overwrite") == 0
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert not (target / "stale.txt").exists() and (target / layout.DATASET_JSON).exists()
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]
    assert sorted(os.listdir(tmp_path / "real")) == ["data"]


def test_the_spool_is_in_the_output_s_temporary_folder(prepared, tmp_path, monkeypatch):
    import corpus.spool
    made = []
    original = corpus.spool.tempfile.TemporaryFile

    def spy(*args, **kwargs):
        made.append(kwargs.get("dir"))
        return original(*args, **kwargs)

    monkeypatch.setattr(corpus.spool.tempfile, "TemporaryFile", spy)
    assert prepare(f"--folder_dir={prepared / 'words'}", f"--out={tmp_path / 'd'}") == 0
    assert len(made) == 1 and os.path.basename(made[0]).startswith(".d.partial-")
    assert sorted(os.listdir(tmp_path)) == ["d"]


# --------------------------------------------------------------------------------------------
# 6. Degenerate data and R
# --------------------------------------------------------------------------------------------
def test_a_constant_layer_is_one_line_naming_it(tmp_path):
    """Before any fit: the word GAMM's layer, a phone layer or a mixed model's layer whose
    values are all equal is refused naming the layer (R stopped in eigen(): exit 1)."""
    from analysis.analyze_options import AnalysisOptions
    from analysis.gamm.data import AnalysisInputError
    from analysis.pipeline import Progress, read_model_inputs
    from synthetic.activations import write_synthetic_folder

    folder = str(tmp_path / "acts")
    write_synthetic_folder(folder, words=["ask", "dark", "rag"], tokens_per_word=3, csv=False)
    path = os.path.join(folder, f"{layout.ACTIVATIONS}.parquet")
    import pandas as pd
    table = pd.read_parquet(path)
    table.loc[table["layer"] == "conv5", "value"] = 0.25
    table.to_parquet(path)
    options = AnalysisOptions(activations=folder, out=str(tmp_path / "o"), phone_layers=[],
                              lmm_layers=["none"], progress=False)
    with pytest.raises(AnalysisInputError, match=r"^layer conv5 \(the word GAMM's rows\): "
                                                 r"every value is 0.25 \(a constant layer\)"):
        read_model_inputs(options, Progress(False))
    with pytest.raises(AnalysisInputError, match=r"^layer conv5 \(the mixed models' token "
                                                 r"means\)"):
        read_model_inputs(options.replace(layer="conv4", lmm_layers=["conv5"]),
                          Progress(False))
    read_model_inputs(options.replace(layer="conv4"), Progress(False))   # the others vary


def test_an_r_failure_is_one_line_naming_what_was_fitted(monkeypatch, capsys, tmp_path):
    import analysis.pipeline as pipeline
    import analyze as script
    from analysis.analyze_options import AnalysisOptions

    class RRuntimeError(Exception):                      # as rpy2 names it
        pass

    def fit(options, progress, name):
        progress("fitting word GAMM: layer conv5, 40 tokens, k=10, engine mgcv")
        raise RRuntimeError("Error in eigen(crossprod(x)) : infinite or missing values in 'x'")

    monkeypatch.setattr(pipeline, "_run", fit)
    assert run_stage_command("analyze.py", AnalysisOptions, script.run,
                             ["analyze.py", f"--activations={tmp_path / 'acts'}",
                              f"--out={tmp_path / 'o'}", "--noprogress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["analyze.py: error: R failed while fitting word GAMM: layer conv5, 40 "
                     "tokens, k=10, engine mgcv: Error in eigen(crossprod(x)) : infinite or "
                     "missing values in 'x'"]


def test_without_r_only_the_one_line_error(tmp_path):
    """No R on PATH: get_r's one line says what to install, and rpy2's own 'Unable to
    determine R home' log line is not printed."""
    code = ("import sys\n"
            "from analysis.rbridge import RUnavailableError, get_r\n"
            "try:\n    get_r(('mgcv',))\n"
            "except RUnavailableError as e:\n    print('refused', file=sys.stderr)\n")
    env = {"PATH": os.path.dirname(sys.executable), "HOME": str(tmp_path), "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))
    assert proc.stderr.strip().splitlines() == ["refused"], proc.stderr
