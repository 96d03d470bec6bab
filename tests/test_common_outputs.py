"""common/outputs.py, the safe-output rule, on tmp_path folders: path relations, the inputs and
project checks, the marker rules of check_output, OutputFolder (success, failure, replacement,
re-check at install) and the tidying of partial folders left by killed runs."""

import json
import os
import subprocess
import sys

import pytest

from common import outputs
from common.errors import InputError, OutputPathError
from common.outputs import MARKER_NAME, OutputFolder, check_output

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_bytes(root):
    """{relative path: bytes} of every file under ``root``."""
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


def write_marker_by_hand(folder, stage, complete=True):
    """A marker written independently of outputs.write_marker (the documented fields)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, MARKER_NAME), "w") as f:
        json.dump({"stage": stage, "complete": complete}, f)


def dead_pid():
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------ relations
def test_overlap_relations(tmp_path):
    a = tmp_path / "a"
    (a / "b").mkdir(parents=True)
    assert outputs.overlap(str(a), str(a)) == "is"
    assert outputs.overlap(str(a) + "/", str(a)) == "is"
    assert outputs.overlap(str(tmp_path), str(a)) == "contains"
    assert outputs.overlap(str(a / "b" / "new"), str(a)) == "lies inside"
    assert outputs.overlap(str(tmp_path / "ab"), str(a)) is None      # a name prefix only
    assert outputs.overlap(str(tmp_path / "c"), str(a)) is None
    # through a symbolic link, and relative to the working directory
    os.symlink(a, tmp_path / "link")
    assert outputs.overlap(str(tmp_path / "link"), str(a)) == "is"
    assert outputs.overlap(str(tmp_path / "link" / "x"), str(a / "b" / "..")) == "lies inside"
    cwd = os.getcwd()
    try:
        os.chdir(a)
        assert outputs.overlap("b", str(a / "b")) == "is"
        assert outputs.overlap("..", "b") == "contains"
    finally:
        os.chdir(cwd)


def test_check_not_input_names_both_flags(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    inputs = {"--data": str(data), "--checkpoint": None}
    for out, how in ((data, "is"), (tmp_path, "contains"), (data / "sub", "lies inside")):
        with pytest.raises(OutputPathError) as err:
            outputs.check_not_input(str(out), inputs, "--out")
        assert str(err.value).startswith(f"--out={out} {how} the input --data={data}")
    outputs.check_not_input(str(tmp_path / "other"), inputs, "--out")
    assert issubclass(OutputPathError, InputError)


# ------------------------------------------------------------------------------ project
@pytest.mark.parametrize("rel, how", [(".", "this repository"), ("..", "this repository"),
                                      ("analysis", "is the project's own folder analysis/"),
                                      ("docs/new", "lies inside the project's own folder docs/"),
                                      ("tests", "the project's own folder tests/")])
def test_repository_folders_are_refused(rel, how):
    with pytest.raises(OutputPathError, match=how.replace("(", r"\(")):
        outputs.check_not_project(os.path.join(ROOT, rel), "--out")


def test_repository_allows_work_and_outside(tmp_path):
    outputs.check_not_project(os.path.join(ROOT, "work", "x"), "--out")
    outputs.check_not_project(str(tmp_path / "x"), "--out")


def test_project_folders_without_git(tmp_path):
    """An unpacked archive: package folders and the always-project folders are refused."""
    root = tmp_path / "repo"
    for name in ("pkg", "docs", "data", "work"):
        (root / name).mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    got = outputs.project_folders(str(root))
    assert got == (os.path.realpath(root / "docs"), os.path.realpath(root / "pkg"))
    for rel in ("pkg", "pkg/out", "docs"):
        with pytest.raises(OutputPathError):
            outputs.check_not_project(str(root / rel), "--out", root=str(root))
    outputs.check_not_project(str(root / "data" / "out"), "--out", root=str(root))
    outputs.check_not_project(str(root / "work" / "out"), "--out", root=str(root))


def test_project_folders_with_git(tmp_path):
    """With git: a folder holding a tracked file is the project's; an untracked one is not."""
    root = tmp_path / "repo"
    for name in ("notes", "scratch"):
        (root / name).mkdir(parents=True)
        (root / name / "a.txt").write_text(name)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "notes/a.txt"], check=True)
    assert outputs.project_folders(str(root)) == (os.path.realpath(root / ".git"),
                                                  os.path.realpath(root / "notes"))
    with pytest.raises(OutputPathError, match="notes/"):
        outputs.check_not_project(str(root / "notes" / "out"), "--out", root=str(root))
    outputs.check_not_project(str(root / "scratch" / "out"), "--out", root=str(root))


# ------------------------------------------------------------------------------ markers
def test_check_output_marker_rules(tmp_path):
    out = tmp_path / "out"
    assert check_output(str(out), "extract") == str(out)                 # absent
    out.mkdir()
    assert check_output(str(out), "extract") == str(out)                 # empty = absent
    write_marker_by_hand(out, "extract")
    with pytest.raises(OutputPathError, match="--overwrite"):
        check_output(str(out), "extract")
    assert check_output(str(out), "extract", overwrite=True) == str(out)
    for overwrite in (False, True):                                       # another stage's
        with pytest.raises(OutputPathError, match="not an output of analyze"):
            check_output(str(out), "analyze", overwrite=overwrite)
    (out / MARKER_NAME).write_text("{not json")                           # unreadable marker
    with pytest.raises(OutputPathError, match="not an output of extract"):
        check_output(str(out), "extract", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        check_output(str(tmp_path / "file"), "extract", overwrite=True)
    with pytest.raises(OutputPathError, match="--out_dir is required"):
        check_output("", "prepare", flag="--out_dir")


def test_thesis_folder_is_never_replaced(tmp_path):
    thesis = tmp_path / "mine" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("chapter 1")
    with pytest.raises(OutputPathError, match="left untouched"):
        OutputFolder(str(thesis.parent), "generate", overwrite=True)
    assert thesis.read_text() == "chapter 1" and os.listdir(tmp_path) == ["mine"]


# ------------------------------------------------------------------------------ OutputFolder
def test_output_folder_success_then_replace(tmp_path):
    out = tmp_path / "gen"
    with OutputFolder(str(out), "generate") as tmp:
        assert os.path.basename(tmp) == f".gen.partial-{os.getpid()}" and not out.exists()
        assert json.load(open(os.path.join(tmp, MARKER_NAME)))["complete"] is False
        (open(os.path.join(tmp, "a.wav"), "w")).write("first")
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "a.wav"])
    marker = json.load(open(out / MARKER_NAME))
    assert marker["stage"] == "generate" and marker["complete"] is True
    with pytest.raises(OutputPathError, match="--overwrite"):
        OutputFolder(str(out), "generate")
    with OutputFolder(str(out), "generate", overwrite=True) as tmp:
        open(os.path.join(tmp, "b.wav"), "w").write("second")
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "b.wav"])      # a.wav went with it
    assert os.listdir(tmp_path) == ["gen"]


def test_output_folder_failure_leaves_old_output(tmp_path):
    out = tmp_path / "gen"
    with OutputFolder(str(out), "generate") as tmp:
        open(os.path.join(tmp, "a.wav"), "w").write("kept")
    before = tree_bytes(out)
    with pytest.raises(RuntimeError, match="boom"):
        with OutputFolder(str(out), "generate", overwrite=True) as tmp:
            open(os.path.join(tmp, "b.wav"), "w").write("lost")
            raise RuntimeError("boom")
    assert tree_bytes(out) == before and os.listdir(tmp_path) == ["gen"]


def test_output_folder_refuses_input_before_any_work(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.tfrecord").write_bytes(b"\x00\x01")
    for out in (data, tmp_path, data / "acts"):
        with pytest.raises(OutputPathError, match="the input --data="):
            OutputFolder(str(out), "extract", inputs={"--data": str(data)}, overwrite=True)
    assert tree_bytes(tmp_path) == {"data/x.tfrecord": b"\x00\x01"}


def test_install_rechecks_the_disk(tmp_path):
    """A folder that appears at the output while the stage runs is not replaced."""
    out = tmp_path / "out"
    with pytest.raises(OutputPathError, match="not an output of analyze"):
        with OutputFolder(str(out), "analyze", overwrite=True) as tmp:
            open(os.path.join(tmp, "report.md"), "w").write("new")
            out.mkdir()
            (out / "thesis.txt").write_text("mine")
    assert tree_bytes(out) == {"thesis.txt": b"mine"}
    assert os.listdir(tmp_path) == ["out"]


# ------------------------------------------------------------------------------ stale partials
def test_stale_partials_of_dead_runs_are_tidied(tmp_path):
    out = tmp_path / "acts"
    dead, alive = dead_pid(), os.getppid()
    stale = tmp_path / f".acts.partial-{dead}"
    write_marker_by_hand(stale, "extract", complete=False)
    running = tmp_path / f".acts.partial-{alive}"             # a live run's: kept
    write_marker_by_hand(running, "extract", complete=False)
    foreign = tmp_path / f".acts.partial-{dead + 1}x"          # not a pid: kept
    foreign.mkdir()
    other_stage = tmp_path / f".acts.partial-{dead}.old"       # another stage's: kept
    write_marker_by_hand(other_stage, "analyze")
    unmarked = tmp_path / f".acts.partial-{dead_pid()}"        # no marker: not ours, kept
    unmarked.mkdir()
    (unmarked / "notes.txt").write_text("mine")
    with OutputFolder(str(out), "extract") as tmp:
        open(os.path.join(tmp, "activations.csv"), "w").write("x")
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["acts", running.name, foreign.name, other_stage.name, unmarked.name])
    assert (unmarked / "notes.txt").read_text() == "mine"


def test_output_moved_aside_by_a_killed_run_is_restored(tmp_path):
    out = tmp_path / "data"
    aside = tmp_path / f".data.partial-{dead_pid()}.old"
    write_marker_by_hand(aside, "prepare")
    (aside / "dataset.json").write_text("{}")
    outputs.clean_stale_partials(str(out), "prepare")
    assert os.listdir(tmp_path) == ["data"]
    assert sorted(os.listdir(out)) == sorted([MARKER_NAME, "dataset.json"])
    # when the output exists again, a leftover moved-aside copy is removed instead
    aside2 = tmp_path / f".data.partial-{dead_pid()}.old"
    write_marker_by_hand(aside2, "prepare")
    outputs.clean_stale_partials(str(out), "prepare")
    assert os.listdir(tmp_path) == ["data"]


def test_atomic_leftovers_are_recognised(tmp_path):
    """A temporary file of common.atomic.atomic_path (what a SIGKILL between its creation and
    its rename leaves) is recognised by is_atomic_leftover; the final name is not."""
    from common.atomic import atomic_path, is_atomic_leftover
    seen = []
    with atomic_path(str(tmp_path / ".resume.json")) as tmp:
        seen.append(os.path.basename(tmp))
        open(tmp, "w").close()
    assert is_atomic_leftover(seen[0])
    assert not is_atomic_leftover(".resume.json") and not is_atomic_leftover("a.tmp-1.csv")
