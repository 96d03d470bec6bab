"""tools/make_tf1_reference.py without TensorFlow 2.15: its file format as the port reads it,
its refusals (one line, exit 2, nothing written), and where the tests look for fixtures.

The reference it writes is checked end to end by the fixture tests themselves
(docs/reference.md: CIWGAN_FIXTURES=<its folder> pytest tests/test_tf1_import.py ...)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tf1_reference import compare_to_reference
from conftest import find_fixture

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "make_tf1_reference.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("make_tf1_reference", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reduced_tensors_are_what_the_port_compares(tool):
    rs = np.random.RandomState(0)
    values = {"small": rs.standard_normal([25, 1, 8]).astype(np.float32),
              "edge": rs.standard_normal([2048, 1]).astype(np.float32),
              "large": rs.standard_normal([25, 8, 16]).astype(np.float32)}
    stored = tool.reduce_tensors(values, "simultaneous/", {})
    assert stored["simultaneous/small"].shape == (25, 1, 8)
    assert stored["simultaneous/edge"].shape == (2048, 1)        # at the limit: in full
    assert "simultaneous/large" not in stored
    assert list(stored["simultaneous/large@shape"]) == [25, 8, 16]
    assert stored["simultaneous/large@sum"] == pytest.approx(values["large"].sum(dtype=np.float64))
    idx = stored["sample_idx/3200"]
    assert len(set(idx.tolist())) == 2048 and np.all(np.diff(idx) > 0)

    n, fails = compare_to_reference(stored, values, "simultaneous")
    assert (n, fails) == (4, [])  # small, edge, large@sample, large@abssum

    # A change at a sampled element is seen by @sample ...
    moved = dict(values, large=values["large"].copy())
    moved["large"].reshape(-1)[idx[7]] += 1e-3
    assert any("large@sample" in f for f in compare_to_reference(stored, moved,
                                                                 "simultaneous")[1])
    # ... one elsewhere by @abssum.
    unsampled = np.setdiff1d(np.arange(3200), idx)[0]
    moved["large"] = values["large"].copy()
    moved["large"].reshape(-1)[unsampled] += 1.0
    fails = compare_to_reference(stored, moved, "simultaneous")[1]
    assert len(fails) == 1 and "large@abssum" in fails[0]


def test_word_like_inputs(tool):
    batch = tool.word_like_batch(np.random.RandomState(3), 4, 16384, 2)
    assert batch.shape == (4, 16384, 2) and batch.dtype == np.float32
    assert np.allclose(np.abs(batch[:, :, 0]).max(axis=1), 1.0)
    assert not batch[:, :400].any()            # 25 ms of silence first
    assert not batch[:, -16384 // 5:].any()    # zero-padded at the end
    again = tool.word_like_batch(np.random.RandomState(3), 4, 16384, 2)
    np.testing.assert_array_equal(batch, again)


def _run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def _fake_clone(folder: Path) -> Path:
    folder.mkdir()
    for name in ("cinfowavegan.py", "train_ciwgan.py"):
        (folder / name).write_text("raise SystemExit('must not run')\n")
    return folder


@pytest.mark.parametrize("make_args,names", [
    (lambda t, clone: ["--out", str(t / "ref")], "--fiwgan_repo is required"),
    (lambda t, clone: ["--out", str(t / "ref"), f"--fiwgan_repo={t / 'nothing'}"],
     "nothing: no such folder"),
    (lambda t, clone: ["--out", str(t / "ref"), f"--fiwgan_repo={t}"], "has no cinfowavegan.py"),
    (lambda t, clone: ["--out", str(t / "ref"), f"--fiwgan_repo={clone}", "--dim=0"],
     "--dim=0"),
    (lambda t, clone: ["--out", str(t / "ref"), f"--fiwgan_repo={clone}", "--slice_len=8000"],
     "--slice_len"),
    (lambda t, clone: ["--out", str(ROOT / "docs" / "ref"), f"--fiwgan_repo={clone}"],
     "docs/"),
    (lambda t, clone: ["--out", str(clone / "ref"), f"--fiwgan_repo={clone}"],
     "--fiwgan_repo"),
    # TensorFlow >= 2.16 (this project's .venv) has no Keras-2 tf.layers: named, not a traceback
    (lambda t, clone: ["--out", str(t / "ref"), f"--fiwgan_repo={clone}"],
     "TensorFlow 2.15"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, make_args, names):
    clone = _fake_clone(tmp_path / "clone")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = _run_tool(*make_args(tmp_path, clone))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("make_tf1_reference.py: error: ")
    assert names in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not (ROOT / "docs" / "ref").exists()


def test_a_folder_it_did_not_write_is_left_alone(tmp_path):
    clone = _fake_clone(tmp_path / "clone")
    out = tmp_path / "ref"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    for extra in ([], ["--overwrite"]):
        proc = _run_tool(f"--out={out}", f"--fiwgan_repo={clone}", *extra)
        assert proc.returncode == 2 and "not an output of tf1-reference" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_fixture_search_order(tmp_path):
    local, shared = tmp_path / "work_fixtures", tmp_path / "shared_fixtures"
    folders = (local, shared)
    name = "tf1_ciwgan_dim8"
    assert find_fixture(name, {}, folders) == shared / name          # none: reported as shared
    (shared / name).mkdir(parents=True)
    assert find_fixture(name, {}, folders) == shared / name
    (local / name).mkdir(parents=True)
    assert find_fixture(name, {}, folders) == local / name           # work/fixtures first
    # $CIWGAN_FIXTURES wins, and only it is used when set (even without the fixture)
    chosen = tmp_path / "elsewhere"
    assert find_fixture(name, {"CIWGAN_FIXTURES": str(chosen)}, folders) == chosen / name


def _readme(tmp_path, model, batchnorm=False):
    """The README a reference folder of ``model`` gets, from made-up results."""
    import types

    spec = importlib.util.spec_from_file_location("tf1_reference_readme",
                                                  ROOT / "tools" / "tf1_reference_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    train, code = tmp_path / f"train_{model}.py", tmp_path / "code.py"
    train.write_text("x")
    code.write_text("y")
    opts = types.SimpleNamespace(
        model=model, num_categ=8, latent_dim=100, kernel_len=25, dim=8, slice_len=16384,
        num_channels=1, batchnorm=batchnorm, upsample="zeros", genr_pp=False, genr_pp_len=512,
        phaseshuffle=2, batch_size=4, disc_nupdates=5, iterations=3, seed=0,
        train_path=str(train), model_path=str(code), repo=str(tmp_path), out="work/ref/")
    state = {"G/w": np.ones(3), "Q/w": np.ones(2)}
    result = {"gq": {"simultaneous": ({"Q_loss": 1.5}, state),
                     "sequential": ({"Q_loss": 1.25}, {k: v + 1 for k, v in state.items()})},
              "gq_start": {k: v - 0.5 for k, v in state.items()}, "trainable": set(state),
              "original_call": [(True, [state])]}
    writer = module.ReadmeWriter(
        opts, types.SimpleNamespace(__version__="2.15.1"), {"G_z": np.zeros((4, 3), np.float32)},
        {}, result, [("G/w", [3])], {"G_z": 0.0}, "python train.py train t", "python step",
        "model.ckpt-3", None, "--fiwgan_repo", 2048)
    return writer.render({"checkpoint": 12})


def test_readme_comes_from_the_template(tmp_path):
    """README.md's text is tools/tf1_reference_readme.md: every placeholder filled, the
    sentences that depend on the model chosen by it."""
    ciw = _readme(tmp_path, "ciwgan", batchnorm=True)
    assert "${" not in ciw and ciw.startswith("# ref\n\nReference data produced by running the "
                                              "original TensorFlow-1 ciwGAN code")
    assert "- latent sampler: `random_z()` of train_ciwgan.py" in ciw
    assert "`Q_x`, `q_on_G_z`: Q logits for x and G_z." in ciw
    assert "   - batch norm: G's moving statistics" in ciw
    assert ("Magnitudes: largest change of a G weight in the step 0.5, of a Q weight 0.5; "
            "largest difference simultaneous vs sequential: G weights 1, Q weights 1 (Q_loss "
            "1.5 vs 1.25)") in ciw
    assert "- single-threaded session, 1 runs, 1 distinct outcome(s): max diff to " \
           "simultaneous 0 " in ciw
    assert ciw.endswith("`@abssum`: 1e-5 relative.\n")
    wave = _readme(tmp_path, "wavegan")
    assert "${" not in wave and "num_categ" not in wave and "Magnitudes" not in wave
    assert "   WaveGAN has no Q: both prefixes hold the same Adam update of G." in wave
    assert "D logits for x and G_z.\n" in wave
