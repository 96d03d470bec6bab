"""An interrupted extraction resumes from its last complete batch and gives the same folder as
an uninterrupted run; other settings are refused; CSV copies off above a size; bounded memory.

Tiny random dim-2 models, 5-7 tokens in batches of 2 (so 3-4 batches); the real-process test
(SIGTERM, then SIGKILL, then a finishing run of ``python extract.py``) is marked slow.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

tf = pytest.importorskip("tensorflow")
wavegan = pytest.importorskip("wavegan")


from common.errors import InputError  # noqa: E402
from common.outputs import MARKER_NAME, OutputFolder  # noqa: E402
from extraction import run as run_module  # noqa: E402
from extraction.extraction_errors import ExtractionError  # noqa: E402
from extraction.resume import JOURNAL_NAME, ResumableOutput  # noqa: E402
from extraction.run import SkippedTokens, decide_csv, run_extraction  # noqa: E402
from extraction.sources import ArraySource, GeneratedSource, TokenBatch, open_source  # noqa: E402
from test_extraction_run import write_dataset  # noqa: E402
from wavegan.tf1_checkpoint import save_tf1_checkpoint  # noqa: E402
from extraction_helpers import (extract_cli, tiny_ciwgan_models,  # noqa: E402
                                word_like_audio)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
L = 16384
WORDS = ["bag", "bag", "dog", "dog", "cat", "cat", "bag"]
SPEAKERS = ["s1", "s2", "s1", "s2", "s1", "s2", "s3"]
PHONES = [(0, "s", 1000, 3000), (1, "s", 16000, 16384), (3, "s", 200, 5000),
          (5, "s", 0, 9000), (6, "s", 4000, 4100)]
# every table of a Q run: phones, upsampled (all tokens), single channels, acoustics
OPTIONS = dict(phones=["s"], upsample=True, upsample_per_word=0, channels="conv5:0,1",
               layers="conv3,conv4,conv5", n_perm=10, acoustics=True)


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C raises, from inside the batch loop."""


@pytest.fixture(scope="module")
def models():
    return tiny_ciwgan_models(11)


@pytest.fixture(scope="module")
def audio():
    """7 word-like tokens; token 2 holds a NaN sample (skipped and counted, never fed to Q)."""
    x = word_like_audio(len(WORDS), seed=3)
    x[2, 100] = np.nan
    return x


@pytest.fixture()
def data(tmp_path, audio):
    folder = str(tmp_path / "data")
    write_dataset(folder, audio, WORDS, SPEAKERS, PHONES)
    return folder


def interrupting(source, after, exc=Interrupt, method="batches"):
    """Make ``source`` raise ``exc`` when the run asks for its batch number ``after`` (counted
    from the first batch of this run), i.e. after ``after`` complete batches."""
    original = getattr(source, method)

    def batches(start=0):
        for i, item in enumerate(original(start)):
            if i == after:
                raise exc("stop")
            yield item

    setattr(source, method, batches)
    return source


def extract_dataset(models, data, out, batch_size=2, after=None, **kw):
    config, G, D, Q = models
    source = open_source(data, "test", batch_size, L)
    if after is not None:
        interrupting(source, after)
    options = {**OPTIONS, **kw}
    return run_extraction(Q, config, source, str(out), progress=False, **options)


def read_folder(folder):
    """Every file of a finished folder, in a comparable form: Parquet as (table, row groups),
    CSV and JSON as text / objects; extract_info.json without its timing fields."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".parquet"):
            out[name] = (pq.read_table(path), pq.ParquetFile(path).num_row_groups)
        elif name == "extract_info.json":
            info = json.load(open(path))
            for key in ("seconds", "created"):
                info.pop(key)
            out[name] = info
        elif name == MARKER_NAME:
            out[name] = sorted(json.load(open(path)))   # its keys (pid and time differ)
        else:
            out[name] = open(path, encoding="utf-8").read()
    return out


def assert_same_folder(a, b):
    fa, fb = read_folder(a), read_folder(b)
    assert list(fa) == list(fb)
    for name in fa:
        if name.endswith(".parquet"):
            ta, tb = fa[name][0], fb[name][0]                     # content and row order
            assert ta.schema == tb.schema and (                   # (NaN: the acoustics)
                ta.equals(tb) or ta.to_pandas().equals(tb.to_pandas())), name
            assert fa[name][1] == fb[name][1], name               # same row groups
        else:
            assert fa[name] == fb[name], name


def partial_of(out):
    return os.path.join(os.path.dirname(str(out)), f".{os.path.basename(str(out))}.partial")


def journal(out):
    return json.load(open(os.path.join(partial_of(out), JOURNAL_NAME)))


# --------------------------------------------------------------------------------------------
# Interrupted, then resumed


def test_interrupted_twice_then_resumed_equals_uninterrupted(tmp_path, models, data):
    ref = tmp_path / "ref"
    info_ref = extract_dataset(models, data, ref)
    assert info_ref["counts"]["skipped"] == {"non_finite": 1}
    assert info_ref["counts"]["rows"]["phone_activations"] > 0

    out = tmp_path / "act"
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, after=1)       # batch 0 complete, Ctrl-C in batch 1
    assert not out.exists() and journal(out)["batches_done"] == 1
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, after=1)       # resumed at 1, stopped again in 2
    assert journal(out)["batches_done"] == 2
    assert journal(out)["skipped"] == {"non_finite": 1}   # token 2, in batch 1, counted once
    notes = []
    info = extract_dataset(models, data, out, notify=notes.append)
    assert notes == [f"resuming the interrupted extraction in {partial_of(out)}: 2 of 4 "
                     "batches are done"]
    assert_same_folder(ref, out)
    assert info["counts"] == info_ref["counts"] and info["accuracy"] == info_ref["accuracy"]
    assert sorted(os.listdir(tmp_path)) == ["act", "data", "ref"]      # partial folder gone
    # and the tables are the tokens' own: 6 tokens written, token 2 in no table
    q = pd.read_csv(out / "q_outputs.csv")
    assert q.token_id.tolist() == [0, 1, 3, 4, 5, 6]


def test_kill_between_parts_and_journal_redoes_that_batch(tmp_path, models, data, monkeypatch):
    """A kill after a batch's part files were renamed into place but before the journal
    counted them: the next run removes them and does the batch again."""
    ref = tmp_path / "ref"
    extract_dataset(models, data, ref, layers="conv5", phones=None, upsample=False,
                    channels=None)
    out = tmp_path / "act"
    save = ResumableOutput.save

    def save_or_die(self):
        if self.state.get("batches_done") == 2:
            raise Interrupt("killed")
        save(self)

    monkeypatch.setattr(ResumableOutput, "save", save_or_die)
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, layers="conv5", phones=None, upsample=False,
                        channels=None)
    parts = sorted(os.listdir(os.path.join(partial_of(out), "parts")))
    assert "activations-000001.parquet" in parts and journal(out)["batches_done"] == 1
    monkeypatch.setattr(ResumableOutput, "save", save)
    extract_dataset(models, data, out, layers="conv5", phones=None, upsample=False,
                    channels=None)
    assert_same_folder(ref, out)


def test_kill_before_the_rename_only_renames(tmp_path, models, data, monkeypatch):
    """Killed after the final files were written but before the folder was renamed into
    place: the next run only renames it (no batch is computed again)."""
    ref = tmp_path / "ref"
    extract_dataset(models, data, ref, layers="conv5", phones=None, upsample=False,
                    channels=None)
    out = tmp_path / "act"
    install = OutputFolder.install
    monkeypatch.setattr(OutputFolder, "install", lambda self: (_ for _ in ()).throw(
        Interrupt("killed")))
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, layers="conv5", phones=None, upsample=False,
                        channels=None)
    assert not out.exists() and os.path.exists(os.path.join(partial_of(out), "extract_info.json"))
    monkeypatch.setattr(OutputFolder, "install", install)
    source = open_source(data, "test", 2, L)
    source.batches = lambda start=0: pytest.fail("a finished run read batches again")
    config, G, D, Q = models
    run_extraction(Q, config, source, str(out), progress=False, n_perm=10, layers="conv5")
    assert_same_folder(ref, out)


def test_generator_and_discriminator_resume(tmp_path, models, audio):
    config, G, D, Q = models
    # G's own traces, generated tokens (latent_batches is what the run reads)
    ref_g = run_extraction(G, config, GeneratedSource(G, config, ["0", "2"], 3, 2, seed=4),
                           str(tmp_path / "g_ref"), network="G", layers="z_project,upconv1",
                           progress=False)
    source = interrupting(GeneratedSource(G, config, ["0", "2"], 3, 2, seed=4), 2,
                          method="latent_batches")
    with pytest.raises(Interrupt):
        run_extraction(G, config, source, str(tmp_path / "g"), network="G",
                       layers="z_project,upconv1", progress=False)
    run_extraction(G, config, GeneratedSource(G, config, ["0", "2"], 3, 2, seed=4),
                   str(tmp_path / "g"), network="G", layers="z_project,upconv1",
                   progress=False)
    assert_same_folder(tmp_path / "g_ref", tmp_path / "g")
    assert ref_g["counts"]["tokens"] == 6
    # D on arrays (d_outputs.csv from the tokens side table)
    kw = dict(network="D", layers="conv5", progress=False)
    run_extraction(D, config, ArraySource(audio, WORDS, batch_size=3), str(tmp_path / "d_ref"),
                   **kw)
    with pytest.raises(Interrupt):
        run_extraction(D, config, interrupting(ArraySource(audio, WORDS, batch_size=3), 1),
                       str(tmp_path / "d"), **kw)
    run_extraction(D, config, ArraySource(audio, WORDS, batch_size=3), str(tmp_path / "d"), **kw)
    assert_same_folder(tmp_path / "d_ref", tmp_path / "d")


# --------------------------------------------------------------------------------------------
# Other settings are refused; --overwrite starts again; bad input leaves nothing


@pytest.mark.parametrize("change, named", [
    (dict(batch_size=3), "--batch_size: 2 then, 3 now"),
    (dict(layers="conv5"), "--layers"),
    (dict(normalize="none"), "--normalize: \"peak\" then, \"none\" now"),
    (dict(csv=False), "--csv: true then, false now"),
])
def test_other_settings_refused_then_overwrite_starts_again(tmp_path, models, data, change,
                                                            named):
    out = tmp_path / "act"
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, after=1)
    partial = partial_of(out)
    before = sorted(os.listdir(os.path.join(partial, "parts")))
    with pytest.raises(ExtractionError) as e:
        extract_dataset(models, data, out, **change)
    message = str(e.value)
    assert named in message and "--overwrite" in message and partial in message, message
    assert "\n" not in message
    assert sorted(os.listdir(os.path.join(partial, "parts"))) == before   # untouched
    # --overwrite discards the interrupted run and gives what a fresh run gives
    extract_dataset(models, data, out, overwrite=True, **change)
    extract_dataset(models, data, tmp_path / "ref", **change)
    assert_same_folder(tmp_path / "ref", out)


def test_changed_data_refused(tmp_path, models, data):
    out = tmp_path / "act"
    with pytest.raises(Interrupt):
        extract_dataset(models, data, out, after=1)
    with open(os.path.join(data, "phones.csv"), "a") as f:
        f.write("4,s,10,20\n")
    with pytest.raises(ExtractionError, match="the input's files .its contents changed"):
        extract_dataset(models, data, out)


def test_foreign_partial_folder_refused(tmp_path, models, data):
    os.makedirs(partial_of(tmp_path / "act"))
    with open(os.path.join(partial_of(tmp_path / "act"), "mine.txt"), "w") as f:
        f.write("keep")
    with pytest.raises(InputError, match="is not an interrupted extract output"):
        extract_dataset(models, data, tmp_path / "act")
    assert os.listdir(partial_of(tmp_path / "act")) == ["mine.txt"]


# --------------------------------------------------------------------------------------------
# CSV copies: on below a size unless asked, with a notice


def test_csv_auto_threshold(tmp_path, models, audio, monkeypatch):
    config, G, D, Q = models
    # hand count: the 16384-sample model's layer lengths 4096 + 1024 + 256 + 64 + 16 = 5456;
    # --channels=conv5:0,1 adds 2 x 16
    plan = run_module.make_plan(Q, config, ArraySource(audio, WORDS), channels="conv5:0,1")
    assert run_module.values_per_token(plan) == 5456 + 32
    limit = run_module.CSV_AUTO_MAX_ROWS
    fits = limit // 5488
    assert decide_csv(None, plan, fits) == (True, None)
    on, note = decide_csv(None, plan, fits + 1)
    assert not on and f"{fits + 1:,} tokens x 5,488 values" in note and "--csv" in note
    assert decide_csv(True, plan, 10 * fits) == (True, None)
    assert decide_csv(False, plan, 1) == (False, None)
    # the paper's two experiments, five layers: 1,067 tokens get CSVs, 54,378 do not
    plan5 = run_module.make_plan(Q, config, ArraySource(audio, WORDS))
    assert decide_csv(None, plan5, 1067)[0] and not decide_csv(None, plan5, 54378)[0]
    # --acoustics: one acoustics row per activations row, so twice the rows
    plan_ac = run_module.make_plan(Q, config, ArraySource(audio, WORDS), acoustics=True)
    assert run_module.values_per_token(plan_ac) == 2 * 5456

    # a run: 7 tokens x 16 conv5 values = 112 rows; limit 100 -> no CSV, one notice
    monkeypatch.setattr(run_module, "CSV_AUTO_MAX_ROWS", 100)
    notes = []
    info = run_extraction(Q, config, ArraySource(audio, WORDS, batch_size=4),
                          str(tmp_path / "a"), layers="conv5", progress=False, n_perm=5,
                          notify=notes.append)
    assert "activations.csv" not in info["files"] and len(notes) == 1 and "112 rows" in notes[0]
    info = run_extraction(Q, config, ArraySource(audio, WORDS, batch_size=4),
                          str(tmp_path / "b"), layers="conv5", progress=False, n_perm=5,
                          csv=True)
    assert "activations.csv" in info["files"]
    monkeypatch.setattr(run_module, "CSV_AUTO_MAX_ROWS", 112)
    info = run_extraction(Q, config, ArraySource(audio, WORDS, batch_size=4),
                          str(tmp_path / "c"), layers="conv5", progress=False, n_perm=5)
    assert "activations.csv" in info["files"]
    a = pd.read_csv(tmp_path / "c" / "activations.csv")
    b = pd.read_parquet(tmp_path / "c" / "activations.parquet")
    np.testing.assert_allclose(a.value, b.value, rtol=1e-6)


cli = extract_cli  # extract.py in-process; returns its exit status


@pytest.fixture()
def checkpoint(tmp_path, models):
    config, G, D, Q = models
    prefix = str(tmp_path / "run" / "model.ckpt-1")
    os.makedirs(os.path.dirname(prefix))
    save_tf1_checkpoint(prefix, G, D, Q, global_step=1)
    return prefix


def test_cli_csv_flag_and_refusal_line(tmp_path, data, checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(run_module, "CSV_AUTO_MAX_ROWS", 100)
    common = [f"--checkpoint={checkpoint}", f"--data={data}", "--layers=conv5"]
    assert cli(*common, f"--out={tmp_path / 'auto'}") == 0
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if "note:" in ln][0].startswith(
        "extract.py: note: no .csv copies of the long tables: 7 tokens x 16 values = ")
    assert not (tmp_path / "auto" / "activations.csv").exists()
    assert cli(*common, f"--out={tmp_path / 'on'}", "--csv") == 0
    assert (tmp_path / "on" / "activations.csv").exists()
    assert cli(*common, f"--out={tmp_path / 'off'}", "--nocsv") == 0
    assert not (tmp_path / "off" / "activations.csv").exists()
    capsys.readouterr()
    # an interrupted run, then the same --out with another --batch_size: one line, exit 2
    monkeypatch.setattr(run_module, "CSV_AUTO_MAX_ROWS", 10 ** 9)
    orig = run_module.open_source
    monkeypatch.setattr(run_module, "open_source",
                        lambda *a, **k: interrupting(orig(*a, **k), 1))
    assert cli(*common, f"--out={tmp_path / 'act'}") == 130
    err = capsys.readouterr().err
    assert "note: interrupted: 1 of 4 batches are kept in" in err
    monkeypatch.setattr(run_module, "open_source", orig)
    assert cli(*common, f"--out={tmp_path / 'act'}", "--batch_size=3") == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("extract.py: error: --out=") and \
        "--batch_size: 2 then, 3 now" in lines[0], lines
    assert cli(*common, f"--out={tmp_path / 'act'}") == 0
    assert "resuming the interrupted extraction" in capsys.readouterr().err
    assert_same_folder(tmp_path / "act", tmp_path / "on")


# --------------------------------------------------------------------------------------------
# Memory: nothing per token is kept by the loop


def test_skipped_tokens_bounded(monkeypatch):
    """A run where every token comes out NaN keeps a bounded list (and log), not one entry
    per token: counts stay exact."""
    monkeypatch.setattr(run_module, "MAX_LISTED_SKIPS", 3)
    skipped = SkippedTokens()
    n = 50
    batch = TokenBatch(audio=np.zeros((n, 4), np.float32), token_id=np.arange(n),
                       word=["w"] * n, speaker=["s"] * n)
    kept = skipped.drop(batch, np.ones(n, bool), "non_finite_output", "test")
    assert len(kept.token_id) == 0 and skipped.counts == {"non_finite_output": n}
    assert len(skipped.tokens) == 3 and len(skipped.report.messages) <= 4


# --------------------------------------------------------------------------------------------
# Real processes: SIGTERM, then SIGKILL, then a run that finishes


def start_cli(args):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "extract.py"), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def stop_after(proc, out, batches, sig, timeout=240):
    """Send ``sig`` once the journal counts at least ``batches`` complete batches."""
    path = os.path.join(partial_of(out), JOURNAL_NAME)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.load(open(path))["batches_done"] >= batches:
                proc.send_signal(sig)
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stderr


@pytest.mark.slow
def test_real_process_sigterm_sigkill_then_resume(tmp_path, models, checkpoint):
    """``python extract.py`` stopped by SIGTERM, then by SIGKILL, then run to its end gives
    the folder of an uninterrupted run. 60 tokens in batches of 1, so the run is far from its
    end when the signals come."""
    config, G, D, Q = models
    n = 60
    rng = np.random.default_rng(5)
    x = np.zeros((n, L), np.float32)
    x[:, :4000] = rng.standard_normal((n, 4000)).astype(np.float32)
    words = [f"w{i % 4}" for i in range(n)]
    data = str(tmp_path / "big")
    write_dataset(data, x, words, ["s"] * n)
    out = tmp_path / "act"
    args = [f"--checkpoint={checkpoint}", "--model=ciwgan", f"--data={data}", f"--out={out}",
            "--batch_size=1", "--layers=conv4,conv5", "--noprogress"]
    code, err = stop_after(start_cli(args), out, 3, signal.SIGTERM)
    assert code == 130, err[-2000:]
    assert "extract.py: note: interrupted:" in err and "Traceback" not in err
    done = journal(out)["batches_done"]
    assert 3 <= done < n
    code, err = stop_after(start_cli(args), out, done + 3, signal.SIGKILL)
    assert code == -signal.SIGKILL, err[-2000:]
    assert done + 3 <= journal(out)["batches_done"] < n and not out.exists()
    res = subprocess.run([sys.executable, os.path.join(ROOT, "extract.py"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming the interrupted extraction" in res.stderr
    source = open_source(data, "test", 1, L)
    run_extraction(Q, config, source, str(tmp_path / "ref"), layers="conv4,conv5",
                   progress=False, checkpoint=checkpoint)
    ref, got = read_folder(tmp_path / "ref"), read_folder(out)
    # the CLI records the checkpoint it resolved; the rest must be the same
    for info in (ref["extract_info.json"], got["extract_info.json"]):
        for key in ("checkpoint_prefix", "checkpoint_step", "checkpoint"):
            info.pop(key)
    assert list(ref) == list(got)
    for name in ref:
        if name.endswith(".parquet"):
            assert ref[name][0].equals(got[name][0]) and ref[name][1] == got[name][1], name
        else:
            assert ref[name] == got[name], name


# --------------------------------------------------------------------------------------------
# At TIMIT's size the permutation chance counts with np.bincount: same numbers as the tables


def test_permutation_chance_equals_the_confusion_table_reference():
    """Reference: each shuffle's Hungarian accuracy from confusion_table (pandas crosstab),
    the same generator drawing the same permutations of the labels."""
    from extraction import classification as cl

    rng = np.random.default_rng(1)
    for trial in range(6):
        n, n_words, n_codes = (int(rng.integers(5, 200)), int(rng.integers(1, 10)),
                               int(rng.integers(1, 9)))
        words = [f"w{i}" for i in rng.integers(0, n_words, n)]
        codes = ([int(c) for c in rng.integers(0, n_codes, n)] if trial % 2 else
                 ["".join(map(str, rng.integers(0, 2, 3))) for _ in range(n)])
        shuffles = np.random.default_rng(trial)
        ref = [cl.hungarian_accuracy(cl.confusion_table(
            words, list(shuffles.permutation(np.asarray(codes, dtype=object)))))[0]
            for _ in range(20)]
        got = cl.permutation_chance(words, codes, n_perm=20, seed=trial)
        assert got["mean"] == pytest.approx(np.mean(ref), abs=1e-12)
        assert got["p95"] == pytest.approx(np.quantile(ref, 0.95), abs=1e-12)
