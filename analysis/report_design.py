"""The report's opening sections: the design (from the records, :mod:`analysis.provenance`),
each layer's receptive field, and how to read the numbers (what "encoded" means, what the fit
statistics mean, the one correction policy, the caveats of a single run); and the software
versions at its end.

Also the receptive-field arithmetic the phone section flags with: :func:`interval_durations`
(each phone interval's length, exactly, from the spacing of its samples' normalised times)
and :func:`short_interval_counts` (how many intervals are shorter than a layer's field).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.corrections import ALPHA, POLICY_LABEL
from analysis.provenance import Design, LayerField
from analysis.labels import md_code, md_text

# docs/demo.md, "Spread over three seeds" (demo.py seeds 0, 1, 2, measured 2026-11-29/30):
# what one run of the demo can and cannot show.
SEED_SPREAD = ("docs/demo.md measured the demo over training seeds 0, 1 and 2: the [s]/[ʃ] "
               "level p-values ranged from 0.0002-0.002 (seed 1) to 0.02-0.07 (seed 2), the "
               "number of conv5 shapes differing from the reference from 4 to 6 of 7, and Q's "
               "accuracy on generated audio from 56 % to 75 %; the direction of the clear conv5 "
               "level differences and 'every word pair differs somewhere in the spectra' held "
               "in all three. One run is one seed: a p-value near the threshold in one run is "
               "not a finding.")
CORPUS_NAMES = {
    "festival": "synthetic speech: the festival demo corpus (corpus/demo.py), every speaker "
                "a festival voice with its own rate, pitch, vocal-tract scaling and level "
                "saying TIMIT's sentences SA1 and SA2, not TIMIT recordings",
    "synthetic": "synthetic speech: the numpy-voice demo corpus (corpus/demo.py "
                 "--voice=synthetic, corpus/synth.py) of pseudo-words, not recordings",
    "timit": "a TIMIT-layout corpus (prepare.py --timit_dir)",
    "folder": "a folder corpus, one sub-folder per word (prepare.py --folder_dir)",
}
SPLIT_TEXT = {
    "random": "tokens assigned to train/test at random within each word, so the same speakers "
              "occur in both splits",
    "speaker": "speakers assigned to train or test as wholes (speaker-disjoint)",
    "timit": "TIMIT's own TRAIN/TEST folders (speaker-disjoint)",
}


def ms_text(v: Optional[float]) -> str:
    return "not recorded" if v is None else (f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms")


def field_text(lf: Optional[LayerField]) -> str:
    """'receptive field 512 ms, one sample every 64 ms' (escaped-free text) or ''."""
    if lf is None:
        return ""
    parts = []
    if lf.field_ms is not None:
        parts.append(f"receptive field {ms_text(lf.field_ms)}")
    parts.append(f"one sample every {ms_text(lf.step_ms)}")
    return ", ".join(parts)


def design_section(d: Design, n_speakers: Optional[int] = None) -> List[str]:
    """## Design: corpus, speakers, split, what was analysed, normalisation, checkpoint, and
    the receptive-field table."""
    L = ["## Design", ""]
    facts = []
    if d.corpus is not None:
        corpus = CORPUS_NAMES.get(d.corpus, md_text(d.corpus))
        if d.voices:
            corpus += " (" + ", ".join(f"{md_text(v)}: {n} speakers"
                                       for v, n in d.voices.items()) + ")"
        facts.append(f"Corpus: {corpus}; folder {md_code(d.corpus_path)}.")
    else:
        facts.append("Corpus: not recorded (extract_info.json names no prepared dataset with "
                     "a dataset.json, or it has moved).")
    if d.split_method is not None:
        split = SPLIT_TEXT.get(d.split_method, md_text(d.split_method))
        per = ", ".join(f"{md_text(s)} {d.tokens_per_split.get(s, '?')} tokens from "
                        f"{n} speakers" for s, n in d.speakers_per_split.items())
        facts.append(f"Split (prepare.py --split={md_text(d.split_method)}"
                     + (f", test fraction {d.test_fraction:g}" if d.test_fraction is not None
                        else "") + (f", seed {d.split_seed}" if d.split_seed is not None
                                    else "") + f"): {split}" + (f"; {per}" if per else "") + ".")
    what = "Analysed: " + (f"the {md_text(d.split_extracted)} split, "
                           if d.split_extracted else "")
    what += f"{d.n_tokens} tokens" if d.n_tokens is not None else "the tokens"
    if d.tokens_per_word:
        n = list(d.tokens_per_word.values())
        what += (f" of {len(n)} words ({min(n)} to {max(n)} tokens per word)" if min(n) != max(n)
                 else f" of {len(n)} words ({n[0]} tokens per word)")
    if n_speakers:
        what += f" from {n_speakers} speakers"
    if d.shared_speakers is not None and d.split_extracted:
        what += (f"; {d.shared_speakers} of these speakers also have tokens in the training "
                 "split, so D and Q heard their voices in training"
                 if d.shared_speakers else "; none of these speakers was heard in training")
    facts.append(what + ".")
    if d.normalize is not None:
        facts.append("Input normalisation: " + (
            "each token scaled to peak amplitude 1 before Q (extract.py --normalize=peak, as "
            "in training)" if d.normalize == "peak" else
            f"{md_text(d.normalize)} (extract.py --normalize)") + ".")
    if d.checkpoint:
        facts.append(f"Network: {md_text(d.network or 'Q')} of the "
                     + (f"{md_text(d.model)} " if d.model else "")
                     + f"checkpoint {md_code(d.checkpoint)}"
                     + (f", training step {d.step}" if d.step is not None else
                        ", training step not recorded") + ".")
    L += [" ".join(facts), ""]
    if d.layers:
        L += ["Each layer's time axis (extract_info.json): one sample of the channel-averaged "
              "trace every *step*, each summarising a *receptive field* of input samples. A "
              "value at a layer mixes everything inside its field: a phone interval shorter "
              "than the field is read together with its neighbours.", "",
              "| layer | step (samples) | step (ms) | receptive field (samples) | "
              "receptive field (ms) |", "|---|---:|---:|---:|---:|"]
        for lf in d.layers:
            L.append(f"| {md_text(lf.name)} | {lf.jump:g} | {lf.step_ms:.2f} | "
                     f"{'' if lf.width is None else f'{lf.width:g}'} | "
                     f"{'' if lf.field_ms is None else f'{lf.field_ms:.1f}'} |")
        L.append("")
    return L


def reading_section(word_model: str, phone_model: str, has_phones: bool,
                    n_perm: Optional[int], demo: bool) -> List[str]:
    """## Reading this report: what the words and numbers mean, the correction policy and
    the caveats of a single run."""
    L = ["## Reading this report", "",
         "- **Encoded** means a difference in mean activation: a layer *encodes* a contrast "
         "when the channel-averaged activation of one word (or phone) differs from another's "
         "in level or in shape over time. It says nothing about which channels carry it or "
         "whether the network uses it."]
    if has_phones:
        L.append("- A **phone contrast is also a contrast between words**: the intervals of "
                 "each phone come from particular words, so a phone difference can be a word "
                 "difference. "
                 + ("The calibrated phone model (the default) treats the words as a random "
                    "factor and says when too few words carry a phone to separate the two; "
                    "the paper's GAMM does not." if phone_model == "calibrated" else
                    "The paper's phone GAMM (--phone_model=paper) treats every interval as an "
                    "independent replicate and cannot separate phone from word; the design "
                    "notes below name the words."))
    L += ["- **Fit statistics of the GAMMs.** *Deviance explained* (often above 99 %) comes "
          "mostly from the per-token (per-interval) random smooths, which give every token its "
          "own curve; it is not the share explained by the words or phones. *AR1 ρ* is the "
          "lag-1 autocorrelation of the residuals, estimated from a first fit and then held "
          "fixed; it is often *negative* here (the random smooths absorb the slow variation, "
          "leaving residuals that alternate), and the p-values are conditional on it.",
          f"- **One correction policy**: {POLICY_LABEL}'s step-down correction of the "
          "family-wise error rate, within each table's family of tests, at alpha "
          f"{ALPHA:g}: Table 1 (every word's level and shape test), the phone contrast (every "
          "layer's level and shape test), the mixed models (the layers' omnibus tests; the "
          "layers x words estimates), the contrast matrix (every cell's two tests) and the "
          "spectra (every layer x band). Tables print the raw p beside the adjusted one; the "
          f"text claims a difference only where the {POLICY_LABEL}-adjusted p is below "
          f"{ALPHA:g}. Confidence intervals are pointwise 95 % intervals, not adjusted.",
          f"- Models: Table 1 from the {md_text(word_model)} word model"
          + (f", the phone contrast from the {md_text(phone_model)} phone model"
             if has_phones else "") + " (docs/calibration.md)."]
    if n_perm:
        L.append(f"- **Permutation p-values** have a floor: with {n_perm} shuffles the "
                 f"smallest p is 1/({n_perm} + 1) = {1 / (n_perm + 1):.4f}; a p at the floor "
                 "means 'smaller than any shuffle gave', not that value.")
    L.append("- **Seeds.** " + (SEED_SPREAD if demo else
                                "This report is one training run. " + SEED_SPREAD))
    return L + [""]


def versions_section(versions: Dict[str, str]) -> List[str]:
    """## Software: the versions that made the numbers (fit_info.json holds the same)."""
    if not versions:
        return []
    return ["## Software", "", ", ".join(f"{md_text(k)} {md_code(v)}"
                                          for k, v in versions.items()) + ".", ""]


# --------------------------------------------------------------------------- phone intervals

def interval_durations(rows: pd.DataFrame, jumps: Dict[str, float],
                       sample_rate: float) -> pd.DataFrame:
    """Each phone interval's length in ms: (token_id, phone, phone_index, duration_ms).

    extract.py gives a sample of a layer to an interval when the sample's centre lies in it,
    with ``norm_time = (centre - start) / (end - start)``; consecutive samples are ``jump``
    input samples apart, so ``end - start = jump / (norm_time[1] - norm_time[0])`` exactly.
    The finest layer with at least two samples in the interval is used; an interval with
    one sample in every layer gets NaN."""
    keys = ["token_id", "phone", "phone_index"]
    found = []
    order = sorted((lay for lay in rows["layer"].astype(str).unique() if lay in jumps),
                   key=lambda lay: jumps[lay])
    for lay in order:
        sub = rows[rows["layer"].astype(str) == lay].sort_values(keys + ["sample"])
        grp = sub.groupby(keys, sort=False, observed=True)
        nt = sub["norm_time"].to_numpy(float)
        rank = grp.cumcount().to_numpy()
        first = grp["norm_time"].transform("first").to_numpy(float)
        # norm_time step between an interval's first two samples (NaN: one sample only)
        delta = pd.Series(np.where(rank == 1, nt - first, np.nan), index=sub.index)
        step = delta.groupby([sub[k] for k in keys], sort=False, observed=True).max()
        d = step.to_numpy(float)
        dur = np.full(d.shape, np.nan)
        ok = d > 0
        dur[ok] = jumps[lay] / d[ok]
        found.append(pd.DataFrame({"duration_ms": 1000.0 * dur / float(sample_rate)},
                                  index=step.index))
    if not found:
        return pd.DataFrame(columns=keys + ["duration_ms"])
    out = found[0]
    for more in found[1:]:
        out = out.combine_first(more)
    out = out.reset_index()
    out.columns = keys + ["duration_ms"]
    return out


def short_interval_counts(durations: pd.DataFrame, fields: Sequence[LayerField],
                          phones: Sequence[str]) -> pd.DataFrame:
    """Per (phone, layer with a known field): intervals, how many are shorter than the field,
    and the median duration (ms)."""
    rows = []
    for p in phones:
        d = durations.loc[durations["phone"].astype(str) == str(p), "duration_ms"].dropna()
        for lf in fields:
            if lf.field_ms is None:
                continue
            rows.append({"phone": str(p), "layer": lf.name, "field_ms": lf.field_ms,
                         "intervals": int(len(d)), "shorter": int((d < lf.field_ms).sum()),
                         "median_ms": float(d.median()) if len(d) else np.nan})
    return pd.DataFrame(rows, columns=["phone", "layer", "field_ms", "intervals", "shorter",
                                       "median_ms"])


def field_flag_lines(phone_table: Optional[pd.DataFrame], fields: Sequence[LayerField],
                     phones: Sequence[str], sample_rate: float) -> List[str]:
    """The phone section's receptive-field check: per phone, how many of its intervals are
    shorter than each layer's field (their values there include neighbouring segments)."""
    from common.phones import phone_label
    need = {"token_id", "phone", "phone_index", "layer", "sample", "norm_time"}
    if phone_table is None or not len(phone_table) or not fields or \
            not need <= set(phone_table.columns):
        return []
    jumps = {lf.name: lf.jump for lf in fields}
    rows = phone_table[phone_table["phone"].astype(str).isin([str(p) for p in phones])]
    durations = interval_durations(rows, jumps, sample_rate)
    counts = short_interval_counts(durations, fields, phones)
    if counts.empty or not counts["intervals"].any():
        return []
    layers = [lf for lf in fields if lf.field_ms is not None]
    L = ["Phone durations against each layer's receptive field (intervals shorter than the "
         "field / all; at such a layer the phone's values include its neighbouring "
         "segments, so a 'phone' difference there is partly a difference of context):", "",
         "| phone | median duration | " + " | ".join(
             f"{md_text(lf.name)} ({ms_text(lf.field_ms)})" for lf in layers) + " |",
         "|---|---:|" + "---:|" * len(layers)]
    worst = []
    for p in phones:
        c = counts[counts["phone"] == str(p)].set_index("layer")
        if c.empty or not int(c["intervals"].iloc[0]):
            continue
        n = int(c["intervals"].iloc[0])
        cells = [f"{int(c.loc[lf.name, 'shorter'])} / {n}" for lf in layers]
        L.append(f"| {md_text(phone_label(p))} | {ms_text(float(c['median_ms'].iloc[0]))} | "
                 + " | ".join(cells) + " |")
        half = [lf.name for lf in layers if c.loc[lf.name, "shorter"] * 2 >= n]
        if half:
            worst.append(f"{md_text(phone_label(p))} from {md_text(half[0])} on")
    L.append("")
    if worst:
        L += ["Flag: at least half of the intervals are shorter than the field for "
              + "; ".join(worst) + ".", ""]
    return L
