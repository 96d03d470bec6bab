"""Writers of the activations folder: long tables streamed batch by batch, JSON at the end.

Memory stays bounded by one batch: each batch's rows (a pyarrow table, columns in
:mod:`extraction.schema`) are appended to a Parquet file and, optionally, its CSV copy. The
files are written inside the run's temporary output folder, which is renamed into place only
when everything is written (common.outputs.OutputFolder), so they need no atomic rename of
their own.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from common.atomic import atomic_write_json


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
