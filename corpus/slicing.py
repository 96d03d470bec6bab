"""Token slicing arithmetic, phone offsets and the train/test split.

A token of word interval [start, end) (samples at the dataset's rate) becomes the clip
    clip = [0]*pad ++ audio[start:end] ++ [0]*pad,   n_samples = end - start + 2*pad,
stored right-zero-padded to ``slice_len`` (a longer clip is skipped, never cut). A phone
[ps, pe) of that utterance sits in the clip at [ps - start + pad, pe - start + pad).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import pandas as pd


SPLIT_METHODS = ("random", "speaker", "timit")


@dataclasses.dataclass
class Token:
    """One word token ready to be written.

    clip: float32 [n_samples] padded clip (raw amplitude), or None once a
    :class:`corpus.spool.ClipSpool` holds it (at samples [spool_offset, spool_offset +
    spool_len) of its file). phones: list of (phone, start, end) in clip samples (end
    exclusive). start_sample/end_sample: the word boundaries in the source file's own samples
    (its rate is source_sample_rate). timit_split: 'train'/'test' from the TIMIT folder, or ''
    when the corpus has none.
    """

    word: str
    speaker: str
    sex: str
    dialect_region: str
    utterance: str
    source_path: str
    start_sample: int
    end_sample: int
    source_sample_rate: int
    pad_before: int
    clip: Optional[np.ndarray]
    phones: list
    timit_split: str = ""
    spool_offset: int = -1
    spool_len: int = 0

    @property
    def n_samples(self) -> int:
        return int(self.clip.shape[0]) if self.clip is not None else int(self.spool_len)


def slice_token(audio: np.ndarray, start: int, end: int, pad: int) -> np.ndarray:
    """audio[start:end] with ``pad`` zeros on each side: float32 [end - start + 2*pad].

    Requires 0 <= start < end <= len(audio) (ValueError otherwise, never silently cut).
    """
    n = int(audio.shape[0])
    if not (0 <= start < end <= n):
        raise ValueError(f"interval [{start}, {end}) outside audio of {n} samples")
    out = np.zeros(end - start + 2 * pad, dtype=np.float32)
    out[pad:pad + end - start] = audio[start:end]
    return out


def word_clip(audio: np.ndarray, start: int, end: int, pad: int, slice_len: int) -> tuple:
    """A word token's clip (:func:`slice_token`) when it can be one: ``(clip, n_samples)``
    with ``n_samples = end - start + 2 * pad``; ``(None, 0)`` for an empty interval
    (``end <= start``), ``(None, n_samples)`` for a clip longer than ``slice_len`` (skipped,
    never cut). ``end`` must not pass the audio's end (clip it first)."""
    if end <= start:
        return None, 0
    n = end - start + 2 * pad
    if n > slice_len:
        return None, n
    return slice_token(audio, start, end, pad), n


def fit_to_length(clip: np.ndarray, slice_len: int) -> np.ndarray:
    """Right-zero-pad a clip to float32 [slice_len]; ValueError if it is longer."""
    n = int(clip.shape[0])
    if n > slice_len:
        raise ValueError(f"clip of {n} samples is longer than slice_len={slice_len}")
    out = np.zeros(slice_len, dtype=np.float32)
    out[:n] = clip
    return out


def token_phones(phones: Sequence, word_start: int, word_end: int, pad: int,
                 n_samples: int) -> list:
    """Phones of a token in clip samples.

    phones: (label, start, end) in the same samples as word_start/word_end. A phone belongs to
    the word when more than half of it lies inside [word_start, word_end). Its clip interval is
    [start - word_start + pad, end - word_start + pad), clipped to [0, n_samples).
    Returns a list of (label, start, end) ints.
    """
    out = []
    for label, ps, pe in phones:
        inside = min(pe, word_end) - max(ps, word_start)
        if pe <= ps or 2 * inside <= (pe - ps):
            continue
        s = max(0, ps - word_start + pad)
        e = min(n_samples, pe - word_start + pad)
        if e > s:
            out.append((label, int(s), int(e)))
    return out


def _stratified_random(words: np.ndarray, test_fraction: float, rng) -> np.ndarray:
    """Per word, round(test_fraction * n_word) tokens chosen at random go to test."""
    split = np.full(len(words), "train", dtype=object)
    if not len(words):
        return split
    # Token indices of each word, words in sorted order and indices ascending (what
    # np.flatnonzero(words == w) per word gives, in one sort instead of one scan per word:
    # thousands of words x tens of thousands of tokens on a full corpus).
    uniq, inv = np.unique(words, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    ends = np.cumsum(np.bincount(inv.ravel(), minlength=len(uniq)))
    for k in range(len(uniq)):
        idx = order[(ends[k - 1] if k else 0):ends[k]]
        n_test = int(round(test_fraction * len(idx)))
        if n_test:
            split[rng.choice(idx, size=n_test, replace=False)] = "test"
    return split


def _speaker_disjoint(speakers: np.ndarray, test_fraction: float, rng) -> np.ndarray:
    """Speakers in random order join the test set while that brings its token count closer to
    round(test_fraction * N). Every speaker's tokens are all in one split."""
    uniq, counts = np.unique(speakers, return_counts=True)
    order = rng.permutation(len(uniq))
    target = test_fraction * len(speakers)
    n_test = 0
    test_speakers = set()
    for i in order:
        if abs(n_test + counts[i] - target) < abs(n_test - target):
            test_speakers.add(uniq[i])
            n_test += counts[i]
    return np.where(np.isin(speakers, list(test_speakers)), "test", "train").astype(object)


def assign_splits(tokens: pd.DataFrame, method: str = "random", test_fraction: float = 0.2,
                  seed: int = 0) -> np.ndarray:
    """Split labels ('train'/'test') for each row of ``tokens`` (columns word, speaker,
    timit_split).

    random: token level, stratified by word (round(f * n_word) test tokens per word);
    speaker: speaker-disjoint, test token count as close to f * N as whole speakers allow;
    timit: the corpus's own TRAIN/TEST folders (ValueError if the corpus has none).
    Deterministic for a given seed and row order.
    """
    if method not in SPLIT_METHODS:
        raise ValueError(f"--split={method!r}: expected one of {', '.join(SPLIT_METHODS)}")
    if not (0.0 <= test_fraction < 1.0):
        raise ValueError(f"--test_fraction={test_fraction}: must be in [0, 1)")
    rng = np.random.default_rng(seed)
    if method == "random":
        return _stratified_random(tokens["word"].to_numpy(), test_fraction, rng)
    if method == "speaker":
        return _speaker_disjoint(tokens["speaker"].to_numpy(), test_fraction, rng)
    ts = tokens["timit_split"].to_numpy()
    if len(ts) and not np.all(np.isin(ts, ["train", "test"])):
        raise ValueError("--split=timit needs a TIMIT layout with TRAIN/TEST folders; "
                         "this corpus has none (use --split=random or --split=speaker)")
    return ts.astype(object)


def shard_paths(split: str, n_tokens: int, shard_size: int) -> list:
    """Relative shard paths tfrecords/<split>-NNNNN-of-MMMMM.tfrecord for n_tokens tokens,
    MMMMM = max(1, ceil(n_tokens / shard_size))."""
    n = max(1, -(-int(n_tokens) // int(shard_size)))
    return [f"tfrecords/{split}-{i:05d}-of-{n:05d}.tfrecord" for i in range(n)]


def safe_name(text: str) -> str:
    """A file-name-safe version of a word/speaker label (path separators and odd characters
    replaced by '_')."""
    keep = [c if (c.isalnum() or c in "-_.'") else "_" for c in str(text)]
    s = "".join(keep).strip(".")
    return s or "_"


def optional_int(x) -> Optional[int]:
    """int(x) or None when x is not an integer string (helper for label parsing)."""
    try:
        return int(x)
    except (TypeError, ValueError):
        return None
