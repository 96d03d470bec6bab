"""Audio reading (SPHERE/RIFF, resampling, downmix), label parsing/validation and the slicing
arithmetic, on hand-made inputs."""

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import audio as au
from corpus import slicing as sl
from corpus import timit as tm
from corpus.corpus_errors import AudioReadError
from corpus.skip_report import Report


def _sine(freq, sr, seconds, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x, sr):
    X = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(X)]


@pytest.mark.parametrize("fmt,name", [("NIST", "SA1.WAV"), ("WAV", "sa1.wav"),
                                      ("NIST", "x.sph")])
def test_read_sphere_and_riff_by_header(tmp_path, fmt, name):
    pcm = (np.random.default_rng(1).standard_normal(3000) * 4000).astype(np.int16)
    path = str(tmp_path / name)
    sf.write(path, pcm, 16000, format=fmt, subtype="PCM_16")
    with open(path, "rb") as f:
        head = f.read(7)
    assert head.startswith(b"NIST_1A" if fmt == "NIST" else b"RIFF")
    x, sr, n = au.read_audio(path)
    assert sr == 16000 and n == 3000 and x.dtype == np.float32
    np.testing.assert_array_equal(x, pcm.astype(np.float32) / 32768.0)
    assert au.audio_length(path) == (3000, 16000)


def test_resample_44100_sine_keeps_frequency():
    sr = 44100
    x = _sine(1000.0, sr, 1.0)
    y = au.resample(x, sr, 16000)
    assert y.dtype == np.float32
    assert len(y) == int(np.ceil(len(x) * 160 / 441))
    assert abs(_peak_hz(y, 16000) - 1000.0) <= 1.0
    # amplitude preserved away from the edges
    assert abs(np.max(np.abs(y[2000:-2000])) - 0.5) < 0.01


def test_read_audio_resamples_and_downmixes_stereo(tmp_path):
    sr = 44100
    left, right = _sine(700.0, sr, 0.5, 0.4), _sine(2500.0, sr, 0.5, 0.2)
    path = str(tmp_path / "st.wav")
    sf.write(path, np.stack([left, right], 1), sr, subtype="FLOAT")
    x, src_sr, n = au.read_audio(path)
    assert src_sr == sr and n == len(left)
    ref = au.resample((left + right) / 2, sr, 16000)
    np.testing.assert_allclose(x, ref, atol=1e-6)
    X = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    top2 = sorted(f[np.argsort(X)[-2:]])
    assert abs(top2[0] - 700) <= 2 and abs(top2[1] - 2500) <= 2


def test_downmix_is_channel_mean():
    x = np.array([[1.0, 3.0], [-2.0, 0.0]], np.float32)
    np.testing.assert_array_equal(au.downmix(x), [2.0, -1.0])
    np.testing.assert_array_equal(au.downmix(np.array([1.0, 2.0])), [1.0, 2.0])


@pytest.mark.parametrize("content", [b"", b"NIST_1A\n   1024\ngarbage", b"RIFF1234WAVEjunk",
                                     os.urandom(5000)])
def test_corrupt_audio_raises_audio_read_error_naming_file(tmp_path, content):
    path = str(tmp_path / "bad.WAV")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(AudioReadError, match="bad.WAV"):
        au.read_audio(path)


def test_shorten_sphere_gets_a_hint(tmp_path):
    path = str(tmp_path / "sh.WAV")
    head = b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n"
    with open(path, "wb") as f:
        f.write(head.ljust(1024, b" ") + os.urandom(2000))
    with pytest.raises(AudioReadError, match="shorten"):
        au.read_audio(path)


def test_parse_label_lines_flags_malformed():
    lines = ["0 100 h#", "", "100 200", "1a 300 dark", "300 400 five fields x", "400 500 ok"]
    good, bad = tm.parse_label_lines(lines)
    assert [(g.start, g.end, g.label, g.line) for g in good] == [(0, 100, "h#", 1),
                                                                  (400, 500, "ok", 6)]
    assert [(b.line, b.reason) for b in bad] == [(3, "malformed"), (4, "malformed"),
                                                 (5, "malformed")]
    assert bad[1].label == "dark"


def test_validate_wrd_overlaps_ranges_and_empty():
    labs = [tm.Label(100, 200, "a", 1), tm.Label(190, 300, "b", 2),   # TIMIT-style overlap: ok
            tm.Label(250, 280, "c", 3),                                # nested: odd
            tm.Label(150, 400, "d", 4),                                # starts before b: odd
            tm.Label(400, 400, "e", 5),                                # empty
            tm.Label(400, 1001, "f", 6),                               # beyond the audio
            tm.Label(-5, 10, "g", 7),                                  # negative
            tm.Label(300, 1000, "h", 8)]
    good, bad = tm.validate_labels(labs, 1000, "wrd")
    assert [g.label for g in good] == ["a", "b", "h"]
    assert {b.label: b.reason for b in bad} == {"c": "overlap", "d": "overlap",
                                               "e": "empty_interval", "f": "out_of_range",
                                               "g": "out_of_range"}


def test_validate_phn_rejects_any_overlap():
    labs = [tm.Label(0, 100, "h#", 1), tm.Label(90, 200, "s", 2), tm.Label(100, 200, "iy", 3)]
    good, bad = tm.validate_labels(labs, 1000, "phn")
    assert [g.label for g in good] == ["h#", "iy"] and bad[0].reason == "overlap"


def test_slice_token_and_fit_to_length():
    audio = np.arange(1, 101, dtype=np.float32)
    clip = sl.slice_token(audio, 10, 20, 3)
    np.testing.assert_array_equal(clip, [0, 0, 0] + list(range(11, 21)) + [0, 0, 0])
    out = sl.fit_to_length(clip, 32)
    assert out.shape == (32,) and out[:16].tolist() == clip.tolist() and not out[16:].any()
    with pytest.raises(ValueError):
        sl.fit_to_length(clip, 15)
    with pytest.raises(ValueError):
        sl.slice_token(audio, 90, 101, 3)


def test_pad_samples():
    from corpus.prepare_options import pad_samples
    assert pad_samples(25) == 400 and pad_samples(0) == 0
    assert pad_samples(10, 8000) == 80
    with pytest.raises(ValueError):
        pad_samples(-1)


def test_token_phones_offsets():
    phones = [("h#", 0, 1000), ("d", 1000, 1200), ("aa", 1200, 2000), ("k", 2000, 2300),
              ("s", 2280, 2600), ("iy", 2600, 3000)]
    # word [1000, 2300): phone offsets = start - 1000 + pad; 's' mostly outside -> not included
    out = sl.token_phones(phones, 1000, 2300, 400, 2300 - 1000 + 800)
    assert out == [("d", 400, 600), ("aa", 600, 1400), ("k", 1400, 1700)]
    # a phone sticking out of the padded clip is clipped to it
    out = sl.token_phones([("x", 950, 1300)], 1000, 1300, 20, 340)
    assert out == [("x", 0, 320)]


def _tokens(n_spk=10, words=("a", "b", "c"), per=2):
    rows = [(w, f"S{s}", "train" if s < 7 else "test") for s in range(n_spk) for w in words
            for _ in range(per)]
    return pd.DataFrame(rows, columns=["word", "speaker", "timit_split"])


def test_random_split_is_stratified_and_seeded():
    df = _tokens()
    s = sl.assign_splits(df, "random", 0.2, seed=1)
    for w in "abc":
        assert (s[df.word == w] == "test").sum() == round(0.2 * 20)
    np.testing.assert_array_equal(s, sl.assign_splits(df, "random", 0.2, seed=1))
    assert not np.array_equal(s, sl.assign_splits(df, "random", 0.2, seed=2))


def test_speaker_split_disjoint_and_close_to_fraction():
    df = _tokens(n_spk=25)
    s = sl.assign_splits(df, "speaker", 0.2, seed=0)
    test_spk = set(df.speaker[s == "test"])
    train_spk = set(df.speaker[s == "train"])
    assert test_spk and train_spk and not test_spk & train_spk
    assert (s == "test").sum() == 0.2 * len(df)   # 5 speakers x 6 tokens exactly


def test_timit_split_and_errors():
    df = _tokens()
    np.testing.assert_array_equal(sl.assign_splits(df, "timit"), df.timit_split)
    with pytest.raises(ValueError, match="TRAIN/TEST"):
        sl.assign_splits(df.assign(timit_split=""), "timit")
    with pytest.raises(ValueError, match="--split"):
        sl.assign_splits(df, "bogus")
    with pytest.raises(ValueError, match="--test_fraction"):
        sl.assign_splits(df, "random", 1.0)


def test_shard_paths():
    assert sl.shard_paths("train", 2500, 1000) == [
        f"tfrecords/train-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert sl.shard_paths("test", 0, 1000) == ["tfrecords/test-00000-of-00001.tfrecord"]


def test_report_counts_and_logs(caplog):
    r = Report()
    with caplog.at_level("WARNING", logger="corpus"):
        r.skip("too_long", "f.WRD:3: x")
        r.warn("missing_phn", "g.WAV")
    assert r.skipped == {"too_long": 1} and r.warnings == {"missing_phn": 1}
    assert "f.WRD:3" in caplog.text and "g.WAV" in caplog.text


def _lying_wav(path, rate, n_frames=16000):
    """A PCM WAV whose header claims ``rate`` Hz (the samples are real, the rate a lie)."""
    import struct
    data = (np.random.default_rng(0).standard_normal(n_frames) * 3000).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2 % 2 ** 32, 2, 16) +
              b"data" + struct.pack("<I", len(data)))
    with open(path, "wb") as f:
        f.write(header + data)


@pytest.mark.parametrize("rate", [2 ** 31 - 1, 1, 999, 768_001])
def test_a_lying_header_is_skipped_before_anything_is_allocated(tmp_path, rate, monkeypatch):
    """A header claiming an absurd rate is refused from the header alone: neither
    soundfile.read nor the resampler ever runs (issue 23: 2^31-1 Hz allocated 320 GiB, 1 Hz
    took 15 s to resample)."""
    from corpus import audio
    from corpus.corpus_errors import AudioReadError
    from corpus.folder import SkippedFile, read_word_file

    path = str(tmp_path / "lie.wav")
    _lying_wav(path, rate)
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: pytest.fail("the file was read"))
    monkeypatch.setattr(audio.signal, "resample_poly",
                        lambda *a, **k: pytest.fail("the file was resampled"))
    with pytest.raises(AudioReadError, match=f"claims a sample rate of {rate} Hz") as err:
        audio.read_audio(path)
    assert err.value.reason == "bad_header"
    with pytest.raises(SkippedFile) as skipped:
        read_word_file(path, slice_len=16384)
    assert skipped.value.reason == "bad_header"


def test_too_long_is_decided_from_the_header(tmp_path, monkeypatch):
    """A believable file longer than a clip is skipped as too_long without being read; the
    length at 16 kHz computed from the header is resample_poly's (a 44.1 kHz file of 22,050
    frames gives 8,000 samples)."""
    import soundfile as sf

    from corpus import audio
    from corpus.folder import SkippedFile, read_word_file

    sf.write(str(tmp_path / "long.wav"), np.zeros(40000), 16000)
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: pytest.fail("the file was read"))
    with pytest.raises(SkippedFile, match="40000 samples > slice_len=16384") as err:
        read_word_file(str(tmp_path / "long.wav"), slice_len=16384)
    assert err.value.reason == "too_long"
    assert audio.resampled_length(22050, 44100, 16000) == 8000 == len(
        audio.resample(np.zeros(22050), 44100, 16000))
    assert audio.resampled_length(1001, 44100, 16000) == len(
        audio.resample(np.zeros(1001), 44100, 16000))
