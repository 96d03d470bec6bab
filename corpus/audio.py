"""Audio reading: NIST SPHERE (TIMIT's .WAV) or RIFF/FLAC by header, mono downmix, resampling.

Samples are float32 in [-1, 1) as libsndfile scales them (int16 / 32768): raw amplitude, never
normalised here.
"""

from __future__ import annotations

import math

import numpy as np
import soundfile as sf
from scipy import signal

from common.constants import SAMPLE_RATE
from corpus.corpus_errors import AudioReadError

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "aif", "aiff", "sph", "nist")


def downmix(x: np.ndarray) -> np.ndarray:
    """[n] or [n, channels] -> mono [n] float32 (mean over channels)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"audio array must be [n] or [n, channels], got shape {x.shape}")
    return x.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling ``scipy.signal.resample_poly(x, up, down)``, up/down = sr_out/sr_in
    reduced by their gcd. Output length ceil(n * up / down). Returns float32 [m]."""
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(sr_in, sr_out)
    y = signal.resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g)
    return y.astype(np.float32)


def scale_index(i: int, sr_in: int, sr_out: int) -> int:
    """A sample index at ``sr_in`` mapped to ``sr_out``: round(i * sr_out / sr_in)."""
    if sr_in == sr_out:
        return int(i)
    return int(round(int(i) * sr_out / sr_in))


def _sphere_hint(path: str) -> str:
    """Extra advice when a file is SPHERE with a compression libsndfile cannot decode."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return ""
    if head.startswith(b"NIST_1A") and b"shorten" in head:
        return (" (SPHERE with 'shorten' compression: decompress it first, e.g. with "
                "sph2pipe -f rif)")
    return ""


def audio_length(path: str) -> tuple:
    """(frames, sample_rate) from the header only. Raises AudioReadError."""
    try:
        info = sf.info(path)
    except Exception as e:  # libsndfile raises several types
        raise AudioReadError(f"{path}: cannot read audio header ({e}){_sphere_hint(path)}") from e
    return int(info.frames), int(info.samplerate)


def read_audio(path: str, target_sr: int = SAMPLE_RATE) -> tuple:
    """Read a file as mono float32 at ``target_sr``.

    Returns (audio float32 [n_out], source_rate, source_frames). Stereo is downmixed by the
    channel mean; another rate is resampled with ``resample``. Raises AudioReadError for an
    unreadable/corrupt/empty file or non-finite samples.
    """
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioReadError(f"{path}: cannot read audio ({e}){_sphere_hint(path)}") from e
    if x.shape[0] == 0:
        raise AudioReadError(f"{path}: audio file has no samples")
    if not np.all(np.isfinite(x)):
        raise AudioReadError(f"{path}: audio has NaN/inf samples")
    n_src = int(x.shape[0])
    y = downmix(x)
    y = resample(y, sr, target_sr)
    return y, int(sr), n_src
