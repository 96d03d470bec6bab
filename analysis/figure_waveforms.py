"""Fig. 2 of the paper: one token per word, its waveform with the phone boundaries, each
layer's channel-averaged trace upsampled to the input's time axis, and Q's logits.

Each column is one word's first token, cropped to its speech (the first phone's start to the
last phone's end, or where the waveform exceeds a tenth of its peak, with a margin): the rest
of the 1 s slice is padding. Rows: the waveform (phone boundaries as vertical lines through
every row, IPA labels on top, a label dropped where it would overlap another), conv1 ... in
the word's colour (:func:`analysis.style.word_colours`), and Q's logits per code, the code Q
chose in the word's colour. Pure: tables in, files out.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from common.phones import phone_label
from analysis.style import (drop_overlapping, figure, italicise, plot_text, save_figure,
                            word_colours)
from common.constants import SAMPLE_RATE

NON_SPEECH = ("h#", "pau", "epi", "sil", "sp")


def phone_spans(rows: pd.DataFrame, jumps: Mapping[str, float], centres: Mapping[str, float],
                sample_rate: float) -> pd.DataFrame:
    """Each phone interval's start and end in ms (token_id, phone, phone_index, start_ms,
    end_ms) from phone_activations rows: at the finest layer with two samples in the
    interval, the duration is ``jump / (norm_time[1] - norm_time[0])`` and the start is the
    first sample's centre (``centre0 + sample * jump``) minus ``norm_time[0]`` durations."""
    from analysis.report_design import interval_durations
    dur = interval_durations(rows, dict(jumps), sample_rate)
    keys = ["token_id", "phone", "phone_index"]
    out = []
    for lay in sorted((x for x in rows["layer"].astype(str).unique() if x in jumps),
                      key=lambda x: jumps[x]):
        sub = rows[rows["layer"].astype(str) == lay].sort_values(keys + ["sample"])
        first = sub.groupby(keys, sort=False, observed=True).first().reset_index()
        first["phone"] = first["phone"].astype(str)
        m = first.merge(dur.assign(phone=dur["phone"].astype(str)), on=keys, how="inner")
        centre_ms = 1000.0 * (centres[lay] + m["sample"].to_numpy(float) * jumps[lay]) \
            / sample_rate
        start = centre_ms - m["norm_time"].to_numpy(float) * m["duration_ms"].to_numpy(float)
        out.append(pd.DataFrame({"token_id": m["token_id"], "phone": m["phone"],
                                 "phone_index": m["phone_index"], "start_ms": start,
                                 "end_ms": start + m["duration_ms"].to_numpy(float)}))
        break  # the finest layer gives every interval it can time
    if not out:
        return pd.DataFrame(columns=keys + ["start_ms", "end_ms"])
    return out[0].dropna().reset_index(drop=True)


def speech_window(t_ms: np.ndarray, wave: np.ndarray, spans: Optional[pd.DataFrame],
                  margin_ms: float = 30.0) -> tuple:
    """(start, end) in ms of a token's speech: its phone spans (non-speech labels left out)
    or, without them, where |wave| exceeds a tenth of its peak; widened by ``margin_ms`` and
    kept within the slice."""
    lo, hi = float(t_ms[0]), float(t_ms[-1])
    if spans is not None and len(spans):
        sp = spans[~spans["phone"].astype(str).str.lower().isin(NON_SPEECH)]
        if len(sp):
            return (max(lo, float(sp["start_ms"].min()) - margin_ms),
                    min(hi, float(sp["end_ms"].max()) + margin_ms))
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    loud = np.flatnonzero(np.abs(wave) > 0.1 * peak) if peak > 0 else np.array([], int)
    if not len(loud):
        return lo, hi
    return (max(lo, float(t_ms[loud[0]]) - margin_ms), min(hi, float(t_ms[loud[-1]]) + margin_ms))


def fig_waveforms(upsampled: pd.DataFrame, folder: str, name: str = "fig2_waveforms",
                  words: Optional[Sequence[str]] = None, sample_rate: int = SAMPLE_RATE,
                  spans: Optional[pd.DataFrame] = None, logits: Optional[pd.DataFrame] = None,
                  colours: Optional[Mapping[str, str]] = None,
                  fields_ms: Optional[Dict[str, float]] = None) -> List[str]:
    """Fig. 2 (see module docstring). upsampled: token_id, word, layer ('input', conv1...),
    sample (input index), value. spans: :func:`phone_spans` (None: no boundaries, cropped by
    amplitude). logits: one row per token_id with logit_0... (q_outputs.csv; None: no logits
    row). fields_ms: {layer: receptive field in ms}, shown under the row's name."""
    words = list(words) if words else sorted(upsampled["word"].astype(str).unique())
    colours = dict(colours) if colours else word_colours(words)
    present = set(upsampled["layer"].astype(str))
    layers = [lay for lay in ["input"] + sorted(present - {"input"}) if lay in present]
    logit_cols = [c for c in (logits.columns if logits is not None else [])
                  if str(c).startswith("logit_")]
    nrows = len(layers) + (1 if logit_cols else 0)
    # each column its own time window (cropped per token); each row one y scale
    fig, axes = figure("double", height_in=0.62 * nrows + 1.0, nrows=nrows, ncols=len(words),
                       sharey="row")
    labels = []
    for j, w in enumerate(words):
        sub = upsampled[upsampled["word"].astype(str) == w]
        tok = sub["token_id"].iloc[0] if len(sub) else None
        wave = sub[(sub["token_id"] == tok) & (sub["layer"].astype(str) == "input")] \
            .sort_values("sample")
        t_wave = 1000.0 * wave["sample"].to_numpy(float) / sample_rate
        mine = spans[spans["token_id"].astype(str) == str(tok)] if spans is not None else None
        x0, x1 = speech_window(t_wave, wave["value"].to_numpy(float), mine) \
            if len(wave) else (0.0, 1.0)
        for i, lay in enumerate(layers):
            ax = axes[i, j]
            g = sub[(sub["token_id"] == tok) & (sub["layer"].astype(str) == lay)] \
                .sort_values("sample")
            ax.plot(1000.0 * g["sample"] / sample_rate, g["value"], lw=0.5,
                    color="0.25" if lay == "input" else colours.get(w, "0.25"))
            ax.set_xlim(x0, x1)
            ax.locator_params(axis="y", nbins=3)
            ax.set_xticks([])
            for p in (mine.itertuples(index=False) if mine is not None else []):
                if x0 <= p.start_ms <= x1:
                    ax.axvline(p.start_ms, color="0.6", lw=0.4, zorder=0)
            if i == 0:
                ax.set_title(plot_text(w), color=colours.get(w, "k"), fontstyle="italic")
                for p in (mine.itertuples(index=False) if mine is not None else []):
                    mid = (p.start_ms + p.end_ms) / 2.0
                    if x0 <= mid <= x1 and str(p.phone).lower() not in NON_SPEECH:
                        labels.append(ax.text(mid, 0.97, plot_text(phone_label(p.phone)),
                                              transform=ax.get_xaxis_transform(), ha="center",
                                              va="top", fontsize=7))
            if j > 0:
                ax.tick_params(labelleft=False)
            else:
                field = (fields_ms or {}).get(lay)
                ax.set_ylabel("waveform" if lay == "input" else
                              plot_text(lay) + (f"\n{field:.0f} ms" if field else ""))
        last = axes[len(layers) - 1, j]
        last.set_xticks([x0, x1], [f"{x0:.0f}", f"{x1:.0f}"])
        for lab, ha in zip(last.get_xticklabels(), ("left", "right")):
            lab.set_horizontalalignment(ha)  # the edge labels of neighbours never meet
        if logit_cols:
            ax = axes[len(layers), j]
            row = logits[logits["token_id"].astype(str) == str(tok)]
            vals = row[logit_cols].to_numpy(float)[0] if len(row) else np.zeros(len(logit_cols))
            best = int(np.argmax(vals)) if len(row) else -1
            ax.bar(range(len(vals)), vals, width=0.8,
                   color=[colours.get(w, "k") if k == best else "0.75"
                          for k in range(len(vals))])
            ax.axhline(0, color="0.3", lw=0.5)
            ax.set_xticks([0, len(vals) - 1], ["0", str(len(vals) - 1)])
            ax.locator_params(axis="y", nbins=3)
            if j == 0:
                ax.set_ylabel("Q logit\nper code")
            else:
                ax.tick_params(labelleft=False)
    fig.supylabel("activation (a.u.)")  # under each layer's name: its receptive field
    fig.supxlabel("time (ms), each column cropped to its word's speech"
                  + ("; bottom row: Q's code" if logit_cols else ""))
    italicise([ax.title for ax in axes[0]], words)
    drop_overlapping(fig, labels)
    return save_figure(fig, folder, name)


def fig2_inputs(activations: str, upsampled: pd.DataFrame, records, threads: int = 2):
    """(spans, logits, fields_ms) of Fig. 2's tokens (the first token of each word in
    ``upsampled``), read from the activations folder: the phone intervals at the finest
    layer of phone_activations (by column, only these tokens), Q's logits (q_outputs.csv)
    and the receptive fields (extract_info.json). Each is None when its file is absent."""
    import os

    from analysis.columns import open_table, read_csv_labels
    from analysis.provenance import layer_fields
    from common import layout
    tokens = upsampled.groupby(upsampled["word"].astype(str), sort=True)["token_id"].first()
    ids = [str(t) for t in tokens.to_numpy()]
    fields = layer_fields(records)
    jumps = {lf.name: lf.jump for lf in fields}
    centres = {str(e.get("name")): float(e["centre0"]) for e in records.info.get("layers", [])
               if isinstance(e, dict) and e.get("centre0") is not None}
    spans = None
    table = open_table(activations, layout.PHONE_ACTIVATIONS, threads=threads, required=False)
    if table is not None and jumps and centres:
        with table:
            finest = min((x for x in jumps if x in centres), key=lambda x: jumps[x],
                         default=None)
            if finest is not None:
                rows = table.rows({"token_id": ids, "layer": [finest]})
                if len(rows):
                    spans = phone_spans(rows, {finest: jumps[finest]},
                                        {finest: centres[finest]}, records.sample_rate)
    logits = None
    q_path = os.path.join(activations, layout.Q_OUTPUTS_CSV)
    if os.path.isfile(q_path):
        q = read_csv_labels(q_path)
        if "token_id" in q.columns:
            logits = q[q["token_id"].astype(str).isin(ids)]
    fields_ms = {lf.name: lf.field_ms for lf in fields if lf.field_ms}
    return spans, logits, fields_ms
