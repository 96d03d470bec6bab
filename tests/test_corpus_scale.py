"""The large-vocabulary demo corpus (corpus.demo_corpus --voice=synthetic, corpus/synth.py) and
prepare's streaming of clips through a disk spool (corpus/spool.py), on small instances:
labels that line up with the audio, a vocabulary of the requested size that is deterministic
by seed, prepare --words=all counts, and shards identical to the in-memory path."""

import collections
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import demo_corpus, synth
from corpus.skip_report import Report
from corpus.slicing import Token, assign_splits
from corpus.spool import ClipSpool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMIT_LABELS = set(synth.VOWELS) | set(synth.CONSONANTS) | {
    "pcl", "tcl", "kcl", "bcl", "dcl", "gcl", "h#", "pau"}
SMALL = dict(n_speakers=8, n_sentences=4, vocab_size=40, words_per_sentence=3)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scale") / "corpus")
    info = demo_corpus.generate_demo_corpus(out, seed=5, progress=False, voice="synthetic", **SMALL)
    return out, info


def _labels(path):
    return [(int(s), int(e), w) for s, e, w in (ln.split() for ln in open(path))]


def _utterances(root):
    return sorted(glob.glob(os.path.join(root, "*", "DR*", "*", "*.WAV")))


def test_vocabulary_distinct_deterministic_and_timit_phones():
    v = synth.vocabulary(300, seed=1)
    assert len(v) == 300 and len({w for w, _ in v}) == 300
    assert v == synth.vocabulary(300, seed=1)
    assert v[:50] == synth.vocabulary(50, seed=1)               # a prefix of a larger one
    assert {w for w, _ in v} != {w for w, _ in synth.vocabulary(300, seed=2)}
    assert all(w.isalpha() and w == w.lower() and w != "all" for w, _ in v)
    assert all(set(p) <= set(synth.VOWELS) | set(synth.CONSONANTS) for _, p in v)
    assert all(any(x in synth.VOWELS for x in p) for _, p in v)
    # the spelling table names one pronunciation per word
    assert all(synth._spell(p) == w for w, p in v)


def test_word_stream_covers_the_vocabulary_evenly():
    s = synth.word_stream(240, 50, seed=3)
    counts = np.bincount(s, minlength=50)
    # 240 slots over 50 words: four full permutations (4 each) + 40 of a fifth
    assert sorted(collections.Counter(counts).items()) == [(4, 10), (5, 40)]
    assert np.array_equal(s[:100], synth.word_stream(100, 50, seed=3))
    assert len(set(synth.word_stream(30, 50, seed=3))) == 30     # fewer slots: all distinct


def test_speaker_plan_does_not_depend_on_n():
    a = synth.synth_speaker_plan(40, seed=2)
    assert a[:7] == synth.synth_speaker_plan(7, seed=2) and a != synth.synth_speaker_plan(40, 3)
    assert len({s.speaker for s in a}) == 40 and all(s.speaker[0] == s.sex for s in a)
    assert {s.split for s in a} == {"TRAIN", "TEST"}
    assert all((s.f0_mean >= 160) == (s.sex == "F") for s in a)


def test_labels_line_up_with_the_audio(small_corpus):
    root, info = small_corpus
    assert not info["reused"] and info["n_tokens"] == 8 * 4 * 3
    vocab = dict(synth.vocabulary(SMALL["vocab_size"], seed=5))
    stream = synth.word_stream(8 * 4 * 3, SMALL["vocab_size"], seed=5)
    utts = _utterances(root)
    assert len(utts) == 8 * 4
    words_seen = collections.Counter()
    loud, quiet = [], []
    for i, spk in enumerate(info["speakers"]):
        for k in range(SMALL["n_sentences"]):
            base = os.path.join(root, spk["split"], spk["dialect_region"], spk["speaker"],
                                synth.utterance_name(i, k, SMALL["n_sentences"]))
            x, sr = sf.read(base + ".WAV", dtype="float64")
            assert sr == 16000 and open(base + ".WAV", "rb").read(7) == b"NIST_1A"
            phn, wrd = _labels(base + ".PHN"), _labels(base + ".WRD")
            # .PHN: contiguous, from 0 to the last sample, TIMIT labels, h# at both ends
            assert phn[0][0] == 0 and phn[-1][1] == len(x)
            assert all(a[1] == b[0] and a[1] > a[0] for a, b in zip(phn, phn[1:]))
            assert phn[0][2] == phn[-1][2] == "h#" and {p for *_, p in phn} <= TIMIT_LABELS
            # .WRD: the planned words, each exactly a run of .PHN segments that spells it
            slot = (i * SMALL["n_sentences"] + k) * SMALL["words_per_sentence"]
            planned = [synth.vocabulary(SMALL["vocab_size"], 5)[j][0]
                       for j in stream[slot:slot + SMALL["words_per_sentence"]]]
            assert [w for *_, w in wrd] == planned
            assert open(base + ".TXT").read().split()[2:] == " ".join(planned).split()[:-1] \
                + [planned[-1] + "."]
            starts = {s: j for j, (s, _, _) in enumerate(phn)}
            ends = {e: j for j, (_, e, _) in enumerate(phn)}
            for s, e, w in wrd:
                segs = [p for _, _, p in phn[starts[s]:ends[e] + 1]]
                assert segs == synth.expand_phones(vocab[w]), (base, w)
                words_seen[w] += 1
            # the audio follows the labels: vowels loud, h# silent but for the noise floor
            for s, e, p in phn:
                r = np.sqrt(np.mean(x[s:e] ** 2))
                (loud if p in synth.VOWELS else quiet if p == "h#" else []).append(r)
    assert len(words_seen) == SMALL["vocab_size"]
    assert min(loud) > 20 * max(quiet) and max(quiet) < 5 * synth.NOISE_FLOOR


def _hf_fraction(x):
    X = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    return X[f > 3000].sum() / max(X.sum(), 1e-20)


def test_planted_spectra_fricatives_vs_vowels(small_corpus):
    """[s]/[sh] energy lies above 3 kHz, vowels' below (the synthesiser's bands/formants)."""
    root, _ = small_corpus
    fric, vow = [], []
    for wav in _utterances(root):
        x = sf.read(wav, dtype="float64")[0]
        for s, e, p in _labels(wav[:-4] + ".PHN"):
            if p in ("s", "sh"):
                fric.append(_hf_fraction(x[s:e]))
            elif p in synth.VOWELS:
                vow.append(_hf_fraction(x[s:e]))
    assert len(fric) >= 5 and len(vow) >= 20
    assert np.median(fric) > 0.5 and np.median(vow) < 0.05


def test_deterministic_by_seed_and_reused(tmp_path, small_corpus):
    root, _ = small_corpus
    settings = dict(seed=5, progress=False, voice="synthetic", **SMALL)
    again = str(tmp_path / "again")
    demo_corpus.generate_demo_corpus(again, **settings)
    for wav in _utterances(root):
        rel = os.path.relpath(wav, root)
        for ext in (".WAV", ".WRD", ".PHN", ".TXT"):
            assert open(wav[:-4] + ext, "rb").read() == \
                open(os.path.join(again, rel)[:-4] + ext, "rb").read(), rel
    assert demo_corpus.generate_demo_corpus(again, **settings)["reused"]
    # another seed: another vocabulary; a festival request is not a reuse of it
    with pytest.raises(Exception, match="--overwrite"):
        demo_corpus.generate_demo_corpus(again, **{**settings, "seed": 6})
    saved = json.load(open(os.path.join(again, demo_corpus.INFO_NAME)))
    assert not demo_corpus._same_settings(saved, demo_corpus._settings(8, 5))
    assert demo_corpus._same_settings(saved, demo_corpus._settings(8, 5, "synthetic", 4, 40, 3))


def test_cli_synthetic_flags(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "corpus.demo_corpus", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    out = str(tmp_path / "c")
    for args, words in (([f"--out={out}", "--vocab_size=10"], ["--vocab_size", "synthetic"]),
                        ([f"--out={out}", "--voice=synthetic", "--words_per_sentence=0"],
                         ["--words_per_sentence=0"])):
        proc = cli(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("corpus.demo_corpus: error: ") and all(w in lines[0] for w in words)
    assert not os.path.exists(out)
    proc = cli(f"--out={out}", "--voice=synthetic", "--n_speakers=2", "--n_sentences=2",
               "--vocab_size=3", "--words_per_sentence=2", "--noprogress")
    assert proc.returncode == 0, proc.stderr
    assert "8 word tokens of 3 distinct words" in proc.stdout
    assert len(_utterances(out)) == 4


def test_spool_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (5, 1, 300, 17)]
    toks = [Token("w", "S", "", "", "u", "p", 0, 1, 16000, 0, c.copy(), []) for c in clips]
    with ClipSpool(dir=str(tmp_path)) as spool:
        for t in toks[:3]:
            spool.put(t)
        assert [t.clip is None for t in toks] == [True, True, True, False]
        assert [t.n_samples for t in toks] == [5, 1, 300, 17]
        for t, c in reversed(list(zip(toks, clips))):      # any order, the last never spooled
            np.testing.assert_array_equal(spool.clip(t), c)
        assert spool.n_bytes == 4 * 306
    assert os.listdir(tmp_path) == []                       # the file was never visible


def _naive_stratified(words, f, seed):
    """The split as first written: one scan of the table per word."""
    rng = np.random.default_rng(seed)
    split = np.full(len(words), "train", dtype=object)
    for w in sorted(set(words)):
        idx = np.flatnonzero(words == w)
        n_test = int(round(f * len(idx)))
        if n_test:
            split[rng.choice(idx, size=n_test, replace=False)] = "test"
    return split


def test_fast_stratified_split_equals_the_per_word_scan():
    rng = np.random.default_rng(1)
    words = np.array([f"w{int(i)}" for i in rng.zipf(1.5, 3000) % 400], dtype=object)
    table = pd.DataFrame({"word": words, "speaker": "s", "timit_split": ""})
    for seed in (0, 7):
        assert list(assign_splits(table, "random", 0.2, seed)) == \
            list(_naive_stratified(words, 0.2, seed))


def test_prepare_all_words_counts_and_shards_match_in_memory_path(tmp_path, small_corpus):
    pytest.importorskip("tensorflow")
    from corpus import tfrecords
    from corpus.build import run as run_prepare, summary_text
    from corpus.prepare_options import PrepareOptions
    from corpus.timit import read_timit

    root, info = small_corpus
    data = str(tmp_path / "data")
    got = run_prepare(PrepareOptions(out=data, timit_dir=root, words="all", shard_size=8,
                                     progress=False))
    stream = synth.word_stream(info["n_tokens"], SMALL["vocab_size"], seed=5)
    vocab = synth.vocabulary(SMALL["vocab_size"], 5)
    expected = collections.Counter(vocab[int(j)][0] for j in stream)
    assert sum(got["splits"].values()) == 96 and got["skipped"] == {}
    assert got["words"] == sorted(expected) and len(got["words"]) == SMALL["vocab_size"]
    per_word = collections.Counter()
    for sp in got["tokens_per_word"].values():
        per_word.update(sp)
    assert per_word == expected
    # 40 words > MAX_LISTED_WORDS: the summary counts them instead of listing each
    text = summary_text(got)
    assert f"{SMALL['vocab_size']} words (" in text and len(text.splitlines()[0]) < 200
    assert f"train: {got['splits']['train']} tokens of " in text
    phones = pd.read_csv(os.path.join(data, "phones.csv"), keep_default_na=False)
    manifest = pd.read_csv(os.path.join(data, "manifest.csv"), keep_default_na=False)
    for r in manifest.itertuples():   # every token's phones are its word's, end to end
        ph = phones[phones.token_id == r.token_id]
        assert list(ph.phone) == synth.expand_phones(dict(vocab)[r.word])
        assert ph.start.iloc[0] == r.pad_before and ph.end.iloc[-1] == r.n_samples - r.pad_before

    # reference: the in-memory path (every clip held, rows as a list), same order and split
    tokens, _, _ = read_timit(root, None, got["pad_samples"], got["slice_len"], Report(),
                              progress=False)
    assert all(t.clip is not None for t in tokens)
    table = pd.DataFrame({"word": [t.word for t in tokens],
                          "speaker": [t.speaker for t in tokens],
                          "timit_split": [t.timit_split for t in tokens]})
    splits = assign_splits(table, "random", 0.2, 0)
    word_index = {w: i for i, w in enumerate(got["words"])}
    ref = str(tmp_path / "ref")
    for sp, paths in got["shards"].items():
        rows = [{"clip": tokens[i].clip, "token_id": int(i), "word": tokens[i].word,
                 "word_index": word_index[tokens[i].word], "speaker": tokens[i].speaker}
                for i in np.flatnonzero(splits == sp)]
        assert len(paths) > 1
        tfrecords.write_shards(ref, paths, rows, got["slice_len"])
        for rel in paths:
            assert open(os.path.join(data, rel), "rb").read() == \
                open(os.path.join(ref, rel), "rb").read(), rel
