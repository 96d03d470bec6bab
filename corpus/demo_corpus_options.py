"""What ``python -m corpus.demo_corpus`` is asked to do: every option with its default,
range and help (its flags are generated from this class).  Kept apart from
:mod:`corpus.demo_corpus` so that demo.py and the command line read it without numpy or scipy.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common.options import Renamed, StageOptions, choice, integer, shared
from corpus.corpus_errors import CorpusError

DEFAULT_N_SPEAKERS = 64
VOICE_NAMES = ("festival", "synthetic")
# timit: TIMIT's tree; textgrid: the Montreal Forced Aligner's (corpus.mfa_layout)
LAYOUTS = ("timit", "textgrid")
SYNTHETIC_FLAGS = ("n_sentences", "vocab_size", "words_per_sentence")


class DemoError(CorpusError):
    """festival missing/failing, or its output cannot be turned into TIMIT labels."""


@dataclasses.dataclass(frozen=True)
class DemoCorpusOptions(StageOptions):
    """What ``python -m corpus.demo_corpus`` is asked to do (its flags come from here)."""

    stage: ClassVar[str] = "demo-corpus"
    out: Optional[str] = shared("out", required=True, help="the TIMIT-layout corpus folder",
                                renamed=(Renamed("out_dir"),))
    n_speakers: int = integer(DEFAULT_N_SPEAKERS, "synthetic speakers (festival: each says "
                              "SA1 and SA2, one token of every target word)", low=1,
                              high=100_000)
    seed: int = shared("seed", 0, help="the speakers' voices, rates, pitch and noise (and the "
                       "synthetic voice's vocabulary and sentences)")
    jobs: int = integer(0, "parallel festival runs or synthetic-voice threads (0 = number of "
                        "CPUs)", low=0, high=1024)
    voice: str = choice("festival", VOICE_NAMES, "festival: SA1 and SA2 spoken by festival "
                        "(the default demo corpus); synthetic: a fast numpy formant/noise "
                        "synthesiser saying --n_sentences sentences of --words_per_sentence "
                        "pseudo-words from a --vocab_size-word vocabulary per speaker "
                        "(TIMIT's size: --n_speakers=630)")
    n_sentences: Optional[int] = integer(None, "sentences per speaker (--voice=synthetic only; "
                                         "unset: TIMIT's, corpus.synth.DEFAULT_N_SENTENCES)", low=1,
                                         high=10_000)
    vocab_size: Optional[int] = integer(None, "distinct pseudo-words (--voice=synthetic only; "
                                        "every one occurs when the corpus has at least as many "
                                        "word slots; unset: TIMIT's, "
                                        "corpus.synth.DEFAULT_VOCAB_SIZE)",
                                        low=1, high=1_000_000)
    words_per_sentence: Optional[int] = integer(
        None, "words per sentence (--voice=synthetic only; unset: "
        "corpus.synth.DEFAULT_WORDS_PER_SENTENCE, as many tokens as TIMIT)", low=1, high=1000)
    layout: str = choice("timit", LAYOUTS, "timit: TIMIT's tree (TRAIN|TEST/DR*/<speaker>/"
                         "<utt>.WAV + .WRD/.PHN); textgrid: the Montreal Forced Aligner's "
                         "(<speaker>/<utt>.wav + .TextGrid, IPA phones), for prepare.py "
                         "--folder_dir")
    overwrite: bool = shared("overwrite", False, help="an earlier demo corpus with other "
                             "settings")
    progress: bool = shared("progress", True)

    def check(self) -> None:
        if self.voice != "synthetic":
            for name in SYNTHETIC_FLAGS:
                if getattr(self, name) is not None:
                    raise DemoError(f"--{name} applies to --voice=synthetic only")
