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


def exact_numerics_active() -> bool:
    import tensorflow as tf
    return (os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"
            and tf.config.threading.get_intra_op_parallelism_threads() == 1)
