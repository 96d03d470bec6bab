"""One reader for a folder of audio files (corpus.folder): prepare.py and extract.py give the
same folder the same word labels and the same audio.

Settled disagreement: extract.py's folder source used to keep the word's case, take the word
from the file stem and refuse files not at 16 kHz, so the same folder got other labels (and
other tokens) than prepare.py gives it. Both now follow corpus.folder's one rule.
"""

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus.folder import stem_word, word_files
from corpus.prepare_options import PrepareOptions

L = 16384


def _write(path, n, sr=16000, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((n, channels) if channels > 1 else n)
    subtype = "PCM_16" if str(path).lower().endswith(".flac") else "FLOAT"
    sf.write(str(path), x.astype(np.float32), sr, subtype=subtype)


def mixed_folder(root):
    """Word folders in mixed case, files directly in the folder, other rates, stereo, a file
    that is not audio, a nested file and an unreadable one."""
    (root / "Dog").mkdir(parents=True)
    (root / "Dog" / "old").mkdir()
    (root / "cat").mkdir()
    _write(root / "Dog" / "Rex_1.wav", 6000, seed=1)
    _write(root / "Dog" / "b.FLAC", 3000, sr=22050, seed=2)         # resampled
    _write(root / "Dog" / "old" / "nested.wav", 100, seed=3)        # deeper: not read
    _write(root / "cat" / "x.wav", 4000, channels=2, seed=4)        # downmixed
    _write(root / "Bag_01.wav", 5000, seed=5)
    _write(root / "bag_02.wav", 5000, sr=44100, seed=6)
    _write(root / "CAT.wav", 2000, seed=7)
    (root / "notes.txt").write_text("not audio")
    (root / "cat" / "broken.wav").write_bytes(b"RIFF....")
    return root


def test_word_files_rule(tmp_path):
    root = mixed_folder(tmp_path / "words")
    got = [(os.path.relpath(p, root), w) for p, w in word_files(str(root))]
    assert got == [("Bag_01.wav", "bag"), ("CAT.wav", "cat"),
                   (os.path.join("Dog", "Rex_1.wav"), "dog"),
                   (os.path.join("Dog", "b.FLAC"), "dog"),
                   ("bag_02.wav", "bag"),
                   (os.path.join("cat", "broken.wav"), "cat"),
                   (os.path.join("cat", "x.wav"), "cat")]
    assert stem_word("Bag_03.wav") == "bag" and stem_word("dog.wav") == "dog"
    assert stem_word("_x_1.wav") == "_x_1"


def test_prepare_and_extract_give_the_same_labels(tmp_path):
    tf = pytest.importorskip("tensorflow")
    build = pytest.importorskip("corpus.build")
    import wavegan
    from extraction.run import run_extraction
    from extraction.sources import WavFolderSource, open_source

    root = mixed_folder(tmp_path / "words")
    data = tmp_path / "data"
    build.run(PrepareOptions(out=str(data), folder_dir=str(root), words="all", pad_ms=0.0,
                             test_fraction=0.0, seed=0, progress=False))
    manifest = pd.read_csv(data / "manifest.csv", keep_default_na=False)
    prepared = dict(zip(manifest.source_path, manifest.word))

    source = open_source(str(root), "test", 4, L)
    assert isinstance(source, WavFolderSource)
    from_folder = dict(zip(source.files, source.words))
    assert from_folder == prepared                       # same files, same word of each
    assert sorted(set(prepared.values())) == ["bag", "cat", "dog"]
    assert source.skipped == {"audio_unreadable": 1}

    # the tables: q_outputs/activations of the folder carry those words, token by token, and
    # the audio fed to Q is the prepared clip (pad 0): the traces agree
    tf.keras.utils.set_random_seed(2)
    config = wavegan.WaveGANConfig(model="ciwgan", num_categ=3, dim=2)
    Q = wavegan.QNetwork(config)
    run_extraction(Q, config, source, str(tmp_path / "a_folder"), progress=False, n_perm=5,
                   layers="conv5", csv=False)
    run_extraction(Q, config, open_source(str(data), "train", 4, L), str(tmp_path / "a_data"),
                   progress=False, n_perm=5, layers="conv5", csv=False)
    act_f = pd.read_parquet(tmp_path / "a_folder" / "activations.parquet")
    act_d = pd.read_parquet(tmp_path / "a_data" / "activations.parquet")
    words_f = act_f.groupby("token_id").word.first()
    assert words_f.tolist() == source.words
    path_of_f = dict(enumerate(source.files))
    path_of_d = dict(zip(manifest.token_id, manifest.source_path))
    trace_f = {path_of_f[t]: g.sort_values("sample").value.to_numpy()
               for t, g in act_f.groupby("token_id")}
    trace_d = {path_of_d[t]: g.sort_values("sample").value.to_numpy()
               for t, g in act_d.groupby("token_id")}
    assert {path_of_d[t]: w for t, w in act_d.groupby("token_id").word.first().items()} == \
        prepared
    assert trace_f.keys() == trace_d.keys()
    for path in trace_f:
        np.testing.assert_allclose(trace_f[path], trace_d[path], atol=1e-6, err_msg=path)
