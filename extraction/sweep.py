"""Latent sweeps (``extract.py --codes=all --values=0,1,2,5``; docs/sweeps.md): Beguš's
method of setting a code to values beyond its training range, run for every code and value
with the rest of z shared.

    z [token] = [code i's entries = value v (the rest 0), noise j]
    token_id  = (i * n_values + v_index) * n_per_code + j

The noise rows are those of :func:`ciwgan.codes.code_latents` with the same seed (noise j of
a sweep is noise j of ``--value`` runs), so token j of every code and value shares its noise:
j (``noise_index``) is the unit of replication of every test of a value effect
(analysis.sweeps). ``word`` is the code's label (``code_3``), so Q's classification reads
as with ``--codes``; which value made a token is in ``sweep_tokens.csv``
(:data:`common.layout.SWEEP_TOKENS`), written into the folder with the record
``extract_info.json`` saying ``folder_kind: sweep`` and the sweep's settings.

The generated audio's acoustics (intensity, centre of gravity, F0, F1, F2 on Praat's own
5 ms frames) come from ``extraction.acoustics.measure_acoustics`` through
:func:`measure_sweep_acoustics`, the one adapter, into ``sweep_acoustics.parquet``.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from common import layout
from extraction.extraction_errors import ExtractionError
from extraction.sources import GeneratedSource

logger = logging.getLogger(__name__)


def sweep_latents(config, codes: Sequence[int], values: Sequence[float], n_per_code: int,
                  seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """(z float32 [len(codes) * len(values) * n_per_code, latent_dim], the sweep_tokens
    table) in code, value, noise order (the module docstring)."""
    from ciwgan.codes import code_label, code_latents

    blocks, rows = [], []
    per_value = [code_latents(config, codes, n_per_code=n_per_code, value=float(v),
                              seed=seed)[0] for v in values]
    for i, code in enumerate(codes):
        label = code_label(config, code)
        for v, z in zip(values, per_value):
            blocks.append(z[i * n_per_code:(i + 1) * n_per_code])
            rows += [(label, float(v), j) for j in range(n_per_code)]
    table = pd.DataFrame(rows, columns=["code", "code_value", "noise_index"])
    table.insert(0, "token_id", np.arange(len(table), dtype=np.int64))
    return np.concatenate(blocks, 0).astype(np.float32), table


class SweepSource(GeneratedSource):
    """A GeneratedSource whose tokens are every code at every value (``values``), the noise
    shared across codes and values; ``tokens`` is the sweep_tokens table."""

    kind = "sweep"

    def __init__(self, G, config, codes: Sequence[str] | None, values: Sequence[float],
                 n_per_code: int, batch_size: int, seed: int = 0):
        from ciwgan.codes import parse_codes
        super().__init__(G, config, codes, n_per_code, batch_size, value=1.0, seed=seed)
        values = [float(v) for v in values]
        if not values or not np.isfinite(values).all() or len(set(values)) != len(values):
            raise ExtractionError(f"--values={values}: distinct finite numbers expected")
        try:
            code_ids = parse_codes(config, codes)
        except ValueError as e:
            raise ExtractionError(f"--codes: {e}") from None
        self.z, self.tokens = sweep_latents(config, code_ids, values, n_per_code, seed)
        self.labels = self.tokens["code"].tolist()
        self.n_tokens = len(self.labels)
        self.values = values
        self.codes = list(dict.fromkeys(self.labels))
        self.n_per_code = int(n_per_code)

    def fingerprint(self) -> dict:
        out = super().fingerprint()
        out["kind"] = self.kind
        out["values"] = self.values
        return out

    def record(self) -> dict:
        """The sweep's entry in extract_info.json."""
        return {"codes": self.codes, "values": self.values, "n_per_code": self.n_per_code,
                "seed": int(self.seed), "unit": "noise_index (the shared z draw)",
                "order": "token_id = (code * n_values + value_index) * n_per_code + "
                         "noise_index"}


def measure_sweep_acoustics(source: SweepSource, frames: dict,
                            measure: Optional[Callable] = None) -> tuple:
    """(long DataFrame of acoustics with token = token_id, failure counts) of the sweep's
    generated audio, measured batch by batch.

    ``measure``: ``measure_acoustics(audio [n, samples], sample_rate, frames)`` ->
    (DataFrame with a 0-based ``token`` column, {reason: count}); default
    :func:`extraction.acoustics.measure_acoustics` (Praat)."""
    if measure is None:
        from extraction.acoustics import measure_acoustics as measure  # noqa: F811
    tables, failures = [], {}
    for batch in source.batches():
        table, fails = measure(batch.audio, source.sample_rate, frames)
        table = table.copy()
        table["token"] = np.asarray(batch.token_id)[table["token"].to_numpy(int)]
        tables.append(table)
        for k, v in (fails or {}).items():
            failures[k] = failures.get(k, 0) + int(v)
    return pd.concat(tables, ignore_index=True), failures


def finish_sweep(source: SweepSource, measure: Optional[Callable] = None,
                 notify: Optional[Callable[[str], None]] = None) -> Callable:
    """The hook ``run_extraction(finish=...)`` calls on the partial folder before writing
    extract_info.json: writes sweep_tokens.csv (and sweep_acoustics.parquet) and records the
    sweep in ``info``."""
    from common.atomic import atomic_path, atomic_write_csv

    def finish(tmp: str, info: dict) -> None:
        atomic_write_csv(source.tokens, os.path.join(tmp, layout.SWEEP_TOKENS_CSV),
                         index=False)
        record = source.record()
        files = [layout.SWEEP_TOKENS_CSV]
        # one axis, Praat's own 5 ms frames: the sound's measures, not a layer's (G's output
        # block alone has 16,384 frames a token; a finer axis only interpolates Praat's frames)
        from extraction.acoustics import praat_axis
        (notify or logger.info)(f"measuring the generated audio of {source.n_tokens} tokens "
                                "with Praat (sweep_acoustics.parquet)")
        frames = praat_axis(int(info["slice_len"]), int(info["sample_rate"]))
        table, extra = measure_sweep_acoustics(source, frames, measure)
        name = f"{layout.SWEEP_ACOUSTICS}.parquet"
        with atomic_path(os.path.join(tmp, name)) as path:
            table.to_parquet(path, index=False)
        record["acoustics"] = {"measured": True, "failures": extra, "rows": len(table),
                               "axis": "Praat's 5 ms frames (extraction.acoustics.praat_axis)"}
        files.append(name)
        info[layout.FOLDER_KIND_KEY] = layout.FOLDER_SWEEP
        info["sweep"] = record
        info["files"] = sorted(set(info["files"]) | set(files))

    return finish
