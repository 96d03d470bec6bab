"""The small files beside the long tables, read once per analysis.

An activations folder (:mod:`common.layout`) holds, besides the long tables that
:mod:`analysis.columns` scans lazily, three small records: ``extract_info.json`` (the run: the
checkpoint, each layer's ``jump`` and ``centre0``, the sample rate), ``classification.json``
and ``confusion.csv`` (Q's decisions). generate.py's folder holds ``generated.csv``.
:func:`read_activations_records` reads the three once; the analysis passes the result to
everything that needs one of them (the figures' sample rate, the layer's time axis, the
spectra's rates, the report).

A missing file is None (its part of the report is left out); a file that exists but does
not parse is an :class:`AnalysisInputError` naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional

import pandas as pd

from analysis.diffcurves import LayerTime
from analysis.gamm.data import AnalysisInputError
from common import layout
from common.constants import SAMPLE_RATE


def read_optional(path: str, reader):
    """``reader(path)`` when the file exists, else None; unreadable -> AnalysisInputError."""
    if not os.path.exists(path):
        return None
    try:
        return reader(path)
    except Exception as exc:
        raise AnalysisInputError(f"cannot read {path}: {exc}") from exc


def read_json(path: str):
    """The JSON record at ``path`` (its format_version checked: one of a newer version is
    refused in one line, :func:`common.layout.check_version`); None when the file is
    absent."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except Exception as exc:
        raise AnalysisInputError(f"cannot read {path}: {exc}") from exc
    return layout.check_version(record, path)


def info_sample_rate(info: Optional[dict], where: str = layout.EXTRACT_INFO_JSON) -> int:
    """The audio's sample rate (Hz) that extract_info.json gives (``where`` names the file in
    the error); :data:`common.constants.SAMPLE_RATE` when the file or the key is absent."""
    try:
        rate = int((info or {}).get("sample_rate", SAMPLE_RATE))
    except (AttributeError, TypeError, ValueError) as exc:
        raise AnalysisInputError(f"{where}: sample_rate must be a positive number of Hz "
                                 f"({exc})") from exc
    if rate <= 0:
        raise AnalysisInputError(f"{where}: sample_rate must be a positive number of Hz, "
                                 f"got {rate}")
    return rate


def read_confusion(path: str) -> Optional[pd.DataFrame]:
    """confusion.csv: word labels as text (index), counts as numbers; None when absent. A file
    whose rows do not parse as one count per code and word (e.g. a label with a bare carriage
    return written unquoted) is refused (:class:`AnalysisInputError`) rather than shown."""
    table = read_optional(path, lambda p: pd.read_csv(p, index_col=0, dtype=str,
                                                      keep_default_na=False))
    if table is None:
        return None
    counts = table.apply(pd.to_numeric, errors="coerce")
    if counts.isna().to_numpy().any() or not counts.index.is_unique:
        raise AnalysisInputError(f"cannot read {path}: expected one row of counts per word (a "
                                 "label with an unquoted line break or a missing count?)")
    return counts


def check_generated(path: Optional[str]) -> None:
    """Refuse a --generated that names nothing, or a folder without generate.py's
    ``generated.csv``: one line naming the flag (before anything is read or fitted)."""
    if not path:
        return
    if not os.path.exists(path):
        raise AnalysisInputError(f"--generated={path}: no such file or folder (generate.py's "
                                 f"output folder, or its {layout.GENERATED_CSV})")
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, layout.GENERATED_CSV)):
        raise AnalysisInputError(f"--generated={path}: the folder has no "
                                 f"{layout.GENERATED_CSV} (is it generate.py's output?)")


def read_generated(path: str) -> Optional[pd.DataFrame]:
    """generate.py's ``generated.csv`` (``path`` = the file or its folder): one row per clip
    with ``code`` (the code it was generated from) and ``q_agrees`` (Q read that code back);
    None when absent or written without Q (no ``q_agrees`` column)."""
    if path and os.path.isdir(path):
        path = os.path.join(path, layout.GENERATED_CSV)
    if not path:
        return None
    table = read_optional(path, lambda p: pd.read_csv(p, dtype={"code": str, "q_code": str},
                                                      keep_default_na=False))
    if table is None or not {"code", "q_agrees"} <= set(table.columns):
        return None
    table["q_agrees"] = table["q_agrees"].astype(str).str.lower().isin(["true", "1"])
    return table


@dataclass
class ActivationsRecords:
    """An activations folder's small records (None / {}: the file is absent)."""
    folder: str
    info: dict = field(default_factory=dict)         # extract_info.json
    classification: Optional[dict] = None            # classification.json
    confusion: Optional[pd.DataFrame] = None         # confusion.csv (rows word, columns code)
    sample_rate: int = SAMPLE_RATE                   # Hz, extract_info.json's (checked > 0)


def read_activations_records(folder: str) -> ActivationsRecords:
    """extract_info.json, classification.json and confusion.csv of ``folder``, each read once
    (the sample rate is checked here, so a bad one stops the analysis before any fit)."""
    info_path = os.path.join(folder, layout.EXTRACT_INFO_JSON)
    info = read_json(info_path)
    info = info if isinstance(info, dict) else {}
    classification = read_json(os.path.join(folder, layout.CLASSIFICATION_JSON))
    return ActivationsRecords(
        folder=folder, info=info,
        classification=classification if isinstance(classification, dict) else None,
        confusion=read_confusion(os.path.join(folder, layout.CONFUSION_CSV)),
        sample_rate=info_sample_rate(info, info_path))


def read_layer_time(records: ActivationsRecords, layer: str,
                    rows: Optional[pd.DataFrame] = None) -> Optional[LayerTime]:
    """Sample -> ms of ``layer``: from extract_info.json's ``layers`` entry (``jump``,
    ``centre0``, with its ``sample_rate``), else from the ``sample`` and ``time`` columns of
    ``rows`` (rows of that layer already read, e.g. the word GAMM's: the table itself is never
    scanned again here, it can hold hundreds of millions of rows); None when neither says."""
    for entry in records.info.get("layers", []) or []:
        if isinstance(entry, dict) and str(entry.get("name")) == str(layer):
            found = LayerTime.from_layer_info(entry, float(records.sample_rate))
            if found is not None:
                return found
    if rows is None or not {"layer", "sample", "time"} <= set(rows.columns):
        return None  # no time column: the report gives samples only
    table = rows[rows["layer"].astype(str) == str(layer)]
    sub = table.drop_duplicates("sample")
    return LayerTime.from_times(pd.to_numeric(sub["sample"], errors="coerce"),
                                pd.to_numeric(sub["time"], errors="coerce"))
