"""Compare a training state with a one-step reference of the original code (test-only: the
TF1 fixture checks in tests/step_check.py and tests/test_reference_tool.py).

The fixture format (``step_reference.npz``, see shared/fixtures/*/README.md): small tensors in
full under their TF1 name; larger ones as ``<name>@sample`` (values at the sorted indices
``sample_idx/<size>``), ``@shape``, ``@sum``, ``@abssum``.  Keys of the G+Q update carry a
``simultaneous/`` or ``sequential/`` prefix.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np


def compare_to_reference(ref, values: Dict[str, np.ndarray], prefix: str = "",
                         rtol: float = 1e-5, atol: float = 1e-8) -> Tuple[int, List[str]]:
    """Check every reference entry under ``prefix`` that names a key of ``values``.

    Returns (number of entries compared, list of failure messages).
    """
    failures, compared = [], 0
    for key in ref.keys():
        if prefix and not key.startswith(prefix + "/"):
            continue
        name = key[len(prefix) + 1:] if prefix else key
        base, _, kind = name.partition("@")
        if base not in values or kind in ("shape", "sum"):
            continue
        got = np.asarray(values[base])
        want = np.asarray(ref[key])
        if kind == "sample":
            got = got.reshape(-1)[ref[f"sample_idx/{got.size}"]]
        elif kind == "abssum":
            got = np.abs(got.astype(np.float64)).sum()
        elif got.shape != want.shape:
            got = got.reshape(want.shape)
        compared += 1
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            err = np.max(np.abs(got - want) - rtol * np.abs(want))
            failures.append(f"{key}: max excess {err:.3g} over atol+rtol*|ref|")
    return compared, failures
