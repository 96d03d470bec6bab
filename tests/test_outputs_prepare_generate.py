"""prepare.py and generate.py as a user runs them (real CLI subprocesses): an output that is,
contains or lies inside an input, a folder of the repository, or a folder they did not write
is refused with exit status 2 and one line naming the flag, and the inputs stay byte for byte;
--overwrite replaces only the stage's own earlier output."""

import json
import os
import subprocess
import sys

import pytest

import corpus_helpers as ch
from common.outputs import MARKER_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_bytes(root):
    """{relative path: bytes} of every file under ``root``."""
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


def repo_listing():
    """Names at the repository's top level and in analysis/ (a refused run adds none)."""
    return {d: sorted(n for n in os.listdir(os.path.join(ROOT, d)) if n != "__pycache__")
            for d in (".", "analysis")}


def cli(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def assert_refused(proc, script, *words, alone=True):
    """Exit status 2 and one stderr line ``<script>: error: ...`` holding ``words``, the last;
    ``alone``: the only line (a refusal before any work; later ones may follow log lines)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert lines[-1].startswith(f"{script}: error: "), lines
    assert not alone or len(lines) == 1, lines
    assert "Traceback" not in proc.stderr
    assert all(w in lines[-1] for w in words), (words, lines[-1])


# ------------------------------------------------------------------------------ prepare.py
@pytest.fixture
def corpora(tmp_path):
    """A tiny TIMIT tree (under base/corpora/timit) and a word-folder corpus beside it."""
    base = tmp_path / "corpora"
    ch.make_timit_tree(str(base / "timit"), layout={"TRAIN": {"DR1": ["FAAA0", "MBBB0"]}},
                       utts={"SA1": ["dark", "wash"]})
    words = base / "words" / "dark"
    words.mkdir(parents=True)
    ch.write_utterance(str(words), "spk0", ["dark"], fmt="WAV")
    return base


@pytest.mark.parametrize("source, out, how", [
    ("timit", "timit", "is"),
    ("timit", ".", "contains"),                      # the corpus's parent
    ("timit", "timit/TRAIN/data", "lies inside"),
    ("words", "words", "is"),
    ("words", "..", "contains"),                     # the parent of both corpora
])
def test_prepare_never_writes_over_its_corpus(corpora, source, out, how):
    flag = "--timit_dir" if source == "timit" else "--folder_dir"
    before = tree_bytes(corpora)
    out_dir = os.path.normpath(corpora / out)
    proc = cli("prepare.py", f"{flag}={corpora / source}", f"--out={out_dir}",
               "--words=dark", "--overwrite", "--noprogress")
    assert_refused(proc, "prepare.py", f"--out={out_dir} {how} the input",
                   f"{flag}={corpora / source}")
    assert tree_bytes(corpora) == before
    assert sorted(os.listdir(corpora.parent)) == ["corpora"]      # no partial folder either


@pytest.mark.parametrize("script, out_flag, out", [
    ("prepare.py", "--out", "analysis"), ("prepare.py", "--out", "."),
    ("generate.py", "--out", "analysis"), ("generate.py", "--out", "docs/gen")])
def test_outputs_into_the_repository_are_refused(corpora, script, out_flag, out):
    source = (f"--timit_dir={corpora / 'timit'}" if script == "prepare.py"
              else f"--checkpoint={corpora / 'no_checkpoint'}")
    before = repo_listing()
    proc = cli(script, source, f"{out_flag}={out}", "--overwrite")
    assert_refused(proc, script, f"{out_flag}={out} ")
    assert "repository" in proc.stderr or "project's own folder" in proc.stderr
    assert repo_listing() == before and not os.path.exists(os.path.join(ROOT, "docs", "gen"))


def test_prepare_replaces_only_its_own_output(corpora, tmp_path):
    timit = f"--timit_dir={corpora / 'timit'}"
    data = tmp_path / "work" / "data"                      # parents are created
    # the deprecated name --out_dir still works, with a one-line notice
    proc = cli("prepare.py", timit, f"--out_dir={data}", "--words=dark", "--noprogress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "prepare.py: note: --out_dir is deprecated; use --out\n" in proc.stderr
    assert json.load(open(data / "dataset.json"))["words"] == ["dark"]
    assert json.load(open(data / MARKER_NAME))["stage"] == "prepare"
    first = tree_bytes(data)
    # without --overwrite: refused, the earlier dataset untouched
    proc = cli("prepare.py", timit, f"--out={data}", "--words=dark,wash", "--noprogress")
    assert_refused(proc, "prepare.py", f"--out={data}", "--overwrite")
    assert tree_bytes(data) == first
    # with --overwrite: replaced by the new dataset
    proc = cli("prepare.py", timit, f"--out={data}", "--words=dark,wash", "--noprogress",
               "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.load(open(data / "dataset.json"))["words"] == ["dark", "wash"]
    assert sorted(os.listdir(data.parent)) == ["data"]
    # a folder the stage did not write is refused even with --overwrite
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("four years")
    proc = cli("prepare.py", timit, f"--out={thesis}", "--overwrite", "--noprogress")
    assert_refused(proc, "prepare.py", f"--out={thesis}", "not an output of prepare")
    assert tree_bytes(thesis) == {"thesis.txt": b"four years"}


def test_prepare_missing_out(corpora):
    proc = cli("prepare.py", f"--timit_dir={corpora / 'timit'}")
    assert_refused(proc, "prepare.py", "--out is required")


# ------------------------------------------------------------------------------ generate.py
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny training folder of ours: config.json, the checkpoint ckpt-3 and a newer ckpt-5
    whose data file is cut short (a full disk), so the folder's newest readable is ckpt-3."""
    tf = pytest.importorskip("tensorflow")
    import wavegan

    base = tmp_path_factory.mktemp("gen") / "runs"
    run = base / "c3"
    run.mkdir(parents=True)
    tf.keras.utils.set_random_seed(5)
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=3, dim=2)
    G, D, Q = wavegan.build_models(config)
    config.save(str(run / "config.json"))
    wavegan.model_checkpoint(G, D, Q).write(str(run / "ckpt-3"))
    for name in os.listdir(run):
        if name.startswith("ckpt-3."):
            data = (run / name).read_bytes()
            cut = len(data) // 2 if ".data-" in name else len(data)
            (run / name.replace("ckpt-3", "ckpt-5")).write_bytes(data[:cut])
    return run


@pytest.mark.parametrize("checkpoint, out, how", [
    ("c3", "c3", "is"),
    ("c3", ".", "contains"),                         # the runs folder around it
    ("c3", "c3/gen", "lies inside"),
    ("c3/ckpt-3", "c3", "is"),                       # a prefix: read from its folder
    ("c3/ckpt-3", "c3/generated", "lies inside"),    # (issue 23: was accepted)
    ("c3/ckpt-3.index", "c3/generated", "lies inside"),   # one of its files
    ("c3/ckpt-3", ".", "contains"),
])
def test_generate_never_writes_over_its_checkpoint(run_dir, checkpoint, out, how):
    runs = run_dir.parent
    before = tree_bytes(runs)
    out_path = os.path.normpath(runs / out)
    proc = cli("generate.py", f"--checkpoint={runs / checkpoint}", f"--out={out_path}",
               "--overwrite")
    assert_refused(proc, "generate.py", f"--out={out_path} {how} the input",
                   f"--checkpoint={runs / checkpoint}")
    assert tree_bytes(runs) == before
    assert sorted(os.listdir(runs.parent)) == ["runs"]


@pytest.mark.parametrize("args, words", [
    ([], ["--checkpoint and --out are required"]),
    (["--out=x"], ["--checkpoint is required"]),
    (["--checkpoint=x"], ["--out is required"]),
])
def test_generate_missing_flags(args, words):
    assert_refused(cli("generate.py", *args), "generate.py", *words)


def test_generate_replaces_only_its_own_output(run_dir, tmp_path):
    ckpt = f"--checkpoint={run_dir}"
    out = tmp_path / "gen"
    proc = cli("generate.py", ckpt, f"--out={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the damaged newer ckpt-5 is skipped with a warning; the step used is printed
    assert f"checkpoint: {run_dir / 'ckpt-3'} (step 3)" in proc.stdout
    assert "ckpt-5" in proc.stderr
    names = sorted(n for n in os.listdir(out) if n.endswith(".wav"))
    assert names == [f"code_{c}_z000.wav" for c in range(3)]
    first = tree_bytes(out)
    # without --overwrite: refused, the earlier output untouched
    proc = cli("generate.py", ckpt, f"--out={out}", "--n_per_code=2")
    assert_refused(proc, "generate.py", f"--out={out}", "--overwrite")
    assert tree_bytes(out) == first
    # a bad --codes is named, before anything is written
    proc = cli("generate.py", ckpt, f"--out={tmp_path / 'bad'}", "--codes=7")
    assert_refused(proc, "generate.py", "--codes=7", "out of range", alone=False)
    assert not (tmp_path / "bad").exists()
    # with --overwrite: replaced (two noise vectors per code now)
    proc = cli("generate.py", ckpt, f"--out={out}", "--n_per_code=2", "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(n for n in os.listdir(out) if n.endswith(".wav"))
    assert names == [f"code_{c}_z{j:03d}.wav" for c in range(3) for j in range(2)]
    assert sorted(os.listdir(tmp_path)) == ["gen"]
    # a folder the stage did not write is refused even with --overwrite
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("four years")
    proc = cli("generate.py", ckpt, f"--out={thesis}", "--overwrite")
    assert_refused(proc, "generate.py", f"--out={thesis}", "not an output of generate")
    assert tree_bytes(thesis) == {"thesis.txt": b"four years"}


def test_generate_names_files_with_the_word_of_their_code(run_dir, tmp_path):
    """--classification: each clip's file and generated.csv name the word Q's one-to-one
    mapping gives its code; a word that is not plain text stays out of the file name."""
    import pandas as pd
    acts = tmp_path / "acts"
    acts.mkdir()
    (acts / "classification.json").write_text(json.dumps(
        {"mapping": {"dark": 1, "../x": 2, "ask": 0}}))
    out = tmp_path / "gen"
    proc = cli("generate.py", f"--checkpoint={run_dir}", f"--out={out}",
               f"--classification={acts}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(n for n in os.listdir(out) if n.endswith(".wav"))
    assert names == ["code_0_ask_z000.wav", "code_1_dark_z000.wav", "code_2_z000.wav"]
    table = pd.read_csv(out / "generated.csv", keep_default_na=False)
    assert table.set_index("code")["word"].to_dict() == {"code_0": "ask", "code_1": "dark",
                                                        "code_2": "../x"}
    assert sorted(os.listdir(acts)) == ["classification.json"]  # the input untouched
    proc = cli("generate.py", f"--checkpoint={run_dir}", f"--out={tmp_path / 'g2'}",
               f"--classification={tmp_path / 'nope'}")
    assert proc.returncode == 2 and "--classification=" in proc.stderr
