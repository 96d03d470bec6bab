"""Conv paths chosen on the machine that runs them (issue 28).

Why: which way of computing a strided convolution is fastest (TensorFlow's own op, im2col +
one MatMul, space-to-depth + a stride-1 conv; :mod:`wavegan.fast_ops`) depends on the CPU, the
TensorFlow build and the layer's shape.  Fixed thresholds measured on one CPU model can lose
to the native op on another.  So the first time a layer shape is traced with tuning on, each
candidate path's forward + backward (input and weight gradients, as in a training step) is
timed here, interleaved, and the fastest kept; the choice is cached in the user's cache
folder, keyed by CPU model, TensorFlow version, oneDNN setting and shape, and reused by every
later run on that machine.

    cache file: $WAVEGAN_CONV_CACHE, else $XDG_CACHE_HOME/ciwgan/conv_paths.json
                (XDG_CACHE_HOME defaults to ~/.cache)

A cache that cannot be read or has another layout is ignored with one warning and the shapes
are measured again; it is rewritten atomically (:func:`common.atomic.atomic_write_json`), a
failed write is a warning too.  Nothing here imports :mod:`wavegan.fast_ops`: it passes the
candidate ops in (:func:`choose`).

The whole measurement of the paper's model (10 shapes, 3 paths) took 33 s on 2 loaded cores
with 2 timed rounds (~45 s expected with 3), the demo's (dim 8) ~10 s; it runs once per
machine and shape.  On a shared machine the choice still depends on the load of the moment
(docs/performance.md, "Issue 28").
"""

from __future__ import annotations

import logging
import os
import platform
import time
from typing import Callable, Dict, Optional

from common.atomic import atomic_write_json

log = logging.getLogger(__name__)

CACHE_ENV = "WAVEGAN_CONV_CACHE"
CACHE_DIR_NAME = "ciwgan"
CACHE_FILE_NAME = "conv_paths.json"
CACHE_FORMAT = 1
TIMED_ROUNDS = 3          # after one untimed call (tracing, warm-up); the minimum is kept
# Another path replaces the native op only when it is at least this much faster: a choice
# within the timing noise would make runs differ between machines for nothing.
MIN_GAIN = 0.05

_memory: Dict[str, dict] = {}   # this process's choices, by full key


def cache_path() -> str:
    """$WAVEGAN_CONV_CACHE, else $XDG_CACHE_HOME (default ~/.cache)/ciwgan/conv_paths.json."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, CACHE_DIR_NAME, CACHE_FILE_NAME)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; platform's answer elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_key() -> str:
    """What a measured choice depends on besides the shape."""
    import tensorflow as tf

    onednn = "off" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" else "on"
    return f"{cpu_model()} | TF {tf.__version__} | oneDNN {onednn} | {os.cpu_count()} cores"


def shape_key(kind: str, batch: int, in_len: int, in_ch: int, out_ch: int, kernel_len: int,
              stride: int, dtype: str) -> str:
    """kind 'conv' (x [B, T, C_in] -> [B, ceil(T/s), C_out]) or 'tconv' ([B, T, C_in] ->
    [B, s*T, C_out])."""
    return (f"{kind} B{batch} T{in_len} C{in_ch} F{out_ch} K{kernel_len} s{stride} {dtype}")


def read_cache(path: Optional[str] = None) -> dict:
    """{machine key: {shape key: {"impl": name, "ms": {impl: ms}}}}; {} when there is no
    cache, and (with a warning) when it cannot be read or has another layout."""
    path = path or cache_path()
    try:
        import json
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if not isinstance(record, dict) or record.get("format_version") != CACHE_FORMAT:
            raise ValueError(f"format_version {record.get('format_version')!r}"
                             if isinstance(record, dict) else "not a JSON object")
        machines = record["machines"]
        if not all(isinstance(m, dict) and all(isinstance(c, dict) and isinstance(
                c.get("impl"), str) for c in m.values()) for m in machines.values()):
            raise ValueError("unexpected layout")
        return machines
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning("ignoring the conv-path cache %s (%s); the paths are measured again",
                    path, str(err).splitlines()[0][:200] if str(err) else type(err).__name__)
        return {}


def write_choice(key: str, choice: dict, path: Optional[str] = None) -> None:
    """Add one shape's choice to the cache (read again first: another process may have added
    others); a cache that cannot be written is a warning, never an error."""
    path = path or cache_path()
    machines = read_cache(path)
    machines.setdefault(machine_key(), {})[key] = choice
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        atomic_write_json(path, {"format_version": CACHE_FORMAT, "machines": machines})
    except OSError as err:
        log.warning("could not write the conv-path cache %s (%s)", path, err)


def measure(kind: str, batch: int, in_len: int, in_ch: int, out_ch: int, kernel_len: int,
            stride: int, dtype: str, candidates: Dict[str, Callable]) -> Dict[str, float]:
    """Seconds of forward + backward (input and weight gradients) per candidate, the minimum
    of TIMED_ROUNDS interleaved rounds after one untimed call.  ``candidates``: name ->
    op(x, kernel, stride).  Runs eagerly in a thread of its own, also when called while a
    function is traced (a new thread starts with no graph and no paused gradient tape, which
    tf.init_scope would leave)."""
    import threading

    result = {}

    def work():
        try:
            result["seconds"] = _measure_eagerly(kind, batch, in_len, in_ch, out_ch,
                                                 kernel_len, stride, dtype, candidates)
        except BaseException as err:  # re-raised in the caller's thread
            result["error"] = err

    thread = threading.Thread(target=work, name="conv-path-timing")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["seconds"]


def _measure_eagerly(kind, batch, in_len, in_ch, out_ch, kernel_len, stride, dtype,
                     candidates) -> Dict[str, float]:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, in_len, in_ch)), dtype=dtype)
    w_shape = (kernel_len, in_ch, out_ch) if kind == "conv" else (kernel_len, out_ch, in_ch)
    w = tf.constant(rng.standard_normal(w_shape) * 0.05, dtype=dtype)
    fns = {}
    for name, op in candidates.items():
        def fwd_bwd(x, w, op=op):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = op(x, w, stride)
            # The forward's sum is returned too, or grappler prunes the unused forward.
            return [tf.reduce_sum(y)] + tape.gradient(y, [x, w],
                                                      output_gradients=tf.ones_like(y))
        fns[name] = tf.function(fwd_bwd, autograph=False)
        [t.numpy() for t in fns[name](x, w)]  # trace and warm up
    best = {name: float("inf") for name in fns}
    for _ in range(TIMED_ROUNDS):
        for name, fn in fns.items():
            start = time.perf_counter()
            [t.numpy() for t in fn(x, w)]
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def pick(seconds: Dict[str, float]) -> str:
    """The fastest path, but 'native' unless another beats it by MIN_GAIN."""
    best = min(seconds, key=seconds.get)
    if "native" in seconds and seconds[best] > (1.0 - MIN_GAIN) * seconds["native"]:
        return "native"
    return best


def choose(kind: str, batch: int, in_len: int, in_ch: int, out_ch: int, kernel_len: int,
           stride: int, dtype: str, candidates: Dict[str, Callable]) -> str:
    """The path for this shape on this machine: from this process's memory, else the cache,
    else measured now (and cached)."""
    key = shape_key(kind, batch, in_len, in_ch, out_ch, kernel_len, stride, dtype)
    full = machine_key() + " || " + key
    if full not in _memory:
        cached = read_cache().get(machine_key(), {}).get(key)
        if cached is None or cached["impl"] not in candidates:
            start = time.perf_counter()
            seconds = measure(kind, batch, in_len, in_ch, out_ch, kernel_len, stride, dtype,
                              candidates)
            cached = {"impl": pick(seconds), "ms": {k: round(v * 1e3, 3)
                                                    for k, v in seconds.items()}}
            log.info("conv path for %s: %s (%s; measured in %.1f s)", key, cached["impl"],
                     ", ".join(f"{k} {v:.1f} ms" for k, v in cached["ms"].items()),
                     time.perf_counter() - start)
            write_choice(key, cached)
        _memory[full] = cached
    return _memory[full]["impl"]


def chosen() -> Dict[str, dict]:
    """This process's choices: {shape key: {"impl": name, "ms": {impl: ms}}}."""
    return {full.split(" || ", 1)[1]: c for full, c in _memory.items()}


def forget() -> None:
    """Drop this process's remembered choices (tests; the cache file stays)."""
    _memory.clear()
