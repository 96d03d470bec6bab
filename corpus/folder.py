"""Reading a folder corpus: ROOT/<word>/<file>.wav|.flac, one token per file.

The word is the sub-folder name (lower-cased), the speaker is unknown and taken to be the file
stem, there are no phones. Audio at another rate is resampled to 16 kHz and stereo downmixed.
"""

from __future__ import annotations

import collections
import os
from typing import Iterable, Optional

from tqdm import tqdm

from corpus import audio as audio_mod
from corpus.errors import AudioReadError
from corpus.report import Report
from corpus.slicing import Token, slice_token


def find_folder_files(folder_dir: str) -> list:
    """[(word, path)] for every audio file one level below word folders, sorted."""
    out = []
    for word in sorted(os.listdir(folder_dir)):
        wdir = os.path.join(folder_dir, word)
        if not os.path.isdir(wdir):
            continue
        for name in sorted(os.listdir(wdir)):
            path = os.path.join(wdir, name)
            ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if os.path.isfile(path) and ext in audio_mod.AUDIO_EXTENSIONS:
                out.append((word, path))
    return out


def read_folder(folder_dir: str, words: Optional[Iterable[str]], pad: int, slice_len: int,
                report: Report, sample_rate: int = 16000, progress: bool = True) -> tuple:
    """Tokens of a folder corpus (``words`` None = every word folder).

    Returns (tokens, seen_words: Counter of files per word folder, n_files).
    """
    if not os.path.exists(folder_dir):
        raise FileNotFoundError(f"--folder_dir={folder_dir}: no such folder")
    if not os.path.isdir(folder_dir):
        raise NotADirectoryError(f"--folder_dir={folder_dir}: not a folder")
    sel = None if words is None else {w.lower() for w in words}
    files = find_folder_files(folder_dir)
    seen = collections.Counter(w.lower() for w, _ in files)
    tokens = []
    for word, path in tqdm(files, desc="reading folders", unit="file", disable=not progress):
        w = word.lower()
        if sel is not None and w not in sel:
            continue
        try:
            audio, sr, n_src = audio_mod.read_audio(path, sample_rate)
        except AudioReadError as e:
            report.skip("audio_unreadable", str(e))
            continue
        n = audio.shape[0] + 2 * pad
        if n > slice_len:
            report.skip("too_long", f"{path}: {n} samples with padding > slice_len={slice_len}")
            continue
        stem = os.path.basename(path).rsplit(".", 1)[0]
        tokens.append(Token(word=w, speaker=stem, sex="", dialect_region="", utterance=stem,
                            source_path=path, start_sample=0, end_sample=n_src,
                            source_sample_rate=sr, pad_before=pad,
                            clip=slice_token(audio, 0, audio.shape[0], pad), phones=[],
                            timit_split=""))
    return tokens, seen, len(files)
