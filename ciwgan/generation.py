"""Generate audio for chosen codes with shared noise, and Q's reading of what was generated.

The standard way to hear what each code encodes: the same noise vectors with every code
(ciwGAN: each one-hot code; fiwGAN: all or chosen bit patterns), optionally with the code
value pushed beyond 1 (e.g. 5) to exaggerate its effect.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from common.atomic import atomic_write_csv
from common.errors import InputError
from common.outputs import OutputFolder
from wavegan.config import WaveGANConfig

from .latent import code_vectors


class GenerationError(InputError):
    """Bad generation settings (--codes, --n_per_code) for the loaded model."""


def generation_latents(config: WaveGANConfig, codes: Optional[Sequence] = None,
                       value: float = 1.0, n_per_code: int = 1, seed: int = 0):
    """z [n_codes * n_per_code, latent_dim]: every code paired with the same noise vectors.

    Returns (z, code labels): labels are category indices (ciwGAN) or bit strings (fiwGAN).
    """
    rng = np.random.RandomState(seed)
    if config.model == "wavegan":
        z = rng.uniform(-1, 1, [n_per_code, config.latent_dim]).astype(np.float32)
        return z, ["-"] * n_per_code
    vectors = code_vectors(config, codes, value)
    if config.model == "ciwgan":
        labels = [str(int(np.argmax(v))) for v in vectors]
    else:
        labels = ["".join("1" if b != 0 else "0" for b in v) for v in vectors]
    noise = rng.uniform(-1, 1, [n_per_code, config.latent_dim - config.num_categ])
    z = np.concatenate([np.repeat(vectors, n_per_code, 0), np.tile(noise, (len(vectors), 1))], 1)
    return z.astype(np.float32), [lab for lab in labels for _ in range(n_per_code)]


def classify_generated(config: WaveGANConfig, Q, audio) -> pd.DataFrame:
    """Q's logits, probabilities and decision for generated audio [N, slice_len(, nch)]."""
    logits = Q(tf.constant(audio), training=False).numpy()
    if config.model == "ciwgan":
        probs = tf.nn.softmax(logits).numpy()
        decided = [str(i) for i in probs.argmax(1)]
    else:
        probs = tf.sigmoid(logits).numpy()
        decided = ["".join("1" if p > 0.5 else "0" for p in row) for row in probs]
    table = pd.DataFrame({"q_code": decided})
    for k in range(logits.shape[1]):
        table[f"logit_{k}"] = logits[:, k]
    for k in range(logits.shape[1]):
        table[f"prob_{k}"] = probs[:, k]
    return table


def generate_to_folder(config: WaveGANConfig, G, Q, out_dir: str, codes=None, value=1.0,
                       n_per_code=1, seed=0, sample_rate=16000, overwrite=False,
                       batch_size=32, inputs: Mapping[str, Optional[str]] = (),
                       flag: str = "--out") -> pd.DataFrame:
    """Write one WAV per (code, noise) and ``generated.csv`` into ``out_dir`` under the
    safe-output rule (:mod:`common.outputs`, stage "generate"): ``inputs`` ({flag: path}, e.g.
    ``{"--checkpoint": path}``) are never written into or replaced; an existing ``out_dir`` is
    replaced only with ``overwrite`` and only when it is an earlier generate output.  The folder
    appears atomically.  Raises :class:`GenerationError` for codes the model does not have and
    :class:`common.errors.OutputPathError` for a refused ``out_dir``, both before any work.
    """
    import soundfile as sf

    if n_per_code < 1:
        raise GenerationError(f"--n_per_code={n_per_code}: must be >= 1")
    try:
        z, labels = generation_latents(config, codes, value, n_per_code, seed)
    except ValueError as err:
        given = f"={','.join(map(str, codes))}" if codes else ""
        raise GenerationError(f"--codes{given}: {err}") from err
    output = OutputFolder(out_dir, "generate", inputs=inputs, overwrite=overwrite, flag=flag)
    rows, audio_all = [], []
    for start in range(0, len(z), batch_size):
        audio_all.append(G(tf.constant(z[start:start + batch_size]), training=False).numpy())
    audio = np.concatenate(audio_all, 0)
    with output as tmp:
        for i, (clip, label) in enumerate(zip(audio, labels)):
            name = f"code-{label}_z{i % n_per_code:03d}.wav"
            sf.write(os.path.join(tmp, name), np.clip(clip, -1, 1), sample_rate,
                     subtype="PCM_16")
            rows.append({"file": name, "code": label, "noise_index": i % n_per_code,
                         "code_value": value})
        table = pd.DataFrame(rows)
        if Q is not None:
            table = pd.concat([table, classify_generated(config, Q, audio)], axis=1)
            table["q_agrees"] = table["q_code"] == table["code"]
        atomic_write_csv(table, os.path.join(tmp, "generated.csv"))
    return table
