"""common.logs: TensorFlow's and absl's log noise hidden by default, --verbose brings it back,
and the printed TensorBoard hint runs as printed (issue 17)."""

import logging
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common import logs

ROOT = Path(__file__).resolve().parents[1]

# What `import tensorflow` printed on this kind of machine with TF_ENABLE_ONEDNN_OPTS=1 and
# TF_CPP_MIN_LOG_LEVEL=0 (timestamps and pids shortened), plus lines that must survive.
PREAMBLE = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n")
ONEDNN = ("I0000 00:00:1795987740.262565   28022 port.cc:153] oneDNN custom operations are on. "
          "You may see slightly different numerical results.\n")
CPU_GUARD = ("I0000 00:00:1795987740.319630   28022 cpu_feature_guard.cc:227] This TensorFlow "
             "binary is optimized to use available CPU instructions.\n"
             "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
             "TensorFlow with the appropriate compiler flags.\n")
A_WARNING = "W0000 00:00:1795987741.000001   28022 some.cc:12] a warning\n"
AN_ERROR = "E0000 00:00:1795987741.000002   28022 cuda_dnn.cc:8] Unable to register cuDNN\n"
PY_WARNING = ("/x/site-packages/foo.py:12: UserWarning: something\n"
              "  warnings.warn('something')\n")


@pytest.mark.parametrize("argv, environ, expected", [
    ([], {}, False),
    (["--verbose"], {}, True),
    (["--verbose=false"], {}, False),
    (["--verbose=1"], {}, True),
    (["--verbose", "--noverbose"], {}, False),          # the last one wins, as in absl
    (["--noverbose", "--verbose=true"], {}, True),
    (["--", "--verbose"], {}, False),                   # after "--": not a flag
    (["--verbose=maybe"], {}, False),                   # a bad value: absl reports it later
    (["--verbose_x"], {}, False),
    ([], {"CIWGAN_VERBOSE": "1"}, True),
    ([], {"CIWGAN_VERBOSE": "0"}, False),
    (["--noverbose"], {"CIWGAN_VERBOSE": "1"}, False),  # the command line beats the environment
])
def test_verbose_requested(argv, environ, expected):
    assert logs.verbose_requested(argv, environ) is expected


def test_filter_lines_follows_tf_cpp_min_log_level():
    text = PREAMBLE + ONEDNN + CPU_GUARD + A_WARNING + AN_ERROR + PY_WARNING + PREAMBLE + ONEDNN
    assert logs.filter_lines(text, 0) == text
    # 1: INFO records (with their continuation line) and absl's preamble go.
    assert logs.filter_lines(text, 1) == A_WARNING + AN_ERROR + PY_WARNING
    assert logs.filter_lines(text, 2) == AN_ERROR + PY_WARNING
    assert logs.filter_lines(text, 3) == PY_WARNING
    # A Python line right after a dropped record's continuation is kept.
    assert logs.filter_lines(CPU_GUARD + "Traceback (most recent call last):\n  x\n", 2) == \
        "Traceback (most recent call last):\n  x\n"
    assert logs.filter_lines("plain text\n", 3) == "plain text\n"


def _record(path, level):
    return logging.LogRecord("absl", level, path, 440, "Sharding callback duration", (), None)


def test_library_info_filter():
    tf_file = "/v/lib/python3.11/site-packages/tensorflow/python/checkpoint/functional_saver.py"
    keep = logs._LIBRARY_FILTER.filter
    assert not keep(_record(tf_file, logging.INFO))
    assert not keep(_record(tf_file.replace("tensorflow/python/checkpoint", "keras/src"),
                            logging.INFO))
    assert keep(_record(tf_file, logging.WARNING))
    assert not keep(_record("/v/lib/python3.11/site-packages/fontTools/subset/__init__.py",
                            logging.INFO))          # matplotlib's PDF font subsetting
    assert keep(_record(str(ROOT / "train.py"), logging.INFO))    # the project's own INFO


def test_child_env_carries_the_choice(monkeypatch):
    monkeypatch.setitem(logs._state, "verbose", True)
    assert logs.child_env({"X": "1"}) == {"X": "1", "CIWGAN_VERBOSE": "1"}
    monkeypatch.setitem(logs._state, "verbose", False)
    assert logs.child_env({}) == {"CIWGAN_VERBOSE": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    # a level the user set is kept
    assert logs.child_env({"TF_CPP_MIN_LOG_LEVEL": "0"})["TF_CPP_MIN_LOG_LEVEL"] == "0"


# A script as the project's scripts are written: quiet_logs() first, absl's app.run (which sets
# the root logger to INFO), TensorFlow imported late, a checkpoint saved (TensorFlow then logs
# "Sharding callback duration" at INFO through absl), and an INFO line of its own.
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from common.logs import define_verbose_flag, quiet_logs
    quiet_logs()
    from absl import app, logging
    define_verbose_flag()

    def main(argv):
        import tensorflow as tf
        tf.train.Checkpoint(v=tf.Variable(1.0)).save({ckpt!r})
        logging.info("the script's own info line")

    app.run(main)
""")


def _run_script(tmp_path, *args):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(root=str(ROOT), ckpt=str(tmp_path / "ckpt")))
    # oneDNN on (as on CPUs with AVX512_VNNI) so that its notice is printed; no level set.
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "CIWGAN_VERBOSE")}
    env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard",
         "Sharding callback duration")


def test_quiet_by_default_verbose_brings_the_lines_back(tmp_path):
    verbose = _run_script(tmp_path, "--verbose")
    quiet = _run_script(tmp_path)
    # The check can fail: --verbose shows TensorFlow's Python INFO line on any machine, and
    # the C++ notices wherever TensorFlow prints them.
    assert "Sharding callback duration" in verbose, verbose
    shown = [n for n in NOISE if n in verbose]
    assert [n for n in NOISE if n in quiet] == [], quiet
    assert "the script's own info line" in quiet and "the script's own info line" in verbose
    # Everything else on stderr is kept.
    assert len(quiet.strip().splitlines()) == 1, quiet
    print("hidden by default:", shown)


def test_tensorboard_hint_runs_as_printed(tmp_path):
    hint = logs.tensorboard_hint(str(tmp_path / "a folder"))
    if "pip install" in hint:
        pytest.skip("TensorBoard is not installed in this environment: " + hint)
    words = shlex.split(hint)
    assert words[0] == os.path.join(os.path.dirname(sys.executable), "tensorboard")
    assert words[1] == f"--logdir={tmp_path / 'a folder'}"
    # The printed command, plus a flag that makes TensorBoard print its version and exit.
    proc = subprocess.run(hint + " --version_tb", shell=True, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]


def test_tensorboard_hint_without_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    hint = logs.tensorboard_hint("x")
    assert "not installed" in hint and f"{tmp_path / 'bin' / 'python'} -m pip install " \
        "tensorboard" in hint
