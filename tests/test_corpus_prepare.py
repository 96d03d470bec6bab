"""prepare.py / corpus.build end to end on small synthetic TIMIT-layout trees: exact slicing,
phone offsets, splits, token accounting, every bad-input case, atomic output and a SIGKILL
in the middle of writing."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import corpus_helpers as ch
from common.errors import InputError, OutputPathError
from common.outputs import MARKER_NAME
from corpus.build import run as run_prepare
from corpus.prepare_options import PrepareOptions
from corpus.corpus_errors import CorpusError, NoUsableDataError

pytest.importorskip("tensorflow")
from corpus.dataset import load_split_arrays, read_dataset_info  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = "ask,dark,greasy,rag,wash"
TOKEN_REASONS = ("too_long", "wrd_malformed", "wrd_out_of_range", "wrd_overlap",
                 "wrd_empty_interval")


def run(out, src, **kw):
    kw.setdefault("words", WORDS)
    kw.setdefault("progress", False)
    return run_prepare(PrepareOptions(out=str(out), timit_dir=str(src), **kw))


def read_manifest(d):
    return pd.read_csv(os.path.join(d, "manifest.csv"), keep_default_na=False,
                       dtype={"sex": str, "dialect_region": str})


def count_wrd_lines(root, words):
    """Lines of every .WRD file whose last field is a selected word (independent count)."""
    n = {}
    for dp, _, files in os.walk(root):
        for f in files:
            if f.upper().endswith(".WRD"):
                for line in open(os.path.join(dp, f)):
                    parts = line.split()
                    if parts and parts[-1].lower() in words:
                        n[parts[-1].lower()] = n.get(parts[-1].lower(), 0) + 1
    return n


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    base = tmp_path_factory.mktemp("prep")
    tree = ch.make_timit_tree(str(base / "timit"))
    info = run(base / "data", base / "timit", write_wavs=True)
    return base, tree, info


def test_outputs_follow_conventions(prepared):
    base, tree, info = prepared
    d = str(base / "data")
    on_disk = json.load(open(os.path.join(d, "dataset.json")))
    for k in ("format_version", "sample_rate", "slice_len", "words", "splits", "shards",
              "pad_ms", "source", "skipped", "created"):
        assert k in on_disk
    assert on_disk["format_version"] == 1 and on_disk["sample_rate"] == 16000
    assert on_disk["words"] == sorted(WORDS.split(","))
    assert sum(on_disk["splits"].values()) == 7 * 5
    man = read_manifest(d)
    assert list(man.columns[:12]) == ["token_id", "word", "speaker", "sex", "dialect_region",
                                      "utterance", "source_path", "start_sample",
                                      "end_sample", "pad_before", "split", "n_samples"]
    assert set(man.sex) == {"F", "M"} and (man.sex == man.speaker.str[0]).all()
    assert set(man.dialect_region) == {"DR1", "DR2"}
    assert (man.pad_before == 400).all()
    assert (man.n_samples == man.end_sample - man.start_sample + 800).all()
    ph = pd.read_csv(os.path.join(d, "phones.csv"), keep_default_na=False)
    assert list(ph.columns) == ["token_id", "phone", "start", "end"]
    for sp, paths in on_disk["shards"].items():
        assert all(os.path.isfile(os.path.join(d, p)) for p in paths)
    # token WAVs: wavs/<split>/<word>/, the padded clip
    r = man.iloc[0]
    wdir = os.path.join(d, "wavs", r.split, r.word)
    wav = [f for f in os.listdir(wdir) if f.startswith(f"{r.token_id:06d}_")]
    x, sr = sf.read(os.path.join(wdir, wav[0]), dtype="float32")
    assert sr == 16000 and len(x) == r.n_samples
    assert not [p for p in os.listdir(base) if p.startswith(".data.partial")]


def test_token_audio_equals_source_at_wrd_boundaries(prepared):
    base, tree, info = prepared
    d = str(base / "data")
    for split in info["splits"]:
        audio, rows = load_split_arrays(d, split, normalize=False)
        assert audio.shape == (len(rows), 16384)
        for x, r in zip(audio, rows.itertuples()):
            src, _ = sf.read(r.source_path, dtype="int16")
            seg = src[r.start_sample:r.end_sample].astype(np.float32) / 32768
            expect = np.zeros(16384, np.float32)
            expect[400:400 + len(seg)] = seg
            np.testing.assert_array_equal(x, expect)
            # the interval is the one in the .WRD file
            wrd = tree[(r.speaker, r.utterance)]["wrd"]
            assert (r.start_sample, r.end_sample, r.word) in wrd


def test_phone_offsets_are_phn_minus_wrd_plus_pad(prepared):
    base, tree, info = prepared
    d = str(base / "data")
    man = read_manifest(d)
    ph = pd.read_csv(os.path.join(d, "phones.csv"), keep_default_na=False)
    for r in man.itertuples():
        got = [tuple(x) for x in ph[ph.token_id == r.token_id][["phone", "start", "end"]]
               .itertuples(index=False)]
        expect = [(p, s - r.start_sample + 400, e - r.start_sample + 400)
                  for s, e, p in tree[(r.speaker, r.utterance)]["phn"]
                  if s >= r.start_sample and e <= r.end_sample]
        assert got == expect and got


def test_manifest_counts_equal_wrd_counts(prepared):
    base, tree, info = prepared
    man = read_manifest(str(base / "data"))
    expected = count_wrd_lines(str(base / "timit"), set(WORDS.split(",")))
    assert man.word.value_counts().to_dict() == expected


def test_random_split_80_20_per_word(prepared):
    base, tree, info = prepared
    man = read_manifest(str(base / "data"))
    for w, g in man.groupby("word"):
        assert (g.split == "test").sum() == round(0.2 * len(g))


def test_speaker_and_timit_splits(tmp_path):
    layout = {"TRAIN": {"DR1": [f"M{c}AB0" for c in "ABCDEFG"] + ["FXYZ0"]},
              "TEST": {"DR3": ["FTST0", "MTST1"]}}
    ch.make_timit_tree(str(tmp_path / "t"), layout=layout)
    run(tmp_path / "spk", tmp_path / "t", split="speaker", seed=3)
    man = read_manifest(str(tmp_path / "spk"))
    tr, te = set(man.speaker[man.split == "train"]), set(man.speaker[man.split == "test"])
    assert tr and te and not tr & te
    assert (man.split == "test").sum() == 2 * 5     # 2 of 10 speakers x 5 tokens = 20 %
    run(tmp_path / "tim", tmp_path / "t", split="timit")
    man = read_manifest(str(tmp_path / "tim"))
    is_test = man.source_path.str.contains(os.sep + "TEST" + os.sep)
    assert (man.split[is_test] == "test").all() and (man.split[~is_test] == "train").all()
    assert set(man.speaker[is_test]) == {"FTST0", "MTST1"}


def test_split_is_deterministic_with_seed(tmp_path):
    ch.make_timit_tree(str(tmp_path / "t"))
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        run(tmp_path / name, tmp_path / "t", seed=seed)
    a, b, c = (read_manifest(str(tmp_path / n)).split.tolist() for n in "abc")
    assert a == b and a != c


def test_lowercase_riff_nested_tree_and_all_words(tmp_path):
    root = tmp_path / "timit"
    layout = {"train": {"dr1": ["fcjf0", "mdab0"]}}
    ch.make_timit_tree(str(root / "TIMIT" / "data"), layout=layout, fmt="WAV", upper=False)
    info = run(tmp_path / "out", root, words="all")    # finds TIMIT/data/train below root
    man = read_manifest(str(tmp_path / "out"))
    assert info["words"] == ["ask", "dark", "greasy", "rag", "the", "wash"]
    assert (man.word == "the").sum() == 4 and set(man.speaker) == {"FCJF0", "MDAB0"}
    assert set(man.dialect_region) == {"DR1"}


def test_other_sample_rate_is_resampled_with_boundaries_scaled(tmp_path):
    ch.make_timit_tree(str(tmp_path / "t"), layout={"TRAIN": {"DR1": ["FAAA0"]}}, sr=8000)
    run(tmp_path / "o", tmp_path / "t", words="dark", test_fraction=0.0)
    man = read_manifest(str(tmp_path / "o"))
    r = man.iloc[0]
    assert r.source_sample_rate == 8000 and (r.start_sample, r.end_sample) == (1000, 2750)
    assert r.n_samples == 2 * (2750 - 1000) + 800
    ph = pd.read_csv(str(tmp_path / "o" / "phones.csv"))
    assert ph.start.iloc[0] == 400 and ph.end.iloc[-1] == 400 + 2 * 1750


# --------------------------------------------------------------------------- bad input


def _edit(path, fn):
    lines = open(path).read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(fn(lines)) + "\n")


def test_bad_wrd_lines_skipped_counted_and_accounted(tmp_path, caplog):
    root = tmp_path / "t"
    tree = ch.make_timit_tree(str(root))
    p1 = tree[("FCJF0", "SA1")]["paths"]["wrd"]        # the dark greasy wash
    n1 = len(tree[("FCJF0", "SA1")]["audio"])
    _edit(p1, lambda L: [L[0], "x1 5500 dark", L[2], f"10400 {n1 + 5} wash", "10400 10400 wash"])
    p2 = tree[("MDAB0", "SA2")]["paths"]["wrd"]        # ask the rag
    _edit(p2, lambda L: L + [L[2], "100 ask"])             # duplicate rag (odd overlap), 2 fields
    p3 = tree[("FDAW0", "SA1")]["paths"]["wrd"]
    _edit(p3, lambda L: L + ["0 50 the x"])     # malformed line of another word: a warning
    with caplog.at_level("WARNING", logger="corpus"):
        info = run(tmp_path / "o", root, slice_len=5000)   # greasy (5700) is too long
    sk = info["skipped"]
    assert sk["wrd_malformed"] == 2 and sk["wrd_out_of_range"] == 1
    assert sk["wrd_empty_interval"] == 1 and sk["wrd_overlap"] == 1
    assert sk["too_long"] == 7    # every greasy token (5700 samples)
    assert info["warnings"] == {"wrd_bad_line_other_word": 1}
    assert f"{p1}:2" in caplog.text and f"{p1}:4" in caplog.text and f"{p2}:4" in caplog.text
    man = read_manifest(str(tmp_path / "o"))
    assert (man.n_samples <= 5000).all()
    wrd_total = sum(count_wrd_lines(str(root), set(WORDS.split(","))).values())
    lost = sum(sk.get(k, 0) for k in TOKEN_REASONS)
    assert len(man) == wrd_total - lost
    assert json.load(open(tmp_path / "o" / "dataset.json"))["skipped"] == sk


def test_corrupt_audio_and_missing_wrd_are_skipped(tmp_path, caplog):
    root = tmp_path / "t"
    tree = ch.make_timit_tree(str(root))
    bad = tree[("MTAS1", "SA1")]["paths"]["wav"]
    with open(bad, "wb") as f:
        f.write(b"NIST_1A\n   1024\nthis is not audio")
    os.remove(tree[("FAEM0", "SA2")]["paths"]["wrd"])
    with caplog.at_level("WARNING", logger="corpus"):
        info = run(tmp_path / "o", root)
    assert info["skipped"] == {"audio_unreadable": 1, "missing_wrd": 1}
    assert bad in caplog.text
    assert tree[("FAEM0", "SA2")]["paths"]["wav"] in caplog.text
    assert sum(info["splits"].values()) == 35 - 3 - 2


def test_phn_problems_keep_tokens(tmp_path):
    root = tmp_path / "t"
    tree = ch.make_timit_tree(str(root), layout={"TRAIN": {"DR1": ["FAAA0", "MBBB0"]}})
    ppath = tree[("FAAA0", "SA1")]["paths"]["phn"]
    _edit(ppath, lambda L: L[:2] + ["garbage"] + L[2:] + ["0 10 h#"])   # bad + overlapping
    os.remove(tree[("MBBB0", "SA2")]["paths"]["phn"])
    info = run(tmp_path / "o", root, test_fraction=0)
    w = info["warnings"]
    assert w["phn_malformed"] == 1 and w["phn_overlap"] == 1 and w["missing_phn"] == 1
    assert info["splits"] == {"train": 10} and info["skipped"] == {}
    man = read_manifest(str(tmp_path / "o"))
    ph = pd.read_csv(tmp_path / "o" / "phones.csv")
    no_phones = set(man.token_id) - set(ph.token_id)
    assert set(man.loc[man.token_id.isin(no_phones), "utterance"]) == {"SA2"}
    assert set(man.loc[man.token_id.isin(no_phones), "speaker"]) == {"MBBB0"}


def test_unknown_word_warns_and_only_unknown_fails(tmp_path, caplog):
    root = tmp_path / "t"
    ch.make_timit_tree(str(root), layout={"TRAIN": {"DR1": ["FAAA0"]}})
    with caplog.at_level("WARNING", logger="corpus"):
        info = run(tmp_path / "o", root, words="dark,zebra")
    assert "'zebra'" in caplog.text and info["words"] == ["dark"]
    assert info["missing_words"] == ["zebra"] and info["warnings"]["unknown_word"] == 1
    with pytest.raises(NoUsableDataError, match="zebra"):
        run(tmp_path / "o2", root, words="zebra")
    assert not os.path.exists(tmp_path / "o2")


@pytest.mark.parametrize("words", ["", " , ", ","])
def test_empty_selection_is_an_error(tmp_path, words):
    with pytest.raises(CorpusError, match="empty selection"):
        run(tmp_path / "o", tmp_path, words=words)


def test_nothing_usable_is_a_clear_error(tmp_path):
    root = tmp_path / "t"
    tree = ch.make_timit_tree(str(root), layout={"TRAIN": {"DR1": ["FAAA0"]}})
    for v in tree.values():
        open(v["paths"]["wav"], "wb").close()
    with pytest.raises(NoUsableDataError, match="audio_unreadable=2"):
        run(tmp_path / "o", root)
    with pytest.raises(NoUsableDataError, match="no TRAIN"):
        run(tmp_path / "o", tmp_path / "t" / "TRAIN" / "DR1")  # no DR folders below
    with pytest.raises(CorpusError, match="no such folder"):
        run(tmp_path / "o", tmp_path / "nope")
    with pytest.raises(InputError, match="exactly one"):
        run_prepare(PrepareOptions(out=str(tmp_path / "o")))
    assert not os.path.exists(tmp_path / "o")


def test_folder_corpus(tmp_path):
    src = tmp_path / "words"
    rng = np.random.default_rng(0)
    for w, k in (("yes", 3), ("no", 2)):
        os.makedirs(src / w)
        for i in range(k):
            sf.write(str(src / w / f"spk{i}.wav"), rng.standard_normal(4000) * 0.1, 16000)
    sf.write(str(src / "yes" / "st44.flac"), rng.standard_normal((22050, 2)) * 0.1, 44100)
    (src / "yes" / "notes.txt").write_text("ignored")
    with open(src / "no" / "broken.wav", "wb") as f:
        f.write(b"RIFF....")
    info = run_prepare(PrepareOptions(out=str(tmp_path / "o"), folder_dir=str(src),
                                      words="all", test_fraction=0.0, progress=False))
    assert info["words"] == ["no", "yes"] and info["splits"] == {"train": 6}
    assert info["skipped"] == {"audio_unreadable": 1}
    man = read_manifest(str(tmp_path / "o")).set_index("speaker")
    assert man.loc["st44", "n_samples"] == 8000 + 800
    assert man.loc["st44", "end_sample"] == 22050 and man.loc["spk0"].shape[0] == 2
    assert pd.read_csv(tmp_path / "o" / "phones.csv").empty
    with pytest.raises(CorpusError, match="TRAIN/TEST"):
        run_prepare(PrepareOptions(out=str(tmp_path / "o2"), folder_dir=str(src),
                                   words="all", split="timit", progress=False))


# --------------------------------------------------------------------------- atomic output


def test_refuses_existing_dataset_unless_overwrite(tmp_path):
    root = tmp_path / "t"
    ch.make_timit_tree(str(root), layout={"TRAIN": {"DR1": ["FAAA0", "MBBB0"]}})
    run(tmp_path / "o", root, words="dark")
    assert json.load(open(tmp_path / "o" / MARKER_NAME))["stage"] == "prepare"
    with pytest.raises(OutputPathError, match="--overwrite"):
        run(tmp_path / "o", root)
    assert read_dataset_info(str(tmp_path / "o"))["words"] == ["dark"]
    run(tmp_path / "o", root, overwrite=True)
    assert read_dataset_info(str(tmp_path / "o"))["words"] == sorted(WORDS.split(","))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(OutputPathError, match="not an output of prepare"):
            run(tmp_path / "other", root, overwrite=overwrite)
    assert os.listdir(tmp_path / "other") == ["mine.txt"]
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def _cli(args, env=None, **kw):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "prepare.py"), "--noprogress",
                             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, **kw)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    root = tmp_path / "t"
    ch.make_timit_tree(str(root), layout={"TRAIN": {"DR1": ["FAAA0"]}})
    for args, msg in ((["--words=zebra"], "no usable token"), (["--words=,"], "empty selection"),
                      (["--split=timit", "--folder_dir=" + str(root)], "exactly one")):
        p = _cli([f"--timit_dir={root}", f"--out={tmp_path / 'o'}", *args])
        out, err = p.communicate(timeout=120)
        assert p.returncode == 2, err
        assert msg in err and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("prepare.py: error: ")
    p = _cli([f"--timit_dir={root}", f"--out={tmp_path / 'o'}", "--split=speaker"])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "wrote" in out and read_dataset_info(str(tmp_path / "o"))["splits"] == {"train": 5}


def _wait_for_partial(parent, name, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        parts = [p for p in os.listdir(parent) if p.startswith(f".{name}.partial-")
                 and not p.endswith(".old")]
        for p in parts:
            tf_dir = os.path.join(parent, p, "tfrecords")
            if os.path.isdir(tf_dir) and any(f.endswith(".tfrecord") for f in os.listdir(tf_dir)):
                return os.path.join(parent, p)
        if proc.poll() is not None:
            raise AssertionError("prepare finished before it could be killed: "
                                 + proc.stderr.read()[-2000:])
        time.sleep(0.02)
    raise AssertionError("no partial folder appeared")


def test_sigkill_mid_write_never_leaves_a_complete_looking_dataset(tmp_path):
    from corpus.corpus_errors import DatasetIncompleteError
    root = tmp_path / "t"
    ch.make_timit_tree(str(root))
    out = tmp_path / "data"
    slow = {"CORPUS_SLOW_WRITE_S": "1.0"}
    args = [f"--timit_dir={root}", f"--out={out}", "--shard_size=4", f"--words={WORDS}"]
    # 1) fresh output: killed after the first shard
    p = _cli(args, env=slow)
    partial = _wait_for_partial(str(tmp_path), "data", p)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert not out.exists()
    for d in (str(out), partial):
        with pytest.raises(DatasetIncompleteError):
            read_dataset_info(d)
    # 2) a complete dataset exists; an --overwrite run is killed mid-write: old one intact
    run(out, root, words="dark")
    before = read_dataset_info(str(out))
    p = _cli(args + ["--overwrite"], env=slow)
    _wait_for_partial(str(tmp_path), "data", p)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert read_dataset_info(str(out)) == before
    assert len(read_manifest(str(out))) == 7
    # 3) the next run tidies the stale partial folders and succeeds
    run(out, root, overwrite=True)
    assert read_dataset_info(str(out))["words"] == sorted(WORDS.split(","))
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def test_lying_headers_are_skipped_and_counted(tmp_path):
    """Issue 23: a WAV whose header claims 2^31-1 Hz (or 1 Hz) among good files: prepare
    skips it from its header alone, counts it (bad_header) and prepares the rest."""
    from test_corpus_reading import _lying_wav

    src = tmp_path / "words"
    rng = np.random.default_rng(1)
    for i in range(3):
        (src / "yes").mkdir(parents=True, exist_ok=True)
        sf.write(str(src / "yes" / f"s{i}.wav"), rng.standard_normal(4000) * 0.1, 16000)
    _lying_wav(str(src / "yes" / "huge.wav"), 2 ** 31 - 1)
    _lying_wav(str(src / "yes" / "slow.wav"), 1)
    info = run_prepare(PrepareOptions(out=str(tmp_path / "o"), folder_dir=str(src),
                                      words="all", test_fraction=0.0, progress=False))
    assert info["skipped"] == {"bad_header": 2} and info["splits"] == {"train": 3}
