"""Generate audio for chosen codes with shared noise, and Q's reading of what was generated.

The standard way to hear what each code encodes: the same noise vectors with every code
(ciwGAN: each one-hot code; fiwGAN: all or chosen bit patterns), optionally with the code
value pushed beyond 1 (e.g. 5) to exaggerate its effect.  The latents and labels come from
:mod:`ciwgan.codes`.  ``run(options)`` is the generate stage (``generate.py``); TensorFlow is
imported once the output folder has passed the safe-output rule.
"""

from __future__ import annotations

import json
import os
import re
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from common.atomic import atomic_write_csv
from common.constants import SAMPLE_RATE
from common.errors import InputError
from common import layout
from common.layout import CLASSIFICATION_JSON, GENERATED_CSV
from common.options import require
from common.outputs import OutputFolder, check_output, inputs_of
from wavegan.config import WaveGANConfig

from .codes import (NO_CODE, code_label, code_latents, code_probabilities, parse_codes,
                    read_codes)
from .generate_options import GenerateOptions


class GenerationError(InputError):
    """Bad generation settings (--codes, --n_per_code) for the loaded model."""


# A word goes into a file name only when it is plain (letters, digits, '_', '-'): a label from
# the data never becomes a path (docs/analysis.md, "Labels are data").
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_-]{1,40}")


def wav_name(label: str, noise_index: int, word: Optional[str] = None) -> str:
    """File name of a generated clip: ``code_3_z000.wav`` / ``bits_0101_z000.wav`` (noise
    index 0), ``z000.wav`` without a code (WaveGAN); with the ``word`` the code maps to
    (a plain word only), ``code_3_dark_z000.wav``."""
    if label == NO_CODE:
        return f"z{noise_index:03d}.wav"
    if word is not None and _PLAIN_WORD.fullmatch(str(word)):
        return f"{label}_{word}_z{noise_index:03d}.wav"
    return f"{label}_z{noise_index:03d}.wav"


def read_code_words(config: WaveGANConfig, path: Optional[str]) -> Dict[str, str]:
    """{code label: word} from extract.py's classification.json (``path``: the file or the
    activations folder holding it): the one-to-one ``mapping`` ({word: code}) of Q's codes on
    real words. {} without a path; a missing or unreadable file is a GenerationError."""
    if not path:
        return {}
    file = os.path.join(path, CLASSIFICATION_JSON) if os.path.isdir(path) else path
    info = os.path.join(os.path.dirname(file), layout.EXTRACT_INFO_JSON)
    if os.path.exists(info):    # a latent sweep's codes are no word mapping (docs/sweeps.md)
        try:
            record = layout.read_record(info)
        except (OSError, ValueError):
            record = None
        layout.check_folder_kind(record, path, layout.FOLDER_WORD, "--classification")
    try:
        with open(file, encoding="utf-8") as f:
            mapping = json.load(f).get("mapping") or {}
        return {code_label(config, int(code)): str(word) for word, code in mapping.items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise GenerationError(f"--classification={path}: cannot read the word-to-code "
                              f"mapping of {file} ({exc})") from exc


def generate_audio(G, z: np.ndarray, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """G(z) at inference, float32 [N, slice_len, nch], in batches of ``batch_size``."""
    import tensorflow as tf

    starts = range(0, len(z), batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, unit="batch", desc="generate", dynamic_ncols=True)
    return np.concatenate([G(tf.constant(z[s:s + batch_size]), training=False).numpy()
                           for s in starts], 0)


def classify_generated(config: WaveGANConfig, Q, audio) -> pd.DataFrame:
    """Q's logits, probabilities and decision (``q_code``, a code label) for generated audio
    [N, slice_len(, nch)]."""
    import tensorflow as tf

    logits = Q(tf.constant(audio), training=False).numpy()
    probs = code_probabilities(config, logits)
    table = pd.DataFrame({"q_code": read_codes(config, logits)[1]})
    for k in range(logits.shape[1]):
        table[f"logit_{k}"] = logits[:, k]
    for k in range(logits.shape[1]):
        table[f"prob_{k}"] = probs[:, k]
    return table


def generate_to_folder(config: WaveGANConfig, G, Q, out_dir: str,
                       codes: Optional[Sequence[str]] = None, value: float = 1.0,
                       n_per_code: int = 1, seed: int = 0, sample_rate: int = SAMPLE_RATE,
                       overwrite: bool = False, batch_size: int = 32, progress: bool = False,
                       inputs: Mapping[str, Optional[str]] = (),
                       flag: str = "--out",
                       words: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """Write one WAV per (code, noise) and ``generated.csv`` into ``out_dir`` under the
    safe-output rule (:mod:`common.outputs`, stage "generate").

    ``codes``: texts as :func:`ciwgan.codes.parse_codes` reads them (None: every code).
    ``inputs`` ({flag: path}, e.g. ``{"--checkpoint": path}``) are never written into or
    replaced; an existing ``out_dir`` is replaced only with ``overwrite`` and only when it is an
    earlier generate output.  The folder appears atomically.  Raises :class:`GenerationError`
    for codes the model does not have and :class:`common.errors.OutputPathError` for a refused
    ``out_dir``, both before any work. ``words`` ({code label: word},
    :func:`read_code_words`): each clip's file is named with its code's word and
    generated.csv gets a ``word`` column.
    """
    import soundfile as sf

    try:
        chosen = None if codes is None else parse_codes(config, codes)
        z, labels = code_latents(config, chosen, n_per_code, value, seed)
    except ValueError as err:
        given = f"={','.join(map(str, codes))}" if codes else ""
        raise GenerationError(f"--codes{given}: {err}") from err
    output = OutputFolder(out_dir, "generate", inputs=inputs, overwrite=overwrite, flag=flag)
    audio = generate_audio(G, z, batch_size, progress)
    rows = []
    with output as tmp:
        for i, (clip, label) in enumerate(zip(audio, labels)):
            word = (words or {}).get(label)
            name = wav_name(label, i % n_per_code, word)
            sf.write(os.path.join(tmp, name), np.clip(clip, -1, 1), sample_rate,
                     subtype="PCM_16")
            rows.append({**dict(zip(layout.GENERATED.names, (name, label, i % n_per_code,
                                                              value))),
                         **({"word": word or ""} if words else {})})
        table = pd.DataFrame(rows)
        if Q is not None:
            table = pd.concat([table, classify_generated(config, Q, audio)], axis=1)
            table["q_agrees"] = table["q_code"] == table["code"]
        atomic_write_csv(table, os.path.join(tmp, GENERATED_CSV))
    return table


def run(options: GenerateOptions, script: str = "generate") -> dict:
    """The generate stage: the models of ``options.checkpoint`` (a folder: its newest readable
    checkpoint), one WAV per code and noise vector and ``generated.csv`` into ``options.out``.

    The output folder is checked against the safe-output rule (with the checkpoint's folder
    as an input) before TensorFlow is imported.  Returns {'prefix', 'step', 'table', 'out'}.
    """
    require(options)
    inputs = inputs_of(options)
    check_output(options.out, "generate", inputs, options.overwrite)
    from wavegan import load_models   # TensorFlow
    from wavegan.checkpoint_files import checkpoint_step
    config, G, _, Q, prefix = load_models(options.checkpoint, model=options.model)
    table = generate_to_folder(config, G, Q, options.out, options.codes, options.value,
                               options.n_per_code, options.seed, overwrite=options.overwrite,
                               batch_size=options.batch_size, progress=options.progress,
                               inputs=inputs,
                               words=read_code_words(config, options.classification))
    # Our ckpt-N and TF1's model.ckpt-N both number by training step.
    return {"prefix": prefix, "step": checkpoint_step(prefix), "table": table,
            "out": options.out}


def summary(result: dict) -> str:
    """What generate.py prints when done: the checkpoint used, the files, Q's agreement."""
    step = result["step"]
    table = result["table"]
    lines = [f"checkpoint: {result['prefix']}" + (f" (step {step})" if step is not None else ""),
             f"wrote {len(table)} WAVs and {GENERATED_CSV} to {result['out']}"]
    if "q_agrees" in table:
        lines.append(f"Q recovers the code of {table['q_agrees'].mean():.0%} of them")
    return "\n".join(lines)
