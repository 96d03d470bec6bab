"""The input baseline of ``analyze.py --acoustics`` (#26): the input's intensity envelope as a
pseudo-layer ``input`` that goes through the same models as the layers.

The envelope is the acoustics table's ``intensity_db`` (Praat, extract.py --acoustics) on the
time axis of the finest layer the acoustics table holds (conv1 in a full extraction: 0.25 ms
hops), so ``input`` has that layer's samples and the same phone intervals:

* the mixed models of token means (``lmm.csv``, the report's per-layer word comparison) get an
  ``input`` layer: each token's mean intensity in dB (over the whole clip, padding included, as
  each layer's mean is), when ``--lmm_layers`` is left to its default (every layer);
* the contrast matrix (``--contrasts``) gets an ``input`` column: the phone table's rows of
  that layer with ``value`` replaced by the intensity at the same (token, sample), when
  ``--contrast_layers`` is left to its default (every layer).

So "encoded at conv1" reads against "already present in the input's loudness".
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.columns import open_table
from common import layout

INPUT = layout.INPUT_LAYER


def finest_layer(layers) -> str:
    """The layer with the most samples per token among the Q network's names (conv1 first)."""
    from analysis.contrasts import natural_layers
    return natural_layers(layers)[0]


def intensity_rows(folder: str, threads: int = 2) -> tuple:
    """(layer, rows token_id, word, speaker, sample, intensity_db of the finest layer)."""
    with open_table(folder, layout.ACOUSTICS, threads=threads) as table:
        layer = finest_layer(table.distinct("layer"))
        rows = table.rows({"layer": [layer]}, ["token_id", "word", "speaker", "sample",
                                               "intensity_db"])
    return layer, rows


def input_summary(rows: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Per-token summary rows of ``input`` in the columns of ``like`` (the activations'
    :meth:`analysis.columns.ActivationTable.token_summary`)."""
    v = rows["intensity_db"].to_numpy(np.float64)
    g = rows.assign(bad=~np.isfinite(v)).groupby("token_id", sort=True, observed=True)
    s = pd.DataFrame({"layer": INPUT, "word": g["word"].first().astype(str),
                      "speaker": g["speaker"].first().astype(str),
                      "Mean": g["intensity_db"].mean(), "n": g.size(), "n_bad": g["bad"].sum(),
                      "sample_min": g["sample"].min(), "sample_max": g["sample"].max(),
                      "two_words": g["word"].nunique() > 1}).reset_index()
    return s.reindex(columns=list(like.columns))


def _recategorise(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    for c in frame.columns:
        if isinstance(like[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(str).astype("category")
    return frame


def input_phone_rows(rows: pd.DataFrame, layer: str, phones: pd.DataFrame) -> pd.DataFrame:
    """The phone table's rows of ``layer`` as ``input`` rows: value = the intensity at the
    same (token, sample)."""
    at = phones[phones["layer"].astype(str) == str(layer)]
    key = rows[["token_id", "sample", "intensity_db"]]
    merged = at.drop(columns=["value"]).merge(key, on=["token_id", "sample"], how="inner")
    merged = merged.rename(columns={"intensity_db": "value"}).assign(layer=INPUT)
    return merged.reindex(columns=list(phones.columns))


def add_input_layer(args, inputs):
    """``inputs`` (analysis.pipeline.ModelInputs) with the ``input`` pseudo-layer added to the
    token summary (and the mixed models' layers) and to the phone rows of the contrast matrix,
    as the module docstring says."""
    layer, rows = intensity_rows(args.activations, args.nthreads)
    changes = {}
    if not list(args.lmm_layers):
        summary = pd.concat([inputs.summary.astype({c: str for c in ("layer", "word",
                                                                     "speaker")}),
                             input_summary(rows, inputs.summary)], ignore_index=True)
        changes["summary"] = _recategorise(summary, inputs.summary)
        changes["lmm_layers"] = list(inputs.lmm_layers) + [INPUT]
    if inputs.contrasts and inputs.phones is not None and not list(args.contrast_layers):
        extra = input_phone_rows(rows, layer, inputs.phones)
        if len(extra):
            phones = pd.concat([inputs.phones.astype({c: str for c in inputs.phones.columns
                                                      if c in layout.LABEL_COLUMNS}), extra],
                               ignore_index=True)
            changes["phones"] = _recategorise(phones, inputs.phones)
    return dataclasses.replace(inputs, **changes)
