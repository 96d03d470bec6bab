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
