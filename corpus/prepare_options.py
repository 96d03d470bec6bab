"""What ``prepare.py`` is asked to do: every option with its default, range and help (the
flags are generated from this class, :mod:`common.cli`).  ``corpus.build.run(options)`` does
it; the folder it writes is declared in :mod:`common.layout` ("Prepared dataset").
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common.constants import DEFAULT_WORDS, SAMPLE_RATE, SLICE_LEN
from common.errors import InputError
from common.phones import PHONE_SET_CHOICES
from common.options import (Renamed, StageOptions, boolean, choice, integer, number, shared,
                            text)

SPLIT_METHODS = ("random", "speaker", "timit")
# The longest clip a model of this project takes (4 x 16384 samples, docs/models.md): a
# longer --slice_len could be stored but never trained on or probed.
MAX_SLICE_LEN = 4 * SLICE_LEN


def pad_samples(pad_ms: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of silence on each side: round(pad_ms * sample_rate / 1000)."""
    if pad_ms < 0:
        raise ValueError(f"--pad_ms must be >= 0, got {pad_ms}")
    return int(round(float(pad_ms) * sample_rate / 1000.0))


@dataclasses.dataclass(frozen=True)
class PrepareOptions(StageOptions):
    stage: ClassVar[str] = "prepare"

    timit_dir: Optional[str] = text(
        None, "TIMIT root holding TRAIN/ and TEST/ (or a TIMIT-layout tree such as the demo "
        "corpus)", role="input")
    folder_dir: Optional[str] = text(
        None, "alternative source: one sub-folder per word holding WAV/FLAC files, one token "
        "per file (or <word>_<n>.wav files); or an aligned corpus, <speaker>/<utt>.wav with "
        "<utt>.TextGrid beside it (MFA, WebMAUS, hand labels: docs/data.md)", role="input")
    out: Optional[str] = shared("out", required=True, help="the dataset folder",
                                renamed=(Renamed("out_dir"),))
    words: Optional[str] = shared(
        "words", None, help="the words to slice; unset: " + ",".join(DEFAULT_WORDS) +
        " (with --folder_dir: every word folder)")
    pad_ms: float = number(25.0, "milliseconds of zero silence added on each side of a "
                           "token", low=0, high=1000)
    slice_len: int = integer(SLICE_LEN, "stored length in samples (zero-padded); longer "
                             "tokens are reported and skipped", low=1, high=MAX_SLICE_LEN)
    split: str = choice("random", SPLIT_METHODS, "random: token level (stratified by word); "
                        "speaker: speaker-disjoint; timit: TIMIT's TRAIN/TEST")
    test_fraction: float = number(0.2, "fraction of tokens in the test split", low=0, high=1,
                                  high_open=True)
    seed: int = shared("seed", 0, help="the split's")
    shard_size: int = integer(1000, "tokens per TFRecord shard", low=1)
    write_wavs: bool = boolean(False, "also write each token's padded clip as "
                               "wavs/<split>/<word>/<token_id>_<speaker>_<utt>.wav")
    # TextGrid corpora (corpus/textgrid.py): which tiers hold words and phones, and the phone
    # alphabet of the labels.
    word_tier: str = text("", "TextGrid corpora: the word tier's name; '' = automatic (MFA's "
                          "'words' or '<speaker> - words', WebMAUS's 'ORT-MAU', else the one "
                          "tier named '...word...')")
    phone_tier: str = text("", "TextGrid corpora: the phone tier's name; '' = automatic "
                           "(MFA's 'phones', WebMAUS's 'MAU', else the one tier named "
                           "'...phone...')")
    phone_set: str = choice("auto", PHONE_SET_CHOICES, "TextGrid corpora: the phone labels' "
                            "set, mapped to TIMIT-style labels; auto = detected per file")
    overwrite: bool = shared("overwrite", False)
    progress: bool = shared("progress", True)

    def check(self) -> None:
        if bool(self.timit_dir) == bool(self.folder_dir):
            raise InputError("give exactly one of --timit_dir and --folder_dir")
        if self.word_tier.strip() and \
                self.word_tier.strip().lower() == self.phone_tier.strip().lower():
            raise InputError(f"--word_tier={self.word_tier} and --phone_tier={self.phone_tier} "
                             "name the same tier (tier names match ignoring case): the words "
                             "and the phones need a tier each")
        pad = pad_samples(self.pad_ms, SAMPLE_RATE)
        if 2 * pad >= self.slice_len:
            raise InputError(f"--pad_ms={self.pad_ms:g} pads {pad} samples on each side, which "
                             f"leaves no room in --slice_len={self.slice_len}")

    def word_selection(self) -> str:
        """--words as given, else the default words (with --folder_dir: every word)."""
        if self.words is not None:
            return self.words
        return "all" if self.folder_dir else ",".join(DEFAULT_WORDS)
