"""Load checkpoints written by the original TF1 code (gbegus/fiwGAN-ciwGAN, chrisdonahue/wavegan).

The original saves ``tf.train.Saver`` checkpoints (``model.ckpt-N``) with ``tf.layers`` names:

    G/z_project/dense/{kernel,bias}                 [latent_dim, 16*d*dim_mul]
    G/z_project/batch_normalization/{gamma,beta,moving_mean,moving_variance}
    G/upconv_i/conv2d_transpose/{kernel,bias}        kernel [1, K, out, in]   ('zeros')
    G/upconv_i/conv1d/{kernel,bias}                  kernel [K, in, out]      ('nn')
    G/upconv_i/batch_normalization/...
    G/pp_filt/conv1d/kernel                          [pp_len, nch, nch]       (post-processing)
    D/downconv_i/conv1d/{kernel,bias}, D/downconv_i/batch_normalization/..., D/output/dense/...
    Q/Qdownconv_i/conv1d/..., Q/Qoutput/dense/{kernel,bias}   (ciwGAN / fiwGAN only)
    <var>/Adam, <var>/Adam_1, <var>/RMSProp, <var>/RMSProp_1, beta{1,2}_power[_1], global_step

The configuration is inferred from those names and shapes.  Three things are not in the
variables and come from hints beside the checkpoint when present (our ``config.json``, the
original's ``args.txt``, a README line ``model: fiwGAN``) or from explicit arguments:
ciwGAN vs fiwGAN (identical variables), 32768 vs 65536 samples (same shapes, stride 2 vs 4)
and the phase-shuffle radius.  Without a hint, ciwGAN, 32768 and radius 2 are assumed, with a
warning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from .checkpoint_files import CheckpointError, resolve_prefix
from .config import WaveGANConfig
from .discriminator import QNetwork, WaveGANDiscriminator
from .generator import WaveGANGenerator

log = logging.getLogger(__name__)

BN_FIELDS = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclasses.dataclass
class VariableLink:
    """One TF1 checkpoint entry and the Keras variable that holds it.

    ``tf1_shape`` may differ from the variable's shape only by unit axes (conv2d_transpose).
    """

    tf1_name: str
    variable: object
    tf1_shape: Tuple[int, ...]


# --------------------------------------------------------------------------------------------
# Reading and configuration inference
# --------------------------------------------------------------------------------------------
def read_variable_shapes(prefix: str) -> Dict[str, Tuple[int, ...]]:
    try:
        return {name: tuple(shape) for name, shape in tf.train.list_variables(prefix)}
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{prefix}: cannot read checkpoint ({err})") from err


def _read_hints(prefix: str) -> dict:
    """Configuration hints from files beside the checkpoint (see the module docstring)."""
    folder = os.path.dirname(os.path.abspath(prefix))
    hints: dict = {}
    args_path = os.path.join(folder, "args.txt")
    if os.path.exists(args_path):
        args = {}
        with open(args_path) as f:
            for line in f:
                key, _, value = line.strip().partition(",")
                args[key] = value
        for key, field, conv in (("data_slice_len", "slice_len", int),
                                 ("wavegan_disc_phaseshuffle", "phaseshuffle_rad", int),
                                 ("wavegan_genr_pp_len", "genr_pp_len", int)):
            if args.get(key, "").lstrip("-").isdigit():
                hints[field] = conv(args[key])
        hints["_source"] = args_path
    readme = os.path.join(folder, "README.md")
    if os.path.exists(readme):
        with open(readme, errors="replace") as f:
            text = f.read()
        m = re.search(r"model:\s*(ciwGAN|fiwGAN|WaveGAN)\b", text, re.IGNORECASE)
        if m:
            hints.setdefault("model", m.group(1).lower())
        m = re.search(r"slice_len:\s*(\d+)", text)
        if m:
            hints.setdefault("slice_len", int(m.group(1)))
        m = re.search(r"phaseshuffle:\s*(\d+)", text)
        if m:
            hints.setdefault("phaseshuffle_rad", int(m.group(1)))
    return hints


def _require(shapes, name, prefix):
    if name not in shapes:
        raise CheckpointError(f"{prefix}: variable {name!r} is missing; this is not a "
                              "checkpoint of the original WaveGAN/ciwGAN/fiwGAN code")
    return shapes[name]


def infer_config(shapes: Dict[str, Tuple[int, ...]], prefix: str = "checkpoint",
                 hints: Optional[dict] = None, **overrides) -> WaveGANConfig:
    """Infer a :class:`WaveGANConfig` from TF1 variable names and shapes.

    ``overrides`` (e.g. model='fiwgan', slice_len=65536) win over hints, hints over defaults.
    """
    hints = dict(hints or {})
    hints.pop("_source", None)
    z_kernel = _require(shapes, "G/z_project/dense/kernel", prefix)
    latent_dim, proj = z_kernel
    n_up = len({m.group(1) for n in shapes for m in [re.match(r"G/upconv_(\d+)/", n)] if m})
    if n_up not in (5, 6):
        raise CheckpointError(f"{prefix}: found {n_up} G/upconv_* blocks, expected 5 or 6")
    upsample = "zeros" if "G/upconv_0/conv2d_transpose/kernel" in shapes else "nn"
    if upsample == "zeros":
        k = _require(shapes, "G/upconv_0/conv2d_transpose/kernel", prefix)
        kernel_len = k[1]
        last = _require(shapes, f"G/upconv_{n_up - 1}/conv2d_transpose/kernel", prefix)
        nch = last[2]
    else:
        k = _require(shapes, "G/upconv_0/conv1d/kernel", prefix)
        kernel_len = k[0]
        last = _require(shapes, f"G/upconv_{n_up - 1}/conv1d/kernel", prefix)
        nch = last[2]
    dim_mul = 16 if n_up == 5 else 32
    if proj % (16 * dim_mul):
        raise CheckpointError(f"{prefix}: z_project width {proj} is not 16*{dim_mul}*dim")
    dim = proj // (16 * dim_mul)
    batchnorm = any(re.match(r"[GDQ]/.*batch_normalization[^/]*/gamma$", n) for n in shapes)
    pp = shapes.get("G/pp_filt/conv1d/kernel")
    has_q = "Q/Qoutput/dense/kernel" in shapes
    num_categ = shapes["Q/Qoutput/dense/kernel"][1] if has_q else 0

    values = dict(latent_dim=latent_dim, kernel_len=kernel_len, dim=dim, num_channels=nch,
                  batchnorm=batchnorm, upsample=upsample, genr_pp=pp is not None,
                  genr_pp_len=pp[0] if pp is not None else 512)
    values["model"] = "ciwgan" if has_q else "wavegan"
    values["num_categ"] = num_categ if has_q else 10
    if n_up == 5:
        values["slice_len"] = 16384
    values["phaseshuffle_rad"] = 2
    guessed = []
    for key, val in hints.items():
        if key == "slice_len" and n_up == 5 and val != 16384:
            raise CheckpointError(f"{prefix}: hint slice_len={val} but the variables say 16384")
        if key == "model" and (val == "wavegan") == has_q:
            raise CheckpointError(f"{prefix}: hint model={val} but Q variables are "
                                  f"{'present' if has_q else 'absent'}")
        values[key] = val
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "slice_len" not in values:
        values["slice_len"] = 32768
        guessed.append("slice_len=32768 (32768 and 65536 have identical variables)")
    if has_q and "model" not in hints and "model" not in overrides:
        guessed.append("model=ciwgan (ciwGAN and fiwGAN have identical variables)")
    if guessed:
        log.warning("%s: assumed %s; pass them explicitly if wrong", prefix, "; ".join(guessed))
    return WaveGANConfig(**values)


# --------------------------------------------------------------------------------------------
# Name mapping between TF1 and the Keras models
# --------------------------------------------------------------------------------------------
def _bn_links(scope: str, bn, shapes) -> List[VariableLink]:
    """Links of one batch norm; the TF1 layer may be named batch_normalization[_N]."""
    names = sorted({m.group(1) for n in shapes
                    for m in [re.match(rf"^{re.escape(scope)}/(batch_normalization(?:_\d+)?)/gamma$", n)]
                    if m})
    layer = names[0] if len(names) == 1 else "batch_normalization"
    return [VariableLink(f"{scope}/{layer}/{f}", getattr(bn, f), tuple(getattr(bn, f).shape))
            for f in BN_FIELDS]


def _conv_links(scope: str, conv, kind: str = "conv1d") -> List[VariableLink]:
    links = [VariableLink(f"{scope}/{kind}/kernel", conv.kernel,
                          (1,) + tuple(conv.kernel.shape) if kind == "conv2d_transpose"
                          else tuple(conv.kernel.shape))]
    if getattr(conv, "use_bias", True):
        links.append(VariableLink(f"{scope}/{kind}/bias", conv.bias, tuple(conv.bias.shape)))
    return links


def _dense_links(scope: str, dense) -> List[VariableLink]:
    return [VariableLink(f"{scope}/dense/kernel", dense.kernel, tuple(dense.kernel.shape)),
            VariableLink(f"{scope}/dense/bias", dense.bias, tuple(dense.bias.shape))]


def generator_links(G, shapes=()) -> List[VariableLink]:
    G.build()
    links = _dense_links("G/z_project", G.z_project)
    if G.z_project_bn is not None:
        links += _bn_links("G/z_project", G.z_project_bn, shapes)
    for i, (up, bn) in enumerate(zip(G.upconvs, G.upconv_bns)):
        scope = f"G/upconv_{i}"
        if G.config.upsample == "zeros":
            links += _conv_links(scope, up, "conv2d_transpose")
        else:
            links += _conv_links(scope, up.conv, "conv1d")
        if bn is not None:
            links += _bn_links(scope, bn, shapes)
    if G.pp_filt is not None:
        links += _conv_links("G/pp_filt", G.pp_filt, "conv1d")
    return links


def encoder_links(net, scope: str, shapes=()) -> List[VariableLink]:
    """Links of D (scope 'D') or Q (scope 'Q'), block names from the network class."""
    net.build()
    links = []
    for i, block in enumerate(net.blocks):
        block_scope = f"{scope}/{net.block_prefix}_{i}"
        links += _conv_links(block_scope, block.conv, "conv1d")
        if block.bn is not None:
            links += _bn_links(block_scope, block.bn, shapes)
    links += _dense_links(f"{scope}/{net.output_name}", net.dense)
    return links


def model_links(G, D, Q=None, shapes=()) -> List[VariableLink]:
    links = generator_links(G, shapes)
    if D is not None:
        links += encoder_links(D, "D", shapes)
    if Q is not None:
        links += encoder_links(Q, "Q", shapes)
    return links


def assign_links(reader, links: List[VariableLink], shapes, prefix: str) -> None:
    """Copy checkpoint values into the linked variables; one error listing every problem."""
    missing = [l.tf1_name for l in links if l.tf1_name not in shapes]
    mismatched = [f"{l.tf1_name}: checkpoint {shapes[l.tf1_name]} vs model {l.tf1_shape}"
                  for l in links if l.tf1_name in shapes and shapes[l.tf1_name] != l.tf1_shape]
    if missing or mismatched:
        lines = []
        if missing:
            lines.append(f"missing variables ({len(missing)}): " + ", ".join(missing[:20])
                         + (" ..." if len(missing) > 20 else ""))
        if mismatched:
            lines.append(f"shape mismatches ({len(mismatched)}): " + "; ".join(mismatched[:20]))
        raise CheckpointError(f"{prefix} does not fit the model:\n  " + "\n  ".join(lines))
    for link in links:
        value = reader.get_tensor(link.tf1_name)
        link.variable.assign(np.reshape(value, link.variable.shape))


def load_tf1_checkpoint(path: str, model: Optional[str] = None,
                        slice_len: Optional[int] = None,
                        phaseshuffle_rad: Optional[int] = None,
                        config: Optional[WaveGANConfig] = None):
    """Build G, D and Q for a TF1 checkpoint and load its weights.

    Returns ``(config, G, D, Q, info)``; Q is None for WaveGAN.  ``info`` holds the prefix,
    the variable shapes, the reader (for optimizer slots) and ``global_step``.
    """
    prefix = resolve_prefix(path)
    shapes = read_variable_shapes(prefix)
    if config is None:
        config = tf1_checkpoint_config(prefix, model, slice_len, phaseshuffle_rad)
    G = WaveGANGenerator(config)
    # The original's infer() saver writes G only: then there is no D (and no Q) to load.
    generator_only = "D/output/dense/kernel" not in shapes and "Q/Qoutput/dense/kernel" not in shapes
    if generator_only:
        log.warning("%s holds the generator only (an infer checkpoint): D and Q are None", prefix)
    D = None if generator_only else WaveGANDiscriminator(config)
    Q = QNetwork(config) if config.has_q else None
    reader = tf.train.load_checkpoint(prefix)
    assign_links(reader, model_links(G, D, Q, shapes), shapes, prefix)
    step = int(reader.get_tensor("global_step")) if "global_step" in shapes else 0
    info = {"prefix": prefix, "shapes": shapes, "reader": reader, "global_step": step}
    return config, G, D, Q, info


def tf1_checkpoint_config(path: str, model: Optional[str] = None,
                          slice_len: Optional[int] = None,
                          phaseshuffle_rad: Optional[int] = None) -> WaveGANConfig:
    """The configuration of a TF1 checkpoint (inferred, with hints), without building models."""
    prefix = resolve_prefix(path)
    return infer_config(read_variable_shapes(prefix), prefix, _read_hints(prefix), model=model,
                        slice_len=slice_len, phaseshuffle_rad=phaseshuffle_rad)


def is_tf1_checkpoint(prefix: str) -> bool:
    """True if the prefix holds the original code's variable names."""
    try:
        shapes = read_variable_shapes(prefix)
    except CheckpointError:
        return False
    return "G/z_project/dense/kernel" in shapes


def save_tf1_checkpoint(prefix: str, G, D, Q=None, extra=(), global_step: int = 0) -> str:
    """Write the models in the original code's checkpoint format (names and shapes).

    ``extra``: further (tf1 name, variable) pairs, e.g. ``GANTrainer.tf1_state_links()``.
    The original code (or :func:`load_tf1_checkpoint`) can restore the result.  Written to a
    temporary prefix, then renamed file by file (index last, so a reader never sees a
    half-written checkpoint as complete).
    """
    names, tensors = [], []
    for link in model_links(G, D, Q):
        names.append(link.tf1_name)
        tensors.append(tf.reshape(tf.convert_to_tensor(link.variable), link.tf1_shape))
    seen = set(names)
    for name, var in extra:
        if name not in seen:
            names.append(name)
            tensors.append(tf.convert_to_tensor(var))
            seen.add(name)
    if "global_step" not in seen:
        names.append("global_step")
        tensors.append(tf.constant(global_step, tf.int64))
    tmp = f"{prefix}.tmp{os.getpid()}"
    tf.raw_ops.SaveV2(prefix=tmp, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)
    data = [f for f in os.listdir(os.path.dirname(os.path.abspath(tmp)) or ".")
            if f.startswith(os.path.basename(tmp) + ".data-")]
    for f in data:
        suffix = f[len(os.path.basename(tmp)):]
        os.replace(os.path.join(os.path.dirname(os.path.abspath(tmp)), f), prefix + suffix)
    os.replace(tmp + ".index", prefix + ".index")
    return prefix
