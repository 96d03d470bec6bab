"""Preview clips of a run: fixed latents (every code with the same noise) and G's audio for
them, written at every checkpoint to ``preview/step-N/`` and to TensorBoard.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from common.constants import SAMPLE_RATE

from wavegan.config import WaveGANConfig

from .codes import NO_CODE, code_latents
from .generation import wav_name


def preview_latents(config: WaveGANConfig, n_noise: int, seed: int = 1234):
    """Fixed latents for the previews: ``(z float32 [N, latent_dim], code labels [N])``, every
    code (fiwGAN with > 4 bits: each bit on its own) paired with the same ``n_noise`` noise
    vectors (:func:`ciwgan.codes.code_latents`); WaveGAN: at least 4 noise vectors."""
    n = config.num_categ
    codes = None
    if config.model == "fiwgan" and n > 4:
        # All 2^n bit patterns would be too many to listen to: each bit on its own.
        codes = [1 << i for i in range(n)]
    per_code = max(n_noise, 4) if config.model == "wavegan" else n_noise
    return code_latents(config, codes, n_per_code=per_code, seed=seed)


def write_preview(G, z, labels, step: int, train_dir: str,
                  sample_rate: int = SAMPLE_RATE) -> str:
    """G(z) at inference as WAVs in preview/step-N/ (written atomically, named as generate.py
    names them) + TensorBoard audio, one summary per code (``preview/code_3``)."""
    import soundfile as sf

    audio = G(tf.constant(z), training=False).numpy()
    folder = os.path.join(train_dir, "preview", f"step-{step:08d}")
    tmp = folder + f".tmp-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    by_label = {}
    for clip, label in zip(audio, labels):
        by_label.setdefault(label, []).append(clip)
        sf.write(os.path.join(tmp, wav_name(label, len(by_label[label]) - 1)),
                 np.clip(clip, -1, 1), sample_rate, subtype="PCM_16")
    if os.path.exists(folder):
        import shutil
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    for label, clips in by_label.items():
        tf.summary.audio("preview" if label == NO_CODE else f"preview/{label}", np.stack(clips),
                         sample_rate, step=step, max_outputs=len(clips))
    return folder

