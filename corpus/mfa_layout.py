"""The demo corpus as an aligned corpus (``corpus.demo --layout=textgrid``): the Montreal
Forced Aligner's layout, ``ROOT/<speaker>/<utt>.wav`` (RIFF, 16 bit) with
``ROOT/<speaker>/<utt>.TextGrid`` beside it, as MFA writes it: long text, UTF-8, an interval
tier ``words`` and an interval tier ``phones`` with MFA's IPA phone labels (the TIMIT-style
label's IPA of :mod:`common.phones`) and pauses left empty.

It is made from the TIMIT-layout corpus the demo writes first, by exact conversion: the same
samples, and every label time is ``sample / 16000`` s, which prepare.py maps back to the same
sample (``round(t * 16000)``). So the TIMIT path and the TextGrid path of one corpus give the
same tokens, phones and clips (tests/test_corpus_textgrid.py).
"""

from __future__ import annotations

import os
import shutil

import soundfile as sf

from common.constants import NON_SPEECH_PHONES
from common.phones import ipa
from corpus.skip_report import Report
from corpus.timit import find_utterances, parse_label_lines, read_label_file


def _tier(name: str, items: list, sr: int, duration: float):
    import tgt
    tier = tgt.IntervalTier(start_time=0.0, end_time=duration, name=name)
    for s, e, label in items:
        if label:
            tier.add_interval(tgt.Interval(s / sr, e / sr, label))
    return tier


def write_utterance(wav_path: str, wrd_path: str, phn_path: str, out_dir: str, stem: str,
                    error) -> None:
    """One TIMIT utterance as ``out_dir/stem.wav`` + ``out_dir/stem.TextGrid``. ``error``: the
    exception class for a label file that does not parse."""
    import tgt
    pcm, sr = sf.read(wav_path, dtype="int16")
    labels = {}
    for kind, path in (("words", wrd_path), ("phones", phn_path)):
        good, bad = parse_label_lines(read_label_file(path))
        if bad:
            raise error(f"{path}:{bad[0].line}: {bad[0].detail}")
        labels[kind] = [(g.start, g.end, g.label) for g in good]
    phones = [(s, e, "" if p in NON_SPEECH_PHONES else ipa(p)) for s, e, p in labels["phones"]]
    duration = pcm.shape[0] / sr
    grid = tgt.TextGrid()
    grid.add_tier(_tier("words", labels["words"], sr, duration))
    grid.add_tier(_tier("phones", phones, sr, duration))
    os.makedirs(out_dir, exist_ok=True)
    sf.write(os.path.join(out_dir, f"{stem}.wav"), pcm, sr, subtype="PCM_16")
    tgt.io.write_to_file(grid, os.path.join(out_dir, f"{stem}.TextGrid"), format="long",
                         encoding="utf-8")


def convert_to_textgrid_layout(root: str, error) -> int:
    """Replace the TIMIT-layout tree under ``root`` (TRAIN/ and TEST/) with the MFA layout
    (``root/<speaker>/<utt>.wav + .TextGrid``); other files of ``root`` are kept. Returns the
    number of utterances."""
    utts = find_utterances(root, Report())
    for utt in utts:
        if utt.wrd_path is None or utt.phn_path is None:
            raise error(f"{utt.wav_path}: no .WRD/.PHN beside it")
        write_utterance(utt.wav_path, utt.wrd_path, utt.phn_path,
                        os.path.join(root, utt.speaker), utt.utterance, error)
    for split in ("TRAIN", "TEST"):
        shutil.rmtree(os.path.join(root, split), ignore_errors=True)
    return len(utts)
