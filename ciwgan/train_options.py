"""What ``train.py`` is asked to do: every option of a training run with its default, range
and help (the flags are generated from this class, :mod:`common.cli`); the training loop
(:mod:`ciwgan.training_loop`) reads the same object, and records it in ``flags.json``.

Flags keep the original training scripts' names (``--train_dir``, ``--data_dir``,
``--train_batch_size``, ``--data_normalize``, ``--wavegan_*``) beside the shared ones
(``--data``, ``--batch_size``, ``--normalize``).  ``ciwgan.training.run(options)`` runs it.

Kept apart from the loop so that it can be read, checked and recorded without importing
TensorFlow.  The upper bounds of the sizes are far beyond any model of the papers (dim 64,
latent 100, kernel 25, radius 2, 5 D updates): they keep a typo from allocating the
machine's memory before it is noticed.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common import layout
from common.errors import InputError
from common.options import (Renamed, StageOptions, boolean, choice, integer, number, shared,
                            text)

MODELS = ("ciwgan", "fiwgan", "wavegan")
# Code size when --num_categ is not given, as the original scripts.
DEFAULT_NUM_CATEG = {"ciwgan": 10, "fiwgan": 3, "wavegan": 10}
LOSSES = ("wgan-gp", "wgan", "lsgan", "dcgan")
CONV_IMPLS = ("native", "im2col", "s2d", "auto")


@dataclasses.dataclass(frozen=True)
class TrainOptions(StageOptions):
    stage: ClassVar[str] = "train"

    train_dir: Optional[str] = text(
        None, "the training folder (checkpoints, config.json, flags.json, TensorBoard, "
        "previews): new, empty, or an earlier run of train.py, which is resumed",
        required=True, role="run")
    data_dir: Optional[str] = shared("data", None, flag="data_dir", synonyms=("data",),
                                     required=True)
    batch_size: int = shared("batch_size", 64, flag="train_batch_size",
                             synonyms=("batch_size",), high=65536,
                             help="at most the number of training tokens")
    max_steps: Optional[int] = integer(None, "stop when the run has made this many G updates "
                                       "(a resumed run counts on; unset: never)", low=0)
    max_seconds: Optional[float] = number(
        None, "time cap: stop (with a checkpoint) after this many seconds of training in this "
        "invocation, even before --max_steps", low=0, low_open=True)
    save_secs: float = number(300.0, "seconds between checkpoints", low=0,
                              flag="train_save_secs")
    summary_secs: float = number(120.0, "seconds between TensorBoard summaries", low=0,
                                 flag="train_summary_secs")
    seed: int = shared("seed", 0, help="the initial weights', z's, alpha's, the phase "
                       "shuffle's and the data order's")
    loss: str = choice("wgan-gp", LOSSES, "GAN loss", flag="wavegan_loss")
    disc_nupdates: int = integer(5, "D updates per G update", low=1, high=100,
                                 flag="wavegan_disc_nupdates")
    gq_semantics: str = choice("simultaneous", ("simultaneous", "sequential"),
                               "order of G's Adam and the Q/G RMSProp update (see README)")
    init_from: Optional[str] = text(None, "start from a TF1 checkpoint of the original code "
                                    "(a prefix or its folder)", role="checkpoint")
    normalize: str = shared("normalize", "peak", renamed=(Renamed(
        "data_normalize", ((True, "peak"), (False, "none")), deprecated=False,
        help="the original scripts' name: --data_normalize = --normalize=peak, "
             "--nodata_normalize = --normalize=none"),))
    xla: bool = boolean(False, "compile the updates with XLA (jit_compile)")
    mixed_precision: bool = boolean(
        False, "mixed precision, chosen per device: bfloat16 on NVIDIA GPUs of compute "
        "capability >= 8.0 and CPUs with AVX512_BF16/AMX, float16 with dynamic loss scaling on "
        "older GPUs (env CIWGAN_MIXED_POLICY forces one); variables and outputs stay float32")
    distribute: str = choice("none", ("none", "mirrored", "multiworker"),
                             "tf.distribute strategy: mirrored (the local GPUs) or multiworker "
                             "(several machines, each given TF_CONFIG; see docs/training.md)")
    keep_checkpoints: int = integer(5, "checkpoints to keep", low=1)
    preview_n: int = integer(1, "preview clips per code at each checkpoint (preview/step-N/)",
                             low=1, high=64)
    progress: bool = shared("progress", True)
    # TensorFlow's deterministic kernels (tf.config.experimental.enable_op_determinism): the
    # same seed and steps give the same weights on machines of one kind (docs/training.md).
    deterministic: bool = boolean(
        False, "TensorFlow's deterministic kernels (tf.config.experimental."
        "enable_op_determinism): the same --seed and --max_steps give the same weights on "
        "machines of one kind (docs/training.md)")
    # ---- the model (wavegan.config.WaveGANConfig); with --init_from, the checkpoint's
    model: Optional[str] = choice(None, MODELS, "model kind; unset: ciwgan (with --init_from: "
                                  "the checkpoint's)")
    num_categ: Optional[int] = integer(
        None, "code size: categories (ciwGAN) or bits (fiwGAN); unset: 10 (ciwGAN) or 3 "
        "(fiwGAN), as the original scripts; less than --wavegan_latent_dim", low=1)
    latent_dim: int = integer(100, "length of z", low=1, high=4096, flag="wavegan_latent_dim")
    kernel_len: int = integer(25, "conv kernel length", low=1, high=1024,
                              flag="wavegan_kernel_len")
    dim: int = integer(64, "width multiplier", low=1, high=1024, flag="wavegan_dim")
    batchnorm: bool = boolean(False, "batch norm in G, D and Q", flag="wavegan_batchnorm")
    genr_upsample: str = choice("zeros", ("zeros", "nn"), "G's upsampling",
                                flag="wavegan_genr_upsample")
    genr_pp: bool = boolean(False, "G's post-processing filter", flag="wavegan_genr_pp")
    genr_pp_len: int = integer(512, "length of the post-processing filter", low=1,
                               high=65536, flag="wavegan_genr_pp_len")
    phaseshuffle: int = integer(2, "phase shuffle radius of D and Q", low=0, high=1024,
                                flag="wavegan_disc_phaseshuffle")
    exact_numerics: bool = boolean(False, "oneDNN off, one thread: bit-comparable with the TF1 "
                                   "reference (slow)")
    conv_impl: Optional[str] = choice(
        None, CONV_IMPLS, "how the strided convolutions are computed (native: TensorFlow's; "
        "im2col, s2d: rewritten as matrix products; auto: per layer, the path measured fastest "
        "on this machine, cached in ~/.cache/ciwgan; with --deterministic the pinned rules). "
        "Unset: $WAVEGAN_CONV_IMPL, else native with --exact_numerics, else auto")

    def check(self) -> None:
        if self.model_kind() != "wavegan" and self.code_size() >= self.latent_dim:
            raise InputError(f"--num_categ={self.code_size()}: the code must be shorter than "
                             f"z (--wavegan_latent_dim={self.latent_dim})")

    def earlier_run(self, folder: str) -> bool:
        """A training folder written before folders carried train.py's marker: its
        config.json beside flags.json or one of its checkpoints (ckpt-N)."""
        import os
        import re

        names = set(os.listdir(folder))
        return layout.CONFIG_JSON in names and (
            layout.FLAGS_JSON in names or any(re.fullmatch(r"ckpt-\d+\.index", n)
                                              for n in names))

    def model_kind(self) -> str:
        """--model, or ciwgan when it is not given."""
        return self.model or "ciwgan"

    def code_size(self) -> int:
        """--num_categ, or the original scripts' default for the model."""
        return (self.num_categ if self.num_categ is not None
                else DEFAULT_NUM_CATEG[self.model_kind()])
