"""Where the tokens of an extraction come from. Every source has the same face:

    kind, data_dir, n_tokens, batch_size, slice_len, sample_rate, phones (DataFrame or None),
    skipped (Counter of input files skipped, by reason), skipped_files ([{file, reason}]),
    batches(start=0) -> TokenBatch per batch, in token order, from batch ``start`` on (raw
    amplitude; normalising is the run's job), token_id = position in the source unless the
    data names them; fingerprint() -> a small JSON-able dict that changes when the tokens the
    source would give change (what a resumed extraction checks, :mod:`extraction.resume`).

Batches are aligned on ``batch_size`` from the first token, so ``batches(start=M)`` gives
exactly the batches an uninterrupted ``batches()`` gives after its first M (the same tokens in
the same batches: with batch norm the traces depend on the batch composition).

- :class:`DatasetSource`: a split of a prepared dataset (docs/CONVENTIONS.md).
- :class:`WavFolderSource`: a folder of audio files, read by :mod:`corpus.folder` exactly as
  prepare.py reads it (same word labels, resampling, skips).
- :class:`GeneratedSource`: audio G generates from chosen codes (:mod:`ciwgan.codes`); it also
  gives the latents (``latent_batches``) for ``--network=G``.
- :class:`ArraySource`: arrays already in memory.
:func:`open_source` picks the first two from ``--data``.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
from typing import Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from common import layout
from common.constants import SAMPLE_RATE
from extraction.extraction_errors import ExtractionError
from extraction.resume import digest, file_stats, weights_digest


@dataclasses.dataclass
class TokenBatch:
    """One batch of tokens: raw audio float32 [B, slice_len] (zero-padded), ids and labels."""

    audio: np.ndarray
    token_id: np.ndarray
    word: list
    speaker: list

    def select(self, keep: np.ndarray) -> "TokenBatch":
        """The tokens where the bool mask ``keep`` [B] is True, in order."""
        index = np.flatnonzero(keep)
        return TokenBatch(audio=self.audio[index], token_id=np.asarray(self.token_id)[index],
                          word=[self.word[i] for i in index],
                          speaker=[self.speaker[i] for i in index])


class DatasetSource:
    """A split of a prepared dataset folder (docs/CONVENTIONS.md, TFRecords + phones.csv)."""

    kind = "dataset"

    def __init__(self, data_dir: str, split: str, batch_size: int):
        from corpus.corpus_errors import DatasetIncompleteError
        from corpus.dataset import read_dataset_info
        self.data_dir = data_dir
        self.split = split
        self.batch_size = int(batch_size)
        try:
            self.info = read_dataset_info(data_dir)
        except DatasetIncompleteError as e:
            raise ExtractionError(f"--data={data_dir}: {e}") from None
        shards = self.info["shards"]
        if split not in shards:
            raise ExtractionError(f"--split={split}: dataset {data_dir} has splits "
                                  f"{sorted(shards)}")
        self.n_tokens = int(self.info.get("splits", {}).get(split, 0))
        if self.n_tokens <= 0:
            raise ExtractionError(f"--split={split}: dataset {data_dir} has no tokens in it "
                                  "(empty selection)")
        self.sample_rate = int(self.info.get("sample_rate", SAMPLE_RATE))
        self.slice_len = int(self.info["slice_len"])
        self.skipped = collections.Counter()
        self.skipped_files: list = []
        self._phones = None

    @property
    def phones(self) -> Optional[pd.DataFrame]:
        """phones.csv (token_id, phone, start, end) or None if the dataset has none."""
        if self._phones is None:
            path = os.path.join(self.data_dir, layout.PHONES_CSV)
            if not os.path.exists(path):
                return None
            self._phones = pd.read_csv(path, dtype={"phone": str},
                                       keep_default_na=False)
        return self._phones

    def fingerprint(self) -> dict:
        """dataset.json and phones.csv by content, the split's shards by size and mtime."""
        files = [os.path.join(self.data_dir, n) for n in (layout.DATASET_JSON, layout.PHONES_CSV)]
        contents = []
        for p in files:
            try:
                with open(p, "rb") as f:
                    contents.append(f.read())
            except OSError:
                contents.append(b"")
        return {"kind": self.kind, "data": os.path.abspath(self.data_dir), "split": self.split,
                "n_tokens": self.n_tokens, "files": digest(*contents),
                "shards": file_stats(os.path.join(self.data_dir, p)
                                     for p in self.info["shards"][self.split])}

    def batches(self, start: int = 0) -> Iterator[TokenBatch]:
        """Batches in stored order from batch ``start`` on, raw amplitudes (normalisation is
        the driver's job)."""
        from corpus.dataset import iterate_checked, make_dataset
        ds = make_dataset(self.data_dir, self.split, batch_size=self.batch_size, shuffle=False,
                          repeat=False, normalize=False, drop_remainder=False)
        if start:
            # The records of the skipped batches are still read (TFRecords have no index), but
            # nothing of them reaches Python.
            ds = ds.skip(int(start))
        # A truncated or corrupt shard fails inside tf.data; iterate_checked turns that into a
        # DatasetIncompleteError naming the shard (exit 2) instead of a raw DataLossError.
        for b in iterate_checked(ds.as_numpy_iterator(), self.data_dir, self.split):
            yield TokenBatch(audio=b["audio"].astype(np.float32), token_id=b["token_id"],
                             word=[w.decode() for w in b["word"]],
                             speaker=[s.decode() for s in b["speaker"]])


class WavFolderSource:
    """A folder of audio files, one token per file, read by :mod:`corpus.folder` (the reader
    prepare.py uses): word = the sub-folder name, or for files directly in the folder the stem
    up to its first '_', lower-cased; mono, resampled to ``sample_rate``; zero-padded at the
    end to ``slice_len``. Unreadable, empty, NaN/inf or too long files are skipped and counted
    by reason. token_id = position among the usable files (path order); speaker: 'unknown'.
    """

    kind = "wav_folder"
    phones = None

    def __init__(self, folder: str, slice_len: int, batch_size: int,
                 sample_rate: int = SAMPLE_RATE):
        from corpus.audio import AUDIO_EXTENSIONS
        from corpus.folder import SkippedFile, read_word_file, word_files
        self.data_dir = folder
        self.slice_len = int(slice_len)
        self.batch_size = int(batch_size)
        self.sample_rate = int(sample_rate)
        found = word_files(folder)
        if not found:
            raise ExtractionError(f"--data={folder}: no dataset.json and no .wav files (nor "
                                  f"{', '.join(AUDIO_EXTENSIONS[1:])}) in it or in its word "
                                  "folders")
        self.skipped = collections.Counter()
        self.skipped_files = []
        self.files, self.words = [], []
        # Every file is read once here, so that a bad one is counted before the run starts
        # (and n_tokens is known); batches() reads the usable ones again.
        for path, word in found:
            try:
                read_word_file(path, self.slice_len, 0, self.sample_rate)
            except SkippedFile as e:
                self.skipped[e.reason] += 1
                self.skipped_files.append({"file": os.path.relpath(path, folder),
                                           "reason": str(e)})
                continue
            self.files.append(path)
            self.words.append(word)
        self.n_tokens = len(self.files)
        if not self.files:
            raise ExtractionError(f"--data={folder}: none of the {len(found)} audio files is "
                                  f"usable (skipped: {dict(self.skipped)}; e.g. "
                                  f"{self.skipped_files[0]})")

    def fingerprint(self) -> dict:
        return {"kind": self.kind, "data": os.path.abspath(self.data_dir),
                "n_tokens": self.n_tokens, "files": file_stats(self.files),
                "words": digest("\n".join(self.words)),
                "sample_rate": self.sample_rate}

    def batches(self, start: int = 0) -> Iterator[TokenBatch]:
        from corpus.folder import SkippedFile, read_word_file
        for lo in range(int(start) * self.batch_size, len(self.files), self.batch_size):
            chunk = self.files[lo:lo + self.batch_size]
            audio = np.zeros((len(chunk), self.slice_len), np.float32)
            for i, path in enumerate(chunk):
                try:
                    x, _, _ = read_word_file(path, self.slice_len, 0, self.sample_rate)
                except SkippedFile as e:
                    raise ExtractionError(f"--data={self.data_dir}: a file changed while "
                                          f"extracting ({e})") from None
                audio[i, :len(x)] = x
            yield TokenBatch(audio=audio,
                             token_id=np.arange(lo, lo + len(chunk), dtype=np.int64),
                             word=self.words[lo:lo + len(chunk)],
                             speaker=["unknown"] * len(chunk))


class GeneratedSource:
    """Audio generated by G from chosen codes: ``n_per_code`` tokens per code, in code-major
    order, z from :func:`ciwgan.codes.code_latents` (the recipe generate.py uses): the code
    entries set to ``value``, and the noise shared across codes (token j of every code has the
    same noise, drawn uniform(-1, 1) with numpy ``RandomState(seed)``). word = the code's label
    (``code_3`` / ``bits_0101``, :func:`ciwgan.codes.code_label`); speaker = 'generated'.

    ``codes``: texts as on the command line (``3``, ``code_3``, ``0101``, ``bits_0101``) or
    None for every code.
    """

    kind = "generated"
    phones = None

    def __init__(self, G, config, codes: Sequence[str] | None, n_per_code: int, batch_size: int,
                 value: float = 1.0, seed: int = 0):
        from ciwgan.codes import code_latents, parse_codes
        if config.model == "wavegan":
            raise ExtractionError("--codes: a plain WaveGAN has no latent code")
        if G is None:
            raise ExtractionError("--codes: the checkpoint has no generator")
        if n_per_code < 1:
            raise ExtractionError(f"--n_per_code={n_per_code} must be >= 1")
        try:
            self.z, self.labels = code_latents(config, parse_codes(config, codes),
                                               n_per_code=n_per_code, value=value, seed=seed)
        except ValueError as e:
            raise ExtractionError(f"--codes: {e}") from None
        self.G, self.config = G, config
        self.n_tokens = len(self.labels)
        self.batch_size = int(batch_size)
        self.slice_len = config.slice_len
        self.sample_rate = SAMPLE_RATE
        self.seed = seed
        self.data_dir = None
        self.skipped = collections.Counter()
        self.skipped_files = []

    def fingerprint(self) -> dict:
        """z and the labels by content, and G's weights (they make the audio)."""
        return {"kind": self.kind, "n_tokens": self.n_tokens,
                "latents": digest(np.asarray(self.z, np.float32), "\n".join(self.labels)),
                "generator": weights_digest(self.G)}

    def latent_batches(self, start: int = 0) -> Iterator[tuple[TokenBatch, np.ndarray]]:
        """(TokenBatch with empty audio [B, 0], z float32 [B, latent_dim]) per batch, from
        batch ``start`` on."""
        for lo in range(int(start) * self.batch_size, self.n_tokens, self.batch_size):
            hi = min(lo + self.batch_size, self.n_tokens)
            yield (TokenBatch(audio=np.zeros((hi - lo, 0), np.float32),
                              token_id=np.arange(lo, hi, dtype=np.int64),
                              word=self.labels[lo:hi], speaker=["generated"] * (hi - lo)),
                   self.z[lo:hi])

    def batches(self, start: int = 0) -> Iterator[TokenBatch]:
        for batch, z in self.latent_batches(start):
            audio = np.asarray(self.G(z, training=False))
            batch.audio = audio.reshape(len(z), -1)[:, :self.slice_len].astype(np.float32)
            yield batch


class ArraySource:
    """Tokens already in memory: audio float32 [N, slice_len] with word (and speaker) labels."""

    kind = "arrays"
    phones = None

    def __init__(self, audio: np.ndarray, words: Sequence[str],
                 speakers: Optional[Sequence[str]] = None, batch_size: int = 64,
                 sample_rate: int = SAMPLE_RATE):
        self.audio = np.asarray(audio, np.float32)
        if self.audio.ndim != 2 or len(self.audio) != len(words):
            raise ExtractionError(f"ArraySource: audio {self.audio.shape} must be [N, slice_len] "
                                  f"with N = {len(words)} words")
        if len(words) == 0:
            raise ExtractionError("ArraySource: no tokens (empty selection)")
        self.words = list(words)
        self.speakers = list(speakers) if speakers is not None else ["unknown"] * len(words)
        self.n_tokens = len(words)
        self.slice_len = self.audio.shape[1]
        self.batch_size = int(batch_size)
        self.sample_rate = int(sample_rate)
        self.data_dir = None
        self.skipped = collections.Counter()
        self.skipped_files = []

    def fingerprint(self) -> dict:
        return {"kind": self.kind, "n_tokens": self.n_tokens,
                "arrays": digest(self.audio, "\n".join(self.words), "\n".join(self.speakers)),
                "sample_rate": self.sample_rate}

    def batches(self, start: int = 0) -> Iterator[TokenBatch]:
        for lo in range(int(start) * self.batch_size, self.n_tokens, self.batch_size):
            hi = min(lo + self.batch_size, self.n_tokens)
            yield TokenBatch(audio=self.audio[lo:hi],
                             token_id=np.arange(lo, hi, dtype=np.int64),
                             word=self.words[lo:hi], speaker=self.speakers[lo:hi])


def open_source(data: str, split: str, batch_size: int, slice_len: int):
    """``--data``: a prepared dataset (folder with dataset.json) or a folder of audio files."""
    if not data:
        raise ExtractionError("--data is required (a prepared dataset or a folder of WAVs)")
    if not os.path.isdir(data):
        raise ExtractionError(f"--data={data}: not a folder")
    if os.path.exists(os.path.join(data, layout.DATASET_JSON)):
        src = DatasetSource(data, split, batch_size)
        if src.slice_len != slice_len:
            raise ExtractionError(f"dataset {data} has slice_len {src.slice_len} but the model "
                                  f"expects {slice_len}")
        return src
    if glob.glob(os.path.join(data, "tfrecords", "*.tfrecord")):
        raise ExtractionError(f"--data={data}: has tfrecords/ but no dataset.json (preparation "
                              "did not finish?)")
    from corpus.aligned import has_textgrids
    if has_textgrids(data):
        # An aligned corpus holds utterances, not word files: read as a folder of WAVs, each
        # sentence would become one "word" named after its folder (the speaker).
        raise ExtractionError(f"--data={data}: an aligned corpus (audio with TextGrids): run "
                              f"prepare.py --folder_dir={data} --out=DATASET first, then "
                              "extract.py --data=DATASET")
    return WavFolderSource(data, slice_len, batch_size)
