"""Writers of the activations folder: per-batch parts, their streamed merge, JSON.

Each complete batch's rows of each table (a pyarrow table, columns in
:mod:`extraction.schema`) are written as a part file of their own, atomically
(:func:`write_part`, into ``parts/`` of the run's partial folder, :mod:`extraction.resume`),
so that an interrupted run keeps every complete batch. At the end :func:`merge_parts` copies
the parts, row group by row group (one batch at a time in memory), into the single Parquet
file and its optional CSV copy (:class:`TableWriter`). The final files are written inside the
partial folder, which is renamed into place only when everything is written, so they need no
atomic rename of their own.
"""

from __future__ import annotations

import os
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from common.atomic import atomic_path, atomic_write_json

PARTS_DIR = "parts"


class TableWriter:
    """Append pyarrow tables to ``<stem>.parquet`` (and ``<stem>.csv``) inside ``folder``."""

    def __init__(self, folder: str, stem: str, schema: pa.Schema, csv: bool = True):
        self.paths = [os.path.join(folder, stem + ".parquet")]
        self._pq = pq.ParquetWriter(self.paths[0], schema, compression="zstd")
        self._csv = None
        if csv:
            self.paths.append(os.path.join(folder, stem + ".csv"))
            # CSV: 'value' as float32 text (the network computes in float32; float64 text of a
            # float32 number only adds meaningless digits). Parquet keeps float64.
            self._csv_schema = pa.schema([
                pa.field(f.name, pa.float32()) if f.name == "value" else f for f in schema])
            self._csv = pacsv.CSVWriter(self.paths[1], self._csv_schema,
                                        write_options=pacsv.WriteOptions(quoting_style="needed"))
        self.rows = 0

    def write(self, table: Optional[pa.Table]):
        if table is None or table.num_rows == 0:
            return
        self._pq.write_table(table)
        if self._csv is not None:
            self._csv.write_table(table.cast(self._csv_schema))
        self.rows += table.num_rows

    def close(self):
        self._pq.close()
        if self._csv is not None:
            self._csv.close()


def part_path(folder: str, stem: str, index: int) -> str:
    """``<folder>/parts/<stem>-<index, 6 digits>.parquet``: batch ``index``'s rows of ``stem``."""
    return os.path.join(folder, PARTS_DIR, f"{stem}-{index:06d}.parquet")


def write_part(folder: str, stem: str, index: int, table: Optional[pa.Table]) -> int:
    """Write one batch's rows of one table as its own Parquet file, atomically (a killed run
    leaves the whole file or none); no file for no rows. Returns the number of rows."""
    if table is None or table.num_rows == 0:
        return 0
    path = part_path(folder, stem, index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path, suffix=".tmp") as tmp:
        # one row group: the merge copies row groups, so the final file has one per batch
        pq.write_table(table, tmp, compression="zstd", row_group_size=max(table.num_rows, 1))
    return table.num_rows


def iter_parts(folder: str, stem: str, n_batches: int) -> Iterator[pa.Table]:
    """The row groups of the parts of batches 0..n_batches-1 of ``stem``, in batch order
    (batches without rows have no part)."""
    for index in range(n_batches):
        path = part_path(folder, stem, index)
        if not os.path.exists(path):
            continue
        f = pq.ParquetFile(path)
        for g in range(f.num_row_groups):
            yield f.read_row_group(g)


def merge_parts(folder: str, stem: str, schema: pa.Schema, n_batches: int,
                csv: bool) -> "TableWriter":
    """``<folder>/<stem>.parquet`` (and ``.csv``) from the parts of batches 0..n_batches-1,
    streamed (memory: one row group). Returns the closed writer (``rows``, ``paths``)."""
    writer = TableWriter(folder, stem, schema, csv=csv)
    try:
        for table in iter_parts(folder, stem, n_batches):
            writer.write(table)
    finally:
        writer.close()
    return writer


def write_json(path: str, obj) -> None:
    """JSON with numpy scalars and arrays converted, keys in the order given."""
    atomic_write_json(path, obj, sort_keys=False, default=_json_default)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
