"""The activations tables read lazily and by column, through DuckDB (see docs/analysis.md,
"Reading large tables", for why DuckDB and the measured figures).

An activations table at the paper's large scale (all of TIMIT: 54,378 tokens x 5,456 rows per
token = 297 M rows, ~2.7 GB of Parquet) does not fit in memory as a pandas frame (~690 bytes a
row with string columns). The analysis needs only two things from it, and DuckDB computes both
in one streaming scan each, holding only the result:

* :meth:`ActivationTable.token_summary`: one row per (layer, token): word, speaker, the mean
  of ``value`` and the counts the checks need (rows, non-finite values, first and last sample,
  whether the token carries two words). The mixed models (:mod:`analysis.lmm`) fit the means;
  the size checks count tokens and words from it before anything larger is read.
* :meth:`ActivationTable.rows`: the rows of some layers and words (the word GAMM's, the phone
  GAMMs'), labels as pandas categories (dictionary-encoded), ``value`` float32.

Parquet files are scanned in place (projection and filters pushed into the reader). A CSV
(when extract.py wrote CSV only) is read eagerly by
:func:`read_csv_labels` (labels as text, exactly as written: 'NA', 'null', '007' are words) and
the same queries run on that frame. Values passed to a query are always bound parameters,
never SQL text: labels are data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence

import pandas as pd

from common import layout

# Columns of the activations tables that hold labels (common.layout: their text columns):
# read from CSV as text, with no NA conversion (a word spelled "NA", "null" or "nan" is a word).
LABEL_COLUMNS = layout.LABEL_COLUMNS
# What pandas reads as missing by default, kept for the numeric columns.
CSV_NA_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                 "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan",
                 "null"]
# DuckDB's own memory cap for a query (it spills sorts and hash tables to a temporary folder
# beyond it). The queries here hold at most the rows of one model (the word GAMM at conv1 on
# three TIMIT words: 1,890 tokens x 4,096 rows x 20 bytes ~ 155 MB) or one row per (layer,
# token) (272 k rows at 54,378 tokens), so 1 GB is ample and keeps analyze.py's peak bounded.
DUCKDB_MEMORY_LIMIT = "1GB"
# Columns of ActivationTable.token_summary.
# Label columns every row must fill (ActivationTable.check_labels): a NULL is bad input.
REQUIRED_LABELS = ("token_id", "word", "speaker", "phone")
SUMMARY_COLUMNS = ("layer", "token_id", "word", "speaker", "Mean", "n", "n_bad", "sample_min",
                   "sample_max", "two_words")


def read_csv_labels(path: str, **kwargs) -> pd.DataFrame:
    """A CSV of the activations folder with its :data:`LABEL_COLUMNS` read as text, exactly
    as written (no NA conversion, no numbers: token labels like '007' stay as they are)."""
    columns = list(pd.read_csv(path, nrows=0, **kwargs).columns)
    labels = [c for c in columns if c in LABEL_COLUMNS]
    return pd.read_csv(path, dtype={c: str for c in labels}, keep_default_na=False,
                       na_values={c: CSV_NA_VALUES for c in columns if c not in labels},
                       **kwargs)


def table_path(folder: str, name: str) -> Optional[str]:
    """<folder>/<name>.parquet, else <folder>/<name>.csv, else None."""
    for ext in ("parquet", "csv"):
        path = os.path.join(folder, f"{name}.{ext}")
        if os.path.exists(path):
            return path
    return None


def _quote(name: str) -> str:
    """A column name as a SQL identifier (the names come from the file: quoted, never code)."""
    return '"' + str(name).replace('"', '""') + '"'


def _categorical_frame(table) -> pd.DataFrame:
    """A pyarrow table as pandas with every string column dictionary-encoded (Categorical:
    one copy of each label instead of one Python string per row)."""
    import pyarrow as pa
    import pyarrow.types as pat
    cols = []
    for i, field in enumerate(table.schema):
        col = table.column(i)
        if pat.is_string(field.type) or pat.is_large_string(field.type):
            col = col.dictionary_encode()
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names).to_pandas()


class ActivationTable:
    """One long table of an activations folder (activations or phone_activations), queried by
    column through DuckDB. Use as a context manager or call :meth:`close`.

    ``source``: a .parquet or .csv path, or a pandas DataFrame (what tests and callers that
    already hold the rows pass). ``threads``: DuckDB's worker threads.
    """

    def __init__(self, source, threads: int = 2):
        import duckdb
        from analysis.gamm.data import AnalysisInputError
        self._tmp = tempfile.mkdtemp(prefix="ganan-duckdb-")
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET threads = {max(1, int(threads))}")
        self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        self.con.execute("SET temp_directory = $1", [self._tmp])
        self.con.execute("SET preserve_insertion_order = false")
        self.path = source if isinstance(source, str) else None
        self._params: list = []
        try:
            if isinstance(source, pd.DataFrame):
                self.frame = source
                self.con.register("ganan_frame", source)
                self._from = "ganan_frame"
            elif source.endswith(".csv"):
                self.frame = read_csv_labels(source)
                self.con.register("ganan_frame", self.frame)
                self._from = "ganan_frame"
            else:
                self.frame = None
                self._from = "read_parquet($path)"
                self._params = [source]
            self.columns = [str(c) for c in self._sql(
                f"SELECT * FROM {self._from} LIMIT 0", {}).columns]
        except Exception as exc:
            self.close()
            if isinstance(exc, AnalysisInputError):
                raise
            raise AnalysisInputError(f"cannot read {self.name}: {exc}") from exc

    @property
    def name(self) -> str:
        return self.path if self.path else "the activations frame"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        con, self.con = getattr(self, "con", None), None
        if con is not None:
            con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # ----------------------------------------------------------------------- queries

    def _sql(self, query: str, params: Dict[str, object]):
        """A DuckDB relation of ``query`` with named parameters bound (``$path`` is the
        Parquet file when the table is one)."""
        named = dict(params)
        if self._params:
            named["path"] = self._params[0]
        return self.con.sql(query, params=named) if named else self.con.sql(query)

    def _where(self, filters: Optional[Dict[str, Sequence[str]]]) -> tuple:
        """(' WHERE a IN ($a0, ...) AND ...', params) for filters {column: values}; a filter
        of None is no filter. Values are bound parameters, never SQL text."""
        clauses, params = [], {}
        for j, (col, values) in enumerate((filters or {}).items()):
            if values is None:
                continue
            if col not in self.columns:
                from analysis.gamm.data import AnalysisInputError
                raise AnalysisInputError(f"{self.name}: no column {col!r} (columns: "
                                         f"{self.columns})")
            names = [f"f{j}_{i}" for i in range(len(values))]
            params.update({n: str(v) for n, v in zip(names, values)})
            clauses.append(f"{_quote(col)} IN ({', '.join('$' + n for n in names)})"
                           if names else "FALSE")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _run(self, what: str, query: str, params: dict):
        from analysis.gamm.data import AnalysisInputError
        try:
            return self._sql(query, params).to_arrow_table()
        except Exception as exc:  # a damaged file, a wrong column type
            raise AnalysisInputError(f"cannot read {what} from {self.name}: {exc}") from exc

    def distinct(self, column: str) -> list:
        """Sorted distinct values of a label column (one scan of that column only)."""
        where, params = self._where({})
        t = self._run(f"the {column} values",
                      f"SELECT DISTINCT {_quote(column)} AS v FROM {self._from}{where}", params)
        return sorted(str(v) for v in t.column("v").to_pylist())

    def check_labels(self) -> None:
        """Refuse a table with a missing (NULL) label in :data:`REQUIRED_LABELS` or an empty
        word: such rows would be analysed under a made-up label ('nan', '') and pooled with
        any real word spelled that way. One line naming the column, the count and a few
        token ids; one scan of the label columns (nothing when all are present)."""
        from analysis.gamm.data import AnalysisInputError
        checks = [(c, f"{_quote(c)} IS NULL", "a missing (NULL)") for c in REQUIRED_LABELS
                  if c in self.columns]
        if "word" in self.columns:
            checks.append(("word", "CAST(word AS VARCHAR) = ''", "an empty ('')"))
        if not checks:
            return
        counts = self._run("the labels", "SELECT " + ", ".join(
            f"count(*) FILTER (WHERE {cond}) AS c{i}" for i, (_, cond, _) in enumerate(checks))
            + f" FROM {self._from}", {}).to_pylist()[0]
        for i, (column, cond, kind) in enumerate(checks):
            n = int(counts[f"c{i}"])
            if not n:
                continue
            shown = "no token id"
            if "token_id" in self.columns and column != "token_id":
                ids = self._run("the labels", f"SELECT DISTINCT token_id FROM {self._from} "
                                f"WHERE {cond} ORDER BY token_id LIMIT 6", {})
                ids = [str(v) for v in ids.column("token_id").to_pylist()]
                shown = "token(s) " + ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            raise AnalysisInputError(f"{self.name}: column {column!r} has {kind} label in "
                                     f"{n:,} row(s) ({shown}); every row needs one")

    def token_summary(self, layers: Optional[Sequence[str]] = None,
                      words: Optional[Sequence[str]] = None) -> pd.DataFrame:
        """One row per (layer, token) of the selected layers and words (None: all), sorted by
        layer and token_id, columns :data:`SUMMARY_COLUMNS`:

        Mean: mean of ``value`` (float64, as pandas' mean); n: rows; n_bad: NaN, infinite or
        missing values; sample_min/max: first and last ``sample``; two_words: the token's
        rows carry more than one word. Labels are Categoricals; a table without ``speaker``
        gets 'NA' (as :func:`analysis.gamm.data.prepare_gamm_data`).
        """
        from analysis.gamm.data import WORD_COLUMNS, _require_columns
        _require_columns(pd.DataFrame(columns=self.columns), WORD_COLUMNS, "activations table")
        where, params = self._where({"layer": layers, "word": words})
        speaker = "min(speaker)" if "speaker" in self.columns else "'NA'"
        query = (
            "SELECT CAST(layer AS VARCHAR) AS layer, token_id, min(word) AS word, "
            f"{speaker} AS speaker, avg(CAST(value AS DOUBLE)) AS Mean, count(*) AS n, "
            "count(*) FILTER (WHERE value IS NULL OR NOT isfinite(CAST(value AS DOUBLE))) "
            "AS n_bad, min(sample) AS sample_min, max(sample) AS sample_max, "
            "min(word) <> max(word) AS two_words "
            f"FROM {self._from}{where} GROUP BY ALL ORDER BY layer, token_id")
        # GROUP BY ALL groups by the non-aggregated columns: layer and token_id
        return _categorical_frame(self._run("the per-token means", query, params))

    def rows(self, filters: Dict[str, Optional[Sequence[str]]],
             columns: Optional[Sequence[str]] = None) -> pd.DataFrame:
        """Rows matching ``filters`` ({column: allowed values}, None = any), the given columns
        (default all), sorted by token_id then sample when present; labels as Categoricals,
        ``value`` float32 (half the memory; the fits work in float64 from there)."""
        cols = list(columns) if columns else list(self.columns)
        missing = [c for c in cols if c not in self.columns]
        if missing:
            from analysis.gamm.data import AnalysisInputError
            raise AnalysisInputError(f"{self.name}: missing column(s) {missing}; found "
                                     f"{self.columns}")
        select = ", ".join("CAST(value AS FLOAT) AS value" if c == "value" else _quote(c)
                           for c in cols)
        order = [c for c in ("token_id", "phone_index", "sample") if c in cols]
        where, params = self._where(filters)
        query = (f"SELECT {select} FROM {self._from}{where}"
                 + (f" ORDER BY {', '.join(order)}" if order else ""))
        return _categorical_frame(self._run("rows", query, params))


def open_table(folder: str, name: str, threads: int = 2,
               required: bool = True) -> Optional[ActivationTable]:
    """:class:`ActivationTable` of <folder>/<name>.parquet (else .csv), its labels checked
    (:meth:`ActivationTable.check_labels`); None when absent and not ``required``."""
    from analysis.gamm.data import AnalysisInputError
    path = table_path(folder, name)
    if path is None:
        if required:
            raise AnalysisInputError(f"{folder} has no {name}.parquet or {name}.csv (is it an "
                                     "activations folder written by extract.py?)")
        return None
    table = ActivationTable(path, threads=threads)
    try:
        table.check_labels()
    except Exception:
        table.close()
        raise
    return table
