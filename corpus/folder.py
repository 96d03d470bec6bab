"""A folder of audio files, one token per file: the one reader behind prepare.py
(``--folder_dir``) and extract.py (``--data`` = a folder without dataset.json), so that the
same folder gives the same word labels and the same audio in both.

The rule (:func:`word_files`):

    ROOT/<word>/<name>.<ext>    word = <word>, lower-cased (the sub-folder names the word)
    ROOT/<name>.<ext>           word = the file stem up to its first '_', lower-cased
                                (``Bag_03.wav`` -> ``bag``; ``dog.wav`` -> ``dog``)

``<ext>`` is one of :data:`corpus.audio.AUDIO_EXTENSIONS` in any case; other files, and files
deeper than one sub-folder, are not read. Files are taken in the order of their path parts
below ROOT (sorted), which is the token order.

Each file is read by :func:`read_word_file`: downmixed to mono (channel mean) and resampled
to the sample rate (:data:`common.constants.SAMPLE_RATE` by default). A file is skipped and
counted by reason (:class:`SkippedFile`) when it cannot be read, is empty or holds NaN/inf
samples (``audio_unreadable``), or does not fit in ``slice_len`` samples with ``pad`` samples
of silence on each side (``too_long``). There are no phones; speakers are the callers' choice
(prepare.py: the file stem; extract.py: 'unknown').
"""

from __future__ import annotations

import collections
import os
from typing import Iterable, Optional

import numpy as np
from tqdm import tqdm

from common.constants import SAMPLE_RATE
from corpus import audio as audio_mod
from corpus.corpus_errors import AudioReadError
from corpus.skip_report import Report
from corpus.slicing import Token, slice_token


class SkippedFile(Exception):
    """A file of the folder that is not a usable token: ``reason`` (a count key, see the
    module docstring) and ``message`` (names the file and says why)."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def _is_audio(path: str) -> bool:
    ext = path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""
    return ext in audio_mod.AUDIO_EXTENSIONS and os.path.isfile(path)


def stem_word(file_name: str) -> str:
    """Word of a file directly in ROOT: the stem up to its first '_' (the whole stem when it
    starts with '_'), lower-cased."""
    stem = file_name.rsplit(".", 1)[0]
    return (stem.split("_", 1)[0] or stem).lower()


def word_files(root: str) -> list:
    """``[(path, word)]`` of every audio file of the folder corpus ``root`` (the module's
    rule), sorted by the path parts below ``root``."""
    found = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            for file_name in os.listdir(path):
                file_path = os.path.join(path, file_name)
                if _is_audio(file_path):
                    found.append(((name, file_name), file_path, name.lower()))
        elif _is_audio(path):
            found.append(((name,), path, stem_word(name)))
    return [(path, word) for _, path, word in sorted(found)]


def read_word_file(path: str, slice_len: int, pad: int = 0,
                   sample_rate: int = SAMPLE_RATE) -> tuple:
    """One file as a token: ``(audio float32 [n], source_rate, source_frames)``, mono at
    ``sample_rate``, with ``n + 2 * pad <= slice_len``. Raises :class:`SkippedFile`."""
    try:
        # The length at sample_rate from the header: a file too long for a clip is skipped
        # before it is read and resampled.
        n = audio_mod.check_header(path, sample_rate)[3] + 2 * pad
        if n > slice_len:
            with_pad = f" with {pad} samples of padding on each side" if pad else ""
            raise SkippedFile("too_long",
                              f"{path}: {n} samples{with_pad} > slice_len={slice_len}")
        audio, sr, n_src = audio_mod.read_audio(path, sample_rate)
    except AudioReadError as e:
        raise SkippedFile(e.reason, str(e)) from None
    return np.asarray(audio, np.float32), sr, n_src


def read_folder(folder_dir: str, words: Optional[Iterable[str]], pad: int, slice_len: int,
                report: Report, sample_rate: int = SAMPLE_RATE, progress: bool = True,
                spool=None) -> tuple:
    """prepare.py's tokens of a folder corpus (``words`` None = every word).

    Returns (tokens, seen_words: Counter of files per word, n_files). Speaker and utterance of
    a token are the file stem. With ``spool`` (a :class:`corpus.spool.ClipSpool`) each clip
    goes to it as soon as it is read.
    """
    if not os.path.exists(folder_dir):
        raise FileNotFoundError(f"--folder_dir={folder_dir}: no such folder")
    if not os.path.isdir(folder_dir):
        raise NotADirectoryError(f"--folder_dir={folder_dir}: not a folder")
    sel = None if words is None else {w.lower() for w in words}
    files = word_files(folder_dir)
    seen = collections.Counter(w for _, w in files)
    tokens = []
    for path, word in tqdm(files, desc="reading folders", unit="file", disable=not progress):
        if sel is not None and word not in sel:
            continue
        try:
            audio, sr, n_src = read_word_file(path, slice_len, pad, sample_rate)
        except SkippedFile as e:
            report.skip(e.reason, e.message)
            continue
        stem = os.path.basename(path).rsplit(".", 1)[0]
        token = Token(word=word, speaker=stem, sex="", dialect_region="", utterance=stem,
                      source_path=path, start_sample=0, end_sample=n_src,
                      source_sample_rate=sr, pad_before=pad,
                      clip=slice_token(audio, 0, audio.shape[0], pad), phones=[],
                      timit_split="")
        tokens.append(token if spool is None else spool.put(token))
    return tokens, seen, len(files)
