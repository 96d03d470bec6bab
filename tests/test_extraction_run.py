"""The streaming extraction driver on tiny data: schema, values, phones, upsampling, channels,
classification outputs, bad input and atomic output."""

import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

tf = pytest.importorskip("tensorflow")
wavegan_config = pytest.importorskip("wavegan.config")
wavegan = pytest.importorskip("wavegan")

from common.errors import OutputPathError  # noqa: E402
from common.outputs import MARKER_NAME  # noqa: E402
from corpus.dataset import peak_normalize_np  # noqa: E402
from extraction.extraction_errors import ExtractionError  # noqa: E402
from extraction.run import run_extraction  # noqa: E402
from extraction.sources import ArraySource, GeneratedSource, open_source  # noqa: E402

L = 16384
ACT_DTYPES = {"token_id": "int64", "word": "object", "speaker": "object", "layer": "object",
              "sample": "int64", "time": "float64", "value": "float64"}
PHONE_DTYPES = {"token_id": "int64", "word": "object", "speaker": "object", "layer": "object",
                "phone": "object", "phone_index": "int64", "sample": "int64",
                "norm_time": "float64", "value": "float64"}


def write_dataset(folder, audio, words, speakers, phones=None, split="test", extra_splits=None):
    """A prepared dataset exactly as docs/CONVENTIONS.md describes (one shard)."""
    os.makedirs(os.path.join(folder, "tfrecords"), exist_ok=True)
    shard = f"tfrecords/{split}-00000-of-00001.tfrecord"
    vocab = sorted(set(words))
    with tf.io.TFRecordWriter(os.path.join(folder, shard)) as w:
        for i, (x, wd, sp) in enumerate(zip(audio, words, speakers)):
            feat = {
                "audio": tf.train.Feature(float_list=tf.train.FloatList(value=x.tolist())),
                "token_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "word": tf.train.Feature(bytes_list=tf.train.BytesList(value=[wd.encode()])),
                "word_index": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[vocab.index(wd)])),
                "speaker": tf.train.Feature(bytes_list=tf.train.BytesList(value=[sp.encode()])),
                "n_samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(x)]))}
            w.write(tf.train.Example(features=tf.train.Features(feature=feat))
                    .SerializeToString())
    pd.DataFrame({"token_id": range(len(words)), "word": words, "speaker": speakers,
                  "split": split}).to_csv(os.path.join(folder, "manifest.csv"), index=False)
    if phones is not None:
        pd.DataFrame(phones, columns=["token_id", "phone", "start", "end"]).to_csv(
            os.path.join(folder, "phones.csv"), index=False)
    splits = {split: len(words), **(extra_splits or {})}
    shards = {split: [shard], **{k: [] for k in (extra_splits or {})}}
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump({"format_version": 1, "sample_rate": 16000, "slice_len": L, "words": vocab,
                   "splits": splits, "shards": shards}, f)


@pytest.fixture(scope="module")
def tiny():
    """A random-initialised dim-2 ciwGAN Q (3 codes) and 5 random word-like tokens."""
    tf.keras.utils.set_random_seed(7)
    config = wavegan_config.WaveGANConfig(model="ciwgan", num_categ=3, dim=2)
    Q = wavegan.QNetwork(config)
    rng = np.random.default_rng(0)
    env = np.sin(np.linspace(0, np.pi, 8000)) ** 2
    audio = np.zeros((5, L), np.float32)
    for i in range(5):
        audio[i, :8000] = (0.3 * (i + 1) * env * rng.standard_normal(8000)).astype(np.float32)
    words = ["bag", "bag", "dog", "dog", "cat"]
    speakers = ["s1", "s2", "s1", "s2", "s1"]
    return config, Q, audio, words, speakers


@pytest.fixture()
def dataset(tmp_path, tiny):
    _, _, audio, words, speakers = tiny
    phones = [(0, "s", 1000, 3000), (0, "a", 3000, 4000), (0, "s", 5000, 5010),
              (1, "s", 16000, 16384), (2, "sh", 0, 10), (4, "a", 100, 200)]
    folder = str(tmp_path / "data")
    write_dataset(folder, audio, words, speakers, phones, extra_splits={"train": 0})
    return folder


def run(tiny, data, out, **kw):
    config, Q, *_ = tiny
    source = open_source(data, kw.pop("split", "test"), kw.pop("batch_size", 2), L)
    return run_extraction(kw.pop("model", Q), config, source, str(out), progress=False,
                             n_perm=20, **kw)


def test_activations_values_schema_and_time(tmp_path, tiny, dataset):
    config, Q, audio, words, speakers = tiny
    out = tmp_path / "act"
    info = run(tiny, dataset, out, batch_size=2)     # 5 tokens -> batches of 2, 2, 1
    # independent reference: eager layer outputs, numpy mean over channels
    x = peak_normalize_np(audio)
    ref = {k: v.numpy().mean(axis=2) for k, v in Q.layer_outputs(x).items() if k != "logits"}
    for ext in ("parquet", "csv"):
        df = pd.read_parquet(out / "activations.parquet") if ext == "parquet" else \
            pd.read_csv(out / "activations.csv")
        assert list(df.columns) == list(ACT_DTYPES)
        assert {c: str(t) for c, t in df.dtypes.items()} == ACT_DTYPES
        assert len(df) == 5 * (4096 + 1024 + 256 + 64 + 16)
        for layer, r in ref.items():
            sub = df[df.layer == layer]
            got = sub.pivot(index="token_id", columns="sample", values="value").to_numpy()
            np.testing.assert_allclose(got, r, atol=1e-6, err_msg=f"{ext} {layer}")
        assert sub.groupby("token_id").word.first().tolist() == words
        assert sub.groupby("token_id").speaker.first().tolist() == speakers
    pqt = pq.read_table(out / "activations.parquet")
    assert [str(t) for t in pqt.schema.types] == ["int64", "string", "string", "string",
                                                  "int64", "double", "double"]
    c5 = df[(df.layer == "conv5") & (df.token_id == 0)]
    np.testing.assert_allclose(c5.time, (1024 * np.arange(16) + 682) / 16000)
    c1 = df[(df.layer == "conv1") & (df.token_id == 3)]
    np.testing.assert_allclose(c1.time.to_numpy()[:3], np.array([2, 6, 10]) / 16000)
    assert info["counts"]["tokens"] == 5 and info["counts"]["words"] == 3
    saved = json.loads((out / "extract_info.json").read_text())
    assert saved["layers"][4] == {"name": "conv5", "stride": 4, "length": 16, "channels": 32,
                                  "in_length": 64, "pad_left": 10, "pad_right": 11,
                                  "jump": 1024, "start0": -3410, "width": 8185,
                                  "centre0": 682.0}
    assert sorted(os.listdir(out)) == sorted(saved["files"] + [MARKER_NAME])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".act")]   # no temp left


def test_q_outputs_confusion_classification(tmp_path, tiny, dataset):
    config, Q, audio, words, _ = tiny
    out = tmp_path / "act"
    run(tiny, dataset, out)
    q = pd.read_csv(out / "q_outputs.csv")
    assert list(q.columns) == (["token_id", "word", "speaker", "code"] +
                               [f"logit_{k}" for k in range(3)] + [f"prob_{k}" for k in range(3)])
    logits = Q(peak_normalize_np(audio), training=False).numpy()
    np.testing.assert_allclose(q[[f"logit_{k}" for k in range(3)]], logits, atol=1e-5)
    np.testing.assert_array_equal(q.code, logits.argmax(axis=1))
    conf = pd.read_csv(out / "confusion.csv", index_col="word")
    assert list(conf.columns) == ["0", "1", "2"] and list(conf.index) == ["bag", "cat", "dog"]
    expected = pd.crosstab(pd.Series(words), pd.Series(logits.argmax(1))).reindex(
        columns=range(3), fill_value=0)
    np.testing.assert_array_equal(conf.to_numpy(), expected.to_numpy())
    summary = json.loads((out / "classification.json").read_text())
    # brute force over all injective word -> code maps
    import itertools
    best = max(sum(expected.to_numpy()[i, p[i]] for i in range(3))
               for p in itertools.permutations(range(3)))
    assert summary["accuracy"] == pytest.approx(best / 5)
    assert summary["chance"] == pytest.approx(2 / 5)


def test_phone_activations(tmp_path, tiny, dataset):
    out = tmp_path / "act"
    info = run(tiny, dataset, out, phones=["s", "sh"], layers=["conv1", "conv5"])
    ph = pd.read_parquet(out / "phone_activations.parquet")
    assert list(ph.columns) == list(PHONE_DTYPES)
    assert {c: str(t) for c, t in ph.dtypes.items()} == PHONE_DTYPES
    assert set(ph.layer) == {"conv1", "conv5"} and set(ph.phone) == {"s", "sh"}
    act = pd.read_parquet(out / "activations.parquet")
    # token 0, first 's' [1000, 3000): conv5 centres 1706, 2730 -> samples 1, 2
    s0 = ph[(ph.token_id == 0) & (ph.phone == "s") & (ph.phone_index == 0) & (ph.layer == "conv5")]
    assert s0["sample"].tolist() == [1, 2]
    np.testing.assert_allclose(s0.norm_time, [706 / 2000, 1730 / 2000])
    a0 = act[(act.token_id == 0) & (act.layer == "conv5")].set_index("sample").value
    np.testing.assert_allclose(s0.value, a0.loc[[1, 2]])
    # second 's' of token 0 [5000, 5010): conv1 centres 5002, 5006 -> samples 1250, 1251
    s1 = ph[(ph.token_id == 0) & (ph.phone_index == 1)]
    assert s1.layer.tolist() == ["conv1", "conv1"] and s1["sample"].tolist() == [1250, 1251]
    # token 1 's' [16000, 16384): conv5 sample 15 (centre 16042)
    assert ph[(ph.token_id == 1) & (ph.layer == "conv5")]["sample"].tolist() == [15]
    # token 2 'sh' [0, 10): conv1 centres 2, 6; no conv5 index inside
    sh = ph[ph.phone == "sh"]
    assert sh.layer.tolist() == ["conv1", "conv1"] and sh["sample"].tolist() == [0, 1]
    assert info["counts"]["phone_layer_pairs_without_index"] == 2   # 5000-5010 and sh @ conv5
    assert len(pd.read_csv(out / "phone_activations.csv")) == len(ph)


def test_upsample_and_channels(tmp_path, tiny, dataset):
    config, Q, audio, words, _ = tiny
    out = tmp_path / "act"
    run(tiny, dataset, out, upsample=True, upsample_per_word=1, channels="conv5:0,31;conv1:1",
        normalize="none")
    up = pd.read_parquet(out / "upsampled.parquet")
    assert list(up.columns) == ["token_id", "word", "layer", "sample", "value"]
    assert sorted(up.token_id.unique()) == [0, 2, 4]          # first token of each word
    assert list(up.layer.unique()) == ["input", "conv1", "conv2", "conv3", "conv4", "conv5"]
    np.testing.assert_allclose(up[(up.token_id == 2) & (up.layer == "input")].value, audio[2])
    act = pd.read_parquet(out / "activations.parquet")
    tr = act[(act.token_id == 2) & (act.layer == "conv5")].value.to_numpy()
    u5 = up[(up.token_id == 2) & (up.layer == "conv5")].value.to_numpy()
    assert u5[1706] == pytest.approx(tr[1]) and u5[1706 + 512] == pytest.approx(tr[1:3].mean())
    ch = pd.read_parquet(out / "channel_activations.parquet")
    assert list(ch.columns) == ["token_id", "word", "speaker", "layer", "channel", "sample",
                                "time", "value"]
    maps = Q.layer_outputs(audio[:1])
    got = ch[(ch.token_id == 0) & (ch.layer == "conv5") & (ch.channel == 31)].value
    np.testing.assert_allclose(got, maps["conv5"].numpy()[0, :, 31], atol=1e-6)
    got = ch[(ch.token_id == 0) & (ch.layer == "conv1") & (ch.channel == 1)].value
    np.testing.assert_allclose(got, maps["conv1"].numpy()[0, :, 1], atol=1e-6)
    assert len(ch) == 5 * (16 * 2 + 4096)


def test_fiwgan_bits_and_d_network(tmp_path, tiny):
    _, _, audio, words, speakers = tiny
    config = wavegan_config.WaveGANConfig(model="fiwgan", num_categ=3, dim=2)
    tf.keras.utils.set_random_seed(3)
    Q = wavegan.QNetwork(config)
    data = str(tmp_path / "data")
    write_dataset(data, audio, words, speakers)
    source = open_source(data, "test", 4, L)
    run_extraction(Q, config, source, str(tmp_path / "f"), progress=False, n_perm=10,
                      layers="conv5")
    q = pd.read_csv(tmp_path / "f" / "q_outputs.csv", dtype={"bits": str})
    logits = Q(peak_normalize_np(audio), training=False).numpy()
    bits = ["".join("1" if v > 0 else "0" for v in row) for row in logits]
    assert q.bits.tolist() == bits
    assert q.code.tolist() == [int(b, 2) for b in bits]
    np.testing.assert_allclose(q.prob_0, 1 / (1 + np.exp(-logits[:, 0])), atol=1e-6)
    conf = pd.read_csv(tmp_path / "f" / "confusion.csv", index_col="word", dtype=str)
    assert set(conf.columns) == set(bits)
    act = pd.read_parquet(tmp_path / "f" / "activations.parquet")
    assert set(act.layer) == {"conv5"}

    D = wavegan_discriminator().WaveGANDiscriminator(config)
    run_extraction(D, config, open_source(data, "test", 4, L), str(tmp_path / "d"),
                      network="D", progress=False, layers=["conv2"])
    d = pd.read_csv(tmp_path / "d" / "d_outputs.csv")
    np.testing.assert_allclose(d.logit, D(peak_normalize_np(audio), training=False).numpy(),
                               atol=1e-5)
    assert not (tmp_path / "d" / "q_outputs.csv").exists()


def wavegan_discriminator():
    return pytest.importorskip("wavegan.discriminator")


def test_wav_folder_words_and_skips(tmp_path, tiny):
    """corpus.folder's reader, as prepare.py reads the folder: another rate is resampled and
    stereo downmixed (not skipped); unreadable and too long files are skipped and counted."""
    _, _, audio, *_ = tiny
    root = tmp_path / "wavs"
    (root / "dog").mkdir(parents=True)
    sf.write(root / "bag_01.wav", audio[0][:8000], 16000, subtype="FLOAT")
    sf.write(root / "dog" / "x.wav", audio[1][:9000], 16000, subtype="PCM_16")
    sf.write(root / "slow_1.wav", audio[2][:4000], 8000)                  # resampled
    sf.write(root / "long_1.wav", np.zeros(L + 1, np.float32), 16000)      # too long
    sf.write(root / "stereo_1.wav", np.full((100, 2), 0.5, np.float32), 16000)  # downmixed
    (root / "broken_1.wav").write_bytes(b"not a wav")
    info = run(tiny, str(root), tmp_path / "act", normalize="none", upsample=True)
    assert info["counts"]["tokens"] == 4
    assert info["counts"]["skipped"] == {"too_long": 1, "audio_unreadable": 1}
    assert {s["file"] for s in info["counts"]["skipped_files"]} == {"long_1.wav",
                                                                   "broken_1.wav"}
    q = pd.read_csv(tmp_path / "act" / "q_outputs.csv")
    # stem before '_' for files in the folder, the sub-folder for the others; path order
    assert q.word.tolist() == ["bag", "dog", "slow", "stereo"]
    up = pd.read_parquet(tmp_path / "act" / "upsampled.parquet")
    inp = up[up.layer == "input"].pivot(index="token_id", columns="sample", values="value")
    from corpus.audio import resample
    slow, _ = sf.read(root / "slow_1.wav", dtype="float32")           # 16-bit PCM as stored
    np.testing.assert_allclose(inp.loc[2].to_numpy()[:8000], resample(slow, 8000, 16000),
                               atol=1e-6)
    assert not inp.loc[2].to_numpy()[8000:].any()
    np.testing.assert_allclose(inp.loc[3].to_numpy()[:100], 0.5)


def test_bad_input(tmp_path, tiny, dataset):
    config, Q, *_ = tiny
    with pytest.raises(ExtractionError, match=r"unknown phone label\(s\) \['zz'\].*'a', 's'"):
        run(tiny, dataset, tmp_path / "a", phones=["zz"])
    with pytest.raises(ExtractionError, match=r"--split=dev.*\['test', 'train'\]"):
        run(tiny, dataset, tmp_path / "a", split="dev")
    with pytest.raises(ExtractionError, match="no tokens.*empty selection"):
        run(tiny, dataset, tmp_path / "a", split="train")
    with pytest.raises(ExtractionError, match="slice_len 16384 but the model expects 32768"):
        open_source(dataset, "test", 2, 32768)
    with pytest.raises(ExtractionError, match="conv9"):
        run(tiny, dataset, tmp_path / "a", layers="conv9")
    with pytest.raises(ExtractionError, match="plain WaveGAN has no Q"):
        run(tiny, dataset, tmp_path / "a", model=None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ExtractionError, match="no dataset.json and no .wav files"):
        open_source(str(empty), "test", 2, L)
    sf.write(empty / "a_1.wav", np.zeros(8200, np.float32), 8000)   # 16400 samples at 16 kHz
    with pytest.raises(ExtractionError, match="none of the 1 audio files.*too_long.*16400 "):
        open_source(str(empty), "test", 2, L)
    aligned = tmp_path / "aligned" / "spk1"   # MFA's layout: utterances with TextGrids
    aligned.mkdir(parents=True)
    sf.write(aligned / "utt1.wav", np.zeros(1600, np.float32), 16000)
    (aligned / "utt1.TextGrid").write_text('File type = "ooTextFile"\nObject class = "TextGrid"\n')
    with pytest.raises(ExtractionError, match="aligned corpus.*run prepare.py --folder_dir="):
        open_source(str(tmp_path / "aligned"), "test", 2, L)
    wavs = tmp_path / "w"
    wavs.mkdir()
    sf.write(wavs / "a_1.wav", np.zeros(100, np.float32), 16000)
    with pytest.raises(ExtractionError, match="--phones needs phone boundaries"):
        run(tiny, str(wavs), tmp_path / "a", phones=["s"])
    ph = pd.read_csv(os.path.join(dataset, "phones.csv"))
    ph.loc[len(ph)] = [3, "s", 500, 500]
    ph.to_csv(os.path.join(dataset, "phones.csv"), index=False)
    with pytest.raises(ExtractionError, match=r"1 empty interval.*token 3 phone 's' \[500"):
        run(tiny, dataset, tmp_path / "a", phones=["s"])
    # an earlier extract output is replaced only with overwrite=True
    run(tiny, dataset, tmp_path / "exists", layers="conv4")
    with pytest.raises(OutputPathError, match="earlier extract output; pass --overwrite"):
        run(tiny, dataset, tmp_path / "exists")
    run(tiny, dataset, tmp_path / "exists", overwrite=True, layers="conv5")
    assert set(pd.read_parquet(tmp_path / "exists" / "activations.parquet").layer) == {"conv5"}
    assert not (tmp_path / "a").exists()                    # failed runs left nothing behind


@pytest.mark.parametrize("at, error, kept", [(0, OSError("disk gone"), False),
                                              (1, ExtractionError("bad data"), False),
                                              (1, OSError("disk gone"), True)])
def test_failure_leaves_no_output(tmp_path, tiny, dataset, at, error, kept):
    """A failure leaves no output; only the complete batches of a run that failed for another
    reason than bad input are kept, in the partial folder, for a resumed run
    (tests/test_extraction_resume.py)."""
    config, Q, *_ = tiny

    source = open_source(dataset, "test", 2, L)
    orig_batches = source.batches

    def batches(start=0):
        for i, b in enumerate(orig_batches(start)):
            if i == at:
                raise error
            yield b

    source.batches = batches
    with pytest.raises(type(error), match=str(error)):
        run_extraction(Q, config, source, str(tmp_path / "act"), progress=False)
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["data", ".act.partial"] if kept else ["data"])
    if kept:
        assert sorted(os.listdir(tmp_path / ".act.partial" / "parts")) == [
            "activations-000000.parquet", "tokens-000000.parquet"]


def test_generated_source(tmp_path, tiny):
    config, Q, *_ = tiny
    G = pytest.importorskip("wavegan.generator").WaveGANGenerator(config)
    src = GeneratedSource(G, config, ["2", "code_0"], n_per_code=2, batch_size=3, seed=5)
    batches = list(src.batches())
    assert [len(b.word) for b in batches] == [3, 1]
    assert sum((b.word for b in batches), []) == ["code_2", "code_2", "code_0", "code_0"]
    # token 1 = G(z) with the one-hot code 2 and the seeded uniform noise row 1
    noise = np.random.RandomState(5).uniform(-1, 1, (2, config.latent_dim - 3)).astype(np.float32)
    z = np.concatenate([[0, 0, 1], noise[1]]).astype(np.float32)[None]
    np.testing.assert_allclose(batches[0].audio[1], G(z, training=False).numpy().reshape(-1),
                               atol=1e-6)
    # settled: the noise is shared across codes (token 3 = code 0 with noise row 1, as
    # generate.py pairs them), no longer a fresh noise row per token
    z3 = np.concatenate([[1, 0, 0], noise[1]]).astype(np.float32)[None]
    np.testing.assert_allclose(batches[1].audio[0], G(z3, training=False).numpy().reshape(-1),
                               atol=1e-6)
    np.testing.assert_array_equal(src.z[1, 3:], src.z[3, 3:])
    info = run_extraction(Q, config, src, str(tmp_path / "g"), progress=False, n_perm=5,
                             layers="conv5")
    assert info["data_kind"] == "generated" and info["counts"]["tokens"] == 4
    with pytest.raises(ExtractionError, match="--codes: code '7' out of range"):
        GeneratedSource(G, config, ["7"], 1, 2)


def test_array_source(tmp_path, tiny):
    config, Q, audio, words, speakers = tiny
    src = ArraySource(audio, words, speakers, batch_size=4)
    info = run_extraction(Q, config, src, str(tmp_path / "a"), progress=False, n_perm=5,
                             layers=["conv4"], csv=False)
    assert info["data_kind"] == "arrays" and info["files"] == [
        "activations.parquet", "classification.json", "confusion.csv", "extract_info.json",
        "q_outputs.csv"]
    act = pd.read_parquet(tmp_path / "a" / "activations.parquet")
    ref = Q.layer_outputs(peak_normalize_np(audio))["conv4"].numpy().mean(axis=2)
    np.testing.assert_allclose(act.value.to_numpy().reshape(5, 64), ref, atol=1e-6)
    with pytest.raises(ExtractionError, match="must be \\[N, slice_len\\] with N = 2"):
        ArraySource(audio, words[:2])


def test_phones_all_is_every_speech_phone(tmp_path, tiny):
    """--phones=all: every label of phones.csv but the non-speech ones (h#, pau, epi), in one
    pass; recorded in extract_info.json as the resolved list."""
    _, _, audio, words, speakers = tiny
    phones = [(0, "h#", 0, 900), (0, "s", 1000, 3000), (1, "pau", 0, 500),
              (1, "iy", 600, 4000), (2, "sh", 0, 2000), (3, "epi", 10, 400)]
    folder = str(tmp_path / "data")
    write_dataset(folder, audio, words, speakers, phones, extra_splits={"train": 0})
    out = tmp_path / "act"
    info = run(tiny, folder, out, phones=["all"], layers=["conv3"])
    assert info["phones"] == ["iy", "s", "sh"]
    ph = pd.read_parquet(out / "phone_activations.parquet")
    assert set(ph["phone"]) == {"iy", "s", "sh"}
    bare = str(tmp_path / "nophones")
    write_dataset(bare, audio, words, speakers, None, extra_splits={"train": 0})
    with pytest.raises(ExtractionError, match="--phones needs phone boundaries"):
        run(tiny, bare, tmp_path / "b", phones=["all"])
