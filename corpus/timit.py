"""Reading a TIMIT-layout corpus: ROOT/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.WAV + .WRD/.PHN/.TXT.

Names and extensions may be upper- or lower-case. .WAV files are NIST SPHERE (LDC) or RIFF;
soundfile goes by the header. The first letter of a speaker folder (FCJF0, MDAB0) is the sex.
.WRD/.PHN lines are ``start end label`` in samples of the .WAV (end exclusive).

Bad input never crashes: each problem is logged with the file (and line) and counted by reason
in a ``Report``; bad lines or files are skipped, the rest is kept.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
from typing import Iterable, Optional

from tqdm import tqdm

from common.constants import SAMPLE_RATE
from corpus import audio as audio_mod
from corpus.corpus_errors import AudioReadError
from corpus.skip_report import Report
from corpus.slicing import Token, token_phones, word_clip

logger = logging.getLogger("corpus")

_DR_RE = re.compile(r"^dr\d+$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One utterance of a TIMIT-layout tree (paths None when the file is absent)."""

    wav_path: str
    wrd_path: Optional[str]
    phn_path: Optional[str]
    txt_path: Optional[str]
    speaker: str
    sex: str
    dialect_region: str
    utterance: str
    timit_split: str


@dataclasses.dataclass(frozen=True)
class Label:
    """A parsed label line: [start, end) in source samples, 1-based line number."""

    start: int
    end: int
    label: str
    line: int


@dataclasses.dataclass(frozen=True)
class BadLine:
    """A rejected label line. label is the last field when one could be read, else None."""

    line: int
    text: str
    label: Optional[str]
    reason: str
    detail: str


def _subdirs(path: str) -> list:
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))


def _group_files(speaker_dir: str) -> dict:
    """{UTT (upper): {ext (lower): path}} for the files of a speaker folder.

    The extension is everything after the first dot, lower-cased ('wav', 'wrd', 'wav.wav')."""
    groups: dict = collections.defaultdict(dict)
    for name in sorted(os.listdir(speaker_dir)):
        path = os.path.join(speaker_dir, name)
        if not os.path.isfile(path) or "." not in name:
            continue
        stem, ext = name.split(".", 1)
        groups[stem.upper()][ext.lower()] = path
    return groups


def _split_dirs(timit_dir: str) -> list:
    """[(timit_split, dir)] for TRAIN/TEST sub-folders; the root itself when it holds DR*
    folders directly (split from its name, 'train' by default)."""
    out = [(d.lower(), os.path.join(timit_dir, d)) for d in _subdirs(timit_dir)
           if d.lower() in ("train", "test")]
    if out:
        return out
    if any(_DR_RE.match(d) for d in _subdirs(timit_dir)):
        base = os.path.basename(os.path.normpath(timit_dir)).lower()
        return [(base if base in ("train", "test") else "train", timit_dir)]
    return []


def find_root(timit_dir: str, max_depth: int = 2) -> str:
    """The folder holding TRAIN/TEST (or DR*) folders: ``timit_dir`` itself or the first such
    folder up to ``max_depth`` levels below it (LDC copies often nest ``TIMIT/TIMIT`` or
    ``data/``). Returns ``timit_dir`` when none is found."""
    frontier = [timit_dir]
    for _ in range(max_depth + 1):
        nxt = []
        for d in frontier:
            if _split_dirs(d):
                return d
            nxt.extend(os.path.join(d, s) for s in _subdirs(d))
        frontier = nxt
    return timit_dir


def find_utterances(timit_dir: str, report: Report) -> list:
    """All utterances (those with an audio file) of a TIMIT-layout tree, sorted by path.

    The tree is looked for with ``find_root``. Label files without audio are reported (reason
    'missing_audio', files). Returns [] when there is no TRAIN|TEST/DR* structure.
    """
    utts = []
    unknown_sex = set()
    root = find_root(timit_dir)
    if root != timit_dir:
        logger.info("using the TIMIT tree under %s", root)
    for timit_split, split_dir in _split_dirs(root):
        for dr in _subdirs(split_dir):
            if not _DR_RE.match(dr):
                continue
            dr_dir = os.path.join(split_dir, dr)
            for spk in _subdirs(dr_dir):
                spk_dir = os.path.join(dr_dir, spk)
                speaker = spk.upper()
                sex = speaker[0] if speaker[:1] in ("F", "M") else ""
                if not sex and speaker not in unknown_sex:
                    unknown_sex.add(speaker)
                    report.warn("unknown_sex", f"{spk_dir}: speaker folder name does not start "
                                               "with F or M; sex left empty")
                for utt, files in sorted(_group_files(spk_dir).items()):
                    wav = files.get("wav") or files.get("wav.wav") or files.get("sph")
                    if wav is None:
                        if "wrd" in files or "phn" in files:
                            report.skip("missing_audio", f"{spk_dir}/{utt}: label files but no "
                                                         ".WAV audio file")
                        continue
                    utts.append(Utterance(wav, files.get("wrd"), files.get("phn"),
                                          files.get("txt"), speaker, sex, dr.upper(), utt,
                                          timit_split))
    return utts


def parse_label_lines(lines: Iterable[str]) -> tuple:
    """Parse ``start end label`` lines (blank lines ignored).

    Returns (labels: list[Label], bad: list[BadLine]) with reason 'malformed' for lines that do
    not have exactly three fields with integer start/end.
    """
    good, bad = [], []
    for i, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        fields = text.split()
        label = fields[-1] if len(fields) >= 2 else None
        if len(fields) != 3:
            bad.append(BadLine(i, text, label, "malformed",
                               f"expected 'start end label', got {len(fields)} field(s)"))
            continue
        try:
            s, e = int(fields[0]), int(fields[1])
        except ValueError:
            bad.append(BadLine(i, text, label, "malformed", "start/end are not integers"))
            continue
        good.append(Label(s, e, fields[2], i))
    return good, bad


def validate_labels(labels: list, n_samples: int, kind: str) -> tuple:
    """Check parsed labels against the audio length and each other, in file order.

    empty_interval: end <= start. out_of_range: start < 0 or end > n_samples.
    overlap: for kind='wrd', a line starting before the previous accepted line's start or
    ending at/before its end (out of order, duplicated or nested; the partial overlaps TIMIT
    has at shared phones are accepted); for kind='phn', any start before the previous end.
    Returns (accepted: list[Label], bad: list[BadLine]).
    """
    good, bad = [], []
    prev = None
    for lab in labels:
        text = f"{lab.start} {lab.end} {lab.label}"
        if lab.end <= lab.start:
            bad.append(BadLine(lab.line, text, lab.label, "empty_interval",
                               f"end {lab.end} <= start {lab.start}"))
            continue
        if lab.start < 0 or lab.end > n_samples:
            bad.append(BadLine(lab.line, text, lab.label, "out_of_range",
                               f"[{lab.start}, {lab.end}) outside the audio's {n_samples} "
                               "samples"))
            continue
        if prev is not None:
            odd = (lab.start < prev.start or lab.end <= prev.end) if kind == "wrd" \
                else lab.start < prev.end
            if odd:
                bad.append(BadLine(lab.line, text, lab.label, "overlap",
                                   f"overlaps line {prev.line} ({prev.start} {prev.end} "
                                   f"{prev.label})"))
                continue
        good.append(lab)
        prev = lab
    return good, bad


def read_label_file(path: str) -> list:
    """Lines of a label file (UTF-8, undecodable bytes replaced). Raises OSError."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def _selected(label: Optional[str], words: Optional[set]) -> bool:
    return label is not None and (words is None or label.lower() in words)


def utterance_tokens(utt: Utterance, words: Optional[set], pad: int, slice_len: int,
                     report: Report, seen_words: collections.Counter,
                     sample_rate: int = SAMPLE_RATE) -> list:
    """Tokens of the selected words in one utterance (``words`` None = every word).

    Reads the audio only when the .WRD names a selected word. Every problem is reported with
    the file and line; see docs/data.md for the reasons.
    """
    if utt.wrd_path is None:
        report.skip("missing_wrd", f"{utt.wav_path}: no .WRD file beside it")
        return []
    try:
        wrd_lines = read_label_file(utt.wrd_path)
    except OSError as e:
        report.skip("wrd_unreadable_file", f"{utt.wrd_path}: cannot read ({e})")
        return []
    parsed, bad = parse_label_lines(wrd_lines)
    for lab in parsed:
        seen_words[lab.label.lower()] += 1
    for b in bad:
        if b.label is not None:
            seen_words[b.label.lower()] += 1
    if not any(_selected(lab.label, words) for lab in parsed) and \
            not any(_selected(b.label, words) for b in bad):
        return []
    try:
        audio, sr, n_src = audio_mod.read_audio(utt.wav_path, sample_rate)
    except AudioReadError as e:
        report.skip(e.reason, str(e))
        return []
    good, bad2 = validate_labels(parsed, n_src, "wrd")
    for b in bad + bad2:
        msg = f"{utt.wrd_path}:{b.line}: {b.reason}: {b.detail}: {b.text!r}"
        if b.label is None or _selected(b.label, words):
            report.skip(f"wrd_{b.reason}", msg)
        else:
            report.warn("wrd_bad_line_other_word", msg)

    phones = _utterance_phones(utt, n_src, report) if any(
        _selected(g.label, words) for g in good) else []
    tokens = []
    for lab in good:
        if not _selected(lab.label, words):
            continue
        s16 = audio_mod.scale_index(lab.start, sr, sample_rate)
        e16 = min(audio_mod.scale_index(lab.end, sr, sample_rate), audio.shape[0])
        clip, n = word_clip(audio, s16, e16, pad, slice_len)
        if clip is None:
            if n == 0:
                report.skip("wrd_empty_interval", f"{utt.wrd_path}:{lab.line}: interval is "
                                                  f"empty at {sample_rate} Hz")
            else:
                report.skip("too_long", f"{utt.wrd_path}:{lab.line}: '{lab.label}' gives "
                                        f"{n} samples with padding > slice_len={slice_len}")
            continue
        ph16 = [(p, audio_mod.scale_index(ps, sr, sample_rate),
                 audio_mod.scale_index(pe, sr, sample_rate)) for p, ps, pe in phones]
        tokens.append(Token(
            word=lab.label.lower(), speaker=utt.speaker, sex=utt.sex,
            dialect_region=utt.dialect_region, utterance=utt.utterance,
            source_path=utt.wav_path, start_sample=lab.start, end_sample=lab.end,
            source_sample_rate=sr, pad_before=pad, clip=clip,
            phones=token_phones(ph16, s16, e16, pad, clip.shape[0]),
            timit_split=utt.timit_split))
    return tokens


def _utterance_phones(utt: Utterance, n_src: int, report: Report) -> list:
    """Accepted .PHN intervals [(phone, start, end)] in source samples; problems are warnings
    (a token without phones is still a token)."""
    if utt.phn_path is None:
        report.warn("missing_phn", f"{utt.wav_path}: no .PHN file; its tokens have no phones")
        return []
    try:
        lines = read_label_file(utt.phn_path)
    except OSError as e:
        report.warn("phn_unreadable_file", f"{utt.phn_path}: cannot read ({e}); its tokens "
                                           "have no phones")
        return []
    parsed, bad = parse_label_lines(lines)
    good, bad2 = validate_labels(parsed, n_src, "phn")
    for b in bad + bad2:
        report.warn(f"phn_{b.reason}", f"{utt.phn_path}:{b.line}: {b.detail}: {b.text!r} "
                                       "(phone dropped)")
    return [(lab.label, lab.start, lab.end) for lab in good]


def read_timit(timit_dir: str, words: Optional[Iterable[str]], pad: int, slice_len: int,
               report: Report, sample_rate: int = SAMPLE_RATE, progress: bool = True,
               spool=None) -> tuple:
    """All tokens of the selected words (None = all) in a TIMIT-layout tree.

    Returns (tokens: list[Token] in path/line order, seen_words: Counter of every word label
    found in any .WRD line, n_utterances: int). With ``spool`` (a
    :class:`corpus.spool.ClipSpool`) each clip goes to it as soon as its utterance is read,
    so memory holds one utterance's audio, not the corpus's. Raises
    FileNotFoundError/NotADirectoryError for a bad root.
    """
    if not os.path.exists(timit_dir):
        raise FileNotFoundError(f"--timit_dir={timit_dir}: no such folder")
    if not os.path.isdir(timit_dir):
        raise NotADirectoryError(f"--timit_dir={timit_dir}: not a folder")
    sel = None if words is None else {w.lower() for w in words}
    utts = find_utterances(timit_dir, report)
    seen: collections.Counter = collections.Counter()
    tokens = []
    for utt in tqdm(utts, desc="reading TIMIT", unit="utt", disable=not progress):
        got = utterance_tokens(utt, sel, pad, slice_len, report, seen, sample_rate)
        tokens.extend(got if spool is None else [spool.put(t) for t in got])
    return tokens, seen, len(utts)
