"""The report of an analysis run, report.md and a self-contained report.html (every number
taken from the fits).

:func:`build_markdown` turns a :class:`ReportInputs` into Markdown from the sections of
:mod:`analysis.report_classification`, :mod:`analysis.report_models`,
:mod:`analysis.report_phones` and, for the calibrated models,
:mod:`analysis.report_calibrated`; further sections (the contrast matrix, the spectra, other
analyses) are appended through ``ReportInputs.sections``. :func:`write_report` writes report.md
and report.html (:func:`analysis.report_html.markdown_to_html`, markdown-it-py) atomically.

What a results section needs, each beside the result it qualifies:

* Q classification: accuracy against the permutation baseline and its p, the word-to-code
  table (most frequent code per word, the one-to-one mapping), codes never used, Q on
  generated audio per code (generate.py's ``generated.csv``), the checkpoint and step;
* the word GAMM: each word's level against the reference with a 95 % CI and its direction in
  words, which shapes differ, the engine and AR1 rho and how they were chosen;
* the difference curve's regions in Sample and in ms (:class:`analysis.diffcurves.LayerTime`);
* the phone contrasts with IPA labels, direction, regions over normalised time, a lowered k
  as a caveat, and a design note with the intervals and tokens per (phone, word) cell wherever
  the phones come from different words;
* the mixed models: per-word estimates with t-based 95 % CIs, singular fits as caveats.

The report reads from the activations folder what the analysis does not pass
(:func:`read_activation_files`): ``extract_info.json``, ``classification.json``,
``confusion.csv`` (:mod:`analysis.records`); a missing file omits its part.

Labels (words, phones, layers, paths, the command line) are data: they enter the Markdown
only through :func:`analysis.labels.md_text` / :func:`analysis.labels.md_code`, so none can
open a heading, a table cell, a link or HTML; the HTML converter has raw HTML switched off.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pandas as pd

from analysis import report_models, report_phones
from analysis.diffcurves import LayerTime
from common.phones import phone_label
from analysis.provenance import Design, LayerField, read_design
from analysis.records import (ActivationsRecords, read_activations_records, read_generated,
                              read_layer_time)
from analysis.report_classification import classification_section
from analysis.report_html import markdown_to_html
from analysis.report_text import direction_sentence, word_text
from analysis.labels import md_code, md_text
from common.atomic import atomic_write_text

__all__ = ["FIGURE_CAPTIONS", "ReportInputs", "build_markdown", "direction_sentence",
           "markdown_to_html", "read_activation_files", "write_report"]

@dataclass
class ReportInputs:
    """Everything the report shows. Figures: {key: relative path of the PNG}.

    Optional extras (None: the report finds them itself):
    records: the activations folder's extract_info.json, classification.json and
        confusion.csv as read (:func:`analysis.records.read_activations_records`); None
        reads them from ``activations``.
    generated: generate.py's output folder (or its generated.csv) for Q's accuracy on
        generated audio per code; None: that part says where to get it.
    engine_requested: the --engine asked for ('auto' makes the report say how it chose).
    phone_regions: {layer: regions over norm_time where the CI of phones[1] - phones[0]
        excludes zero} (:func:`analysis.diffcurves.contrast_regions`); None computes them
        from ``phone_fits``.
    layer_time: Sample -> ms of ``layer``; None: :func:`analysis.records.read_layer_time`.
    phone_table: the phone_activations rows (``token_id``, ``word``) that tell each phone
        interval's word for the design note; None: the word GAMM's rows (``word_fit.data``),
        which cover only the words that model fitted.
    sections: further Markdown sections (the contrast matrix, the spectra), in order.
    """
    activations: str
    layer: str
    ref_word: str
    word_fit: object
    diff_words: Optional[tuple] = None
    diff_regions: List[dict] = field(default_factory=list)
    phone_fits: Dict[str, object] = field(default_factory=dict)
    phones: tuple = ()
    lmm: Optional[pd.DataFrame] = None
    lmm_backend: str = ""
    figures: Dict[str, str] = field(default_factory=dict)
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    command: str = ""
    records: Optional[ActivationsRecords] = None
    generated: Optional[str] = None
    engine_requested: str = ""
    phone_regions: Optional[Dict[str, List[dict]]] = None
    layer_time: Optional[LayerTime] = None
    phone_table: Optional[pd.DataFrame] = None
    # Further sections, Markdown written by their own modules with labels escaped
    # (analysis.contrasts.contrast_report_section, analysis.spectra.spectra_report_section),
    # shown before the figures.
    sections: List[str] = field(default_factory=list)
    # The calibrated models' tables (analysis.calibrated_tables): when given, the word and
    # phone sections lead with them and show the paper's GAMMs as a replication.
    word_tests: Optional[pd.DataFrame] = None
    phone_tests: Optional[pd.DataFrame] = None
    # The design (analysis.provenance.read_design); None: read from ``records``.
    design: Optional[Design] = None
    # Several difference curves ({'pair': (w1, w2), 'regions': [...], 'simultaneous': [...]
    # or None}); empty: the one of diff_words / diff_regions.
    differences: List[dict] = field(default_factory=list)
    # {name: version} of R, its packages and the Python packages (fit_info.json's).
    versions: Dict[str, str] = field(default_factory=dict)
    # The folder report.md is written to (links to generated audio are relative to it);
    # write_report sets it.
    audio_base: Optional[str] = None

    def receptive_field(self, layer: str) -> Optional[LayerField]:
        """The receptive field of ``layer`` (None: not recorded or no design read yet)."""
        for lf in (self.design.layers if self.design is not None else []):
            if lf.name == str(layer):
                return lf
        return None


FIGURE_CAPTIONS = {
    "fig2": "Fig. 2. One token per word, cropped to the speech: waveform with the phone "
            "boundaries (top), each layer's channel-mean activation (a.u.) upsampled to the "
            "input's time axis (ms; {fields}), and Q's logits for the token (bottom; the code "
            "Q chose in the word's colour).",
    "fig3": "Fig. 3. {layer} activation (a.u.) per word over the layer's samples (top axis: "
            "ms; {field}): tokens and word means (left) and the GAMM's predicted curves with "
            "95% CI, random smooths excluded (right).",
    "fig4": "Fig. 4. Phone contrast ({phones}) per layer ({fields}): the paper's phone "
            "GAMM's predicted curves over normalised time in the phone with 95% CI; shaded: "
            "the CI of their difference excludes zero (that model treats intervals as "
            "independent replicates: see the phone section for the calibrated tests).",
    "fig5": "Fig. 5. {layer} ({field}): the word GAMM's predictions for {words} (top) and "
            "each difference with its pointwise 95% CI{band} (below); shaded: the pointwise "
            "CI excludes zero.",
    "confusion": "Q's code (argmax) per word: counts; outlined: the one-to-one mapping.",
}
# The paper's figures first, in its order; any other figure after them.
FIGURE_ORDER = ("fig2", "fig3", "fig4", "fig5", "confusion")
FIGURE_TITLES = {"confusion": "Q's codes per word"}


# ------------------------------------------------------------------------ activations folder

@dataclass
class _Files:
    records: ActivationsRecords
    generated: Optional[pd.DataFrame]
    layer_time: Optional[LayerTime]


def read_activation_files(r: ReportInputs) -> _Files:
    """What the report shows besides the fits: ``r.records`` (or the activations folder's
    records, read here), generate.py's table and the layer's time axis."""
    records = r.records if r.records is not None else read_activations_records(r.activations)
    lt = r.layer_time if r.layer_time is not None else read_layer_time(records, r.layer)
    return _Files(records=records,
                  generated=read_generated(r.generated) if r.generated else None,
                  layer_time=lt)


# ------------------------------------------------------------------------ sections


def _caption_fields(r: ReportInputs) -> dict:
    """The values FIGURE_CAPTIONS' placeholders take (labels escaped)."""
    from analysis.report_design import field_text, ms_text
    phones = [str(p) for p in r.phones]
    pairs = report_models.difference_pairs(r)
    words = list(dict.fromkeys(w for d in pairs for w in d["pair"]))
    layers = list(r.phone_fits) or [lf.name for lf in (r.design.layers if r.design else [])]
    fields = [f"{md_text(x)} {ms_text(r.receptive_field(x).field_ms)}" for x in layers
              if r.receptive_field(x) is not None and r.receptive_field(x).field_ms]
    return {"layer": md_text(r.layer), "field": field_text(r.receptive_field(r.layer)) or "field not "
            "recorded", "phones": " vs ".join(md_text(phone_label(p)) for p in phones),
            "fields": ("receptive fields " + ", ".join(fields)) if fields else
            "receptive fields not recorded",
            "words": ", ".join(word_text(w) for w in words),
            "band": " and simultaneous 95% band (dashed)"
            if any(d.get("simultaneous") is not None for d in pairs) else ""}


def figure_lines(r: ReportInputs) -> List[str]:
    """## Figures: the paper's figures in its order, each with its caption and its PDF."""
    if not r.figures:
        return []
    fmt = _caption_fields(r)
    keys = [k for k in FIGURE_ORDER if k in r.figures] + \
        [k for k in r.figures if k not in FIGURE_ORDER]
    L = ["## Figures", ""]
    for key in keys:
        path = r.figures[key]
        cap = FIGURE_CAPTIONS[key].format(**fmt) if key in FIGURE_CAPTIONS else md_text(key)
        title = cap.split(". ", 2)
        head = (". ".join(title[:2]) if key.startswith("fig") else
                FIGURE_TITLES.get(key, md_text(key)))
        pdf = os.path.splitext(path)[0] + ".pdf"
        L += [f"### {head}", "", f"![{cap}]({path})", "", cap + f" (PDF: {md_code(pdf)})", ""]
    return L


def build_markdown(r: ReportInputs) -> str:
    """The report as Markdown (see module docstring)."""
    from analysis import report_calibrated as cal
    from analysis.report_design import (design_section, field_flag_lines, reading_section,
                                        versions_section)
    f = r.word_fit
    files = read_activation_files(r)
    if r.design is None:
        r = dataclasses.replace(r, design=read_design(files.records))
    L = ["# GAMM analysis of Q-network activations", ""]
    if r.command:
        L += [f"Command: {md_code(r.command)}", ""]
    L += [f"Activations: {md_code(r.activations)}. Layer {md_text(r.layer)}, reference word "
          f"{word_text(r.ref_word)}, engine {md_text(f.engine)}, k = {f.k}.", ""]
    data = getattr(f, "data", None)
    n_speakers = int(data["Speaker"].nunique()) \
        if data is not None and "Speaker" in data.columns else None
    L += design_section(r.design, n_speakers)
    perm = (files.records.classification or {}).get("permutation_chance")
    L += reading_section("calibrated" if r.word_tests is not None else "paper",
                         "calibrated" if r.phone_tests is not None else "paper",
                         bool(r.phone_fits), perm.get("n_perm") if isinstance(perm, dict)
                         else None, r.design.corpus in ("festival", "synthetic"))
    L += classification_section(r, files)
    if r.word_tests is not None and len(r.word_tests):
        L += cal.word_section(r, report_models.word_section, direction_sentence)
    else:
        L += report_models.word_section(r)
    L += report_models.difference_section(r, files.layer_time)
    if r.phone_tests is not None and len(r.phone_tests) and r.phone_fits:
        L += cal.phone_section(r, report_phones.phone_section, direction_sentence)
    else:
        L += report_phones.phone_section(r)
    if r.phone_fits:
        L += field_flag_lines(r.phone_table, r.design.layers, [str(p) for p in r.phones],
                              files.records.sample_rate)
    L += report_models.lmm_section(r)
    for section in r.sections:
        L += [section.rstrip("\n"), ""]
    L += figure_lines(r)
    if r.notes:  # prose (R's warnings span lines): whitespace folded, then escaped
        L += ["## Notes", ""] + [f"- {md_text(' '.join(str(n).split()))}" for n in r.notes]
        L += [""]
    if r.timings:
        L += ["## Timings", ""] + [f"- {md_text(k)}: {v:.1f} s" for k, v in r.timings.items()]
        L += [""]
    L += versions_section(r.versions)
    return "\n".join(L)


def write_report(folder: str, inputs: ReportInputs) -> Dict[str, str]:
    """Write report.md and report.html (self-contained: figures and audio embedded) into
    ``folder``; return their paths."""
    if inputs.audio_base is None:
        inputs = dataclasses.replace(inputs, audio_base=folder)
    md = build_markdown(inputs)
    paths = {"md": f"{folder}/report.md", "html": f"{folder}/report.html"}
    atomic_write_text(paths["md"], md)
    atomic_write_text(paths["html"], markdown_to_html(md, folder=folder))
    return paths
