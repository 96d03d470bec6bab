"""--distribute=mirrored: the mirrored step equals the single-device step (2 logical CPUs)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("mirrored_check.py")


def test_mirrored_step_equals_single_device_step():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "replicas 2" in proc.stdout
