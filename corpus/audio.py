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
# What a header may claim before the file is read: a header outside these bounds is not
# believed (a corrupt or hostile file claiming 2^31-1 Hz would make the reader allocate and
# resample hundreds of GiB; one claiming 1 Hz takes seconds to resample before anything can be
# said about it).  The rates span telephone speech to the fastest studio converters; 30
# minutes of audio is far beyond any recording a corpus of words cuts tokens from.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
MAX_SECONDS = 1800


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
    frames, rate, _ = _header(path)
    return frames, rate


def _header(path: str) -> tuple:
    try:
        info = sf.info(path)
    except Exception as e:  # libsndfile raises several types
        raise AudioReadError(f"{path}: cannot read audio header ({e}){_sphere_hint(path)}") from e
    return int(info.frames), int(info.samplerate), int(info.channels)


def resampled_length(frames: int, sr_in: int, sr_out: int) -> int:
    """Samples :func:`resample` gives for ``frames`` samples: ceil(frames * up / down)."""
    if sr_in == sr_out:
        return int(frames)
    g = math.gcd(int(sr_in), int(sr_out))
    return -(-int(frames) * (sr_out // g) // (sr_in // g))


def check_header(path: str, target_sr: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS
                 ) -> tuple:
    """(frames, sample_rate, channels, samples at ``target_sr``) from the header, before
    anything is read or allocated: an AudioReadError with reason ``bad_header`` for a rate,
    channel count or length that cannot be believed (:data:`MIN_SAMPLE_RATE` ..
    :data:`MAX_SAMPLE_RATE`, at most :data:`MAX_CHANNELS`, at most ``max_seconds``)."""
    frames, rate, channels = _header(path)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioReadError(f"{path}: the header claims a sample rate of {rate} Hz, outside "
                             f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; not read",
                             "bad_header")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioReadError(f"{path}: the header claims {channels} channels (at most "
                             f"{MAX_CHANNELS}); not read", "bad_header")
    if frames > max_seconds * rate:
        raise AudioReadError(f"{path}: the header claims {frames / rate:.0f} s of audio, more "
                             f"than {max_seconds:g} s; not read", "bad_header")
    return frames, rate, channels, resampled_length(frames, rate, target_sr)


def read_audio(path: str, target_sr: int = SAMPLE_RATE) -> tuple:
    """Read a file as mono float32 at ``target_sr``.

    Returns (audio float32 [n_out], source_rate, source_frames). Stereo is downmixed by the
    channel mean; another rate is resampled with ``resample``. Raises AudioReadError for an
    unreadable/corrupt/empty file or non-finite samples, and (reason ``bad_header``, before
    anything is read: :func:`check_header`) for a header that cannot be believed.
    """
    check_header(path, target_sr)
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
