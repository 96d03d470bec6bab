"""extract.py never loses a user's data and never reads bad data silently.

* the output folder: never the dataset, the checkpoint or a folder of the repository; an
  existing folder that is not an extract output is never replaced, even with --overwrite;
* a corrupt or incomplete dataset: one line naming the file, exit status 2;
* NaN/inf audio is skipped, named and counted (never fed to Q); a token whose logits come out
  NaN/inf is left out of every table, so never counted as a code.

Tiny models (dim 2, 3 codes) and 5 tokens; extract.py runs in-process except for the corrupt
shard, which is checked as a user meets it (a subprocess).
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

tf = pytest.importorskip("tensorflow")
wavegan = pytest.importorskip("wavegan")

from common.outputs import MARKER_NAME  # noqa: E402
from corpus.dataset import peak_normalize_np  # noqa: E402
from extraction.run import run_extraction  # noqa: E402
from extraction.sources import ArraySource, open_source  # noqa: E402
from test_extraction_run import write_dataset  # noqa: E402
from wavegan.tf1_checkpoint import save_tf1_checkpoint  # noqa: E402
from extraction_helpers import (extract_cli, tiny_ciwgan_models,  # noqa: E402
                                word_like_audio)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
L = 16384
WORDS = ["bag", "bag", "dog", "dog", "cat"]
SPEAKERS = ["s1", "s2", "s1", "s2", "s1"]
SHARD = "test-00000-of-00001.tfrecord"


@pytest.fixture(scope="module")
def models():
    return tiny_ciwgan_models(5)


@pytest.fixture(scope="module")
def audio():
    """5 word-like tokens: noise under a sine envelope in the first 8000 samples."""
    return word_like_audio(5, seed=1)


@pytest.fixture()
def paths(tmp_path, models, audio):
    """tmp/data (a prepared dataset) and tmp/run (two TF1-format checkpoints, steps 1 and 5)."""
    _, G, D, Q = models
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for step in (1, 5):
        save_tf1_checkpoint(str(run_dir / f"model.ckpt-{step}"), G, D, Q, global_step=step)
    data = tmp_path / "data"
    write_dataset(str(data), audio, WORDS, SPEAKERS)
    return data, run_dir


cli = extract_cli  # extract.py in-process; returns its exit status


def snapshot(folder):
    """{relative path: sha256} of every file under ``folder`` (and the empty folders)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        if not dirnames and not filenames:
            out[rel + "/"] = None
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.join(rel, name)] = hashlib.sha256(f.read()).hexdigest()
    return out


def error_line(capsys):
    """The single stderr line of a refused run (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("extract.py: error: "), err
    return lines[0]


# --------------------------------------------------------------------------------------------
# The output folder


@pytest.mark.parametrize("where, how", [("data", "is"), (".", "contains"),
                                        ("data/tfrecords", "lies inside")])
def test_out_overlapping_data_refused_even_with_overwrite(tmp_path, paths, capsys, where, how):
    data, run_dir = paths
    before = snapshot(tmp_path)
    out = os.path.normpath(tmp_path / where)
    assert cli(f"--checkpoint={run_dir}/model.ckpt-1", f"--data={data}", f"--out={out}",
               "--overwrite") == 2
    line = error_line(capsys)
    assert f"--out={out} {how} the input --data={data}" in line
    assert snapshot(tmp_path) == before                      # byte for byte, nothing added


@pytest.mark.parametrize("checkpoint, out", [
    ("run/model.ckpt-5", "run"),         # out contains the checkpoint's files
    ("run", "run"),                      # out is the training folder given as checkpoint
    ("run", "run/acts"),                 # out inside it
])
def test_out_overlapping_checkpoint_refused(tmp_path, paths, capsys, checkpoint, out):
    data, run_dir = paths
    elsewhere = tmp_path / "elsewhere"
    write_dataset(str(elsewhere), np.zeros((1, L), np.float32), ["a"], ["s"])
    before = snapshot(tmp_path)
    out = os.path.normpath(tmp_path / out)
    assert cli(f"--checkpoint={tmp_path / checkpoint}", f"--data={elsewhere}",
               f"--out={out}", "--overwrite") == 2
    assert "the input --checkpoint=" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_foreign_folder_refused_even_with_overwrite(tmp_path, paths, capsys):
    data, run_dir = paths
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("months of work\n")
    before = snapshot(tmp_path)
    assert cli(f"--checkpoint={run_dir}", f"--data={data}", f"--out={mine}",
               "--overwrite") == 2
    assert f"--out={mine} exists and is not an output of extract" in error_line(capsys)
    assert snapshot(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == ["data", "mine", "run"]   # no partial sibling


@pytest.mark.parametrize("where", ["analysis/_extract_safety_out", "docs", "."])
def test_out_in_repository_refused(paths, capsys, where):
    """Without --overwrite: should the rule ever break, no run of this test may replace the
    repository or docs/ (the message still tells the repository rule from 'exists')."""
    data, run_dir = paths
    out = os.path.normpath(os.path.join(ROOT, where))
    existed = os.path.exists(out)
    try:
        assert cli(f"--checkpoint={run_dir}", f"--data={data}", f"--out={out}") == 2
        line = error_line(capsys)
        assert "this repository" in line or "the project's own folder" in line
        assert os.path.exists(out) == existed
    finally:
        if not existed and os.path.isdir(out):      # only ever the folder this test named
            for name in os.listdir(out):
                os.remove(os.path.join(out, name))
            os.rmdir(out)


# --------------------------------------------------------------------------------------------
# Incomplete or corrupt datasets


def test_incomplete_dataset_one_line(tmp_path, paths, capsys):
    data, run_dir = paths
    ckpt = f"--checkpoint={run_dir}"
    out = tmp_path / "act"
    # shard listed in dataset.json but missing
    os.replace(data / "tfrecords" / SHARD, tmp_path / SHARD)
    assert cli(ckpt, f"--data={data}", f"--out={out}") == 2
    line = error_line(capsys)
    assert f"--data={data}" in line and "missing" in line and SHARD in line
    # dataset.json missing (preparation did not finish)
    os.replace(tmp_path / SHARD, data / "tfrecords" / SHARD)
    os.remove(data / "dataset.json")
    assert cli(ckpt, f"--data={data}", f"--out={out}") == 2
    assert f"--data={data}" in (line := error_line(capsys)) and "dataset.json" in line
    # no folder at all
    assert cli(ckpt, f"--data={tmp_path / 'nope'}", f"--out={out}") == 2
    assert "nope" in error_line(capsys)
    assert not out.exists()


def test_truncated_shard_names_the_shard(tmp_path, paths):
    """python extract.py as a user runs it: exit 2, one line naming the shard, no output."""
    data, run_dir = paths
    shard = data / "tfrecords" / SHARD
    size = shard.stat().st_size
    with open(shard, "r+b") as f:
        f.truncate(size - size // 3)       # cuts a record in the middle
    out = tmp_path / "act"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "extract.py"),
                          f"--checkpoint={run_dir}", "--model=ciwgan", f"--data={data}",
                          f"--out={out}", "--batch_size=2", "--noprogress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("extract.py: error: ") and str(shard) in last, res.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["data", "run"]   # no output, no partial folder


# --------------------------------------------------------------------------------------------
# Non-finite audio and outputs


def eager_means(Q, x, layer):
    """Reference channel means of one layer, computed eagerly (no extraction code)."""
    return Q.layer_outputs(peak_normalize_np(x))[layer].numpy().mean(axis=2)


def test_nan_and_inf_tokens_skipped_named_counted(tmp_path, models, audio, capsys, caplog):
    config, _, _, Q = models
    bad = audio.copy()
    bad[1, 100] = np.nan
    bad[3, 7000] = np.inf
    data = tmp_path / "data"
    write_dataset(str(data), bad, WORDS, SPEAKERS)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_tf1_checkpoint(str(run_dir / "model.ckpt-1"), *models[1:], global_step=1)
    save_tf1_checkpoint(str(run_dir / "model.ckpt-5"), *models[1:], global_step=5)
    out = tmp_path / "act"
    with caplog.at_level("WARNING"):
        assert cli(f"--checkpoint={run_dir}", f"--data={data}", f"--out={out}") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "3 tokens" in line and "skipped 2 (non_finite=2)" in line
    assert f"checkpoint {run_dir / 'model.ckpt-5'} (step 5)" in line      # the newest one
    logged = caplog.text
    assert "token_id 1 (word 'bag', speaker 's2')" in logged
    assert "token_id 3 (word 'dog', speaker 's2')" in logged

    info = json.loads((out / "extract_info.json").read_text())
    assert info["counts"]["skipped"] == {"non_finite": 2}
    assert [(t["token_id"], t["word"], t["reason"]) for t in info["counts"]["skipped_tokens"]] \
        == [(1, "bag", "non_finite"), (3, "dog", "non_finite")]
    assert info["counts"]["tokens"] == 3
    assert info["checkpoint_prefix"] == str(run_dir / "model.ckpt-5")
    assert info["checkpoint_step"] == 5

    kept = [0, 2, 4]
    act = pd.read_parquet(out / "activations.parquet")
    assert np.isfinite(act.value).all() and sorted(set(act.token_id)) == kept
    for layer in ("conv1", "conv5"):
        got = act[act.layer == layer].pivot(index="token_id", columns="sample", values="value")
        np.testing.assert_allclose(got.to_numpy(), eager_means(Q, audio[kept], layer),
                                   atol=1e-6)
    q = pd.read_csv(out / "q_outputs.csv")
    assert q.token_id.tolist() == kept
    codes = Q(peak_normalize_np(audio[kept]), training=False).numpy().argmax(1)
    conf = pd.read_csv(out / "confusion.csv", index_col="word")
    expected = pd.crosstab(pd.Series([WORDS[i] for i in kept]), pd.Series(codes)).reindex(
        columns=range(3), fill_value=0).sort_index()
    np.testing.assert_array_equal(conf.to_numpy(), expected.to_numpy())
    assert json.loads((out / "classification.json").read_text())["n_tokens"] == 3


def test_nan_wav_file_skipped(tmp_path, models, audio):
    config, _, _, Q = models
    root = tmp_path / "wavs"
    root.mkdir()
    sf.write(root / "bag_1.wav", audio[0][:8000], 16000, subtype="FLOAT")
    nan_clip = audio[1][:8000].copy()
    nan_clip[10] = np.nan
    sf.write(root / "bag_2.wav", nan_clip, 16000, subtype="FLOAT")
    sf.write(root / "dog_1.wav", audio[2][:8000], 16000, subtype="FLOAT")
    out = tmp_path / "act"
    info = run_extraction(Q, config, open_source(str(root), "test", 2, L), str(out),
                             progress=False, n_perm=5, layers="conv3")
    # the folder reader prepare.py uses names and counts it (reason audio_unreadable)
    assert info["counts"]["skipped"] == {"audio_unreadable": 1}
    (entry,) = info["counts"]["skipped_files"]
    assert entry["file"] == "bag_2.wav"
    assert entry["reason"] == f"audio_unreadable: {root / 'bag_2.wav'}: audio has NaN/inf samples"
    assert info["counts"]["tokens"] == 2
    act = pd.read_parquet(out / "activations.parquet")
    assert np.isfinite(act.value).all()
    assert act.groupby("token_id").word.first().tolist() == ["bag", "dog"]
    np.testing.assert_allclose(act.value.to_numpy().reshape(2, 256),
                               eager_means(Q, audio[[0, 2]], "conv3"), atol=1e-6)
    conf = pd.read_csv(out / "confusion.csv", index_col="word")
    assert conf.to_numpy().sum() == 2


class NaNLogitsQ:
    """Q whose logits are NaN for tokens marked by a non-zero last sample (finite audio):
    stands for a model that breaks down on some inputs."""

    def __init__(self, Q):
        self.Q = Q

    def layer_outputs(self, x):
        outs = dict(self.Q.layer_outputs(x))
        marked = tf.not_equal(x[:, -1], 0.0)[:, None]
        outs["logits"] = tf.where(marked, tf.fill(tf.shape(outs["logits"]), np.nan),
                                  outs["logits"])
        return outs


def test_non_finite_logits_never_counted_as_a_code(tmp_path, models, audio):
    config, _, _, Q = models
    x = audio.copy()
    x[2, -1] = 0.1                              # token 2: Q's logits will be NaN
    out = tmp_path / "act"
    info = run_extraction(NaNLogitsQ(Q), config, ArraySource(x, WORDS, SPEAKERS, 2),
                             str(out), progress=False, n_perm=5, layers="conv5")
    kept = [0, 1, 3, 4]
    assert info["counts"]["skipped"] == {"non_finite_output": 1}
    assert [t["token_id"] for t in info["counts"]["skipped_tokens"]] == [2]
    q = pd.read_csv(out / "q_outputs.csv")
    assert q.token_id.tolist() == kept and np.isfinite(q.filter(like="logit_")).all().all()
    codes = Q(peak_normalize_np(x[kept]), training=False).numpy().argmax(1)
    conf = pd.read_csv(out / "confusion.csv", index_col="word")
    expected = pd.crosstab(pd.Series([WORDS[i] for i in kept]), pd.Series(codes)).reindex(
        columns=range(3), fill_value=0).sort_index()
    np.testing.assert_array_equal(conf.to_numpy(), expected.to_numpy())
    summary = json.loads((out / "classification.json").read_text())
    assert summary["n_tokens"] == 4
    act = pd.read_parquet(out / "activations.parquet")
    assert sorted(set(act.token_id)) == kept
    assert MARKER_NAME in os.listdir(out)


def test_unreadable_newest_checkpoint_reported(tmp_path, paths, capsys):
    """A training folder whose newest checkpoint is damaged: the older one is used, and the
    final line and extract_info.json say which."""
    data, run_dir = paths
    (data_file,) = [p for p in os.listdir(run_dir) if p.startswith("model.ckpt-5.data")]
    with open(run_dir / data_file, "r+b") as f:
        f.truncate(os.path.getsize(run_dir / data_file) // 2)
    before = snapshot(run_dir)
    out = tmp_path / "act"
    assert cli(f"--checkpoint={run_dir}", f"--data={data}", f"--out={out}",
               "--layers=conv5", "--nocsv") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"checkpoint {run_dir / 'model.ckpt-1'} (step 1)" in line
    info = json.loads((out / "extract_info.json").read_text())
    assert (info["checkpoint"], info["checkpoint_prefix"], info["checkpoint_step"]) == (
        str(run_dir), str(run_dir / "model.ckpt-1"), 1)
    assert snapshot(run_dir) == before                      # the damaged files are left alone
