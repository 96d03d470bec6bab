"""Building a prepared dataset folder (docs/CONVENTIONS.md "Prepared dataset") atomically.

Steps: check the output path -> read tokens (TIMIT layout or word folders) -> assign splits ->
write everything (shards, manifest.csv, phones.csv, optional WAVs, dataset.json) into a
temporary sibling folder -> rename it into place.  The output follows the project's safe-output
rule (:mod:`common.outputs`, stage "prepare"): never the corpus or a folder around it, never a
folder of the repository, and an existing folder is replaced only with ``overwrite=True`` and
only when it is an earlier prepare output; at every instant the output path is absent, the old
complete dataset or the new complete one.
"""

from __future__ import annotations

import collections.abc
import datetime
import logging
import os
import time
from typing import Optional

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from common import layout
from common.atomic import atomic_write_csv, atomic_write_json
from common.constants import SAMPLE_RATE
from common.options import require
from common.outputs import OutputFolder, inputs_of
from corpus.corpus_errors import CorpusError, NoUsableDataError
from corpus.skip_report import Report
from corpus.prepare_options import PrepareOptions, pad_samples
from corpus.slicing import assign_splits, safe_name, shard_paths
from corpus.spool import ClipSpool

logger = logging.getLogger("corpus")


def parse_words(text) -> Optional[list]:
    """--words value -> sorted unique lower-case words, or None for 'all'.

    Accepts a comma-separated string or a list. Raises CorpusError for an empty selection."""
    if isinstance(text, str):
        items = text.split(",")
    else:
        items = list(text or [])
    items = [w.strip().lower() for w in items if w and w.strip()]
    if any(w == "all" for w in items):
        return None
    if not items:
        raise CorpusError("--words: empty selection (give comma-separated words or 'all')")
    return sorted(set(items))


def _token_table(tokens: list) -> pd.DataFrame:
    return pd.DataFrame({
        "word": [t.word for t in tokens], "speaker": [t.speaker for t in tokens],
        "timit_split": [t.timit_split for t in tokens]})


def _write_tables(folder: str, tokens: list, ids: np.ndarray, splits: np.ndarray) -> tuple:
    manifest = pd.DataFrame({
        "token_id": ids, "word": [t.word for t in tokens],
        "speaker": [t.speaker for t in tokens], "sex": [t.sex for t in tokens],
        "dialect_region": [t.dialect_region for t in tokens],
        "utterance": [t.utterance for t in tokens],
        "source_path": [os.path.abspath(t.source_path) for t in tokens],
        "start_sample": [t.start_sample for t in tokens],
        "end_sample": [t.end_sample for t in tokens],
        "pad_before": [t.pad_before for t in tokens], "split": splits,
        "n_samples": [t.n_samples for t in tokens],
        "source_sample_rate": [t.source_sample_rate for t in tokens]})[list(layout.MANIFEST.names)]
    prow = [(int(i), p, s, e) for i, t in zip(ids, tokens) for p, s, e in t.phones]
    phones = pd.DataFrame(prow, columns=list(layout.PHONES.names))
    atomic_write_csv(manifest, os.path.join(folder, layout.MANIFEST_CSV))
    atomic_write_csv(phones, os.path.join(folder, layout.PHONES_CSV))
    return manifest, phones


def _write_wavs(folder: str, tokens: list, ids: np.ndarray, splits: np.ndarray,
                spool: ClipSpool, progress: bool = True) -> None:
    """Each padded clip as float WAV wavs/<split>/<word>/<token_id>_<speaker>_<utt>.wav."""
    for i, t, sp in tqdm(list(zip(ids, tokens, splits)), desc="writing WAVs", unit="tok",
                         disable=not progress):
        d = os.path.join(folder, "wavs", sp, safe_name(t.word))
        os.makedirs(d, exist_ok=True)
        name = f"{int(i):06d}_{safe_name(t.speaker)}_{safe_name(t.utterance)}.wav"
        sf.write(os.path.join(d, name), spool.clip(t), SAMPLE_RATE, subtype="FLOAT")


class _ShardRows(collections.abc.Sequence):
    """The rows tfrecords.write_shards writes for one split, built one at a time: the clip is
    read back from the spool when its row is asked for (one clip in memory, not all)."""

    def __init__(self, tokens: list, idx: np.ndarray, ids: np.ndarray, word_index: dict,
                 spool: ClipSpool):
        self.tokens, self.idx, self.ids = tokens, idx, ids
        self.word_index, self.spool = word_index, spool

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, j: int) -> dict:
        i = int(self.idx[j])
        t = self.tokens[i]
        return {"clip": self.spool.clip(t), "token_id": int(self.ids[i]), "word": t.word,
                "word_index": self.word_index[t.word], "speaker": t.speaker}


def _tokens_per_word(table: pd.DataFrame, vocab: list, split_names: list) -> dict:
    """{split: {word: n tokens}} over every word of ``vocab`` (0 when absent), one grouping
    (not one scan of the table per word: thousands of words on a full corpus)."""
    counts = table.groupby(["split", "word"]).size()
    return {sp: {w: int(counts.get((sp, w), 0)) for w in vocab} for sp in split_names}


def _select_words(requested: Optional[list], seen, tokens: list, report: Report,
                  source: str) -> list:
    """Warn for requested words found in no label file; return the words that have tokens."""
    if requested is not None:
        for w in requested:
            if seen.get(w, 0) == 0:
                report.warn("unknown_word", f"--words: '{w}' occurs in no label file of "
                                            f"{source}")
    return sorted({t.word for t in tokens})


def run(options: PrepareOptions, script: str = "prepare") -> dict:
    """Prepare the dataset folder ``options.out`` from a TIMIT-layout tree or a folder corpus
    (``script`` names the caller in messages).

    Returns the dataset.json dict plus ``'report'`` (the Report), ``'seconds'`` and ``'out'``.
    Raises :class:`common.errors.OutputPathError` for an output path the safe-output rule
    refuses (checked before any audio is read), CorpusError subclasses: NoUsableDataError
    (nothing usable), CorpusError for bad settings. See docs/data.md.
    """
    t0 = time.time()
    require(options)
    try:
        assign_splits(pd.DataFrame({"word": [], "speaker": [], "timit_split": []}),
                      options.split, options.test_fraction, options.seed)
    except ValueError as e:
        raise CorpusError(str(e)) from e
    pad = pad_samples(options.pad_ms, SAMPLE_RATE)
    requested = parse_words(options.word_selection())
    aligned = _aligned_settings(options.timit_dir, options.folder_dir, options.word_tier,
                                options.phone_tier, options.phone_set)
    output = OutputFolder(options.out, "prepare", inputs=inputs_of(options),
                          overwrite=options.overwrite, flag="--out")
    report = Report()
    # Clips wait on disk, not in memory, between reading and writing (corpus/spool.py), in
    # the output's own temporary folder: nothing is written anywhere else.
    with output as tmp, ClipSpool(dir=tmp) as spool:
        info = _prepare(tmp, spool, options.timit_dir, options.folder_dir, requested, pad,
                        options.pad_ms, options.slice_len, options.split,
                        options.test_fraction, options.seed, options.write_wavs,
                        options.shard_size, options.progress, report, aligned)
    info["seconds"] = round(time.time() - t0, 2)
    info["report"] = report
    info["out"] = options.out
    return info


def _aligned_settings(timit_dir: Optional[str], folder_dir: Optional[str], word_tier: str,
                      phone_tier: str, phone_set: str) -> Optional[dict]:
    """The TextGrid settings when ``folder_dir`` is an aligned corpus (else None); CorpusError
    for a TextGrid flag given to a corpus without TextGrids or a bad --phone_set."""
    from corpus.aligned import check_phone_set, has_textgrids
    check_phone_set(phone_set)
    given = [f"--{k}={v}" for k, v in (("word_tier", word_tier), ("phone_tier", phone_tier),
                                       ("phone_set", phone_set)) if v not in ("", "auto")]
    try:
        aligned = folder_dir is not None and has_textgrids(folder_dir)
    except OSError:
        aligned = False          # the reader names the bad folder
    if given and not aligned:
        where = f"--timit_dir={timit_dir}" if timit_dir is not None else \
            f"--folder_dir={folder_dir}: no audio file there has a <stem>.TextGrid beside it"
        raise CorpusError(f"{' '.join(given)} applies to TextGrids only ({where})")
    return {"word_tier": word_tier, "phone_tier": phone_tier,
            "phone_set": phone_set} if aligned else None


def _prepare(tmp: str, spool: ClipSpool, timit_dir: Optional[str],
             folder_dir: Optional[str], requested: Optional[list], pad: int, pad_ms: float,
             slice_len: int, split: str, test_fraction: float, seed: int, write_wavs: bool,
             shard_size: int, progress: bool, report: Report,
             aligned: Optional[dict] = None) -> dict:
    """:func:`run` after its checks: read the tokens (clips into ``spool``), split, write the
    dataset into the output's temporary folder ``tmp``; returns the dataset.json dict.
    ``aligned``: the TextGrid settings of an aligned ``folder_dir`` (None: a folder of
    words)."""
    extra = {}
    try:
        if timit_dir is not None:
            from corpus.timit import read_timit
            source = f"timit:{os.path.abspath(timit_dir)}"
            tokens, seen, n_in = read_timit(timit_dir, requested, pad, slice_len, report,
                                            SAMPLE_RATE, progress, spool=spool)
            if n_in == 0:
                raise NoUsableDataError(f"--timit_dir={timit_dir}: no TRAIN|TEST/DR*/<speaker>/"
                                        "<utt>.WAV files found")
        elif aligned is not None:
            from corpus.aligned import read_aligned
            source = f"folder:{os.path.abspath(folder_dir)}"
            tokens, seen, n_in, summary = read_aligned(
                folder_dir, requested, pad, slice_len, report, SAMPLE_RATE, progress,
                spool=spool, **aligned)
            extra["aligned"] = {**aligned, **summary.as_dict()}
        else:
            from corpus.folder import read_folder
            source = f"folder:{os.path.abspath(folder_dir)}"
            tokens, seen, n_in = read_folder(folder_dir, requested, pad, slice_len, report,
                                             SAMPLE_RATE, progress, spool=spool)
            if n_in == 0:
                raise NoUsableDataError(f"--folder_dir={folder_dir}: no <word>/<file>.wav|.flac "
                                        "files found")
    except (FileNotFoundError, NotADirectoryError) as e:
        raise CorpusError(str(e)) from e
    vocab = _select_words(requested, seen, tokens, report, source.split(":", 1)[1])
    if not tokens:
        what = "any word" if requested is None else "the selected words " + ",".join(requested)
        lines = "; ".join(report.summary_lines()) or "no problems reported"
        raise NoUsableDataError(f"{source.split(':', 1)[1]}: no usable token of {what} "
                                f"({lines})")

    try:
        splits = assign_splits(_token_table(tokens), split, test_fraction, seed)
    except ValueError as e:
        raise CorpusError(str(e)) from e
    if split != "timit" and test_fraction > 0 and not np.any(splits == "test"):
        report.warn("empty_test_split", f"--split={split}: too few tokens/speakers for a "
                                        "non-empty test split")
    ids = np.arange(len(tokens), dtype=np.int64)
    table = _token_table(tokens).assign(split=splits)
    word_index = {w: i for i, w in enumerate(vocab)}

    from corpus import tfrecords  # imports TensorFlow
    split_names = [s for s in ("train", "test") if np.any(splits == s)]
    shards, counts = {}, {}
    bar = tqdm(total=len(tokens), desc="writing TFRecords", unit="tok",
               disable=not progress)
    for sp in split_names:
        idx = np.flatnonzero(splits == sp)
        shards[sp] = shard_paths(sp, len(idx), shard_size)
        counts[sp] = int(len(idx))
        tfrecords.write_shards(tmp, shards[sp],
                               _ShardRows(tokens, idx, ids, word_index, spool),
                               slice_len, bar)
    bar.close()
    _write_tables(tmp, tokens, ids, splits)
    if write_wavs:
        _write_wavs(tmp, tokens, ids, splits, spool, progress)
    info = {
        "format_version": layout.DATASET_FORMAT_VERSION, "sample_rate": SAMPLE_RATE,
        "slice_len": int(slice_len), "words": vocab, "splits": counts, "shards": shards,
        "pad_ms": float(pad_ms), "source": source,
        "skipped": dict(sorted(report.skipped.items())),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "pad_samples": pad, "split_method": split, "test_fraction": float(test_fraction),
        "seed": int(seed), "warnings": dict(sorted(report.warnings.items())),
        "missing_words": [] if requested is None else
        [w for w in requested if w not in word_index],
        "tokens_per_word": _tokens_per_word(table, vocab, split_names),
        "n_speakers": {sp: int(table.loc[table["split"] == sp, "speaker"].nunique())
                       for sp in split_names},
        "has_phones": any(t.phones for t in tokens), **extra,
    }
    atomic_write_json(os.path.join(tmp, layout.DATASET_JSON), info, sort_keys=False)
    return info


MAX_LISTED_WORDS = 20   # above this the summary gives counts, not every word (--words=all)


def summary_text(info: dict) -> str:
    """Multi-line human summary of a prepare run (every word listed up to MAX_LISTED_WORDS;
    beyond, the number of words and the spread of tokens per word), ending with the folder
    written when ``info`` names it (as :func:`run` returns it)."""
    words = info["words"]
    listed = f"words {words}" if len(words) <= MAX_LISTED_WORDS else \
        f"{len(words)} words ({', '.join(words[:3])}, ..., {words[-1]})"
    lines = [f"dataset: {info['splits']} tokens, {listed}, "
             f"slice_len {info['slice_len']}, pad {info['pad_ms']} ms"]
    for sp, per in info.get("tokens_per_word", {}).items():
        if len(per) <= MAX_LISTED_WORDS:
            text = ", ".join(f"{w}={n}" for w, n in per.items())
        else:
            n = np.array(list(per.values()))
            text = (f"{int(n.sum())} tokens of {int(np.count_nonzero(n))} words, per word "
                    f"min {int(n.min())}, median {float(np.median(n)):g}, max {int(n.max())}")
        lines.append(f"  {sp}: {text} ({info['n_speakers'][sp]} speakers)")
    rep = info.get("report")
    if rep is not None:
        lines.extend("  " + s for s in rep.summary_lines())
    if info.get("missing_words"):
        lines.append(f"  words with no token: {info['missing_words']}")
    if "out" in info:
        lines.append(f"wrote {info['out']} in {info['seconds']:.1f} s")
    return "\n".join(lines)
