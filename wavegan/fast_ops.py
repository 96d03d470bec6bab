"""Fast CPU implementations of WaveGAN's convolutions, switchable at run time.

Why: the TensorFlow pip wheel compiles its own (Eigen) kernels for plain AVX, so every op that
does not reach oneDNN's run-time-dispatched (AVX-512) kernels runs at about half the speed the
CPU can do.  A large plain ``MatMul`` reaches oneDNN; so the convolutions are rewritten as one
big matrix product each, with the cheap data movement around it done by slices and pads:

``conv1d_im2col(x, kernel, stride)``  ('SAME' conv, kernel [K, C, F]):
    x [B, T, C] is zero-padded to s*(T_out + J - 1) samples (J = ceil(K / s)) and viewed as
    blocks xr [B, T_out + J - 1, s*C] (a free reshape); the frames are the concatenation of J
    shifted block slices (the last one cut to the K - s(J-1) taps it needs),
        frames[b, t, k*C + c] = xpad[b, s*t + k, c]          [B, T_out, K*C]
    and  y = frames @ reshape(kernel, [K*C, F])             (one MatMul, B*T_out rows).
``conv1d_transpose_matmul(x, kernel, stride)``  ('SAME' transposed conv, kernel [K, F, C]):
    cols = x @ W, W[c, k*F + f] = kernel[k, f, c]         [B, T, K*F]   (one MatMul)
    full[b, s*t + k, f] += cols[b, t, k*F + f]              (overlap-add of J shifted blocks)
    y = full[:, pl : pl + s*T], pl = left 'SAME' padding of the forward conv of length s*T.

Both are compositions of differentiable TF ops, so TensorFlow's autodiff gives their first
and second derivatives (the gradient penalty differentiates D's input gradient once more);
the backward passes are again MatMuls plus slices / pads.  They compute the same sums as the
native ops, in another order (float32 differences ~1e-7 relative).

``conv1d_s2d`` / ``conv1d_transpose_s2d`` (space-to-depth): the same block view xr, then ONE
native stride-1 'VALID' conv with J taps of s*C channels (kernel zero-padded to s*J taps), the
layout whose oneDNN kernels (and their backward) are fastest for long, narrow layers.

Switch: 'auto' (default), 'im2col', 's2d', 'native' (= ``tf.nn.conv1d`` /
``tf.nn.conv1d_transpose``, the op the original uses):
    wavegan.fast_ops.set_conv_impl('native')         # or the environment variable
    WAVEGAN_CONV_IMPL=native
'auto' picks per layer: with tuning on (:func:`set_conv_tuning`, ``WAVEGAN_CONV_TUNE=1``;
train.py turns it on unless ``--deterministic``) the path measured fastest on this machine for
the layer's shape (:mod:`wavegan.conv_tuning`, cached per CPU model); otherwise the pinned
rules of :func:`choose_conv` / :func:`choose_conv_transpose`, the same on every machine (as
measured in docs/performance.md).  Without an explicit choice the exact path
(TF_ENABLE_ONEDNN_OPTS=0, :mod:`wavegan.runtime`) uses 'native': the fixtures' 1e-5 check is
met bit-for-bit only by the original op order.
The choice is read when a layer is called, i.e. when a ``tf.function`` is traced: set it before
building the trainer (functions traced earlier keep the implementation they were traced with).
'im2col' convolutions whose frame tensor would exceed ``MAX_FRAMES_BYTES`` (e.g. G's 512-tap
post-processing filter) use the native op.
"""

from __future__ import annotations

import contextlib
import os

import tensorflow as tf

from . import conv_tuning
from .config import same_padding
from .runtime import exact_numerics_on

CONV_IMPLS = ("auto", "im2col", "s2d", "native")
ENV_VAR = "WAVEGAN_CONV_IMPL"
TUNE_ENV_VAR = "WAVEGAN_CONV_TUNE"   # '1': 'auto' measures the paths on this machine
DEFAULT_IMPL = "auto"
MAX_FRAMES_BYTES = 512 * 2 ** 20  # per conv call; larger frame tensors fall back to native

_state = {"impl": None, "tune": None}


def _check_impl(name: str, source: str) -> str:
    if name not in CONV_IMPLS:
        raise ValueError(f"{source}={name!r}: expected one of {CONV_IMPLS}")
    return name


def get_conv_impl() -> str:
    """The convolution implementation in force: set_conv_impl(), else $WAVEGAN_CONV_IMPL,
    else 'native' on the exact path (TF_ENABLE_ONEDNN_OPTS=0, see wavegan.runtime), else
    DEFAULT_IMPL ('auto')."""
    if _state["impl"] is not None:
        return _state["impl"]
    env = os.environ.get(ENV_VAR)
    if env:
        return _check_impl(env, f"${ENV_VAR}")
    return "native" if exact_numerics_on() else DEFAULT_IMPL


def set_conv_impl(name) -> None:
    """Choose 'im2col' or 'native' for every later layer call (None: back to env/default)."""
    _state["impl"] = None if name is None else _check_impl(name, "set_conv_impl(name)")


def set_conv_tuning(on) -> None:
    """True: 'auto' takes the paths measured on this machine (:mod:`wavegan.conv_tuning`);
    False: the pinned rules, identical on every machine; None: $WAVEGAN_CONV_TUNE ('1' = on),
    else off.  Read when a layer is traced, as the implementation."""
    _state["tune"] = None if on is None else bool(on)


def conv_tuning_on() -> bool:
    if _state["tune"] is not None:
        return _state["tune"]
    return os.environ.get(TUNE_ENV_VAR, "0") == "1"


@contextlib.contextmanager
def conv_settings(impl=None, tune=None):
    """Both switches for a block (None: leave one as it is); restored afterwards."""
    old = dict(_state)
    if impl is not None:
        set_conv_impl(impl)
    if tune is not None:
        set_conv_tuning(tune)
    try:
        yield
    finally:
        _state.update(old)


@contextlib.contextmanager
def conv_impl(name):
    """Context manager: ``with conv_impl('native'): ...`` restores the previous choice."""
    old = _state["impl"]
    set_conv_impl(name)
    try:
        yield
    finally:
        _state["impl"] = old


# ------------------------------------------------------------------------------------------
# Geometry helpers (pure Python)
# ------------------------------------------------------------------------------------------
def frames_bytes(batch: int, in_len: int, in_ch: int, kernel_len: int, stride: int,
                 itemsize: int = 4) -> int:
    """Size of the im2col frame tensor [B, ceil(T/s), K*C] in bytes."""
    return batch * (-(-in_len // stride)) * kernel_len * in_ch * itemsize


def _static_len(x, axis=1) -> int:
    n = x.shape[axis]
    if n is None:
        raise ValueError(f"fast_ops needs a static length on axis {axis}; got shape {x.shape}")
    return int(n)


MATMUL_DTYPES = ("float32", "bfloat16")
_state["matmul_dtype"] = "float32"


def set_matmul_dtype(name: str) -> None:
    """'float32' (default, exact to ~1e-7) or 'bfloat16': the im2col / transposed-conv MatMuls
    (and their gradients) take bfloat16 operands (AVX512_BF16; ~3 significant digits, so it
    does NOT meet the fixtures' 1e-4 tolerance: an opt-in experiment, never the default)."""
    if name not in MATMUL_DTYPES:
        raise ValueError(f"set_matmul_dtype(name)={name!r}: expected one of {MATMUL_DTYPES}")
    _state["matmul_dtype"] = name


def get_matmul_dtype() -> str:
    return _state["matmul_dtype"]


def _flat_matmul(x3, w2):
    """[B, T, D] @ [D, N] -> [B, T, N] as one 2-D MatMul (the op oneDNN runs fastest)."""
    b = tf.shape(x3)[0]
    t = _static_len(x3)
    x2 = tf.reshape(x3, [-1, x3.shape[-1]])
    if _state["matmul_dtype"] == "bfloat16" and x2.dtype == tf.float32:
        y = tf.cast(tf.matmul(tf.cast(x2, tf.bfloat16), tf.cast(w2, tf.bfloat16)), tf.float32)
    else:
        y = tf.matmul(x2, w2)
    return tf.reshape(y, [b, t, w2.shape[-1]])


# ------------------------------------------------------------------------------------------
# The ops
# ------------------------------------------------------------------------------------------
def im2col_frames(x, kernel_len: int, stride: int):
    """'SAME' frames of x [B, T, C] -> [B, ceil(T/s), K*C], frames[b,t,k*C+c] = xpad[b,s*t+k,c]."""
    in_len, ch = _static_len(x), int(x.shape[-1])
    pl, _ = same_padding(in_len, kernel_len, stride)
    out_len = -(-in_len // stride)
    n_blocks = -(-kernel_len // stride)
    padded_len = stride * (out_len + n_blocks - 1)
    pr = padded_len - in_len - pl
    if pr < 0:  # cannot happen for 'SAME', but crop rather than fail
        raise AssertionError((in_len, kernel_len, stride, padded_len))
    xp = tf.pad(x, [[0, 0], [pl, pr], [0, 0]])
    xr = tf.reshape(xp, [-1, out_len + n_blocks - 1, stride * ch])
    last_taps = kernel_len - stride * (n_blocks - 1)
    parts = [xr[:, j:j + out_len, :] for j in range(n_blocks - 1)]
    parts.append(xr[:, n_blocks - 1:n_blocks - 1 + out_len, :last_taps * ch])
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)


def conv1d_im2col(x, kernel, stride: int = 1):
    """'SAME' conv1d as frames @ kernel: x [B, T, C], kernel [K, C, F] -> [B, ceil(T/s), F]."""
    k, c, f = (int(d) for d in kernel.shape)
    frames = im2col_frames(x, k, stride)
    return _flat_matmul(frames, tf.reshape(kernel, [k * c, f]))


def conv1d_transpose_matmul(x, kernel, stride: int):
    """'SAME' transposed conv1d as MatMul + overlap-add.

    x [B, T, C], kernel [K, F, C] (TF's conv1d_transpose layout) -> [B, s*T, F]; equals
    ``tf.nn.conv1d_transpose(x, kernel, [B, s*T, F], stride, 'SAME')``.
    """
    k, f, c = (int(d) for d in kernel.shape)
    in_len = _static_len(x)
    out_len = stride * in_len
    pl, _ = same_padding(out_len, k, stride)
    n_blocks = -(-k // stride)
    # W[c, k*F + f] = kernel[k, f, c]
    w = tf.reshape(tf.transpose(kernel, [2, 0, 1]), [c, k * f])
    cols = _flat_matmul(x, w)  # [B, T, K*F]
    spare = stride * n_blocks - k
    if spare:
        cols = tf.pad(cols, [[0, 0], [0, 0], [0, spare * f]])
    width = stride * f
    full = None
    for j in range(n_blocks):
        block = cols[:, :, j * width:(j + 1) * width]
        block = tf.pad(block, [[0, 0], [j, n_blocks - 1 - j], [0, 0]])
        full = block if full is None else full + block
    full = tf.reshape(full, [-1, stride * (in_len + n_blocks - 1), f])
    return full[:, pl:pl + out_len, :]


def conv1d_s2d(x, kernel, stride: int = 1):
    """'SAME' conv1d as space-to-depth + a stride-1 native conv: [B, T, C] -> [B, T_out, F].

    xr [B, T_out + J - 1, s*C] (the padded input viewed in blocks of s samples) convolved
    ('VALID', stride 1) with the kernel zero-padded to s*J taps and viewed as [J, s*C, F].
    """
    k, c, f = (int(d) for d in kernel.shape)
    in_len = _static_len(x)
    pl, _ = same_padding(in_len, k, stride)
    out_len = -(-in_len // stride)
    n_blocks = -(-k // stride)
    xp = tf.pad(x, [[0, 0], [pl, stride * (out_len + n_blocks - 1) - in_len - pl], [0, 0]])
    xr = tf.reshape(xp, [-1, out_len + n_blocks - 1, stride * c])
    w = tf.reshape(tf.pad(kernel, [[0, stride * n_blocks - k], [0, 0], [0, 0]]),
                   [n_blocks, stride * c, f])
    return tf.nn.conv1d(xr, w, 1, "VALID")


def conv1d_transpose_s2d(x, kernel, stride: int):
    """'SAME' transposed conv1d as a stride-1 native conv producing blocks of s samples.

    full_blocks[u] = sum_j x[u - j] @ W_j  (W_j [C, s*F], W_j[c, r*F + f] = kernel[s*j + r, f, c])
    = a 'VALID' stride-1 conv of x padded by J-1 on both sides with the taps reversed;
    full [B, s*(T + J - 1), F] is then cropped as in :func:`conv1d_transpose_matmul`.
    """
    k, f, c = (int(d) for d in kernel.shape)
    in_len = _static_len(x)
    pl, _ = same_padding(stride * in_len, k, stride)
    n_blocks = -(-k // stride)
    w = tf.pad(kernel, [[0, stride * n_blocks - k], [0, 0], [0, 0]])      # [sJ, F, C]
    w = tf.reshape(tf.transpose(tf.reshape(w, [n_blocks, stride, f, c]), [0, 3, 1, 2]),
                   [n_blocks, c, stride * f])
    xp = tf.pad(x, [[0, 0], [n_blocks - 1, n_blocks - 1], [0, 0]])
    full = tf.nn.conv1d(xp, tf.reverse(w, [0]), 1, "VALID")              # [B, T+J-1, sF]
    full = tf.reshape(full, [-1, stride * (in_len + n_blocks - 1), f])
    return full[:, pl:pl + stride * in_len, :]


# ------------------------------------------------------------------------------------------
# Dispatch used by wavegan.layers
# ------------------------------------------------------------------------------------------
# The pinned rules ('auto' without tuning: the same paths on every machine).  Measured at dim
# 64 (docs/performance.md, issue 9) and at dim 8 (issue 28: im2col loses 2x on narrow short
# convs, s2d wins up to 2.8x on narrow transposed convs); the paper's model (dim 64) keeps the
# paths it had.
AUTO_MAX_CONV_OUT_LEN = 64    # im2col for convs with at most this many output steps ...
AUTO_MIN_IM2COL_CH = 256      # ... and at least this many input channels
AUTO_MAX_TCONV_IN_LEN = 16    # matmul for transposed convs with at most this many inputs
AUTO_MAX_S2D_TCONV_CH = 32    # s2d for (longer) transposed convs with at most this many inputs


def choose_conv(in_len: int, in_ch: int, kernel_len: int, stride: int, batch=None,
                out_ch=None, dtype: str = "float32") -> str:
    """The implementation 'auto' (or the switch) gives a 'SAME' conv1d of this geometry.

    'auto' with tuning on and the batch and output width known: measured on this machine
    (:func:`wavegan.conv_tuning.choose`).  Otherwise, the pinned rules: one input channel ->
    's2d'; output length <= AUTO_MAX_CONV_OUT_LEN with >= AUTO_MIN_IM2COL_CH input channels ->
    'im2col' (D's last, wide blocks, where the native backward is slowest); otherwise 'native'
    (measured per layer, see docs/performance.md).  'im2col' whose frame tensor would exceed
    MAX_FRAMES_BYTES falls back to 'native'.
    """
    impl = get_conv_impl()
    if impl == "auto" and conv_tuning_on() and batch and out_ch:
        candidates = {"native": _native_conv, "s2d": conv1d_s2d}
        if frames_bytes(batch, in_len, in_ch, kernel_len, stride) <= MAX_FRAMES_BYTES:
            candidates["im2col"] = conv1d_im2col
        impl = conv_tuning.choose("conv", int(batch), in_len, in_ch, int(out_ch), kernel_len,
                                  stride, dtype, candidates)
    if impl == "auto":
        out_len = -(-in_len // stride)
        impl = ("s2d" if in_ch == 1 else "im2col" if (out_len <= AUTO_MAX_CONV_OUT_LEN and
                                                      in_ch >= AUTO_MIN_IM2COL_CH)
                else "native")
    if impl == "im2col":
        if frames_bytes(batch or 64, in_len, in_ch, kernel_len, stride) > MAX_FRAMES_BYTES:
            impl = "native"
    return impl


def choose_conv_transpose(in_len: int, out_ch: int, in_ch=None, kernel_len=None, stride=None,
                          batch=None, dtype: str = "float32") -> str:
    """'auto' for a transposed conv: measured (as :func:`choose_conv`) when tuning is on and
    the shape is known; else the pinned rule: one output channel or <= AUTO_MAX_TCONV_IN_LEN
    input steps -> 'im2col' (MatMul + overlap-add); <= AUTO_MAX_S2D_TCONV_CH input channels ->
    's2d'; otherwise 'native'."""
    impl = get_conv_impl()
    if impl == "auto" and conv_tuning_on() and batch and in_ch and kernel_len and stride:
        impl = conv_tuning.choose(
            "tconv", int(batch), in_len, int(in_ch), out_ch, int(kernel_len), int(stride), dtype,
            {"native": _native_conv_transpose, "im2col": conv1d_transpose_matmul,
             "s2d": conv1d_transpose_s2d})
    if impl == "auto":
        impl = ("im2col" if out_ch == 1 or in_len <= AUTO_MAX_TCONV_IN_LEN
                else "s2d" if in_ch is not None and in_ch <= AUTO_MAX_S2D_TCONV_CH
                else "native")
    return impl


def conv1d(x, kernel, stride: int = 1):
    """'SAME' conv1d [B, T, C] x [K, C, F] -> [B, ceil(T/s), F], selected implementation."""
    k, c, _ = (int(d) for d in kernel.shape)
    if x.shape[1] is None:
        impl = "native"
    else:
        impl = choose_conv(int(x.shape[1]), c, k, stride, x.shape[0], int(kernel.shape[2]),
                           x.dtype.name)
    if impl == "im2col":
        return conv1d_im2col(x, kernel, stride)
    if impl == "s2d":
        return conv1d_s2d(x, kernel, stride)
    return _native_conv(x, kernel, stride)


def _native_conv(x, kernel, stride: int):
    return tf.nn.conv1d(x, kernel, stride=stride, padding="SAME")


def conv1d_transpose(x, kernel, stride: int):
    """'SAME' transposed conv1d [B, T, C] x [K, F, C] -> [B, s*T, F], selected implementation."""
    k, f, c = (int(d) for d in kernel.shape)
    impl = "native" if x.shape[1] is None else choose_conv_transpose(
        int(x.shape[1]), f, c, k, stride, x.shape[0], x.dtype.name)
    if impl == "im2col":
        return conv1d_transpose_matmul(x, kernel, stride)
    if impl == "s2d":
        return conv1d_transpose_s2d(x, kernel, stride)
    return _native_conv_transpose(x, kernel, stride)


def _native_conv_transpose(x, kernel, stride: int):
    f = int(kernel.shape[1])
    batch = tf.shape(x)[0]
    out_len = x.shape[1] * stride
    return tf.nn.conv1d_transpose(x, kernel, output_shape=tf.stack([batch, out_len, f]),
                                  strides=stride, padding="SAME")
