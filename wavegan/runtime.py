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

from common.errors import InputError


def request_exact_numerics() -> None:
    """Set the environment for the exact path; call before importing TensorFlow."""
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    if "tensorflow" in sys.modules:
        import warnings
        warnings.warn("TensorFlow was imported before request_exact_numerics(): oneDNN stays "
                      "as it was; set TF_ENABLE_ONEDNN_OPTS=0 in the environment instead")
    _single_thread()


def exact_numerics_on() -> bool:
    """Whether this process is on the exact path (oneDNN off: TF_ENABLE_ONEDNN_OPTS=0)."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"


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


# --------------------------------------------------------------------------------------------
# Mixed precision: which Keras policy --mixed_precision uses on this machine
# --------------------------------------------------------------------------------------------
PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")
PRECISION_ENV = "CIWGAN_MIXED_POLICY"


class PrecisionPolicyError(InputError):
    """A forced mixed-precision policy that is not one of PRECISION_POLICIES."""


def _cpu_has_bf16() -> bool:
    """AVX512_BF16 or AMX-BF16 in /proc/cpuinfo (Linux; False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def choose_precision_policy(force: str | None = None) -> tuple:
    """(policy, reason) for ``--mixed_precision`` on this machine.

    bfloat16 ("mixed_bfloat16") where the device computes it natively: NVIDIA GPUs of compute
    capability >= 8.0 (Ampere and later) and CPUs with AVX512_BF16 / AMX.  bfloat16 has
    float32's 8-bit exponent, so gradients neither underflow nor overflow and no loss scaling
    is needed.  Older GPUs (compute capability < 8.0: Volta, Turing have float16 tensor cores
    but no bfloat16) get "mixed_float16": float16's 5-bit exponent underflows small gradients,
    so the trainer scales each loss dynamically (ciwgan.trainer.DynamicLossScale).  A CPU
    without native bfloat16 gets "mixed_bfloat16" too (emulated: it runs, but gains nothing).

    ``force`` (or the environment variable CIWGAN_MIXED_POLICY) picks the policy instead.
    """
    force = force or os.environ.get(PRECISION_ENV) or None
    if force is not None:
        if force not in PRECISION_POLICIES:
            raise PrecisionPolicyError(f"mixed-precision policy {force!r} "
                                       f"({PRECISION_ENV}): expected one of {PRECISION_POLICIES}")
        return force, ("forced by the caller" if os.environ.get(PRECISION_ENV) != force
                       else f"forced by {PRECISION_ENV}")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        caps = []
        for gpu in gpus:
            try:
                cap = tf.config.experimental.get_device_details(gpu).get("compute_capability")
            except (RuntimeError, ValueError):
                cap = None
            caps.append(tuple(cap) if cap else None)
        if caps and all(c is not None and c >= (8, 0) for c in caps):
            return "mixed_bfloat16", (f"GPU compute capability {caps[0][0]}.{caps[0][1]} >= 8.0 "
                                      "has native bfloat16; no loss scaling needed")
        known = [c for c in caps if c is not None]
        shown = f"{known[0][0]}.{known[0][1]}" if known else "unknown"
        return "mixed_float16", (f"GPU compute capability {shown} < 8.0 has no native "
                                 "bfloat16; float16 with dynamic loss scaling")
    if _cpu_has_bf16():
        return "mixed_bfloat16", "CPU has AVX512_BF16/AMX; no loss scaling needed"
    return "mixed_bfloat16", ("CPU without native bfloat16: emulated bfloat16 (runs, no "
                              "speed-up expected); no loss scaling needed")


def use_mixed_precision(script: str, force: str | None = None) -> str:
    """Choose the policy (:func:`choose_precision_policy`), set it as Keras' global policy,
    print which and why, and return its name."""
    import keras

    policy, reason = choose_precision_policy(force)
    keras.mixed_precision.set_global_policy(policy)
    print(f"{script}: mixed precision: {policy} ({reason})", flush=True)
    return policy
