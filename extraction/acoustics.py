"""Acoustic measures of each token's audio on each layer's own time axis (``--acoustics``).

Praat's algorithms through praat-parselmouth, all called in :func:`praat_tracks` (the one
place that talks to Praat): per token, on Praat's own frame grid (:data:`TIME_STEP_S`),

    intensity_db   Sound: To Intensity (minimum pitch 100 Hz, mean subtracted), in dB re
                   Praat's 2e-5 reference for a signal in [-1, 1]; floored at
                   :data:`INTENSITY_FLOOR_DB` (Praat writes -300 dB in digital silence)
    cog_hz         spectral centre of gravity (power 2, as Praat's Spectrum: Get centre of
                   gravity) of each frame of Sound: To Spectrogram (5 ms Gaussian window,
                   0-Nyquist); NaN in silent frames
    f0_hz          Sound: To Pitch (ac) (75-600 Hz); NaN where Praat finds the frame unvoiced
    f1_hz, f2_hz   Sound: To Formant (burg) (5 formants up to 5500 Hz, 25 ms window); NaN in
                   silent frames and where Praat finds no such formant

A frame is silent when its intensity lies more than :data:`SILENT_BELOW_MAX_DB` below the
token's loudest frame (the zero padding of a clip is silent).  Then each track is put on each
layer's axis (:func:`onto_axis`, no Praat call): a layer index whose hop ``jump`` is wider than
Praat's step gets the mean of the Praat frames within +-jump/2 of its centre (NaN frames left
out), a finer one the linear interpolation between the two nearest frames (NaN if either is).

Praat failures never stop a run: a token is counted per reason in the returned dict and its
measures are NaN (``silence``: no sample above :data:`SILENCE_PEAK`; ``non_finite``: NaN/inf
samples; ``praat_error``: Praat raised) or measured anyway and only counted (``clipping``: a
flat top, :data:`CLIP_RUN` or more consecutive samples at the token's peak, which is what
clipped audio looks like whatever its scale; ``unvoiced``: no voiced frame, so f0 is NaN
throughout).

:func:`measure_acoustics` is the interface (extract.py --acoustics, and measuring generated
audio); :func:`acoustic_rows` builds the acoustics table's rows of one extraction batch.
"""

from __future__ import annotations

import collections
from typing import Dict, Tuple

import numpy as np
import pandas as pd

from common.layout import ACOUSTIC_MEASURES as MEASURES
TIME_STEP_S = 0.005
INTENSITY_MIN_PITCH = 100.0
INTENSITY_FLOOR_DB = 0.0
SILENT_BELOW_MAX_DB = 50.0
PITCH_FLOOR, PITCH_CEILING = 75.0, 600.0
MAX_FORMANT_HZ, N_FORMANTS, FORMANT_WINDOW_S = 5500.0, 5, 0.025
SPECTROGRAM_WINDOW_S = 0.005
SILENCE_PEAK = 1e-4
CROP_MARGIN_S = 0.1
CLIP_RUN = 3
FAILURE_REASONS = ("non_finite", "silence", "praat_error", "clipping", "unvoiced")


def _is_clipped(x: np.ndarray) -> bool:
    """A flat top: CLIP_RUN or more consecutive samples at the token's peak magnitude."""
    a = np.abs(x)
    at_peak = a >= a.max() * (1 - 1e-6)
    if at_peak.sum() < CLIP_RUN:
        return False
    run = np.convolve(at_peak.astype(np.int32), np.ones(CLIP_RUN, np.int32), "valid")
    return bool((run >= CLIP_RUN).any())


def praat_tracks(x: np.ndarray, sample_rate: int) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Every Praat call of the module: {measure: (frame times s, values)} of one token."""
    import parselmouth

    snd = parselmouth.Sound(np.asarray(x, np.float64), sampling_frequency=float(sample_rate))
    inten = snd.to_intensity(minimum_pitch=INTENSITY_MIN_PITCH, time_step=TIME_STEP_S)
    it, iv = inten.xs(), np.maximum(inten.values[0], INTENSITY_FLOOR_DB)
    pitch = snd.to_pitch_ac(time_step=TIME_STEP_S, pitch_floor=PITCH_FLOOR,
                            pitch_ceiling=PITCH_CEILING)
    f0 = pitch.selected_array["frequency"].astype(np.float64)
    f0[f0 <= 0] = np.nan
    formant = snd.to_formant_burg(time_step=TIME_STEP_S, max_number_of_formants=N_FORMANTS,
                                  maximum_formant=MAX_FORMANT_HZ,
                                  window_length=FORMANT_WINDOW_S)
    ft = formant.xs()
    f1 = np.array([formant.get_value_at_time(1, t) for t in ft], np.float64)
    f2 = np.array([formant.get_value_at_time(2, t) for t in ft], np.float64)
    spec = snd.to_spectrogram(window_length=SPECTROGRAM_WINDOW_S, time_step=TIME_STEP_S,
                              maximum_frequency=sample_rate / 2.0)
    power = np.asarray(spec.values, np.float64)          # [frequency, time], power density
    total = power.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cog = (np.asarray(spec.ys())[:, None] * power).sum(0) / total
    # silent frames: more than SILENT_BELOW_MAX_DB below the loudest frame of the token
    loud = iv.max() - SILENT_BELOW_MAX_DB

    def silent(times):
        return np.interp(times, it, iv) < loud
    st = np.asarray(spec.xs())
    cog[silent(st) | ~(total > 0)] = np.nan
    f1[silent(ft)] = np.nan
    f2[silent(ft)] = np.nan
    return {"intensity_db": (it, iv), "cog_hz": (st, cog),
            "f0_hz": (np.asarray(pitch.xs()), f0), "f1_hz": (ft, f1), "f2_hz": (ft, f2)}


def onto_axis(times: np.ndarray, values: np.ndarray, centres: np.ndarray,
              jump: float) -> np.ndarray:
    """A Praat track (frame ``times``, ``values`` with NaN) on a layer's axis: the mean of the
    frames within +-jump/2 of each centre when that window holds a frame, else the linear
    interpolation of the nearest two (NaN if either is NaN; the edges repeat the edge frame)."""
    times = np.asarray(times, np.float64)
    values = np.asarray(values, np.float64)
    out = np.full(len(centres), np.nan)
    if not len(times):
        return out
    ok = np.isfinite(values)
    filled = np.where(ok, values, 0.0)
    # window means (cumulative sums over the frames, NaN frames counted out)
    lo = np.searchsorted(times, centres - jump / 2.0, "left")
    hi = np.searchsorted(times, centres + jump / 2.0, "right")
    csum = np.concatenate([[0.0], np.cumsum(filled)])
    ccnt = np.concatenate([[0], np.cumsum(ok)])
    n_any = hi - lo
    n_ok = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[hi] - csum[lo]) / n_ok
    windowed = n_any >= 2
    out[windowed] = np.where(n_ok[windowed] > 0, mean[windowed], np.nan)
    rest = ~windowed
    if rest.any():
        interp = np.interp(centres[rest], times, filled)
        bad = np.interp(centres[rest], times, (~ok).astype(np.float64)) > 0
        out[rest] = np.where(bad, np.nan, interp)
    return out


def _layer_centres(layer_frames: dict) -> dict:
    return {name: (float(c0) + float(jump) * np.arange(int(n), dtype=np.float64), float(jump))
            for name, (n, jump, c0) in layer_frames.items()}


def measure_token(x: np.ndarray, sample_rate: int, centres: dict,
                  failures: collections.Counter) -> Dict[str, np.ndarray]:
    """{layer: float64 [n_frames, len(MEASURES)]} of one token; ``failures`` counted."""
    x = np.asarray(x, np.float64)
    nan = {name: np.full((len(c), len(MEASURES)), np.nan) for name, (c, _) in centres.items()}
    if not np.isfinite(x).all():
        failures["non_finite"] += 1
        return nan
    if not len(x) or np.abs(x).max() <= SILENCE_PEAK:
        failures["silence"] += 1
        return nan
    if _is_clipped(x):
        failures["clipping"] += 1
    # Praat only over the nonzero stretch and CROP_MARGIN_S either side (the zero padding of a
    # clip costs Praat time and is silent anyway: beyond the margin every track repeats its
    # silent edge frame, intensity at the floor, the others NaN)
    nz = np.flatnonzero(x)
    margin = int(CROP_MARGIN_S * sample_rate)
    lo, hi = max(0, nz[0] - margin), min(len(x), nz[-1] + 1 + margin)
    try:
        tracks = praat_tracks(x[lo:hi], sample_rate)
        tracks = {m: (t + lo / sample_rate, v) for m, (t, v) in tracks.items()}
    except Exception:  # noqa: BLE001 - any Praat failure is counted, never fatal
        failures["praat_error"] += 1
        return nan
    if not np.isfinite(tracks["f0_hz"][1]).any():
        failures["unvoiced"] += 1
    return {name: np.stack([onto_axis(*tracks[m], c, jump) for m in MEASURES], axis=1)
            for name, (c, jump) in centres.items()}


def measure_acoustics(audio: np.ndarray, sample_rate: int,
                      layer_frames: Dict[str, Tuple[int, float, float]]
                      ) -> Tuple[pd.DataFrame, dict]:
    """Praat's measures of every token on every layer's time axis.

    Args:
      audio: float [n_tokens, n_samples] in [-1, 1] (one row per token).
      sample_rate: Hz.
      layer_frames: {layer: (n_frames, jump_s, centre0_s)}: index j of the layer is centred at
        ``centre0_s + j * jump_s`` seconds (extract_info.json's ``jump`` and ``centre0`` per
        layer, divided by its ``sample_rate``).
    Returns:
      (long table with columns token (row of ``audio``, int64), layer (a pandas Categorical
      of the layer names), frame (index on the layer's axis), time_s, intensity_db, cog_hz,
      f0_hz, f1_hz, f2_hz (float64), ordered token, layer, frame; {reason: number of tokens} of the failures, see the module
      docstring; a token that failed has NaN measures, it is never dropped).
    """
    audio = np.atleast_2d(np.asarray(audio))
    centres = _layer_centres(layer_frames)
    failures: collections.Counter = collections.Counter()
    names = list(centres)
    n_frames = np.array([len(centres[n][0]) for n in names], np.int64)
    per_token = int(n_frames.sum())
    blocks = []
    for x in audio:
        m = measure_token(x, sample_rate, centres, failures)
        blocks.append(np.concatenate([m[n] for n in names], axis=0))
    values = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, len(MEASURES)))
    n_tok = audio.shape[0]
    layer_of = np.repeat(np.arange(len(names)), n_frames)
    frame = np.concatenate([np.arange(k, dtype=np.int64) for k in n_frames]) if names else \
        np.zeros(0, np.int64)
    time_s = np.concatenate([centres[n][0] for n in names]) if names else np.zeros(0)
    table = pd.DataFrame({
        "token": np.repeat(np.arange(n_tok, dtype=np.int64), per_token),
        "layer": pd.Categorical.from_codes(np.tile(layer_of, n_tok), names) if names else
        pd.Categorical([]),
        "frame": np.tile(frame, n_tok), "time_s": np.tile(time_s, n_tok)})
    for k, m in enumerate(MEASURES):
        table[m] = values[:, k]
    return table, {r: int(failures[r]) for r in FAILURE_REASONS if failures[r]}


AUDIO_AXIS = "audio"


def praat_axis(n_samples: int, sample_rate: int) -> Dict[str, Tuple[int, float, float]]:
    """{``audio``: (n_frames, step, step / 2)}: Praat's own frame grid (:data:`TIME_STEP_S`)
    over a clip, for measures that belong to the sound rather than to a layer (a latent
    sweep's generated audio). A finer axis would only interpolate between Praat's frames."""
    n = max(1, int(round(n_samples / float(sample_rate) / TIME_STEP_S)))
    return {AUDIO_AXIS: (n, TIME_STEP_S, TIME_STEP_S / 2.0)}


def layer_frames_of(axes, sample_rate: int) -> Dict[str, Tuple[int, float, float]]:
    """{layer: (n_frames, jump_s, centre0_s)} for :func:`measure_acoustics` from an extraction
    plan's layer axes ({name: LayerAxis}) or from extract_info.json's ``layers`` (a list of
    dicts with name, length, jump, centre0; ``sample_rate``: its ``sample_rate``)."""
    if isinstance(axes, (list, tuple)):
        axes = {str(entry["name"]): entry for entry in axes}
    out = {}
    for name, a in axes.items():
        if isinstance(a, dict):
            n, jump, c0 = a["length"], a["jump"], a["centre0"]
        else:
            n, jump, c0 = a.length, a.jump, a.centre0
        out[name] = (int(n), float(jump) / sample_rate, float(c0) / sample_rate)
    return out


def acoustic_rows(batch, audio: np.ndarray, axes: dict, sample_rate: int):
    """The acoustics table's rows of one extraction batch (audio [B, slice_len] as fed to the
    network) as a pyarrow table (columns: common.layout's acoustics table) and the failures
    {reason: tokens}."""
    import pyarrow as pa

    from common import layout
    from extraction.schema import LONG_TABLES, _take

    table, failures = measure_acoustics(audio, sample_rate, layer_frames_of(axes, sample_rate))
    tok = table["token"].to_numpy()
    layer = table["layer"]
    cols = {"token_id": pa.array(np.asarray(batch.token_id, np.int64)[tok]),
            "word": _take(list(batch.word), tok), "speaker": _take(list(batch.speaker), tok),
            "layer": _take([str(c) for c in layer.cat.categories], layer.cat.codes.to_numpy()),
            "sample": pa.array(table["frame"].to_numpy(np.int64)),
            "time": pa.array(table["time_s"].to_numpy(np.float64))}
    for m in MEASURES:
        cols[m] = pa.array(table[m].to_numpy(np.float64))
    return pa.table(cols, schema=LONG_TABLES[layout.ACOUSTICS]), failures
