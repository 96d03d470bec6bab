"""--distribute=mirrored: the mirrored step equals the single-device step (2 logical CPUs)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("mirrored_check.py")


@pytest.mark.parametrize("conv_impl", ["auto", "native"])
def test_mirrored_step_equals_single_device_step(conv_impl):
    env = dict(os.environ, WAVEGAN_CONV_IMPL=conv_impl)
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "replicas 2" in proc.stdout
