"""Shared test set-up: repository root on sys.path, quiet TensorFlow, the TF1 fixtures."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURES = Path(os.environ.get("CIWGAN_FIXTURES", ROOT.parent / "shared" / "fixtures"))
TF1_DIM8 = FIXTURES / "tf1_ciwgan_dim8"


def require_fixture(path: Path) -> Path:
    """The fixture folder; skipped when absent, unless REQUIRE_FIXTURES=1 (CI) makes it fail."""
    if not path.exists():
        if os.environ.get("REQUIRE_FIXTURES") == "1":
            pytest.fail(f"fixture {path} is missing (REQUIRE_FIXTURES=1)")
        pytest.skip(f"fixture {path} not present (set CIWGAN_FIXTURES)")
    return path


@pytest.fixture(scope="session")
def tf1_dim8() -> Path:
    return require_fixture(TF1_DIM8)
