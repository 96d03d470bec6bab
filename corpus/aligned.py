"""An aligned corpus (prepare.py ``--folder_dir`` with TextGrids): audio files with a Praat
TextGrid beside them, e.g. the Montreal Forced Aligner's layout

    ROOT/<speaker>/<utt>.wav + ROOT/<speaker>/<utt>.TextGrid    (or .flac, ... ; any case)

Files are looked for in ROOT and its sub-folders, one level deep, as for a folder of words
(:mod:`corpus.folder`). When any audio file has a TextGrid beside it (:func:`has_textgrids`),
the folder is an aligned corpus: each such file is an utterance whose speaker is the folder
holding it, audio files without a TextGrid are skipped (``missing_alignment``) and so are
TextGrids without audio (``missing_audio``).

Each word interval of the word tier becomes a token sliced, padded and split as a TIMIT token
(:mod:`corpus.timit`): its times map to samples of the file, ``round(t * rate)``, and then to
16 kHz as TIMIT's sample indices do (:func:`corpus.audio.scale_index`); phones.csv gets the
phone tier's intervals that lie more than half inside the word, clipped to the clip
(:func:`corpus.slicing.token_phones`), their labels mapped to TIMIT-style labels with
``--phone_set`` (:mod:`common.phones`; 'auto' detects the set of each file). A TextGrid up to
:data:`MAX_EXCESS_S` longer than its audio is accepted with its intervals clipped to the audio.
Tiers and label rules: :mod:`corpus.textgrid`. Every problem is a counted skip or warning.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Iterable, Optional

from tqdm import tqdm

from common.constants import SAMPLE_RATE
from common.phones import PHONE_SET_CHOICES, detect_phone_set, to_timit
from corpus import audio as audio_mod
from corpus.corpus_errors import AudioReadError, CorpusError
from corpus.skip_report import Report
from corpus.slicing import Token, token_phones, word_clip
from corpus.textgrid import AUTO, TextGridError, choose_tiers, is_speech, read_textgrid, word_of

TEXTGRID_EXTENSION = "textgrid"
MAX_EXCESS_S = 0.010        # a TextGrid may end this much after its audio (then clipped)
MAX_LISTED_TIERS = 20


@dataclasses.dataclass(frozen=True)
class AlignedUtterance:
    """An audio file and its TextGrid; speaker = the folder holding them."""

    audio_path: str
    textgrid_path: str
    speaker: str
    utterance: str


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _folder_files(root: str) -> list:
    """[(folder, speaker, [file names])] of ROOT and its sub-folders (sorted)."""
    top = os.path.basename(os.path.normpath(os.path.abspath(root)))
    out, subs = [], []
    names = sorted(os.listdir(root))
    out.append((root, top, [n for n in names if os.path.isfile(os.path.join(root, n))]))
    for name in names:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            subs.append((path, name, sorted(n for n in os.listdir(path)
                                            if os.path.isfile(os.path.join(path, n)))))
    return out + subs


def _pairs(files: list) -> tuple:
    """({stem: audio name}, {stem: TextGrid name}) of one folder's file names (the audio
    extension earliest in AUDIO_EXTENSIONS wins for a stem with several)."""
    audio, grids = {}, {}
    rank = {ext: i for i, ext in enumerate(audio_mod.AUDIO_EXTENSIONS)}
    for name in files:
        stem, ext = name.rsplit(".", 1)[0], _extension(name)
        if ext == TEXTGRID_EXTENSION:
            grids.setdefault(stem, name)
        elif ext in rank and (stem not in audio or rank[ext] < rank[_extension(audio[stem])]):
            audio[stem] = name
    return audio, grids


def check_phone_set(phone_set: str) -> None:
    """CorpusError (exit 2) for a --phone_set outside :data:`common.phones.PHONE_SET_CHOICES`."""
    if phone_set not in PHONE_SET_CHOICES:
        raise CorpusError(f"--phone_set={phone_set}: expected one of "
                          f"{', '.join(PHONE_SET_CHOICES)}")


def has_textgrids(root: str) -> bool:
    """Whether any audio file of ROOT (or a sub-folder) has a ``<stem>.TextGrid`` beside it."""
    for _, _, files in _folder_files(root):
        audio, grids = _pairs(files)
        if any(stem in grids for stem in audio):
            return True
    return False


def find_aligned(root: str, report: Report) -> list:
    """The utterances of an aligned corpus, sorted by folder then file; audio without a
    TextGrid ('missing_alignment') and TextGrids without audio ('missing_audio') are
    skipped and counted."""
    utts = []
    for folder, speaker, files in _folder_files(root):
        audio, grids = _pairs(files)
        for stem in sorted(set(audio) | set(grids)):
            if stem not in grids:
                report.skip("missing_alignment", f"{os.path.join(folder, audio[stem])}: no "
                                                 f"{stem}.TextGrid beside it")
            elif stem not in audio:
                report.skip("missing_audio", f"{os.path.join(folder, grids[stem])}: no audio "
                                             f"file {stem}.wav|.flac|... beside it")
            else:
                utts.append(AlignedUtterance(os.path.join(folder, audio[stem]),
                                             os.path.join(folder, grids[stem]), speaker, stem))
    return utts


def check_named_tiers(utts: list, word_tier: str, phone_tier: str) -> None:
    """For --word_tier/--phone_tier given by name: read TextGrids until one has each named
    interval tier; CorpusError (exit 2) listing the tiers found when none has it. Costs one
    file when the first TextGrid has them."""
    wanted = {flag: name for flag, name in (("--word_tier", word_tier),
                                            ("--phone_tier", phone_tier)) if name != AUTO}
    found: collections.Counter = collections.Counter()
    for utt in utts:
        if not wanted:
            return
        try:
            grid = read_textgrid(utt.textgrid_path)
        except TextGridError:
            continue
        names = {t.name for t in grid.tiers if t.is_interval}
        found.update(names)
        lowered = {n.strip().lower() for n in names}
        wanted = {f: n for f, n in wanted.items()
                  if n not in names and n.strip().lower() not in lowered}
    for flag, name in wanted.items():
        common = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LISTED_TIERS]
        listed = ", ".join(repr(n) for n, _ in common) or "none"
        raise CorpusError(f"{flag}={name}: no TextGrid has an interval tier of that name "
                          f"(interval tiers found: {listed})")


@dataclasses.dataclass
class AlignedSummary:
    """What dataset.json says about an aligned corpus: TextGrids read, the word/phone tiers
    used and the phone set of each file (counts of files)."""

    textgrids: int = 0
    word_tiers: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    phone_tiers: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    phone_sets: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def as_dict(self) -> dict:
        return {"textgrids": self.textgrids, "word_tiers": dict(sorted(self.word_tiers.items())),
                "phone_tiers": dict(sorted(self.phone_tiers.items())),
                "phone_sets": dict(sorted(self.phone_sets.items()))}


def _phones(pairs: list, phone_set: str, path: str, report: Report,
            summary: AlignedSummary) -> dict:
    """{id(pair): [(TIMIT-style label, start s, end s)]} of the pairs' phone tiers, non-speech
    labels dropped; the file's phone set detected when ``phone_set`` is 'auto'. A label the
    set does not know is kept as it is (warning 'phone_unmapped')."""
    raw = {id(p): [(lab.strip(), s, e) for s, e, lab in p.phones.intervals if is_speech(lab)]
           for p in pairs if p.phones is not None}
    labels = [lab for items in raw.values() for lab, _, _ in items]
    if not labels:
        return {k: [] for k in raw}
    used = detect_phone_set(labels) if phone_set == "auto" else phone_set
    summary.phone_sets[used] += 1
    out = {}
    for key, items in raw.items():
        mapped = []
        for lab, s, e in items:
            timit = to_timit(lab, used)
            if timit is None:
                report.warn("phone_unmapped", f"{path}: phone {lab!r} at {s:.3f} s is not a "
                                              f"{used} symbol; kept as it is")
                timit = lab
            mapped.append((timit, s, e))
        out[key] = mapped
    return out


def utterance_tokens(utt: AlignedUtterance, words: Optional[set], pad: int, slice_len: int,
                     report: Report, seen_words: collections.Counter, word_tier: str = AUTO,
                     phone_tier: str = AUTO, phone_set: str = "auto",
                     sample_rate: int = SAMPLE_RATE,
                     summary: Optional[AlignedSummary] = None) -> list:
    """Tokens of the selected words (``words`` None = every word) of one aligned utterance.
    The audio is read only when the word tier names a selected word."""
    summary = summary if summary is not None else AlignedSummary()
    try:
        grid = read_textgrid(utt.textgrid_path)
        pairs = choose_tiers(grid, word_tier, phone_tier)
    except TextGridError as e:
        report.skip(e.reason, e.message)
        return []
    summary.textgrids += 1
    spans = []          # (pair, word, start s, end s)
    for pair in pairs:
        summary.word_tiers[pair.words.name] += 1
        for s, e, label in pair.words.intervals:
            word = word_of(label)
            if word is not None:
                seen_words[word] += 1
                spans.append((pair, word, s, e))
    for pair in pairs:  # one warning per word tier without its phones (a speaker's, in MFA's
        if pair.phones is None:  # multi-speaker files)
            which = f" for word tier '{pair.words.name}'" if len(pairs) > 1 else ""
            report.warn("missing_phone_tier", f"{utt.textgrid_path}: no phone tier{which} "
                                              f"(tiers: {grid.tier_names()}); its tokens have "
                                              "no phones")
    spans = [sp for sp in spans if words is None or sp[1] in words]
    if not spans:
        return []
    try:
        audio, sr, n_src = audio_mod.read_audio(utt.audio_path, sample_rate)
    except AudioReadError as e:
        report.skip(e.reason, str(e))
        return []
    duration = n_src / sr
    if grid.xmax > duration + MAX_EXCESS_S + 1e-9:
        report.skip("textgrid_longer_than_audio",
                    f"{utt.textgrid_path}: ends at {grid.xmax:.3f} s, its audio "
                    f"{utt.audio_path} at {duration:.3f} s (more than "
                    f"{MAX_EXCESS_S * 1000:.0f} ms apart: another recording's TextGrid?)")
        return []
    for pair in pairs:
        if pair.phones is not None:
            summary.phone_tiers[pair.phones.name] += 1
    phones = _phones(pairs, phone_set, utt.textgrid_path, report, summary)

    def src(t: float) -> int:           # seconds -> a sample index of the file, clipped
        return min(max(int(round(t * sr)), 0), n_src)

    def at_rate(i: int) -> int:         # that index at the dataset's rate, clipped
        return min(audio_mod.scale_index(i, sr, sample_rate), audio.shape[0])

    tokens = []
    for pair, word, s, e in spans:
        start, end = src(s), src(e)
        s16, e16 = at_rate(start), at_rate(end)
        where = f"{utt.textgrid_path}: '{word}' at {s:.3f}-{e:.3f} s"
        clip, n = word_clip(audio, s16, e16, pad, slice_len)
        if clip is None:
            if n == 0:
                report.skip("word_empty_interval", f"{where}: empty at {sample_rate} Hz (or "
                                                   "after clipping to the audio)")
            else:
                report.skip("too_long", f"{where} gives {n} samples with padding > "
                                        f"slice_len={slice_len}")
            continue
        ph16 = [(p, at_rate(src(ps)), at_rate(src(pe))) for p, ps, pe in phones.get(id(pair), [])]
        tokens.append(Token(
            word=word, speaker=pair.speaker or utt.speaker, sex="", dialect_region="",
            utterance=utt.utterance, source_path=utt.audio_path, start_sample=start,
            end_sample=end, source_sample_rate=sr, pad_before=pad, clip=clip,
            phones=token_phones(ph16, s16, e16, pad, clip.shape[0]), timit_split=""))
    return tokens


def read_aligned(folder_dir: str, words: Optional[Iterable[str]], pad: int, slice_len: int,
                 report: Report, sample_rate: int = SAMPLE_RATE, progress: bool = True,
                 spool=None, word_tier: str = AUTO, phone_tier: str = AUTO,
                 phone_set: str = "auto") -> tuple:
    """All tokens of the selected words (None = all) of an aligned corpus.

    Returns (tokens in folder/file/interval order, seen_words: Counter of every word label of
    every word tier read, n_utterances, :class:`AlignedSummary`). With ``spool`` each clip
    goes to it as soon as its utterance is read. Raises CorpusError for a --phone_set, or a
    --word_tier/--phone_tier that no TextGrid has (listing the tiers found)."""
    check_phone_set(phone_set)
    sel = None if words is None else {w.lower() for w in words}
    utts = find_aligned(folder_dir, report)
    check_named_tiers(utts, word_tier, phone_tier)
    seen: collections.Counter = collections.Counter()
    summary = AlignedSummary()
    tokens = []
    for utt in tqdm(utts, desc="reading TextGrids", unit="utt", disable=not progress):
        got = utterance_tokens(utt, sel, pad, slice_len, report, seen, word_tier, phone_tier,
                               phone_set, sample_rate, summary)
        tokens.extend(got if spool is None else [spool.put(t) for t in got])
    return tokens, seen, len(utts), summary
