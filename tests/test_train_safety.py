"""train.py never loses or mixes up a run: the --train_dir lock, checkpoints that fall back,
config.json written only after a good restore, one-line errors for bad data and paths."""

import json
import logging
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from ciwgan.training_loop import TrainingError, build_run, run_training
from common.lock import LOCK_NAME
from corpus.corpus_errors import DatasetIncompleteError
from test_training import ROOT, TINY, options, tiny_data  # noqa: F401 (a fixture)
from wavegan import CheckpointError, WaveGANConfig, load_models
from wavegan.checkpoint_files import resolve_readable_prefix
from wavegan.checkpoint_files import checkpoint_problem


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_data):  # noqa: F811
    """A run folder with two checkpoints, ckpt-1 and ckpt-2; tests work on copies."""
    train_dir = tmp_path_factory.mktemp("trained") / "run"
    run_training(TINY, options(train_dir, tiny_data, max_steps=2, save_secs=0))
    assert pointer_paths(train_dir) == ["ckpt-1", "ckpt-2"]
    return train_dir


def copy_run(trained_run, tmp_path):
    return shutil.copytree(trained_run, tmp_path / "run")


def truncate(path, keep=0.5):
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))
    with open(path, "rb") as f:
        return f.read()


def pointer_paths(train_dir):
    state = tf.train.get_checkpoint_state(str(train_dir))
    return [os.path.basename(p) for p in state.all_model_checkpoint_paths]


def skip_warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "unreadable" in r.getMessage()]


def train_cmd(train_dir, data_dir, *extra):
    return [sys.executable, str(ROOT / "train.py"), f"--train_dir={train_dir}",
            f"--data_dir={data_dir}", "--num_categ=4", "--wavegan_dim=4",
            "--train_batch_size=4", "--train_save_secs=100000", "--train_summary_secs=100000",
            "--noprogress", *extra]


def test_second_run_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path,
                                                                               tiny_data):
    train_dir = tmp_path / "run"
    holder_log = tmp_path / "holder.log"  # a file: an unread pipe could fill and stall it
    with open(holder_log, "w") as log:
        holder = subprocess.Popen(train_cmd(train_dir, tiny_data, "--max_steps=100000"),
                                  cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
    try:
        # Wait until the holder trains (flags.json is written once its models are restored):
        # the lock lasts the whole run, not only its start.
        t0 = time.time()
        while not (train_dir / "flags.json").exists():
            assert holder.poll() is None, holder_log.read_text()[-2000:]
            assert time.time() - t0 < 240, "the first run never started training"
            time.sleep(0.2)
        assert _pid_in_lock(train_dir) == holder.pid
        second = subprocess.run(train_cmd(train_dir, tiny_data, "--max_steps=1"), cwd=str(ROOT),
                                capture_output=True, text=True, timeout=300)
        error = one_error_line(second)
        assert len(error) == 1 and f"is in use by process {holder.pid} " in error[0], error
        assert holder.poll() is None  # the refused run did not disturb the holder
        assert len((train_dir / "flags.log").read_text().splitlines()) == 1  # nor wrote there
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock, nothing tidies up
        holder.wait()
    third = subprocess.Popen(train_cmd(train_dir, tiny_data, "--max_steps=0"), cwd=str(ROOT),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = third.communicate(timeout=300)
    assert third.returncode == 0, err[-2000:]
    assert _pid_in_lock(train_dir) == third.pid


def _pid_in_lock(train_dir):
    return json.loads((train_dir / LOCK_NAME).read_text())["pid"]


def one_error_line(proc):
    """The stderr lines of a train.py refusal (TensorFlow's own chatter aside)."""
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return [line for line in proc.stderr.splitlines() if line.startswith("train.py:")]


def test_train_dir_apart_from_inputs_and_project(tmp_path, tiny_data):  # noqa: F811
    init = tmp_path / "orig"
    init.mkdir()
    cases = [(os.path.join(tiny_data, "run"), (), "lies inside the input --data_dir"),
             (str(init), (f"--init_from={init}",), "is the input --init_from"),
             (str(ROOT / "docs" / "run"), (), "lies inside the project's own folder docs/")]
    for train_dir, extra, message in cases:
        proc = subprocess.run(train_cmd(train_dir, tiny_data, *extra), cwd=str(ROOT),
                              capture_output=True, text=True, timeout=300)
        lines = one_error_line(proc)
        assert len(lines) == 1 and f"--train_dir={train_dir} {message}" in lines[0], lines
    assert not os.path.exists(os.path.join(tiny_data, "run"))
    assert not (ROOT / "docs" / "run").exists() and os.listdir(init) == []


def test_truncated_newest_checkpoint_resumes_from_the_previous_one(trained_run, tmp_path,
                                                                    tiny_data, caplog,  # noqa
                                                                    capsys):
    train_dir = copy_run(trained_run, tmp_path)
    data = train_dir / "ckpt-2.data-00000-of-00001"
    truncated = truncate(data)
    index = (train_dir / "ckpt-2.index").read_bytes()
    with caplog.at_level(logging.WARNING):
        result = run_training(TINY, options(train_dir, tiny_data, max_steps=1))
    assert "from step 1." in capsys.readouterr().out and result["step"] == 1
    warnings = skip_warnings(caplog)
    assert len(warnings) == 1 and "ckpt-2 " in warnings[0] and "ckpt-1" in warnings[0]
    # Left in place, byte for byte; the pointer now names what can be read.
    assert data.read_bytes() == truncated and (train_dir / "ckpt-2.index").read_bytes() == index
    assert pointer_paths(train_dir) == ["ckpt-1"]

    # Training on to step 2 writes a new ckpt-2: the unreadable one is moved aside, not
    # overwritten, and the rotation (keep 1) deletes only the readable ckpt-1 it tracks.
    result = run_training(TINY, options(train_dir, tiny_data, max_steps=2, keep_checkpoints=1))
    assert result["step"] == 2
    assert (train_dir / "ckpt-2.set-aside.data-00000-of-00001").read_bytes() == truncated
    assert (train_dir / "ckpt-2.set-aside.index").read_bytes() == index
    assert checkpoint_problem(str(train_dir / "ckpt-2")) is None
    assert not (train_dir / "ckpt-1.index").exists()
    assert pointer_paths(train_dir) == ["ckpt-2"]


def test_no_readable_checkpoint_is_an_error_and_touches_nothing(trained_run, tmp_path,
                                                               tiny_data):  # noqa: F811
    train_dir = copy_run(trained_run, tmp_path)
    for step in (1, 2):
        truncate(train_dir / f"ckpt-{step}.data-00000-of-00001")
    def files():
        return {p.name: p.read_bytes() for p in train_dir.iterdir()
                if p.is_file() and p.name != LOCK_NAME}

    before = files()
    with pytest.raises(TrainingError, match=r"no checkpoint can be read \(ckpt-2: .*ckpt-1: "):
        run_training(TINY, options(train_dir, tiny_data, max_steps=3))
    assert files() == before


def test_load_models_skips_a_corrupt_newest_checkpoint(trained_run, tmp_path, caplog):
    train_dir = copy_run(trained_run, tmp_path)
    _, G1, _, Q1, _ = load_models(str(train_dir / "ckpt-1"))
    _, G2, _, _, _ = load_models(str(train_dir))
    z = tf.random.uniform([2, 100], -1, 1, seed=3)
    assert not np.array_equal(G1(z, training=False), G2(z, training=False))
    # One flipped byte in the middle of the data: TensorFlow's checksum catches it.
    data = train_dir / "ckpt-2.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        config, G, _, Q, _ = load_models(str(train_dir))
    assert config == TINY
    np.testing.assert_array_equal(G(z, training=False), G1(z, training=False))
    x = tf.random.normal([2, 16384], seed=4)
    np.testing.assert_array_equal(Q(x, training=False), Q1(x, training=False))
    assert len(skip_warnings(caplog)) == 1 and "ckpt-2 " in skip_warnings(caplog)[0]
    assert data.read_bytes() == bytes(raw)
    # Named explicitly, an unreadable checkpoint is an error, not silently another one.
    with pytest.raises(CheckpointError, match="ckpt-2: the checkpoint cannot be read"):
        resolve_readable_prefix(str(train_dir / "ckpt-2"))


def test_deleted_pointer_resumes_at_the_newest_and_keeps_rotating(trained_run, tmp_path,
                                                                  tiny_data):  # noqa: F811
    train_dir = copy_run(trained_run, tmp_path)
    os.remove(train_dir / "checkpoint")
    trainer, _, manager = build_run(TINY, options(train_dir, tiny_data, keep_checkpoints=2))
    assert int(trainer.step) == 2
    assert pointer_paths(train_dir) == ["ckpt-1", "ckpt-2"]
    # The rebuilt list is the manager's: a third save rotates ckpt-1 out.
    manager.save(checkpoint_number=3)
    assert pointer_paths(train_dir) == ["ckpt-2", "ckpt-3"]
    assert not (train_dir / "ckpt-1.index").exists() and (train_dir / "ckpt-2.index").exists()


def test_wrong_flags_with_config_missing_do_not_write_it(trained_run, tmp_path,
                                                         tiny_data):  # noqa: F811
    train_dir = copy_run(trained_run, tmp_path)
    os.remove(train_dir / "config.json")
    flags_log = (train_dir / "flags.log").read_text()
    with pytest.raises(TrainingError, match=r"ckpt-2 does not fit .*dim=8.*config.json is "
                                            r"missing.*shape \(4,\).*shape \(8,\)"):
        run_training(TINY.replace(dim=8), options(train_dir, tiny_data, max_steps=2))
    # Same shapes, another model: the checkpoint's Q values find no variable.
    with pytest.raises(TrainingError, match="Qdownconv_0"):
        run_training(TINY.replace(model="wavegan"), options(train_dir, tiny_data, max_steps=2))
    assert not (train_dir / "config.json").exists()
    assert (train_dir / "flags.log").read_text() == flags_log
    result = run_training(TINY, options(train_dir, tiny_data, max_steps=2))
    assert result["step"] == 2
    assert WaveGANConfig.load(str(train_dir / "config.json")) == TINY


def test_corrupt_shard_is_named_and_nothing_is_written(tmp_path, tiny_data):  # noqa: F811
    data = shutil.copytree(tiny_data, tmp_path / "data")
    shard = json.loads((data / "dataset.json").read_text())["shards"]["train"][0]
    # Cut inside the last record (a cut at a record boundary would read as a shorter file).
    size = os.path.getsize(data / shard)
    truncate(data / shard, keep=(size - 1000) / size)
    train_dir = tmp_path / "run"
    with pytest.raises(DatasetIncompleteError, match=os.path.basename(shard)):
        run_training(TINY, options(train_dir, str(data)))
    assert sorted(os.listdir(train_dir)) == [LOCK_NAME]


def test_dataset_without_dataset_json_exits_2_with_one_line(tmp_path, tiny_data):  # noqa: F811
    data = shutil.copytree(tiny_data, tmp_path / "data")
    os.remove(data / "dataset.json")
    train_dir = tmp_path / "run"
    proc = subprocess.run(train_cmd(train_dir, data, "--max_steps=1"), cwd=str(ROOT),
                          capture_output=True, text=True, timeout=300)
    assert one_error_line(proc) == [f"train.py: error: {data}: no dataset.json (not a prepared "
                                    "dataset, or prepare.py did not finish)"]
    assert not train_dir.exists()
