"""The festival demo corpus: the speaker plan, label conversion, its output rules (reuse,
--overwrite, refusals; festival replaced by a stand-in), and (needs_festival) a tiny generated
corpus whose labels line up with its audio, read by prepare like real TIMIT."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from common.errors import OutputPathError
from common.outputs import MARKER_NAME
from common.constants import DEFAULT_WORDS
from corpus import demo_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOWELS = {"iy", "ih", "eh", "ae", "aa", "ao", "ah", "uw", "uh", "er", "ey", "ay", "oy", "aw",
          "ow", "ax"}


def test_speaker_plan_deterministic_and_timit_like():
    a = demo_corpus.speaker_plan(40, seed=3)
    assert a == demo_corpus.speaker_plan(40, seed=3)
    assert a[:10] == demo_corpus.speaker_plan(10, seed=3)        # a speaker does not depend on n
    assert a != demo_corpus.speaker_plan(40, seed=4)
    ids = [s.speaker for s in a]
    assert len(set(ids)) == 40 and ids[:4] == ["MKAL0", "MKED0", "FSLT0", "MKAL1"]
    assert all(s.speaker[0] == s.sex for s in a)
    assert {s.split for s in a} == {"TRAIN", "TEST"}
    assert all(92 <= s.speed_percent <= 108 for s in a)
    assert demo_corpus.speaker_plan(120)[-1].speaker == "FSLT13"   # k = 39 in base 36
    with pytest.raises(demo_corpus.DemoError):
        demo_corpus.speaker_plan(0)


def test_timit_labels_conversion():
    words = [("She", 0.22, 0.46), ("Don't", 0.46, 0.8)]
    segs = [("pau", 0.0, 0.22), ("sh", 0.22, 0.35), ("iy", 0.35, 0.46), ("pau", 0.46, 0.5),
            ("d", 0.5, 0.8), ("pau", 0.8, 1.0)]
    wrd, phn = demo_corpus.timit_labels(words, segs, n_samples=20000, scale=100 / 80)
    # t -> round(t * 16000 * 1.25)
    assert wrd == [(4400, 9200, "she"), (9200, 16000, "don't")]
    assert phn == [(0, 4400, "h#"), (4400, 7000, "sh"), (7000, 9200, "iy"),
                   (9200, 10000, "pau"), (10000, 16000, "d"), (16000, 20000, "h#")]
    with pytest.raises(demo_corpus.DemoError, match="'zz'"):
        demo_corpus.timit_labels([], [("zz", 0, 1)], 100, 1.0)


def test_radio_phones_of_target_words_map():
    # festival radio pronunciations of the eight words (CMU lexicon) must all map
    prons = {"ask": "ae s k", "dark": "d aa r k", "greasy": "g r iy s iy", "oily": "oy l iy",
             "rag": "r ae g", "wash": "w aa sh", "water": "w ao t er", "year": "y ih r"}
    assert set(prons) == set(DEFAULT_WORDS)
    for p in " ".join(prons.values()).split():
        assert demo_corpus.RADIO_TO_TIMIT[p] == p


def test_festival_script_sets_voice_parameters(tmp_path):
    kal, ked, slt = demo_corpus.speaker_plan(3)
    s = demo_corpus.festival_script(kal, str(tmp_path))
    assert "(voice_kal_diphone)" in s and f"Duration_Stretch {kal.duration_stretch}" in s
    assert f"target_f0_mean {kal.f0_mean}" in s and s.count("(demo_dump (SynthText") == 2
    s = demo_corpus.festival_script(slt, str(tmp_path))
    assert "(voice_cmu_us_slt_arctic_hts)" in s and f'"-r" {slt.hts_rate}' in s
    with pytest.raises(demo_corpus.DemoError):
        demo_corpus.festival_script(kal, 'bad"dir')


def _tree_bytes(root):
    """{relative path: bytes} of every file under ``root``."""
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


@pytest.fixture
def fake_festival(monkeypatch):
    """generate_demo_corpus without festival: each speaker becomes one small file naming it;
    returns the list of speakers synthesised (to tell reuse from work)."""
    calls = []

    def synthesize(spk, root):
        calls.append(spk.speaker)
        d = os.path.join(root, spk.split, spk.dialect_region, spk.speaker)
        os.makedirs(d)
        with open(os.path.join(d, "SA1.TXT"), "w") as f:
            f.write(f"0 1 {spk.speaker}\n")
        return {}

    monkeypatch.setattr(demo_corpus, "synthesize_speaker", synthesize)
    monkeypatch.setattr(demo_corpus.shutil, "which", lambda name: f"/usr/bin/{name}")
    return calls


def test_reuse_and_overwrite_follow_the_marker(tmp_path, fake_festival):
    out = str(tmp_path / "corpus")
    m = demo_corpus.generate_demo_corpus(out, 2, seed=0, progress=False)
    assert not m["reused"] and fake_festival == ["MKAL0", "MKED0"]
    marker = json.load(open(os.path.join(out, MARKER_NAME)))
    assert marker["stage"] == "demo-corpus" and marker["complete"] is True
    assert json.load(open(os.path.join(out, demo_corpus.INFO_NAME)))["n_speakers"] == 2
    # same settings: reused without synthesising anything
    assert demo_corpus.generate_demo_corpus(out, 2, seed=0, progress=False)["reused"]
    assert len(fake_festival) == 2
    # other settings: the earlier corpus is replaced only with overwrite
    before = _tree_bytes(out)
    with pytest.raises(OutputPathError, match="--overwrite"):
        demo_corpus.generate_demo_corpus(out, 3, seed=0, progress=False)
    assert _tree_bytes(out) == before and len(fake_festival) == 2
    m = demo_corpus.generate_demo_corpus(out, 3, seed=0, overwrite=True, progress=False)
    assert not m["reused"] and m["n_speakers"] == 3
    assert json.load(open(os.path.join(out, demo_corpus.INFO_NAME)))["n_speakers"] == 3
    assert os.path.isfile(os.path.join(out, "TRAIN", "DR3", "FSLT0", "SA1.TXT"))
    assert sorted(os.listdir(tmp_path)) == ["corpus"]         # no partial folder left


def test_foreign_folder_refused_even_with_overwrite(tmp_path, fake_festival):
    thesis = tmp_path / "x" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("four years of work")
    for overwrite in (False, True):
        with pytest.raises(OutputPathError, match="not an output of demo-corpus"):
            demo_corpus.generate_demo_corpus(str(thesis.parent), 2, overwrite=overwrite,
                                      progress=False)
    assert thesis.read_text() == "four years of work" and os.listdir(thesis.parent) == [
        "thesis.txt"]
    assert fake_festival == []


def test_folder_of_the_repository_refused(fake_festival):
    with pytest.raises(OutputPathError, match="project's own folder docs/"):
        demo_corpus.generate_demo_corpus(os.path.join(ROOT, "docs", "demo_timit"), 2, progress=False)
    assert not os.path.exists(os.path.join(ROOT, "docs", "demo_timit")) and fake_festival == []


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "corpus.demo_corpus", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    (tmp_path / "thesis.txt").write_text("mine")
    for args, words in (([f"--out={tmp_path}", "--overwrite"], ["--out=", "demo-corpus"]),
                        (["--out=."], ["--out=.", "this repository"]),
                        (["--out=x", "--n_speakers=many"], ["--n_speakers", "many"]),
                        (["--out=x", "--bogus"], ["Unknown", "bogus"]),
                        (["--out=x", "stray"], ["unexpected", "stray"]),
                        ([], ["--out is required"])):
        proc = _cli(*args)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("corpus.demo_corpus: error: "), lines
        assert all(w in lines[0] for w in words), lines
    assert os.listdir(tmp_path) == ["thesis.txt"] and not os.path.exists(os.path.join(ROOT, "x"))


def test_demo_py_refuses_bad_out_and_redo(tmp_path):
    """demo.py checks its --out (a container of the stage folders) before running a stage."""
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.txt").write_text("mine")
    # leftovers of a killed demo (a stage's hidden partial folder) are the demo's own
    (tmp_path / "demo" / ".data.partial-1").mkdir(parents=True)
    for args, words in (
            (["--out=analysis"], ["--out=analysis ", "analysis/"]),
            (["--out=."], ["--out=. ", "this repository"]),
            ([f"--out={tmp_path / 'thesis'}"], ["not a demo's", "thesis.txt"]),
            ([f"--out={tmp_path / 'demo'}", "--redo=corpus,bogus"], ["--redo=bogus"])):
        proc = subprocess.run([sys.executable, "demo.py", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("demo.py: error: ") and all(w in lines[0] for w in words)
    assert _tree_bytes(tmp_path / "thesis") == {"thesis.txt": b"mine"}
    assert os.listdir(tmp_path / "demo") == [".data.partial-1"]


def _hf_fraction(x):
    X = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    return X[f > 3000].sum() / max(X.sum(), 1e-20)


@pytest.mark.needs_festival
@pytest.mark.skipif(shutil.which("festival") is None, reason="festival not installed")
def test_tiny_demo_corpus_labels_line_up(tmp_path):
    pytest.importorskip("tensorflow")
    from corpus.build import run as run_prepare
    from corpus.prepare_options import PrepareOptions
    from corpus.dataset import load_split_arrays

    out = str(tmp_path / "demo")
    t0 = time.time()
    m = demo_corpus.generate_demo_corpus(out, n_speakers=3, seed=0, progress=False)
    assert not m["reused"] and time.time() - t0 < 60
    spk = {s["speaker"]: s for s in m["speakers"]}
    assert set(spk) == {"MKAL0", "MKED0", "FSLT0"}
    for s in spk.values():
        d = os.path.join(out, s["split"], s["dialect_region"], s["speaker"])
        assert sorted(os.listdir(d)) == sorted(f"{u}.{e}" for u in ("SA1", "SA2")
                                               for e in ("WAV", "TXT", "WRD", "PHN"))
        with open(os.path.join(d, "SA1.WAV"), "rb") as f:
            assert f.read(7) == b"NIST_1A"
        info = sf.info(os.path.join(d, "SA1.WAV"))
        assert info.samplerate == 16000 and info.subtype == "PCM_16"
        words = [ln.split()[2] for ln in open(os.path.join(d, "SA1.WRD"))]
        assert words == "she had your dark suit in greasy wash water all year".split()
        phn = [ln.split() for ln in open(os.path.join(d, "SA2.PHN"))]
        assert phn[0][2] == "h#" and phn[-1][2] == "h#"
        assert int(phn[-1][1]) == sf.info(os.path.join(d, "SA2.WAV")).frames
        assert all(int(a[1]) == int(b[0]) for a, b in zip(phn, phn[1:]))   # contiguous
    # reuse: same settings -> no work; deterministic: a second copy is identical
    t1 = time.time()
    assert demo_corpus.generate_demo_corpus(out, 3, 0, progress=False)["reused"]
    assert time.time() - t1 < 1
    demo_corpus.generate_demo_corpus(str(tmp_path / "demo2"), 3, 0, progress=False)
    a = sf.read(os.path.join(out, "TRAIN", "DR2", "MKED0", "SA2.WAV"), dtype="int16")[0]
    b = sf.read(os.path.join(tmp_path, "demo2", "TRAIN", "DR2", "MKED0", "SA2.WAV"),
                dtype="int16")[0]
    np.testing.assert_array_equal(a, b)

    # through prepare exactly like TIMIT; every target word once per speaker
    data = str(tmp_path / "data")
    info = run_prepare(PrepareOptions(out=data, timit_dir=out, test_fraction=0.0,
                                      progress=False))
    assert info["words"] == sorted(DEFAULT_WORDS) and info["splits"] == {"train": 24}
    assert info["skipped"] == {} and info["warnings"] == {}
    audio, rows = load_split_arrays(data, "train", normalize=False)
    ph = pd.read_csv(os.path.join(data, "phones.csv"), keep_default_na=False)
    row_of = {t: i for i, t in enumerate(rows.token_id)}
    for voice_spk in spk:
        fric, vow = [], []
        ids = set(rows.token_id[rows.speaker == voice_spk])
        for r in ph[ph.token_id.isin(ids)].itertuples():
            x = audio[row_of[r.token_id], r.start:r.end]
            if len(x) < 160:
                continue
            if r.phone in ("s", "sh"):
                fric.append(_hf_fraction(x))
            elif r.phone in VOWELS:
                vow.append(_hf_fraction(x))
        assert len(fric) >= 3 and len(vow) >= 8, voice_spk
        # planted check: [s]/[sh] energy is mostly above 3 kHz, vowels' is not
        assert np.median(fric) > 0.3 and np.median(fric) > 10 * np.median(vow), \
            (voice_spk, np.median(fric), np.median(vow))
