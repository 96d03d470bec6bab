"""Writing small Praat TextGrids for the tests, in every text format Praat writes (long and
short text; UTF-8 with or without BOM, UTF-16 BE/LE with BOM; LF or CRLF; labels' quotes
doubled), following Praat's own output (checked against files Praat itself wrote through
parselmouth in test_corpus_textgrid.py). An MFA-layout corpus of tones with known words and
phones for the prepare tests."""

from __future__ import annotations

import codecs
import os

import numpy as np
import soundfile as sf

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-le", "utf-16-be")
FORMATS = ("long", "short")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _num(x: float) -> str:
    return repr(float(x)) if float(x) != int(x) else str(int(x))


def textgrid_text(tiers, xmin: float = 0.0, xmax: float = None, form: str = "long") -> str:
    """Praat text of a TextGrid. ``tiers``: [(name, kind, items)] with kind 'interval'
    (items [(start, end, label)] that tile [xmin, xmax]) or 'point' (items [(time, mark)])."""
    if xmax is None:
        xmax = max([it[1] for _, k, items in tiers if k == "interval" for it in items] +
                   [it[0] for _, k, items in tiers if k == "point" for it in items] + [xmin])
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', ""]
    if form == "short":
        lines += [_num(xmin), _num(xmax), "<exists>", str(len(tiers))]
        for name, kind, items in tiers:
            lines += [_quote("IntervalTier" if kind == "interval" else "TextTier"),
                      _quote(name), _num(xmin), _num(xmax), str(len(items))]
            for item in items:
                if kind == "interval":
                    lines += [_num(item[0]), _num(item[1]), _quote(item[2])]
                else:
                    lines += [_num(item[0]), _quote(item[1])]
        return "\n".join(lines) + "\n"
    lines += [f"xmin = {_num(xmin)} ", f"xmax = {_num(xmax)} ", "tiers? <exists> ",
              f"size = {len(tiers)} ", "item []: "]
    for i, (name, kind, items) in enumerate(tiers, start=1):
        cls = "IntervalTier" if kind == "interval" else "TextTier"
        lines += [f"    item [{i}]:", f"        class = {_quote(cls)} ",
                  f"        name = {_quote(name)} ", f"        xmin = {_num(xmin)} ",
                  f"        xmax = {_num(xmax)} "]
        key = "intervals" if kind == "interval" else "points"
        lines.append(f"        {key}: size = {len(items)} ")
        for j, item in enumerate(items, start=1):
            lines.append(f"        {key} [{j}]:")
            if kind == "interval":
                lines += [f"            xmin = {_num(item[0])} ",
                          f"            xmax = {_num(item[1])} ",
                          f"            text = {_quote(item[2])} "]
            else:
                lines += [f"            number = {_num(item[0])} ",
                          f"            mark = {_quote(item[1])} "]
    return "\n".join(lines) + "\n"


def encode(text: str, encoding: str = "utf-8", crlf: bool = False) -> bytes:
    """The file's bytes: UTF-16 always with its BOM (as Praat writes it)."""
    if crlf:
        text = text.replace("\n", "\r\n")
    if encoding == "utf-16-le":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    if encoding == "utf-16-be":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def write_textgrid(path: str, tiers, xmax: float = None, form: str = "long",
                   encoding: str = "utf-8", crlf: bool = False, xmin: float = 0.0) -> str:
    with open(path, "wb") as f:
        f.write(encode(textgrid_text(tiers, xmin, xmax, form), encoding, crlf))
    return path


def tile(items, xmax: float, xmin: float = 0.0):
    """[(start, end, label)] of labelled intervals -> the tier's full tiling with empty
    intervals in the gaps (as Praat keeps an interval tier)."""
    out, t = [], xmin
    for s, e, lab in sorted(items):
        if s > t:
            out.append((t, s, ""))
        out.append((s, e, lab))
        t = e
    if t < xmax:
        out.append((t, xmax, ""))
    return out


def tone(n: int, sr: int = 16000, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A quiet tone with a little noise (float32 [n])."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(n)).astype(
        np.float32)


def write_utterance(folder: str, stem: str, words, phones, duration: float, sr: int = 16000,
                    word_tier: str = "words", phone_tier: str = "phones", ext: str = "wav",
                    seed: int = 0, **fmt) -> tuple:
    """``folder/stem.ext`` (a tone of ``duration`` s at ``sr``) and ``folder/stem.TextGrid``
    with the word and phone tiers (labelled intervals [(start, end, label)] in seconds).
    Returns (audio path, TextGrid path)."""
    os.makedirs(folder, exist_ok=True)
    n = int(round(duration * sr))
    audio = os.path.join(folder, f"{stem}.{ext}")
    sf.write(audio, tone(n, sr, seed=seed), sr, subtype="PCM_16")
    tiers = [(word_tier, "interval", tile(words, duration))]
    if phone_tier:
        tiers.append((phone_tier, "interval", tile(phones, duration)))
    grid = write_textgrid(os.path.join(folder, f"{stem}.TextGrid"), tiers, duration, **fmt)
    return audio, grid
