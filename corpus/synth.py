"""A fast deterministic synthetic voice for TIMIT-size demo corpora
(``corpus.demo_corpus --voice=synthetic``).

festival takes ~0.2-0.4 s per short sentence here (measured in docs/data.md), so the 6,300
sentences of a full-size TIMIT layout (630 speakers x 10) would take a long time on two cores.
This module writes them in numpy instead: a formant/noise-burst synthesiser that speaks
pseudo-words from TIMIT phone strings, with .WRD/.PHN times that are exact by construction
(every phone is a block of samples the synthesiser itself laid out).

* Vocabulary (:func:`vocabulary`): ``vocab_size`` distinct pseudo-words (1-3 syllables of
  TIMIT phones, spelled with a fixed phone -> letters table), deterministic by seed.
* Word stream (:func:`word_stream`): sentence slots filled from concatenated seeded
  permutations of the vocabulary, so with at least ``vocab_size`` slots every word occurs and
  each occurs floor or ceil of slots / vocab_size times (the first permutation covers them all).
* Speakers (:func:`synth_speaker_plan`): sex, f0, vocal-tract scale of the formants, speaking
  rate, gain, noise seed, drawn from ``default_rng([seed, i])`` so speaker i does not depend on
  the number of speakers.
* Sound: voiced phones are an impulse train at the speaker's f0 (declining through the
  sentence) through a cascade of three Klatt resonators at the phone's formants; fricatives
  are band-passed noise (plus voicing for z zh v dh); stops are a closure (silence, or a faint
  voice bar for b d g) labelled ``bcl dcl gcl pcl tcl kcl`` and a noise burst; each segment is
  scaled to its class's RMS and faded in/out over 4 ms. A faint noise floor covers the file.

Layout of one sentence (samples at 16 kHz): ``h#`` lead silence, the words back to back (a
short ``pau`` between two words with probability 0.15), ``h#`` tail; .PHN covers every sample,
.WRD covers the words' phones exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import numpy as np
import soundfile as sf
from scipy import signal

from common.constants import SAMPLE_RATE

SYNTH_VERSION = 1
DEFAULT_N_SENTENCES = 10          # TIMIT: 10 sentences per speaker
DEFAULT_VOCAB_SIZE = 6229         # TIMIT's distinct words
DEFAULT_WORDS_PER_SENTENCE = 9    # 630 x 10 x 9 = 56,700 tokens (TIMIT: 54,378)
MAX_WORD_SAMPLES = 12000          # a word is at most 0.75 s: with 25 ms padding it fits 16384

# Vowels: (F1, F2, F3) Hz of an adult male (Peterson & Barney-like), diphthongs at their middle.
VOWELS = {"iy": (270, 2290, 3010), "ih": (390, 1990, 2550), "eh": (530, 1840, 2480),
          "ae": (660, 1720, 2410), "aa": (730, 1090, 2440), "ah": (640, 1190, 2390),
          "ao": (570, 840, 2410), "uh": (440, 1020, 2240), "uw": (300, 870, 2240),
          "er": (490, 1350, 1690), "ey": (480, 2100, 2600), "ay": (700, 1300, 2500),
          "oy": (500, 1000, 2400), "aw": (700, 1200, 2450), "ow": (500, 900, 2400)}
SONORANTS = {"l": (360, 1000, 2600), "r": (420, 1300, 1600), "w": (300, 700, 2200),
             "y": (280, 2200, 2900), "m": (250, 1100, 2200), "n": (250, 1500, 2500),
             "ng": (250, 2000, 2600)}
# Fricatives and stop bursts: noise band (Hz) and whether voicing is added.
FRICATIVES = {"s": ((4000, 7800), False), "sh": ((2000, 6000), False),
              "z": ((4000, 7800), True), "zh": ((2000, 6000), True),
              "f": ((1500, 7800), False), "th": ((1500, 7800), False),
              "v": ((1500, 7800), True), "dh": ((1500, 7800), True),
              "hh": ((500, 4000), False)}
STOPS = {"p": ("pcl", (500, 4000), False), "t": ("tcl", (3000, 7800), False),
         "k": ("kcl", (1500, 3500), False), "b": ("bcl", (500, 4000), True),
         "d": ("dcl", (3000, 7800), True), "g": ("gcl", (1500, 3500), True),
         "ch": ("tcl", (2000, 6000), False), "jh": ("dcl", (2000, 6000), True)}
CONSONANTS = tuple(SONORANTS) + tuple(FRICATIVES) + tuple(STOPS)
ONSETS = tuple(c for c in CONSONANTS if c != "ng")
CODAS = tuple(c for c in CONSONANTS if c not in ("hh", "w", "y", "zh"))
CLUSTERS = (("s", "t"), ("s", "p"), ("s", "k"), ("p", "r"), ("t", "r"), ("k", "r"),
            ("b", "r"), ("g", "r"), ("p", "l"), ("k", "l"), ("f", "l"), ("s", "l"))
SPELLING = {"iy": "ee", "ih": "i", "eh": "e", "ae": "a", "aa": "o", "ah": "u", "ao": "au",
            "uh": "oo", "uw": "ue", "er": "er", "ey": "ay", "ay": "ie", "oy": "oy", "aw": "ow",
            "ow": "oa", "jh": "j", "hh": "h", "dh": "dh"}
# Target RMS of a segment by class (before the speaker's gain); closures of b d g carry a
# faint voice bar, those of p t k are silent.
RMS = {"vowel": 0.12, "sonorant": 0.06, "nasal": 0.05, "sibilant": 0.05, "weak": 0.015,
       "hh": 0.02, "burst": 0.06, "voicebar": 0.006}
FADE = 64                          # 4 ms raised-cosine fade at each segment edge
NOISE_FLOOR = 2e-4
RESERVED = frozenset({"all"})      # 'all' is prepare.py's --words keyword


@dataclasses.dataclass(frozen=True)
class SynthSpeaker:
    """Settings of one synthetic-voice speaker (all derived from (seed, index))."""

    speaker: str
    sex: str
    dialect_region: str
    split: str             # 'TRAIN' or 'TEST'
    f0_mean: float         # Hz
    formant_scale: float   # vocal-tract size: every formant x this
    rate: float            # duration factor (> 1 slower)
    gain: float
    noise_seed: int


def base36(k: int) -> str:
    """k >= 0 in base 36 (digits 0-9A-Z), as TIMIT-like speaker ids use it."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = ""
    while True:
        s = digits[k % 36] + s
        k //= 36
        if k == 0:
            return s


def synth_speaker_plan(n_speakers: int, seed: int = 0) -> list:
    """Speakers ``<sex>SY<base-36 i>`` (sex F with probability 0.3, as in TIMIT's 192/630),
    dialect region DR(i % 8 + 1), TEST when i % 4 == 3. Settings from default_rng([seed, i]),
    so a speaker does not depend on n_speakers."""
    out = []
    for i in range(int(n_speakers)):
        rng = np.random.default_rng([int(seed), i, 0x5359])
        sex = "F" if rng.random() < 0.3 else "M"
        f0_lo, f0_hi, fs_lo, fs_hi = (85.0, 150.0, 0.92, 1.05) if sex == "M" else \
            (160.0, 240.0, 1.10, 1.22)
        out.append(SynthSpeaker(
            speaker=f"{sex}SY{base36(i)}", sex=sex, dialect_region=f"DR{i % 8 + 1}",
            split="TEST" if i % 4 == 3 else "TRAIN",
            f0_mean=round(float(rng.uniform(f0_lo, f0_hi)), 1),
            formant_scale=round(float(rng.uniform(fs_lo, fs_hi)), 3),
            rate=round(float(rng.uniform(0.85, 1.2)), 3),
            gain=round(float(rng.uniform(0.3, 0.8)), 3),
            noise_seed=int(rng.integers(0, 2**31 - 1))))
    return out


def _spell(phones: tuple) -> str:
    return "".join(SPELLING.get(p, p) for p in phones)


def vocabulary(vocab_size: int, seed: int = 0) -> list:
    """``vocab_size`` distinct pseudo-words [(spelling, phones tuple)] in drawing order.

    A word is 1-3 syllables (weights .35/.45/.2) of (onset) vowel (coda): onset none (.2),
    a cluster (.1) or one consonant; coda none (.45) or one consonant. Words whose spelling was
    drawn before (or is reserved) are drawn again, so the spellings are distinct and each names
    one pronunciation. Deterministic for (vocab_size, seed); a smaller vocabulary is a prefix of
    a larger one with the same seed."""
    rng = np.random.default_rng([int(seed), 0x564F43])
    vowels = tuple(VOWELS)
    seen, out = set(RESERVED), []
    while len(out) < int(vocab_size):
        phones = []
        for _ in range(int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))):
            u = rng.random()
            if u < 0.1:
                phones.extend(CLUSTERS[rng.integers(len(CLUSTERS))])
            elif u < 0.8:
                phones.append(ONSETS[rng.integers(len(ONSETS))])
            phones.append(vowels[rng.integers(len(vowels))])
            if rng.random() >= 0.45:
                phones.append(CODAS[rng.integers(len(CODAS))])
        word = _spell(tuple(phones))
        if word not in seen:
            seen.add(word)
            out.append((word, tuple(phones)))
    return out


def word_stream(n_slots: int, vocab_size: int, seed: int = 0) -> np.ndarray:
    """Vocabulary indices for ``n_slots`` word slots: concatenated seeded permutations of
    range(vocab_size), int64 [n_slots] (a prefix of a longer stream with the same seed)."""
    rng = np.random.default_rng([int(seed), 0x5354])
    n_perm = max(1, -(-int(n_slots) // int(vocab_size)))
    return np.concatenate([rng.permutation(int(vocab_size)) for _ in range(n_perm)])[:n_slots]


def utterance_name(speaker_index: int, sentence: int, n_sentences: int) -> str:
    """TIMIT-like utterance name SX<n>, n = speaker_index * n_sentences + sentence + 1 (unique
    across the corpus, as TIMIT's SX/SI numbers are)."""
    return f"SX{speaker_index * n_sentences + sentence + 1}"


# ------------------------------------------------------------------------------------------
# Sound
# ------------------------------------------------------------------------------------------
def _class(p: str) -> str:
    if p in VOWELS:
        return "vowel"
    if p in ("m", "n", "ng"):
        return "nasal"
    if p in SONORANTS:
        return "sonorant"
    if p in ("s", "sh", "z", "zh"):
        return "sibilant"
    if p == "hh":
        return "hh"
    return "weak"


def expand_phones(phones: tuple) -> list:
    """Word phones -> TIMIT segment labels: a stop or affricate X becomes its closure and X
    (t -> tcl t, jh -> dcl jh), as TIMIT labels them."""
    out = []
    for p in phones:
        if p in STOPS:
            out.extend([STOPS[p][0], p])
        else:
            out.append(p)
    return out


def segment_durations(segments: list, rng) -> np.ndarray:
    """Base durations in samples at 16 kHz of a word's segments (int64 [n]): vowels 80-140 ms,
    closures 40-65 ms, bursts 15-30 ms (affricates 50-80), fricatives 70-110 ms, hh and
    sonorants 50-80 ms."""
    lo_hi = []
    for s in segments:
        if s in VOWELS:
            lo_hi.append((1280, 2240))
        elif s.endswith("cl"):
            lo_hi.append((640, 1040))
        elif s in ("ch", "jh"):
            lo_hi.append((800, 1280))
        elif s in STOPS:
            lo_hi.append((240, 480))
        elif s in FRICATIVES and s != "hh":
            lo_hi.append((1120, 1760))
        else:
            lo_hi.append((800, 1280))
    lo, hi = np.array(lo_hi).T
    return rng.integers(lo, hi + 1)


@functools.lru_cache(maxsize=None)
def _band_sos(lo: int, hi: int) -> np.ndarray:
    return signal.butter(4, [lo, hi], btype="bandpass", fs=SAMPLE_RATE, output="sos")


def _resonators(formants: tuple, scale: float) -> np.ndarray:
    """Cascade of Klatt resonators (unity gain at 0 Hz), bandwidths 60/90/120 Hz: sos [3, 6]."""
    rows = []
    for f, bw in zip(formants, (60.0, 90.0, 120.0)):
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        b = 2 * r * np.cos(2 * np.pi * f * scale / SAMPLE_RATE)
        c = -r * r
        rows.append([1 - b - c, 0.0, 0.0, 1.0, -b, -c])
    return np.array(rows)


def _pulses(n: int, f0: np.ndarray, phase0: float) -> tuple:
    """Impulse train of n samples at the per-sample f0 [n] (Hz), starting at phase0 (cycles):
    (float64 [n], end phase)."""
    ph = phase0 + np.cumsum(f0) / SAMPLE_RATE
    x = np.zeros(n)
    x[1:][np.floor(ph[1:]) > np.floor(ph[:-1])] = 1.0
    return x, float(ph[-1]) if n else phase0


def _fit_rms(x: np.ndarray, target: float) -> np.ndarray:
    r = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return x * (target / r) if r > 0 else x


def _fade(x: np.ndarray) -> np.ndarray:
    k = min(FADE, x.shape[0] // 2)
    if k > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def _segment_audio(label: str, n: int, f0: np.ndarray, phase: float, spk: SynthSpeaker,
                   rng) -> tuple:
    """One segment's samples float64 [n] and the voicing phase after it."""
    voiced = label in VOWELS or label in SONORANTS or label == "bcl" or label == "dcl" or \
        label == "gcl" or (label in FRICATIVES and FRICATIVES[label][1]) or \
        (label in STOPS and STOPS[label][2])
    src, phase = _pulses(n, f0, phase)
    if label in ("pcl", "tcl", "kcl"):
        return np.zeros(n), phase
    if label in ("bcl", "dcl", "gcl"):
        x = signal.sosfilt(_resonators((200, 1000, 2500), 1.0)[:1], src)
        return _fade(_fit_rms(x, RMS["voicebar"])), phase
    if label in VOWELS or label in SONORANTS:
        formants = VOWELS.get(label) or SONORANTS[label]
        x = signal.sosfilt(_resonators(formants, spk.formant_scale), src)
        return _fade(_fit_rms(x, RMS[_class(label)])), phase
    band, _ = FRICATIVES[label] if label in FRICATIVES else STOPS[label][1:]
    x = signal.sosfilt(_band_sos(*band), rng.standard_normal(n))
    x = _fit_rms(x, RMS["burst"] if label in STOPS else RMS[_class(label)])
    if voiced:
        v = signal.sosfilt(_resonators((250, 1200, 2500), spk.formant_scale), src)
        x = x + _fit_rms(v, 0.5 * RMS["sonorant"])
    return _fade(x), phase


def sentence_layout(words: list, spk: SynthSpeaker, rng) -> tuple:
    """Sample layout of one sentence: (wrd [(start, end, word)], phn [(start, end, label)],
    n_samples). words: [(spelling, phones)]. Durations x the speaker's rate x a per-token jitter
    in [0.9, 1.1], a word shrunk to MAX_WORD_SAMPLES when longer."""
    t = int(rng.integers(1500, 3501))
    phn, wrd = [(0, t, "h#")], []
    for j, (word, phones) in enumerate(words):
        if j and rng.random() < 0.15:
            d = int(rng.integers(800, 3001))
            phn.append((t, t + d, "pau"))
            t += d
        segs = expand_phones(phones)
        dur = segment_durations(segs, rng) * spk.rate * rng.uniform(0.9, 1.1)
        if dur.sum() > MAX_WORD_SAMPLES:
            dur *= MAX_WORD_SAMPLES / dur.sum()
        dur = np.maximum(np.floor(dur).astype(np.int64), 80)
        start = t
        for s, d in zip(segs, dur):
            phn.append((t, t + int(d), s))
            t += int(d)
        wrd.append((start, t, word))
    n = t + int(rng.integers(1500, 3501))
    phn.append((t, n, "h#"))
    return wrd, phn, n


def render(phn: list, n: int, spk: SynthSpeaker, rng) -> np.ndarray:
    """Audio float64 [n] of a layout: every segment rendered into its own samples; f0 falls
    linearly from 1.1 to 0.85 x f0_mean over the sentence (declination)."""
    y = np.zeros(n)
    f0 = spk.f0_mean * np.linspace(1.1, 0.85, n)
    phase = 0.0
    for s, e, label in phn:
        if label in ("h#", "pau"):
            phase += float(np.sum(f0[s:e])) / SAMPLE_RATE
            continue
        y[s:e], phase = _segment_audio(label, e - s, f0[s:e], phase, spk, rng)
    return y


def synthesize_speaker(spk: SynthSpeaker, index: int, root: str, vocab: list,
                       stream: np.ndarray, n_sentences: int, words_per_sentence: int,
                       seed: int = 0) -> dict:
    """Write the speaker's ``n_sentences`` sentences (.WAV SPHERE int16, .TXT, .WRD, .PHN)
    under root/<split>/<DR>/<speaker>/. Sentence k of speaker ``index`` says the vocabulary
    words stream[(index * n_sentences + k) * wps : ... + wps]."""
    spk_dir = os.path.join(root, spk.split, spk.dialect_region, spk.speaker)
    os.makedirs(spk_dir, exist_ok=True)
    noise = np.random.default_rng(spk.noise_seed)
    for k in range(int(n_sentences)):
        rng = np.random.default_rng([int(seed), index, k, 0x534E])
        slot = (index * n_sentences + k) * words_per_sentence
        words = [vocab[int(i)] for i in stream[slot:slot + words_per_sentence]]
        wrd, phn, n = sentence_layout(words, spk, rng)
        y = render(phn, n, spk, rng) * spk.gain + noise.standard_normal(n) * NOISE_FLOOR
        pcm = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
        utt = utterance_name(index, k, n_sentences)
        sf.write(os.path.join(spk_dir, f"{utt}.WAV"), pcm, SAMPLE_RATE, format="NIST",
                 subtype="PCM_16")
        with open(os.path.join(spk_dir, f"{utt}.TXT"), "w") as f:
            f.write(f"0 {n} " + " ".join(w for w, _ in words) + ".\n")
        with open(os.path.join(spk_dir, f"{utt}.WRD"), "w") as f:
            f.writelines(f"{s} {e} {w}\n" for s, e, w in wrd)
        with open(os.path.join(spk_dir, f"{utt}.PHN"), "w") as f:
            f.writelines(f"{s} {e} {p}\n" for s, e, p in phn)
    return dataclasses.asdict(spk)


def check_settings(n_sentences: int, vocab_size: int, words_per_sentence: int,
                   error_type=ValueError) -> None:
    """Raise ``error_type`` naming the flag for a non-positive setting."""
    for flag, v in (("--n_sentences", n_sentences), ("--vocab_size", vocab_size),
                    ("--words_per_sentence", words_per_sentence)):
        if int(v) < 1:
            raise error_type(f"{flag}={v}: must be >= 1")
