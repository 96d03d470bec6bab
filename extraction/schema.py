"""Every table the extraction writes: its columns (declared in :mod:`common.layout`, which the
readers use too) and its row builders.

Long tables (streamed, one call per batch; Parquet keeps ``value`` float64, the CSV copies
write it as float32 text, see :class:`extraction.writers.TableWriter`):

    activations           token_id, word, speaker, layer, sample, time, value
                          one row per (token, layer, index): the channel mean of the layer at
                          index ``sample``; ``time`` = seconds at the centre of the input span
                          the index covers (Q/D), or of the output span (G's blocks)
    phone_activations     token_id, word, speaker, layer, phone, phone_index, sample,
                          norm_time, value
                          the rows of activations whose centre lies inside a chosen phone;
                          phone_index = occurrence of that phone in the token (from 0),
                          norm_time = (centre - phone start) / phone length, in [0, 1)
    upsampled             token_id, word, layer, sample, value
                          layer 'input' (the waveform fed to the network) and every layer's
                          trace interpolated onto the input samples 0..slice_len-1
    channel_activations   token_id, word, speaker, layer, channel, sample, time, value
                          single channels (``--channels``) instead of the mean

Per-token side table of the run (``parts/tokens-*.parquet`` in the partial folder only, read
back by column at the end to build the CSVs below; never in the finished folder):

    tokens                token_id, word, speaker, logit_0.. (float32 as the network gives
                          them: Q [B, K], D [B, 1]; none for G)

Per-token network outputs (one CSV each, built at the end of the run):

    q_outputs             token_id, word, speaker, code, logit_0.., prob_0.. (fiwGAN: + bits)
                          code: ciwGAN the argmax; fiwGAN the bit pattern (logit > 0) read as a
                          binary number, bit 0 most significant (:func:`ciwgan.codes.read_codes`);
                          prob: softmax (ciwGAN) or each bit's sigmoid (fiwGAN); bits: the
                          pattern as text ('0101')
    d_outputs             token_id, word, speaker, logit
    confusion             rows word, columns code (ciwGAN: 0..K-1; fiwGAN: the patterns
                          read), counts (:func:`extraction.classification.confusion_table`)
"""

from __future__ import annotations

import collections
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from common import layout

_ARROW_TYPES = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}


def arrow_schema(table: layout.Table) -> pa.Schema:
    """The Parquet schema of a table declared in :mod:`common.layout`."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in table.columns])


# The long tables by file stem (the writers open one per table a run asks for); their
# columns are declared in common.layout, which the readers (analysis.columns) use too.
LONG_TABLES = {stem: arrow_schema(table) for stem, table in layout.LONG_TABLES.items()}
ACTIVATION_SCHEMA = LONG_TABLES[layout.ACTIVATIONS]
PHONE_SCHEMA = LONG_TABLES[layout.PHONE_ACTIVATIONS]
UPSAMPLED_SCHEMA = LONG_TABLES[layout.UPSAMPLED]
CHANNEL_SCHEMA = LONG_TABLES[layout.CHANNEL_ACTIVATIONS]


def token_rows(batch, logits: Optional[np.ndarray]) -> pa.Table:
    """The tokens side table of one batch: ids, labels and the logits [B, K] (or [B]; None for
    G) as float32 columns logit_0.. (float32 is what the network computes: nothing is lost)."""
    cols = {"token_id": pa.array(np.asarray(batch.token_id, np.int64)),
            "word": pa.array(list(batch.word), pa.string()),
            "speaker": pa.array(list(batch.speaker), pa.string())}
    if logits is not None:
        logits = np.asarray(logits, np.float32).reshape(len(batch.token_id), -1)
        for k in range(logits.shape[1]):
            cols[f"logit_{k}"] = pa.array(logits[:, k])
    return pa.table(cols)


def read_token_columns(table: pa.Table) -> tuple[np.ndarray, list, list, Optional[np.ndarray]]:
    """(ids int64 [N], words, speakers, logits float32 [N, K] or None) of the tokens table."""
    k = sorted((int(c[len("logit_"):]) for c in table.column_names if c.startswith("logit_")))
    logits = np.stack([table.column(f"logit_{i}").to_numpy() for i in k], axis=1) if k else None
    return (table.column("token_id").to_numpy().astype(np.int64),
            table.column("word").to_pylist(), table.column("speaker").to_pylist(), logits)


def _take(values: list, index: np.ndarray) -> pa.Array:
    """values[index] as a pyarrow string array (labels repeated without copying strings)."""
    return pa.array(values, pa.string()).take(pa.array(index))


def activation_rows(batch, means: dict[str, np.ndarray], axes: dict,
                    sample_rate: int) -> pa.Table:
    """activations rows of one TokenBatch, ordered token, layer, sample.

    means: {layer: [B, T_layer]} channel means (layer order kept); axes: {layer: LayerAxis or
    GLayerAxis} (their ``centres()`` in samples give ``time``).
    """
    B = len(batch.token_id)
    parts = collections.defaultdict(list)
    for b in range(B):
        for name, m in means.items():
            T = m.shape[1]
            parts["tok"].append(np.full(T, b, np.int64))
            parts["layer"].append(np.full(T, list(means).index(name), np.int64))
            parts["sample"].append(np.arange(T, dtype=np.int64))
            parts["time"].append(axes[name].centres() / float(sample_rate))
            parts["value"].append(m[b].astype(np.float64))
    tok = np.concatenate(parts["tok"])
    return pa.table({
        "token_id": pa.array(np.asarray(batch.token_id, np.int64)[tok]),
        "word": _take(batch.word, tok), "speaker": _take(batch.speaker, tok),
        "layer": _take(list(means), np.concatenate(parts["layer"])),
        "sample": pa.array(np.concatenate(parts["sample"])),
        "time": pa.array(np.concatenate(parts["time"])),
        "value": pa.array(np.concatenate(parts["value"]))}, schema=ACTIVATION_SCHEMA)


def channel_rows(batch, chans: dict[str, tuple[list[int], np.ndarray]], axes: dict,
                 sample_rate: int) -> pa.Table:
    """channel_activations rows: chans {layer: (channel ids, maps [B, T, n])}."""
    cols = collections.defaultdict(list)
    for b in range(len(batch.token_id)):
        for name, (ids, maps) in chans.items():
            T = maps.shape[1]
            for k, c in enumerate(ids):
                cols["tok"].append(np.full(T, b, np.int64))
                cols["layer"].append(name)
                cols["layer_n"].append(T)
                cols["channel"].append(np.full(T, c, np.int64))
                cols["sample"].append(np.arange(T, dtype=np.int64))
                cols["time"].append(axes[name].centres() / float(sample_rate))
                cols["value"].append(maps[b, :, k].astype(np.float64))
    tok = np.concatenate(cols["tok"])
    layer_idx = np.repeat(np.arange(len(cols["layer"])), cols["layer_n"])
    return pa.table({
        "token_id": pa.array(np.asarray(batch.token_id, np.int64)[tok]),
        "word": _take(batch.word, tok), "speaker": _take(batch.speaker, tok),
        "layer": _take(cols["layer"], layer_idx),
        "channel": pa.array(np.concatenate(cols["channel"])),
        "sample": pa.array(np.concatenate(cols["sample"])),
        "time": pa.array(np.concatenate(cols["time"])),
        "value": pa.array(np.concatenate(cols["value"]))}, schema=CHANNEL_SCHEMA)


def phone_rows(batch, means: dict[str, np.ndarray], axes: dict,
               phones_by_token: dict[int, list]) -> tuple[Optional[pa.Table], int]:
    """phone_activations rows: the layer indices whose centre falls inside each wanted phone
    of each token. phones_by_token: {token_id: [(phone, phone_index, start, end)]}.

    Returns (table or None, number of (phone, layer) pairs with no index inside the phone).
    """
    from extraction.geometry import map_interval_to_layer

    cols = collections.defaultdict(list)
    n_empty = 0
    for b, tid in enumerate(np.asarray(batch.token_id)):
        for ph, k, s, e in phones_by_token.get(int(tid), []):
            for name, m in means.items():
                idx, nt = map_interval_to_layer(s, e, axes[name])
                if idx.size == 0:
                    n_empty += 1
                    continue
                n = idx.size
                cols["b"].append(np.full(n, b))
                cols["layer"] += [name] * n
                cols["phone"] += [ph] * n
                cols["phone_index"].append(np.full(n, k, np.int64))
                cols["sample"].append(idx)
                cols["norm_time"].append(nt)
                cols["value"].append(m[b, idx].astype(np.float64))
    if not cols["b"]:
        return None, n_empty
    tok = np.concatenate(cols["b"])
    return pa.table({
        "token_id": pa.array(np.asarray(batch.token_id, np.int64)[tok]),
        "word": _take(batch.word, tok), "speaker": _take(batch.speaker, tok),
        "layer": pa.array(cols["layer"], pa.string()),
        "phone": pa.array(cols["phone"], pa.string()),
        "phone_index": pa.array(np.concatenate(cols["phone_index"])),
        "sample": pa.array(np.concatenate(cols["sample"])),
        "norm_time": pa.array(np.concatenate(cols["norm_time"])),
        "value": pa.array(np.concatenate(cols["value"]))}, schema=PHONE_SCHEMA), n_empty


def upsampled_rows(token_id: int, word: str, audio: np.ndarray, means_b: dict[str, np.ndarray],
                   axes: dict, slice_len: int) -> pa.Table:
    """upsampled rows of one token: layer 'input' (the waveform fed to the network, [slice_len])
    and each layer's trace means_b[layer] [T] linearly interpolated
    (:func:`extraction.geometry.upsample_trace`)."""
    from extraction.geometry import upsample_trace

    names = ["input"] + list(means_b)
    values = [np.asarray(audio, np.float64)] + [
        upsample_trace(means_b[n], axes[n], slice_len) for n in means_b]
    n = len(names)
    return pa.table({
        "token_id": pa.array(np.full(n * slice_len, token_id, np.int64)),
        "word": _take([word], np.zeros(n * slice_len, np.int64)),
        "layer": _take(names, np.repeat(np.arange(n), slice_len)),
        "sample": pa.array(np.tile(np.arange(slice_len, dtype=np.int64), n)),
        "value": pa.array(np.concatenate(values))}, schema=UPSAMPLED_SCHEMA)


def q_output_table(config, ids, words: Sequence[str], speakers: Sequence[str], logits
                   ) -> tuple[pd.DataFrame, list, Optional[list]]:
    """q_outputs rows (see the module docstring) and the codes the confusion table counts.

    logits: float [N, num_categ], all finite (the run leaves non-finite tokens out first).
    Returns (DataFrame, codes: ciwGAN ints / fiwGAN pattern strings, all_codes: ciwGAN
    0..K-1 (codes never read get a zero column) / fiwGAN None).
    """
    from ciwgan.codes import code_probabilities, read_codes

    logits = np.asarray(logits, np.float64)
    K = logits.shape[1]
    codes, labels = read_codes(config, logits)
    probs = code_probabilities(config, logits)
    df = pd.DataFrame({"token_id": np.asarray(ids, np.int64), "word": list(words),
                       "speaker": list(speakers), "code": codes})
    for k in range(K):
        df[f"logit_{k}"] = logits[:, k]
    for k in range(K):
        df[f"prob_{k}"] = probs[:, k]
    if config.model == "fiwgan":
        patterns = [label[len("bits_"):] for label in labels]
        df["bits"] = patterns
        return df, patterns, None
    return df, [int(c) for c in codes], list(range(K))


def d_output_table(ids, words: Sequence[str], speakers: Sequence[str], logits) -> pd.DataFrame:
    """d_outputs rows: D's logit [N] per token."""
    return pd.DataFrame({"token_id": np.asarray(ids, np.int64), "word": list(words),
                         "speaker": list(speakers),
                         "logit": np.asarray(logits).reshape(len(ids)).astype(np.float64)})
