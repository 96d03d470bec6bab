"""Shared test set-up: repository root on sys.path, quiet TensorFlow, the TF1 fixtures."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never measure conv paths into the user's cache (wavegan.conv_tuning): training takes the
# pinned paths (no timing-dependent choice in a test), and a test that tunes writes here.
os.environ.setdefault("WAVEGAN_CONV_TUNE", "0")
os.environ.setdefault("WAVEGAN_CONV_CACHE", os.path.join(
    tempfile.mkdtemp(prefix="ciwgan-test-conv-cache-"), "conv_paths.json"))

# Where the TF1 reference folders are looked for, in this order (docs/reference.md): the folder
# $CIWGAN_FIXTURES names (when set, only there); work/fixtures, where a user writes them with
# tools/make_tf1_reference.py; ../shared/fixtures, beside the project's own checkout.
LOCAL_FIXTURES = ROOT / "work" / "fixtures"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
HOW_TO_MAKE = "make one with tools/make_tf1_reference.py (docs/reference.md)"


def find_fixture(name: str, environ=os.environ,
                 folders=(LOCAL_FIXTURES, SHARED_FIXTURES)) -> Path:
    """The folder of fixture ``name``: under $CIWGAN_FIXTURES when set, else the first of
    ``folders`` that holds it (the last one when none does: the skip message names it)."""
    if environ.get("CIWGAN_FIXTURES"):
        return Path(environ["CIWGAN_FIXTURES"]) / name
    for folder in folders:
        if (folder / name).exists():
            return folder / name
    return folders[-1] / name


TF1_DIM8 = find_fixture("tf1_ciwgan_dim8")


def require_fixture(path: Path) -> Path:
    """The fixture folder; skipped when absent, unless REQUIRE_FIXTURES=1 (CI) makes it fail."""
    if not path.exists():
        if os.environ.get("REQUIRE_FIXTURES") == "1":
            pytest.fail(f"fixture {path} is missing (REQUIRE_FIXTURES=1); {HOW_TO_MAKE}")
        pytest.skip(f"fixture {path} not present (looked in $CIWGAN_FIXTURES when set, else "
                    f"{LOCAL_FIXTURES}, then {SHARED_FIXTURES}); {HOW_TO_MAKE}")
    return path


@pytest.fixture(scope="session")
def tf1_dim8() -> Path:
    return require_fixture(TF1_DIM8)


def require_tool(name: str, install: str) -> str:
    """The path of the program ``name`` (e.g. chromium); skipped when absent, unless
    REQUIRE_FIXTURES=1 (CI, where setup.sh installs it) makes it fail, as for the fixtures."""
    import shutil
    path = shutil.which(name)
    if path is None:
        if os.environ.get("REQUIRE_FIXTURES") == "1":
            pytest.fail(f"{name} is missing (REQUIRE_FIXTURES=1); {install}")
        pytest.skip(f"{name} not installed; {install}")
    return path
