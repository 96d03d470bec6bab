"""Numerics switches: the exact path (bit-for-bit comparable with the TF1 fixtures).

Multi-threaded reductions and oneDNN's kernels sum in another order than the single-threaded
TF1 reference; on sums with cancellation (e.g. the first conv's bias gradient over 16,384
positions) that moves float32 results by ~1e-7 absolute, a few 1e-5 relative.  The exact path
turns both off:

    TF_ENABLE_ONEDNN_OPTS=0   (must be set before TensorFlow is imported)
    one intra-op and one inter-op thread

It is the slow path; the default (fast) path is what training uses.
"""

from __future__ import annotations

import os
import sys


def request_exact_numerics() -> None:
    """Set the environment for the exact path; call before importing TensorFlow."""
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    if "tensorflow" in sys.modules:
        import warnings
        warnings.warn("TensorFlow was imported before request_exact_numerics(): oneDNN stays "
                      "as it was; set TF_ENABLE_ONEDNN_OPTS=0 in the environment instead")
    _single_thread()


def _single_thread() -> None:
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime was already initialised
        pass


def nvidia_gpus_on_system() -> list:
    """GPU lines of ``nvidia-smi -L`` (empty when there is no NVIDIA driver or GPU)."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.splitlines() if line.startswith("GPU ")]


def describe_devices(script: str) -> str:
    """One line naming the devices TensorFlow will use, plus a warning line when the system
    has an NVIDIA GPU that TensorFlow does not see (the usual cause: the CPU-only wheel, or
    CUDA libraries that do not match)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get(
                    "device_name", gpu.name))
            except (RuntimeError, ValueError):
                names.append(gpu.name)
        text = f"{script}: TensorFlow {tf.__version__} on {len(gpus)} GPU(s): {', '.join(names)}"
    else:
        text = f"{script}: TensorFlow {tf.__version__} on the CPU ({os.cpu_count()} cores)"
    system_gpus = nvidia_gpus_on_system()
    if system_gpus and not gpus:
        build = "CUDA" if tf.test.is_built_with_cuda() else "CPU-only"
        cause = ("the CPU-only TensorFlow wheel is installed: re-run ./setup.sh (it installs "
                 "tensorflow[and-cuda] when nvidia-smi lists a GPU, or force CIWGAN_TF=gpu)"
                 if build == "CPU-only" else
                 "TensorFlow was built with CUDA but cannot load the CUDA libraries or driver "
                 "(check CUDA_VISIBLE_DEVICES and that the NVIDIA driver matches)")
        text += (f"\n{script}: WARNING: the system has {len(system_gpus)} NVIDIA GPU(s) "
                 f"({system_gpus[0]}) that TensorFlow does not see: {cause}")
    return text
