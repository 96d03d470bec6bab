"""Which TensorFlow setup.sh installs, and the device line the scripts print at start."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tf_variant(tmp_path, nvidia_smi_output=None, forced=None):
    """setup.sh's choice, with a fake nvidia-smi on PATH (or none at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "grep", "dirname", "cat"):
        target = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(target)
    fake = bin_dir / "nvidia-smi"
    if fake.exists():
        fake.unlink()
    if nvidia_smi_output is not None:
        fake.write_text(f"#!{bin_dir / 'bash'}\ncat <<'OUT'\n{nvidia_smi_output}\nOUT\n")
        fake.chmod(0o755)
    env = {"PATH": str(bin_dir)}
    if forced is not None:
        env["CIWGAN_TF"] = forced
    return subprocess.run([str(bin_dir / "bash"), str(ROOT / "setup.sh"), "--print-tf-variant"],
                          capture_output=True, text=True, env=env)


def test_setup_picks_the_cuda_build_only_where_nvidia_smi_lists_a_gpu(tmp_path):
    gpu_line = "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"
    assert tf_variant(tmp_path).stdout.strip() == "cpu"
    assert tf_variant(tmp_path, gpu_line).stdout.strip() == "gpu"
    # nvidia-smi present but listing nothing (driver without a GPU): CPU build.
    assert tf_variant(tmp_path, "No devices were found").stdout.strip() == "cpu"
    assert tf_variant(tmp_path, gpu_line, forced="cpu").stdout.strip() == "cpu"
    assert tf_variant(tmp_path, forced="gpu").stdout.strip() == "gpu"
    bad = tf_variant(tmp_path, forced="tpu")
    assert bad.returncode == 2 and "CIWGAN_TF=tpu" in bad.stderr


def test_device_line_names_the_cpu_and_warns_about_an_unseen_gpu(monkeypatch):
    from wavegan import runtime

    monkeypatch.setattr(runtime, "nvidia_gpus_on_system", lambda: [])
    line = runtime.describe_devices("train.py")
    assert line.startswith("train.py: TensorFlow ") and "on the CPU" in line
    assert "WARNING" not in line
    monkeypatch.setattr(runtime, "nvidia_gpus_on_system",
                        lambda: ["GPU 0: NVIDIA H200 (UUID: GPU-1)"])
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine's TensorFlow sees a GPU")
    warned = runtime.describe_devices("train.py")
    assert "WARNING: the system has 1 NVIDIA GPU(s) (GPU 0: NVIDIA H200" in warned
    assert ("CPU-only TensorFlow wheel" in warned) == (not tf.test.is_built_with_cuda())


def test_nvidia_gpus_on_system_is_empty_without_nvidia_smi(monkeypatch, tmp_path):
    from wavegan import runtime

    monkeypatch.setenv("PATH", str(tmp_path))
    assert runtime.nvidia_gpus_on_system() == []
    assert os.environ["PATH"] == str(tmp_path)
