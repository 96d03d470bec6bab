"""prepare.py on aligned corpora (audio + Praat TextGrids, corpus.aligned): tokens, phones and
clips at hand-computed samples, mixed folders, tiers and phone sets, TextGrids longer than the
audio, resampling, bad files counted, bad flags exit 2; and the demo corpus written in both
layouts gives the same tokens, phones and clips through both paths."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import audio as audio_mod
from corpus.aligned import read_aligned
from corpus.build import run as run_prepare
from corpus.prepare_options import PrepareOptions
from corpus.corpus_errors import CorpusError
from corpus.skip_report import Report
from corpus.timit import read_timit
from textgrid_helpers import tone, write_textgrid, write_utterance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000
PAD = 400          # 25 ms at 16 kHz

# One utterance of 1.2 s: 'Dark' 0.1-0.4 s (ARPAbet phones), a pause, 'wash' 0.8-1.0 s.
WORDS = [(0.1, 0.4, "Dark"), (0.4, 0.8, "sil"), (0.8, 1.0, "wash")]
PHONES = [(0.1, 0.2, "D"), (0.2, 0.3, "AA1"), (0.3, 0.4, "K"), (0.4, 0.8, "sil"),
          (0.8, 0.9, "W"), (0.9, 1.0, "SH")]


def _prepare(out, folder, **kw):
    kw.setdefault("words", "all")
    kw.setdefault("progress", False)
    return run_prepare(PrepareOptions(out=str(out), folder_dir=str(folder), **kw))


def _tables(out):
    manifest = pd.read_csv(os.path.join(out, "manifest.csv"), keep_default_na=False)
    phones = pd.read_csv(os.path.join(out, "phones.csv"), keep_default_na=False)
    return manifest, phones


def _token_phones(phones, token_id):
    rows = phones[phones["token_id"] == token_id]
    return [(r.phone, r.start, r.end) for r in rows.itertuples()]


def test_tokens_phones_and_clips_at_hand_computed_samples(tmp_path):
    corpus = tmp_path / "corpus"
    audio_path, _ = write_utterance(str(corpus / "spk1"), "u1", WORDS, PHONES, 1.2)
    info = _prepare(tmp_path / "out", corpus, write_wavs=True, test_fraction=0.0)
    manifest, phones = _tables(tmp_path / "out")
    assert list(manifest["word"]) == ["dark", "wash"]
    assert list(manifest["speaker"]) == ["spk1", "spk1"] and set(manifest["utterance"]) == {"u1"}
    # word [0.1, 0.4) s -> samples [1600, 6400) -> clip of 4800 + 2 * 400 samples
    assert list(manifest["start_sample"]) == [1600, 12800]
    assert list(manifest["end_sample"]) == [6400, 16000]
    assert list(manifest["n_samples"]) == [5600, 4000]
    # phones: utterance sample - word start + pad; ARPAbet mapped, stress dropped
    assert _token_phones(phones, 0) == [("d", 400, 2000), ("aa", 2000, 3600), ("k", 3600, 5200)]
    assert _token_phones(phones, 1) == [("w", 400, 2000), ("sh", 2000, 3600)]
    src, _ = sf.read(audio_path, dtype="float32")
    wav = os.path.join(tmp_path / "out", "wavs", "train", "dark", "000000_spk1_u1.wav")
    clip, sr = sf.read(wav, dtype="float32")
    assert sr == SR and clip.shape == (5600,)
    np.testing.assert_array_equal(clip[PAD:-PAD], src[1600:6400])
    assert not clip[:PAD].any() and not clip[-PAD:].any()
    assert info["aligned"]["phone_sets"] == {"arpabet": 1} and info["has_phones"]
    assert info["aligned"]["word_tiers"] == {"words": 1} and info["skipped"] == {}


def test_mixed_folder_bad_files_counted_and_the_rest_prepared(tmp_path):
    corpus = tmp_path / "corpus"
    write_utterance(str(corpus / "a"), "ok", WORDS, PHONES, 1.2)
    write_utterance(str(corpus / "b"), "ok", WORDS, PHONES, 1.2, encoding="utf-16-be",
                    form="short", crlf=True)
    sf.write(str(corpus / "a" / "no_grid.wav"), tone(8000), SR)           # missing_alignment
    (corpus / "a" / "no_audio.TextGrid").write_bytes(b"x")                # missing_audio
    sf.write(str(corpus / "b" / "cut.wav"), tone(19200), SR)              # textgrid_malformed
    whole = open(str(corpus / "a" / "ok.TextGrid"), "rb").read()
    (corpus / "b" / "cut.TextGrid").write_bytes(whole[:len(whole) // 2])
    (corpus / "b" / "bad.wav").write_bytes(b"RIFF....not audio")          # audio_unreadable
    write_textgrid(str(corpus / "b" / "bad.TextGrid"), [("words", "interval",
                                                          [(0, 0.5, "dark")])], 0.5)
    write_utterance(str(corpus / "b"), "nowords", [(0.1, 0.3, "dark")], [], 0.5,
                    word_tier="ortho", phone_tier="")                      # missing_word_tier
    write_utterance(str(corpus / "b"), "far", WORDS, PHONES, 1.2)          # longer than audio
    sf.write(str(corpus / "b" / "far.wav"), tone(int(1.15 * SR)), SR)
    info = _prepare(tmp_path / "out", corpus)
    assert info["skipped"] == {"missing_alignment": 1, "missing_audio": 1,
                               "textgrid_malformed": 1, "audio_unreadable": 1,
                               "missing_word_tier": 1, "textgrid_longer_than_audio": 1}
    manifest, _ = _tables(tmp_path / "out")
    assert sorted(manifest["speaker"]) == ["a", "a", "b", "b"]


def test_textgrid_up_to_10_ms_longer_is_clipped(tmp_path):
    corpus = tmp_path / "corpus"
    # the TextGrid says 1.2 s, the audio has 1.195 s; 'wash' runs to the TextGrid's end
    words = [(0.1, 0.4, "dark"), (0.8, 1.2, "wash")]
    write_utterance(str(corpus / "s"), "u", words, [(0.8, 1.0, "w"), (1.0, 1.2, "sh")], 1.2)
    n = int(1.195 * SR)
    sf.write(str(corpus / "s" / "u.wav"), tone(n), SR, subtype="PCM_16")
    _prepare(tmp_path / "out", corpus, test_fraction=0.0)
    manifest, phones = _tables(tmp_path / "out")
    wash = manifest[manifest["word"] == "wash"].iloc[0]
    assert (wash.start_sample, wash.end_sample) == (12800, n)
    assert wash.n_samples == n - 12800 + 2 * PAD
    assert _token_phones(phones, int(wash.token_id))[-1] == ("sh", PAD + 3200, PAD + n - 12800)


def test_other_rates_map_times_like_timit(tmp_path):
    corpus = tmp_path / "corpus"
    write_utterance(str(corpus / "s"), "u", WORDS, [(0.1, 0.2, "d"), (0.2, 0.4, "ɑː")], 1.2,
                    sr=44100, ext="flac")
    _prepare(tmp_path / "out", corpus, test_fraction=0.0, words="dark")
    manifest, phones = _tables(tmp_path / "out")
    row = manifest.iloc[0]
    # source samples round(t * 44100); 16 kHz index round(i * 16000 / 44100), as for TIMIT
    assert (row.start_sample, row.end_sample, row.source_sample_rate) == (4410, 17640, 44100)
    s16 = audio_mod.scale_index(4410, 44100, SR)
    e16 = audio_mod.scale_index(17640, 44100, SR)
    assert row.n_samples == e16 - s16 + 2 * PAD
    assert _token_phones(phones, 0) == [
        ("d", PAD, audio_mod.scale_index(8820, 44100, SR) - s16 + PAD),
        ("aa", audio_mod.scale_index(8820, 44100, SR) - s16 + PAD, e16 - s16 + PAD)]


def test_tiers_phone_sets_and_labels(tmp_path):
    corpus = tmp_path / "corpus"
    # WebMAUS (SAMPA), MFA multi-speaker (IPA), hand labels with odd tier names (TIMIT-style)
    write_utterance(str(corpus / "maus"), "u", [(0.1, 0.4, "Dark"), (0.4, 0.5, "<p:>")],
                    [(0.1, 0.2, "d"), (0.2, 0.3, "A:"), (0.3, 0.4, "k"), (0.4, 0.5, "<p:>")],
                    0.6, word_tier="ORT-MAU", phone_tier="MAU")
    write_utterance(str(corpus / "mfa"), "u", [(0.1, 0.4, "Ðark"), (0.4, 0.5, "spn")],
                    [(0.1, 0.2, "ð"), (0.2, 0.3, "ɑː"), (0.3, 0.4, "ɱ")], 0.6,
                    word_tier="anna - words", phone_tier="anna - phones")
    write_utterance(str(corpus / "hand"), "u", [(0.1, 0.4, "DARK")],
                    [(0.1, 0.2, "dcl"), (0.2, 0.3, "AA"), (0.3, 0.4, "k")], 0.6,
                    word_tier="Word", phone_tier="phone segments")
    info = _prepare(tmp_path / "out", corpus, test_fraction=0.0)
    manifest, phones = _tables(tmp_path / "out")
    assert dict(zip(manifest["speaker"], manifest["word"])) == \
        {"hand": "dark", "maus": "dark", "mfa": "ðark"}
    by = {s: [p for p, _, _ in _token_phones(phones, i)]
          for i, s in zip(manifest["token_id"], manifest["speaker"])}
    assert by == {"hand": ["dcl", "aa", "k"], "maus": ["d", "aa", "k"],
                  "mfa": ["dh", "aa", "ɱ"]}       # a symbol no set knows is kept, counted
    assert info["aligned"]["phone_sets"] == {"ipa": 1, "sampa": 1, "timit": 1}
    assert info["warnings"] == {"phone_unmapped": 1}
    # --phone_set forces one set for every file: SAMPA's 'd' 'k' and 'A:' ...
    info = _prepare(tmp_path / "out2", corpus, test_fraction=0.0, phone_set="sampa",
                    word_tier="ORT-MAU")
    assert info["aligned"]["phone_sets"] == {"sampa": 1}
    assert info["skipped"] == {"missing_word_tier": 2}


def test_bad_flags_are_one_line_errors(tmp_path):
    corpus = tmp_path / "corpus"
    write_utterance(str(corpus / "s"), "u", WORDS, PHONES, 1.2)
    with pytest.raises(CorpusError, match=r"--word_tier=ortho: no TextGrid .*'phones', 'words'"):
        _prepare(tmp_path / "o", corpus, word_tier="ortho")
    with pytest.raises(CorpusError, match=r"--phone_tier=segs: no TextGrid"):
        _prepare(tmp_path / "o", corpus, phone_tier="segs")
    # a value outside the choices is refused by the options, before anything is read
    from common.errors import InputError
    with pytest.raises(InputError, match="--phone_set=klingon"):
        _prepare(tmp_path / "o", corpus, phone_set="klingon")
    words_only = tmp_path / "words"
    os.makedirs(words_only / "dark")
    sf.write(str(words_only / "dark" / "1.wav"), tone(4000), SR)
    with pytest.raises(CorpusError, match="--word_tier=words applies to TextGrids only"):
        _prepare(tmp_path / "o", words_only, word_tier="words")
    assert not os.path.exists(tmp_path / "o")
    # the command line: one line, exit 2, the tiers found listed
    p = subprocess.run([sys.executable, os.path.join(ROOT, "prepare.py"), "--noprogress",
                        f"--folder_dir={corpus}", f"--out={tmp_path / 'o'}",
                        "--word_tier=ortho"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("prepare.py: error: --word_tier=ortho") and "'phones'" in last


def test_timit_and_textgrid_layouts_give_the_same_tokens(tmp_path):
    """The demo corpus tool writes one synthetic corpus in both layouts; the TIMIT reader and
    the TextGrid reader give the same tokens (word, speaker, utterance, samples), phones and
    clips."""
    from corpus.demo_corpus import generate_demo_corpus
    kw = dict(n_speakers=4, seed=3, jobs=1, progress=False, voice="synthetic", n_sentences=3,
              vocab_size=30, words_per_sentence=6)
    generate_demo_corpus(str(tmp_path / "timit"), **kw)
    generate_demo_corpus(str(tmp_path / "mfa"), layout="textgrid", **kw)
    assert not os.path.exists(tmp_path / "mfa" / "TRAIN")
    grid = open(next(str(p) for p in (tmp_path / "mfa").rglob("*.TextGrid")), "rb").read()
    assert b'name = "words"' in grid and b'name = "phones"' in grid
    rep_t, rep_g = Report(), Report()
    t_tokens, t_seen, _ = read_timit(str(tmp_path / "timit"), None, PAD, 16384, rep_t,
                                     progress=False)
    g_tokens, g_seen, _, summary = read_aligned(str(tmp_path / "mfa"), None, PAD, 16384,
                                                rep_g, progress=False)
    assert rep_t.skipped == rep_g.skipped == {} and t_seen == g_seen
    assert summary.phone_sets == {"ipa": 12}

    def key(t):
        return (t.speaker, t.utterance, t.start_sample)

    assert len(t_tokens) == len(g_tokens) == 4 * 3 * 6
    g_by = {key(t): t for t in g_tokens}
    for t in t_tokens:
        g = g_by[key(t)]
        assert (g.word, g.end_sample, g.source_sample_rate) == \
            (t.word, t.end_sample, t.source_sample_rate)
        assert g.phones == t.phones
        np.testing.assert_array_equal(g.clip, t.clip)
    assert any(t.phones for t in t_tokens)
    info = json.load(open(str(tmp_path / "mfa" / "demo_corpus.json")))
    assert info["layout"] == "textgrid"
