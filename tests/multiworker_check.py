"""--distribute=multiworker: two local worker processes vs one process, same global batch.

Run as a script:
    python tests/multiworker_check.py
It starts two workers (this file with --worker=0/1) with TF_CONFIG naming two free ports on
127.0.0.1; each makes the strategy as train.py does (ciwgan.distribution.make_strategy, from
TF_CONFIG), loads the same initial weights and makes one D update and one G+Q update on the same
global batch (each worker takes its half, as the mirrored path splits a batch over replicas).
Both workers' losses, optimizer slots and weights are then compared with a single-process update
by tests/mirrored_check.compare (same tolerances); exits 1 on any mismatch, 2 when a worker fails.
"""

import argparse
import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 4
SLICE_LEN = 16384


def tiny_config():
    from wavegan import WaveGANConfig
    return WaveGANConfig(model="ciwgan", num_categ=4, dim=2, phaseshuffle_rad=2)


def make_trainer(config, init, strategy):
    import contextlib
    from ciwgan.trainer import GANTrainer
    from wavegan import build_models
    with strategy.scope() if strategy else contextlib.nullcontext():
        G, D, Q = build_models(config)
        for v, value in zip([v for net in (G, D, Q) for v in net.weights], init):
            v.assign(value)
    return GANTrainer(config, G, D, Q, seed=7, strategy=strategy)


def one_step(trainer):
    """One D update and one G+Q update on a fixed global batch; the values returned."""
    import numpy as np
    x = np.random.RandomState(0).uniform(-1, 1, [BATCH, SLICE_LEN]).astype(np.float32)
    z_d, alpha, z_g = trainer.sample_z(BATCH), trainer.sample_alpha(BATCH), trainer.sample_z(BATCH)
    return {**trainer.d_update(x, z_d, alpha), **trainer.gq_update(z_g)}


def worker(folder: str, index: int) -> int:
    from ciwgan.distribution import make_strategy, multiworker_role
    from mirrored_check import snapshot
    strategy = make_strategy("multiworker")  # before any other TensorFlow work
    with open(os.path.join(folder, "init.pkl"), "rb") as f:
        init = pickle.load(f)
    trainer = make_trainer(tiny_config(), init, strategy)
    out = one_step(trainer)
    snap = snapshot(trainer, out)
    snap["replicas"] = strategy.num_replicas_in_sync
    snap["chief"] = multiworker_role()[0]
    with open(os.path.join(folder, f"worker{index}.pkl"), "wb") as f:
        pickle.dump(snap, f)
    return 0


def train_worker(folder: str, index: int) -> int:
    """run_training as train.py calls it, one iteration, each worker with its own train_dir
    (folder/run0 is the chief's): prints the result as JSON."""
    from ciwgan.training_loop import TrainOptions, TrainingError, run_training
    from wavegan import WaveGANConfig
    config = WaveGANConfig(model="ciwgan", num_categ=4, dim=2, phaseshuffle_rad=2)
    options = TrainOptions(train_dir=os.path.join(folder, f"run{index}"),
                           data_dir=os.path.join(folder, "data"), batch_size=4,
                           max_steps=int(os.environ.get("MW_MAX_STEPS", "1")), disc_nupdates=1,
                           save_secs=1e9, summary_secs=0, seed=1, progress=False,
                           distribute="multiworker")
    try:
        result = run_training(config, options)
    except TrainingError as err:
        print("RESULT", json.dumps({"error": str(err)}), flush=True)
        return 3
    print("RESULT", json.dumps({"step": result["step"], "checkpoint": result["checkpoint"]}),
          flush=True)
    return 0


def make_data(folder: str) -> str:
    """A tiny prepared dataset (2 words x 4 noise bursts)."""
    import numpy as np
    import soundfile as sf
    from common.constants import SAMPLE_RATE
    from corpus.build import run as run_prepare
    from corpus.prepare_options import PrepareOptions
    rng = np.random.RandomState(0)
    words = ["ask", "dark"]
    for word in words:
        os.makedirs(os.path.join(folder, "words", word))
        for j in range(4):
            n = 3000 + 500 * j
            sf.write(os.path.join(folder, "words", word, f"{word}_{j}.wav"),
                     rng.randn(n) * np.hanning(n) * 0.3, SAMPLE_RATE)
    out = os.path.join(folder, "data")
    run_prepare(PrepareOptions(out=out, folder_dir=os.path.join(folder, "words"),
                               words=",".join(words), progress=False))
    return out


def run_workers(folder: str, mode: str, env_extra=None, timeout=300):
    """Start the two workers of ``mode`` ('step' or 'train'); ``[(returncode, log)]``."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}),
            CUDA_VISIBLE_DEVICES="", **(env_extra or {}))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, f"--worker={i}", f"--folder={folder}", f"--mode={mode}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            logs.append(p.communicate()[0] + "\n(timed out)")
    return [(p.returncode, text) for p, text in zip(procs, logs)]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main() -> int:
    import keras
    from mirrored_check import compare, snapshot
    from wavegan import build_models

    keras.utils.set_random_seed(3)
    config = tiny_config()
    init = [v.numpy() for net in build_models(config) for v in net.weights]
    with tempfile.TemporaryDirectory(prefix="multiworker-check-") as folder:
        with open(os.path.join(folder, "init.pkl"), "wb") as f:
            pickle.dump(init, f)
        results = run_workers(folder, "step")
        if any(rc != 0 for rc, _ in results):
            for i, (rc, text) in enumerate(results):
                print(f"--- worker {i} exited {rc}:\n{text[-4000:]}")
            return 2
        snaps = []
        for i in range(2):
            with open(os.path.join(folder, f"worker{i}.pkl"), "rb") as f:
                snaps.append(pickle.load(f))
    single = make_trainer(config, init, None)
    reference = snapshot(single, one_step(single))
    failures = []
    for i, snap in enumerate(snaps):
        bad, line = compare(reference, snap)
        print(f"worker {i} (chief {snap['chief']}): replicas {snap['replicas']}; {line}")
        failures += [f"worker {i}: {b}" for b in bad]
    if [s["chief"] for s in snaps] != [True, False]:
        failures.append(f"chief flags {[s['chief'] for s in snaps]}, expected [True, False]")
    for f in failures:
        print("MISMATCH", f)
    return 0 if not failures else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=int)
    parser.add_argument("--folder")
    parser.add_argument("--mode", default="step", choices=["step", "train"])
    args = parser.parse_args()
    if args.worker is None:
        sys.exit(main())
    sys.exit((worker if args.mode == "step" else train_worker)(args.folder, args.worker))
