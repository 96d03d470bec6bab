"""Small synthetic TIMIT-layout trees for the corpus tests (numpy noise + hand-written labels)."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from common.constants import SAMPLE_RATE

# word -> phones with durations in samples at SAMPLE_RATE (TIMIT labels)
WORD_PHONES = {
    "dark": [("dcl", 300), ("d", 200), ("aa", 1600), ("r", 700), ("kcl", 400), ("k", 300)],
    "greasy": [("gcl", 300), ("g", 200), ("r", 600), ("iy", 1200), ("s", 1500), ("iy", 1100)],
    "wash": [("w", 700), ("aa", 1500), ("sh", 1800)],
    "ask": [("ae", 1500), ("s", 1200), ("kcl", 300), ("k", 400)],
    "the": [("dh", 400), ("ax", 600)],
    "rag": [("r", 700), ("ae", 1600), ("gcl", 300), ("g", 200)],
}


def write_utterance(spk_dir: str, utt: str, words: list, seed: int = 0, sr: int = SAMPLE_RATE,
                    fmt: str = "NIST", lead: int = 1000, tail: int = 1200,
                    upper: bool = True, channels: int = 1) -> dict:
    """Write <utt>.WAV (SPHERE by default) + .WRD + .PHN + .TXT with the given words.

    Durations in WORD_PHONES are at SAMPLE_RATE; they are scaled to ``sr``. Returns
    {'audio': int16 [n] or [n, ch], 'wrd': [(s, e, w)], 'phn': [(s, e, p)], 'paths': {...}}.
    """
    os.makedirs(spk_dir, exist_ok=True)
    scale = sr / SAMPLE_RATE
    t = int(lead * scale)
    wrd, phn = [], [(0, t, "h#")]
    for w in words:
        ws = t
        for p, d in WORD_PHONES[w]:
            d = int(d * scale)
            phn.append((t, t + d, p))
            t += d
        wrd.append((ws, t, w))
    n = t + int(tail * scale)
    phn.append((t, n, "h#"))
    rng = np.random.default_rng(seed)
    shape = (n,) if channels == 1 else (n, channels)
    audio = (rng.standard_normal(shape) * 3000).clip(-32000, 32000).astype(np.int16)
    name = (lambda ext: f"{utt}.{ext}".upper()) if upper else (lambda ext: f"{utt}.{ext}".lower())
    paths = {k: os.path.join(spk_dir, name(k)) for k in ("wav", "wrd", "phn", "txt")}
    if fmt == "NIST":
        sf.write(paths["wav"], audio, sr, format="NIST", subtype="PCM_16")
    else:
        sf.write(paths["wav"], audio, sr, format="WAV", subtype="PCM_16")
    with open(paths["wrd"], "w") as f:
        f.writelines(f"{s} {e} {w}\n" for s, e, w in wrd)
    with open(paths["phn"], "w") as f:
        f.writelines(f"{s} {e} {p}\n" for s, e, p in phn)
    with open(paths["txt"], "w") as f:
        f.write(f"0 {n} " + " ".join(words) + ".\n")
    return {"audio": audio, "wrd": wrd, "phn": phn, "paths": paths}


DEFAULT_LAYOUT = {
    "TRAIN": {"DR1": ["FCJF0", "MDAB0", "FDAW0"], "DR2": ["MTAS1", "FAEM0"]},
    "TEST": {"DR1": ["MDLS0", "FELC0"]},
}
DEFAULT_UTTS = {"SA1": ["the", "dark", "greasy", "wash"], "SA2": ["ask", "the", "rag"]}


def make_timit_tree(root: str, layout=None, utts=None, **kw) -> dict:
    """A TIMIT-layout tree; returns {(speaker, utt): write_utterance result}."""
    layout = layout or DEFAULT_LAYOUT
    utts = utts or DEFAULT_UTTS
    out = {}
    seed = 0
    for split, drs in layout.items():
        for dr, spks in drs.items():
            for spk in spks:
                for utt, words in utts.items():
                    seed += 1
                    out[(spk, utt)] = write_utterance(os.path.join(root, split, dr, spk), utt,
                                                      words, seed=seed, **kw)
    return out
