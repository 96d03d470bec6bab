"""--distribute=multiworker: TF_CONFIG checks, the chief, and two local workers' step equal to
the single-process step (tests/multiworker_check.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import InputError

SCRIPT = Path(__file__).with_name("multiworker_check.py")
HOSTS = ["127.0.0.1:1111", "127.0.0.1:2222"]


def role(tf_config):
    from ciwgan.cluster import multiworker_role
    text = tf_config if isinstance(tf_config, str) else json.dumps(tf_config)
    return multiworker_role({"TF_CONFIG": text})


def test_chief_is_worker_0_without_a_chief_task():
    assert role({"cluster": {"worker": HOSTS}, "task": {"type": "worker", "index": 0}})[0]
    assert not role({"cluster": {"worker": HOSTS}, "task": {"type": "worker", "index": 1}})[0]


def test_chief_task_is_the_chief():
    cluster = {"chief": ["127.0.0.1:3333"], "worker": HOSTS}
    assert role({"cluster": cluster, "task": {"type": "chief", "index": 0}})[0]
    assert not role({"cluster": cluster, "task": {"type": "worker", "index": 0}})[0]


@pytest.mark.parametrize("tf_config, words", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is malformed"),
    ({"cluster": {"worker": HOSTS}}, "missing 'task'"),
    ({"cluster": {"worker": HOSTS}, "task": {"type": "worker", "index": 2}}, "index 2"),
    ({"cluster": {"worker": HOSTS}, "task": {"type": "ps", "index": 0}}, "'ps' is not in"),
    ({"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}, "host:port"),
])
def test_bad_tf_config_is_one_line_input_error(tf_config, words):
    from ciwgan.distribution import make_strategy, multiworker_role
    environ = {} if tf_config is None else {
        "TF_CONFIG": tf_config if isinstance(tf_config, str) else json.dumps(tf_config)}
    with pytest.raises(InputError) as err:
        multiworker_role(environ)
    assert words in str(err.value) and "\n" not in str(err.value)
    if tf_config is None:  # make_strategy reads the process's own environment
        old = os.environ.pop("TF_CONFIG", None)
        try:
            with pytest.raises(InputError, match="TF_CONFIG"):
                make_strategy("multiworker")
        finally:
            if old is not None:
                os.environ["TF_CONFIG"] = old


@pytest.mark.slow
def test_two_workers_step_equals_single_process_step():
    env = dict(os.environ, TF_NUM_INTEROP_THREADS="1", TF_NUM_INTRAOP_THREADS="1")
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert proc.stdout.count("replicas 2;") == 2, proc.stdout


@pytest.mark.slow
def test_only_the_chief_writes_and_workers_must_agree_on_the_step(tmp_path):
    """run_training under two local workers, each given its own --train_dir: the chief's
    (run0) gets the checkpoint, config, flags, summaries and previews; the other worker writes
    nothing there and its collective save goes to a temporary folder deleted at the end. A
    resume where only the chief sees the checkpoint is refused on both workers."""
    sys.path.insert(0, str(SCRIPT.parent))
    import multiworker_check as mw
    threads = {"TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    mw.make_data(str(tmp_path))
    results = mw.run_workers(str(tmp_path), "train", threads)
    assert [rc for rc, _ in results] == [0, 0], "\n".join(t[-3000:] for _, t in results)
    out = [json.loads(t.split("RESULT ", 1)[1].splitlines()[0]) for _, t in results]
    assert [o["step"] for o in out] == [1, 1]
    chief = tmp_path / "run0"
    for name in ("ckpt-1.index", "checkpoint", "config.json", "flags.json", ".lock"):
        assert (chief / name).exists(), sorted(os.listdir(chief))
    assert list(chief.glob("events.out.tfevents.*"))
    assert list((chief / "preview" / "step-00000001").glob("*.wav"))
    assert out[0]["checkpoint"] == str(chief / "ckpt-1")
    assert not (tmp_path / "run1").exists()
    assert "ciwgan-worker-" in out[1]["checkpoint"]
    assert not os.path.exists(os.path.dirname(out[1]["checkpoint"]))  # deleted

    results = mw.run_workers(str(tmp_path), "train", dict(threads, MW_MAX_STEPS="2"))
    for rc, text in results:
        assert rc == 3 and "the workers start from different steps (0 to 1" in text, text[-3000:]
    assert not (chief / "ckpt-2.index").exists() and not (tmp_path / "run1").exists()
