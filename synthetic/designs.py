"""phone_activations and activations tables with the structure real data have, for measuring
whether a test keeps its nominal level (bench/calibration.py, docs/calibration.md).

Real layer traces are not independent replicates: every interval of a phone comes from a
word, and the network's response to that phone depends on the word it sits in; tokens come
from speakers, unevenly; samples inside an interval are autocorrelated. A test that ignores
one of these reads it as an effect. Each generator here plants exactly that structure and,
optionally, a known effect, so that the share of p-values below alpha can be counted.

Phone design (:func:`make_word_phone_table`, one layer). Every phone of ``phones`` gets
``words_per_phone`` words of its own (``nested``: a word holds one of the phones), or every
word holds one interval of each phone of its pair (``crossed``). A word has
``tokens_per_word`` tokens, each from a speaker. An interval of phone p in word w, token r,
speaker s, has ``n`` samples at the layer (its duration over the layer's stride) at
normalised times t_j = (j + 0.5) / n, and::

    value(t) = base(t) + word_level[w, p] + sum_m word_shape[w, p, m] phi_m(t)
               + speaker_level[s] + interval_level[i] + AR1(rho, noise_sd)(t)
               + level_effect[p] + shape_effect[p] * psi(t)

    phi = (cos(pi t), sin(pi t) - 2 / pi, cos(2 pi t))   word shapes, mean ~0 over [0, 1]
    psi(t) = cos(pi t)                                    a planted shape, mean 0 over [0, 1]

with word_level ~ N(0, word_sd), word_shape ~ N(0, word_shape_sd), speaker_level ~ N(0,
speaker_sd), interval_level ~ N(0, interval_sd), all independent. Under the null
(``level_effect`` and ``shape_effect`` zero) no phone differs from another: any difference
between two phones' intervals is a difference between their words and speakers.

Speakers: ``balanced`` gives every word's tokens to speakers in turn; ``unbalanced`` draws
each speaker's share of a word's tokens from a Dirichlet(0.5) per word, so a few speakers
say most tokens of a word, and their levels move that word's mean.

Word design (:func:`make_word_token_table`): the same for whole tokens of words on a layer's
sample axis (the word model's null): word w of ``n_words``, tokens from speakers as above,
token random level and AR1 noise; no word differs from another unless ``word_effect`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np
import pandas as pd

from synthetic.planted import ar1_rows

PHONE_COLUMNS = ["token_id", "word", "speaker", "layer", "phone", "phone_index", "sample",
                 "norm_time", "value"]
WORD_COLUMNS = ["token_id", "word", "speaker", "layer", "sample", "time", "value"]
SPEAKER_LAYOUTS = ("balanced", "unbalanced")
WORD_LAYOUTS = ("nested", "crossed")


def word_shapes(t: np.ndarray) -> np.ndarray:
    """[3, n] the word-level random shape functions phi_m(t) (module docstring)."""
    t = np.asarray(t, dtype=float)
    return np.stack([np.cos(np.pi * t), np.sin(np.pi * t) - 2.0 / np.pi,
                     np.cos(2.0 * np.pi * t)])


def planted_shape(t: np.ndarray) -> np.ndarray:
    """psi(t) = cos(pi t): the planted shape difference (mean 0 over [0, 1], RMS 1/sqrt 2)."""
    return np.cos(np.pi * np.asarray(t, dtype=float))


@dataclass
class PhoneDesign:
    """Everything :func:`make_word_phone_table` draws from (see the module docstring)."""
    phones: Tuple[str, ...] = ("s", "sh", "p", "b", "iy", "ih")
    words_per_phone: int = 5
    tokens_per_word: int = 8
    n_speakers: int = 24
    speakers: str = "balanced"
    words: str = "nested"
    samples: Tuple[int, int] = (6, 14)          # samples per interval at the layer (range)
    word_sd: float = 1.0
    word_shape_sd: float = 0.5
    speaker_sd: float = 0.5
    interval_sd: float = 0.5
    noise_sd: float = 0.5
    rho: float = 0.5
    level_effect: Dict[str, float] = field(default_factory=dict)
    shape_effect: Dict[str, float] = field(default_factory=dict)
    layer: str = "conv2"

    def __post_init__(self):
        if self.speakers not in SPEAKER_LAYOUTS:
            raise ValueError(f"speakers must be one of {SPEAKER_LAYOUTS}, got {self.speakers!r}")
        if self.words not in WORD_LAYOUTS:
            raise ValueError(f"words must be one of {WORD_LAYOUTS}, got {self.words!r}")
        if self.words == "crossed" and len(self.phones) % 2:
            raise ValueError("a crossed design pairs the phones: give an even number")


def _speaker_of_tokens(rng: np.random.Generator, n_words: int, per_word: int,
                       n_speakers: int, layout: str) -> np.ndarray:
    """[n_words, per_word] speaker index of every token (see the module docstring)."""
    if layout == "balanced":
        start = rng.integers(0, n_speakers, n_words)
        return (start[:, None] + np.arange(per_word)[None, :]) % n_speakers
    out = np.empty((n_words, per_word), dtype=int)
    for w in range(n_words):
        share = rng.dirichlet(np.full(n_speakers, 0.5))
        out[w] = rng.choice(n_speakers, size=per_word, p=share)
    return out


def make_word_phone_table(design: PhoneDesign, seed: int = 0) -> pd.DataFrame:
    """One layer's phone_activations table (:data:`PHONE_COLUMNS`) drawn from ``design``."""
    rng = np.random.default_rng(seed)
    d = design
    phones = [str(p) for p in d.phones]
    # word -> the phones it holds (one interval of each per token)
    if d.words == "nested":
        word_phones = [(f"{p}_w{j + 1}", (p,)) for p in phones for j in range(d.words_per_phone)]
    else:
        pairs = [(phones[i], phones[i + 1]) for i in range(0, len(phones), 2)]
        word_phones = [(f"{a}{b}_w{j + 1}", (a, b)) for a, b in pairs
                       for j in range(d.words_per_phone)]
    n_words = len(word_phones)
    spk_level = rng.normal(0.0, d.speaker_sd, d.n_speakers)
    spk = _speaker_of_tokens(rng, n_words, d.tokens_per_word, d.n_speakers, d.speakers)
    frames = []
    token = 0
    for w, (word, held) in enumerate(word_phones):
        w_level = {p: rng.normal(0.0, d.word_sd) for p in held}
        w_shape = {p: rng.normal(0.0, d.word_shape_sd, 3) for p in held}
        for r in range(d.tokens_per_word):
            s = int(spk[w, r])
            for p in held:
                n = int(rng.integers(d.samples[0], d.samples[1] + 1))
                t = (np.arange(n) + 0.5) / n
                v = (0.5 * np.cos(np.pi * t) + w_level[p] + w_shape[p] @ word_shapes(t)
                     + spk_level[s] + rng.normal(0.0, d.interval_sd)
                     + ar1_rows(rng, (1, n), d.rho, d.noise_sd)[0]
                     + d.level_effect.get(p, 0.0)
                     + d.shape_effect.get(p, 0.0) * planted_shape(t))
                frames.append(pd.DataFrame({
                    "token_id": token, "word": word, "speaker": f"spk{s + 1:02d}",
                    "layer": d.layer, "phone": p, "phone_index": 0,
                    "sample": np.arange(n) + 100 * held.index(p), "norm_time": t,
                    "value": v}))
            token += 1
    return pd.concat(frames, ignore_index=True)[PHONE_COLUMNS]


@dataclass
class WordDesign:
    """What :func:`make_word_token_table` draws from: words, tokens, speakers, noise, and the
    planted per-word level (``word_effect``) and shape (``word_shape_effect``, times psi on
    the normalised sample axis) differences."""
    n_words: int = 8
    tokens_per_word: int = 12
    n_speakers: int = 24
    speakers: str = "unbalanced"
    n_samples: int = 16
    token_sd: float = 0.5
    token_shape_sd: float = 0.3
    speaker_sd: float = 0.5
    noise_sd: float = 0.5
    rho: float = 0.5
    word_effect: Dict[str, float] = field(default_factory=dict)
    word_shape_effect: Dict[str, float] = field(default_factory=dict)
    layer: str = "conv5"

    def __post_init__(self):
        if self.speakers not in SPEAKER_LAYOUTS:
            raise ValueError(f"speakers must be one of {SPEAKER_LAYOUTS}, got {self.speakers!r}")

    @property
    def words(self) -> Tuple[str, ...]:
        return tuple(f"w{i + 1}" for i in range(self.n_words))


def make_word_token_table(design: WordDesign, seed: int = 0) -> pd.DataFrame:
    """One layer's activations table (:data:`WORD_COLUMNS`) drawn from ``design``: token
    random level and shape (phi, on the normalised sample axis), speaker levels, AR1 noise,
    and the planted word differences."""
    rng = np.random.default_rng(seed)
    d = design
    n = int(d.n_samples)
    t = (np.arange(n) + 0.5) / n
    phi = word_shapes(t)
    spk_level = rng.normal(0.0, d.speaker_sd, d.n_speakers)
    spk = _speaker_of_tokens(rng, d.n_words, d.tokens_per_word, d.n_speakers, d.speakers)
    n_tok = d.n_words * d.tokens_per_word
    word_of = np.repeat(np.arange(d.n_words), d.tokens_per_word)
    words = np.array(d.words, dtype=object)
    level = np.array([d.word_effect.get(w, 0.0) for w in d.words])[word_of]
    shape = np.array([d.word_shape_effect.get(w, 0.0) for w in d.words])[word_of]
    v = (np.sin(2 * np.pi * t)[None, :] + level[:, None]
         + shape[:, None] * planted_shape(t)[None, :]
         + rng.normal(0.0, d.token_sd, n_tok)[:, None]
         + rng.normal(0.0, d.token_shape_sd, (n_tok, 3)) @ phi
         + spk_level[spk.reshape(-1)][:, None]
         + ar1_rows(rng, (n_tok, n), d.rho, d.noise_sd))
    return pd.DataFrame({
        "token_id": np.repeat(np.arange(n_tok), n),
        "word": np.repeat(words[word_of], n),
        "speaker": np.repeat([f"spk{s + 1:02d}" for s in spk.reshape(-1)], n),
        "layer": d.layer, "sample": np.tile(np.arange(n), n_tok),
        "time": np.tile(t, n_tok), "value": v.reshape(-1)})[WORD_COLUMNS]


def with_overrides(design, **changes):
    """A copy of a design dataclass with ``changes`` applied (dataclasses.replace)."""
    import dataclasses
    return dataclasses.replace(design, **changes)


__all__ = ["PhoneDesign", "WordDesign", "make_word_phone_table", "make_word_token_table",
           "planted_shape", "word_shapes", "with_overrides"]
