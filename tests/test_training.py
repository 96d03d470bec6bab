"""Training runs on a tiny prepared dataset: losses, checkpoints, resume, signals, TensorBoard."""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from common.constants import SAMPLE_RATE
from ciwgan.loop_hooks import finite_or_raise
from ciwgan.training_loop import TrainingError, TrainOptions, build_run, run_training
from wavegan import WaveGANConfig, load_models

ROOT = Path(__file__).resolve().parents[1]
TINY = WaveGANConfig(model="ciwgan", num_categ=4, dim=4, phaseshuffle_rad=2)
WORDS = ["ask", "dark", "rag", "year"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A prepared dataset of 4 words x 6 noise-burst tokens from a word-folder corpus."""
    from corpus.build import run as run_prepare
    from corpus.prepare_options import PrepareOptions

    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.RandomState(0)
    for w_i, word in enumerate(WORDS):
        (root / "words" / word).mkdir(parents=True)
        for j in range(6):
            n = 3000 + 500 * j
            burst = rng.randn(n) * np.hanning(n) * (0.2 + 0.1 * w_i)
            sf.write(str(root / "words" / word / f"{word}_{j}.wav"), burst, SAMPLE_RATE)
    out = root / "data"
    run_prepare(PrepareOptions(out=str(out), folder_dir=str(root / "words"),
                               words=",".join(WORDS), progress=False))
    return str(out)


def options(train_dir, data_dir, **kw):
    base = dict(train_dir=str(train_dir), data_dir=data_dir, batch_size=4, max_steps=2,
                save_secs=1e9, summary_secs=0, seed=1, progress=False)
    base.update(kw)
    return TrainOptions(**base)


def event_tags(train_dir):
    tags = set()
    for path in glob.glob(os.path.join(train_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


def test_train_writes_checkpoint_config_summaries(tmp_path, tiny_data):
    train_dir = tmp_path / "run"
    result = run_training(TINY, options(train_dir, tiny_data))
    assert result["step"] == 2
    for key in ("D_loss", "G_loss", "Q_loss", "gradient_penalty"):
        assert np.isfinite(result["values"][key])
    assert (train_dir / "config.json").exists() and (train_dir / "flags.json").exists()
    assert WaveGANConfig.load(str(train_dir / "config.json")) == TINY
    assert tf.train.latest_checkpoint(str(train_dir)).endswith("ckpt-2")
    tags = event_tags(str(train_dir))
    for tag in ("G_loss", "D_loss", "Q_loss", "gradient_penalty", "wasserstein", "Q_accuracy",
                "x_rms", "G_z_rms", "steps_per_sec", "D_x", "x", "G_z", "preview/code_0",
                "preview/code_3"):
        assert tag in tags, (tag, sorted(tags))
    previews = sorted((train_dir / "preview").iterdir())
    # One per code, named as generate.py names them.
    assert sorted(w.name for w in previews[-1].glob("*.wav")) == [
        f"code_{i}_z000.wav" for i in range(TINY.num_categ)]
    # The checkpoint loads for extraction with its config and every trained weight: biases
    # start at zero and move with training, in every block of every network (except D's
    # output bias: the WGAN critic loss mean(D(G(z))) - mean(D(x)) has zero gradient for it).
    config, G, D, Q, _ = load_models(str(train_dir))
    assert config == TINY and Q is not None
    for net in (G, D, Q):
        biases = [v for v in net.weights if v.path.endswith("bias") and v.path != "D/output/bias"]
        assert len(biases) >= 5
        for v in biases:
            assert np.any(v.numpy() != 0), f"{v.path} was not restored"
    trainer, _, _ = build_run(TINY, options(train_dir, tiny_data))
    x = tf.random.normal([2, 16384])
    np.testing.assert_array_equal(trainer.Q(x, training=False), Q(x, training=False))
    np.testing.assert_array_equal(trainer.D(x, training=False), D(x, training=False))


def test_resume_continues_with_same_optimizer_state(tmp_path, tiny_data):
    train_dir = tmp_path / "run"
    run_training(TINY, options(train_dir, tiny_data, max_steps=2))
    trainer, _, _ = build_run(TINY, options(train_dir, tiny_data))
    assert int(trainer.step) == 2
    saved = [s.numpy().copy() for s in trainer.d_opt.slots["m"]]
    saved_rng = trainer.rng.state.numpy().copy()
    assert float(trainer.d_opt.beta1_power.numpy()) == pytest.approx(0.5 ** 11)  # 10 D updates
    trainer2, _, _ = build_run(TINY, options(train_dir, tiny_data))
    for a, b in zip(saved, trainer2.d_opt.slots["m"]):
        np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_array_equal(saved_rng, trainer2.rng.state.numpy())
    result = run_training(TINY, options(train_dir, tiny_data, max_steps=3))
    assert result["step"] == 3


def test_incompatible_resume_is_refused(tmp_path, tiny_data):
    train_dir = tmp_path / "run"
    run_training(TINY, options(train_dir, tiny_data, max_steps=1))
    with pytest.raises(TrainingError, match="dim: saved 4, requested 8"):
        run_training(TINY.replace(dim=8), options(train_dir, tiny_data, max_steps=2))


def test_non_finite_loss_stops_with_step_and_keeps_last_checkpoint(tmp_path, tiny_data,
                                                                   monkeypatch):
    with pytest.raises(TrainingError, match="non-finite D_loss = nan at step 7"):
        finite_or_raise({"D_loss": np.float32("nan"), "G_loss": 1.0}, 7)
    train_dir = tmp_path / "run"
    run_training(TINY, options(train_dir, tiny_data, max_steps=1))
    from ciwgan import trainer as trainer_mod
    real = trainer_mod.GANTrainer.train_iteration

    def poisoned(self, xs):
        out = real(self, xs)
        return {**out, "G_loss": tf.constant(float("inf"))}

    monkeypatch.setattr(trainer_mod.GANTrainer, "train_iteration", poisoned)
    with pytest.raises(TrainingError, match="non-finite G_loss = inf at step 2"):
        run_training(TINY, options(train_dir, tiny_data, max_steps=5))
    assert tf.train.latest_checkpoint(str(train_dir)).endswith("ckpt-1")


def _train_cmd(train_dir, data_dir, max_steps, save_secs):
    return [sys.executable, str(ROOT / "train.py"), f"--train_dir={train_dir}",
            f"--data_dir={data_dir}", "--num_categ=4", "--wavegan_dim=4",
            "--train_batch_size=4", f"--max_steps={max_steps}", f"--train_save_secs={save_secs}",
            "--train_summary_secs=1000", "--noprogress"]


def _wait_for_checkpoint(train_dir, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if tf.train.latest_checkpoint(str(train_dir)):
            return
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() + proc.stderr.read())
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("no checkpoint appeared")


@pytest.mark.slow
def test_sigkill_leaves_resumable_dir_and_sigterm_saves(tmp_path, tiny_data):
    train_dir = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(train_dir, tiny_data, 100000, 0), cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(train_dir, proc)
    time.sleep(2.0)  # let it be somewhere in the middle of later iterations / saves
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(tf.train.latest_checkpoint(str(train_dir)).rsplit("-", 1)[1])
    assert killed_at >= 1
    # Resume after kill -9, then stop it with SIGTERM: it saves and exits cleanly.
    proc = subprocess.Popen(_train_cmd(train_dir, tiny_data, 100000, 1000), cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 240:
        time.sleep(1.0)
        tags = event_tags(str(train_dir)) if proc.poll() is None else set()
        if proc.poll() is not None or "G_loss" in tags and len(
                glob.glob(str(train_dir / "events.out.tfevents.*"))) >= 2:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    final = int(tf.train.latest_checkpoint(str(train_dir)).rsplit("-", 1)[1])
    assert final > killed_at, (killed_at, final, out)
    flags_log = (train_dir / "flags.log").read_text().strip().splitlines()
    assert len(flags_log) == 2 and json.loads(flags_log[-1])["config"]["dim"] == 4


def test_generate_writes_one_file_per_code(tmp_path, tiny_data):
    train_dir = tmp_path / "run"
    run_training(TINY, options(train_dir, tiny_data, max_steps=1))
    out = tmp_path / "gen"
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), f"--checkpoint={train_dir}",
                           f"--out={out}", "--value=5"], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wavs = sorted(out.glob("*.wav"))
    # Named by code label (ciwgan.codes.code_label), as extract.py names generated tokens.
    assert [w.name for w in wavs] == [f"code_{i}_z000.wav" for i in range(4)]
    audio, sr = sf.read(str(wavs[0]))
    assert sr == SAMPLE_RATE and audio.shape == (TINY.slice_len,)
    import pandas as pd
    table = pd.read_csv(out / "generated.csv")
    assert list(table["code"]) == [f"code_{i}" for i in range(4)]
    assert "prob_3" in table and set(table["q_code"]) <= set(table["code"])
    assert list(table["q_agrees"]) == list(table["q_code"] == table["code"])
    # Refuses to clobber without --overwrite.
    proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), f"--checkpoint={train_dir}",
                           f"--out={out}"], capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode != 0 and "--overwrite" in proc.stderr


def test_init_from_tf1_checkpoint_continues_the_original_run(tmp_path, tiny_data, tf1_dim8):
    """train.py --init_from: architecture, weights, optimizer state and step of the original."""
    train_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"--train_dir={train_dir}",
         f"--data={tiny_data}", f"--init_from={tf1_dim8 / 'model.ckpt-3'}",
         "--batch_size=4", "--normalize=peak", "--max_steps=4", "--noprogress"],
        capture_output=True, text=True, cwd=str(ROOT), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # global_step was 3 in the original checkpoint: one more iteration makes 4.
    assert tf.train.latest_checkpoint(str(train_dir)).endswith("ckpt-4")
    config = WaveGANConfig.load(str(train_dir / "config.json"))
    assert (config.dim, config.num_categ) == (8, 8)
    # The weights continue from the original's (moved by one step of lr 1e-4, not re-drawn).
    reader = tf.train.load_checkpoint(str(tf1_dim8 / "model.ckpt-3"))
    original = reader.get_tensor("Q/Qoutput/dense/kernel")
    _, _, _, Q, _ = load_models(str(train_dir))
    assert np.max(np.abs(Q.dense.kernel.numpy() - original)) < 1e-3
    # --data, --batch_size and --normalize are the shared names of --data_dir,
    # --train_batch_size and --data_normalize.
    used = json.loads((train_dir / "flags.json").read_text())["options"]
    assert (used["data_dir"], used["batch_size"], used["normalize"]) == (tiny_data, 4, "peak")


def test_normalize_and_data_normalize_must_agree(tmp_path, tiny_data):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"--train_dir={tmp_path / 'run'}",
         f"--data={tiny_data}", "--normalize=none", "--data_normalize"],
        capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == ("train.py: error: --data_normalize=true and "
                                   "--normalize=none disagree (--data_normalize is another "
                                   "name for --normalize)")
    assert not (tmp_path / "run").exists()


def test_training_summary_and_eta(tmp_path, tiny_data):
    """train.py's closing summary and the bar's ETA (ciwgan.progress_text)."""
    from ciwgan.progress_text import training_eta, training_summary

    # Steps left at the rate, or the time cap, whichever comes first.
    assert training_eta(10, 100, 2.0, 5.0, None) == (45.0, "steps")
    assert training_eta(10, 100, 2.0, 5.0, 20.0) == (15.0, "time")
    assert training_eta(10, None, None, 5.0, 20.0) == (15.0, "time")
    assert training_eta(10, 100, None, 5.0, None) == (None, None)
    result = run_training(TINY, options(tmp_path / "run", tiny_data, max_steps=2))
    text = training_summary(result)
    assert text.splitlines()[0].startswith("trained 2 iterations (step 0 -> 2) in ")
    assert "stopped: reached --max_steps=2" in text
    assert f"checkpoint: {result['checkpoint']}" in text
    assert 0.0 <= result["q_accuracy"] <= 1.0 and result["q_accuracy_updates"] == 2
    assert "Q accuracy on generated audio" in text and "last losses: D " in text
    # A resumed run that is already at --max_steps trains nothing and says so.
    again = run_training(TINY, options(tmp_path / "run", tiny_data, max_steps=2))
    assert again["step"] == 2 and training_summary(again).startswith("trained 0 iterations")
