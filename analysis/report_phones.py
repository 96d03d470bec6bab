"""The report's phone contrast section for the paper's phone GAMM: the design note (which
words each phone comes from), the table per layer and the results in words."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from analysis.diffcurves import contrast_regions
from common.phones import phone_label
from analysis.report_text import direction_sentence, fmt, level_rows, word_text
from analysis.corrections import ALPHA, POLICY_LABEL
from analysis.report_design import ms_text
from analysis.labels import md_text
from analysis.tables import fits_adjusted_p, format_ci, format_p, p_phrase


def layer_cell(r, layer: str) -> str:
    """A layer in a table cell with its receptive field: 'conv4 (128 ms)'."""
    lf = r.receptive_field(layer) if hasattr(r, "receptive_field") else None
    return md_text(layer) + (f" ({ms_text(lf.field_ms)})" if lf is not None and lf.field_ms
                             else "")


def _phone_cells(pf, words_of_token: Dict[str, str]) -> Optional[pd.DataFrame]:
    """Intervals and tokens per (phone, word) of a phone fit's rows; None without rows."""
    d = getattr(pf, "data", None)
    if d is None or not words_of_token:
        return None
    sub = d[["Phone", "token_id", "UniqueInterval"]].drop_duplicates("UniqueInterval")
    word = sub["token_id"].astype(str).map(words_of_token)
    if word.isna().any():
        return None
    sub = sub.assign(Word=word.to_numpy(), Phone=sub["Phone"].astype(str))
    g = sub.groupby(["Phone", "Word"], sort=True)
    return pd.DataFrame({"intervals": g["UniqueInterval"].nunique(),
                         "tokens": g["token_id"].nunique()}).reset_index()


def _confound_lines(cells: pd.DataFrame, phones: List[str], layers: str) -> List[str]:
    words = {p: set(cells.loc[cells["Phone"] == p, "Word"]) for p in phones}
    shared = set.intersection(*words.values()) if words else set()
    lab = {p: md_text(phone_label(p)) for p in phones}
    if shared and all(words[p] == shared for p in phones):
        return []
    L = []
    if not shared:
        L.append(f"Design note ({layers}): the phones come from disjoint sets of words ("
                 + "; ".join(f"{lab[p]} only from {', '.join(word_text(w) for w in sorted(words[p]))}"
                             for p in phones)
                 + "), so the phone contrast is confounded with word: a difference between "
                 "the phones cannot be told apart from a difference between these words. "
                 "Intervals and tokens per cell:")
    else:
        only = {p: sorted(words[p] - shared) for p in phones}
        L.append(f"Design note ({layers}): the phones are partly confounded with word: only "
                 + ", ".join(word_text(w) for w in sorted(shared)) + " contribute both; "
                 + "; ".join(f"{', '.join(word_text(w) for w in only[p])} only {lab[p]}"
                             for p in phones if only[p])
                 + ". Intervals and tokens per cell:")
    L += ["", "| phone | word | intervals | tokens |", "|---|---|---:|---:|"]
    for row in cells.itertuples(index=False):
        L.append(f"| {md_text(phone_label(row.Phone))} | {md_text(row.Word)} | "
                 f"{row.intervals} | {row.tokens} |")
    for p in phones:
        c = cells[cells["Phone"] == p]
        L.append(f"| {md_text(phone_label(p))} | all | {int(c['intervals'].sum())} | "
                 f"{int(c['tokens'].sum())} |")
    return L + [""]


def phone_section(r) -> List[str]:
    if not r.phone_fits:
        return []
    phones = [str(p) for p in r.phones] or [str(v) for v in
                                             next(iter(r.phone_fits.values())).levels]
    lab = {p: md_text(phone_label(p)) for p in phones}
    k_asked = int(getattr(r.word_fit, "k", 0) or 0)
    regions = r.phone_regions
    if regions is None and len(phones) >= 2:
        try:
            regions = contrast_regions(r.phone_fits, phones[1], phones[0],
                                       np.linspace(0.0, 1.0, 51))
        except Exception:  # a fit without a usable lpmatrix: the report says nothing of it
            regions = None
    words_of_token = {}
    d = getattr(r.word_fit, "data", None)
    if r.phone_table is not None and {"token_id", "word"} <= set(r.phone_table.columns):
        t = r.phone_table[["token_id", "word"]].drop_duplicates("token_id")
        words_of_token = dict(zip(t["token_id"].astype(str), t["word"].astype(str)))
    elif d is not None and {"token_id", "Word"} <= set(d.columns):
        words_of_token = dict(zip(d["token_id"].astype(str), d["Word"].astype(str)))
    cells = {lay: _phone_cells(pf, words_of_token) for lay, pf in r.phone_fits.items()}
    L = [f"## Phone contrast ({' vs '.join(lab[p] for p in phones)})", ""]
    # The design first: it qualifies every result of the section.
    known = {lay: c for lay, c in cells.items() if c is not None}
    if known:
        first = next(iter(known.values()))
        if all(c.equals(first) for c in known.values()):
            L += _confound_lines(first, phones, "every layer" if len(known) > 1 else
                                 md_text(next(iter(known))))
        else:
            for lay, c in known.items():
                L += _confound_lines(c, phones, md_text(lay))
    confounded = any(_confound_lines(c, phones, "") for c in known.values())
    adj = fits_adjusted_p(r.phone_fits)
    L += [f"p ({POLICY_LABEL}): adjusted over the {2 * len(r.phone_fits)} level and shape tests "
          "of all layers together.", "",
          "| layer (receptive field) | k | intervals | tokens | difference " + " - ".join(
              lab[p] for p in reversed(phones[:2])) + " (95% CI) | level p | level p "
          f"({POLICY_LABEL}) | shape p | shape p ({POLICY_LABEL}) | dev. expl. |",
          "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    bullets = []
    for lay, pf in r.phone_fits.items():
        rows = level_rows(pf, phones[0])
        ps = pf.smooths.set_index(pf.smooths["term"].astype(str))
        sterm = [t for t in ps.index if t.startswith(f"s({pf.predictor}):")]
        shape_p = float(ps.loc[sterm[0], "p-value"]) if sterm else float("nan")
        n_tok = pf.data["token_id"].nunique() if getattr(pf, "data", None) is not None \
            else None
        lvl = rows[0] if rows else None
        a_lvl = adj.get(str(lay), {}).get(f"{pf.factor}{lvl['level']}") if lvl else None
        a_shape = adj.get(str(lay), {}).get(sterm[0]) if sterm else None
        L.append(f"| {layer_cell(r, lay)} | {pf.k} | {pf.n_tokens} | "
                 f"{n_tok if n_tok is not None else ''} | "
                 + (f"{fmt(lvl['estimate'])} ({format_ci(lvl['lower'], lvl['upper'])})"
                    if lvl else "") + f" | {format_p(lvl['p']) if lvl else ''} | "
                 f"{format_p(a_lvl)} | {format_p(shape_p)} | {format_p(a_shape)} | "
                 f"{100 * pf.dev_expl:.1f} % |")
        parts = []
        if lvl:
            parts.append(direction_sentence(md_text(lay), lab.get(lvl["level"],
                                                                   md_text(lvl["level"])),
                                            lab[phones[0]], lvl["estimate"], lvl["lower"],
                                            lvl["upper"], lvl["p"], p_adj=a_lvl))
        if sterm:
            decide = shape_p if a_shape is None else a_shape
            parts.append(("the shapes differ" if decide < ALPHA else
                          "the shapes do not differ reliably")
                         + f" (difference smooth {p_phrase(shape_p)}"
                         + ("" if a_shape is None else f", {POLICY_LABEL} {p_phrase(a_shape)}")
                         + ")")
        if regions is not None and len(phones) >= 2:
            reg = regions.get(lay, [])
            if reg:
                parts.append(f"the CI of {lab[phones[1]]} - {lab[phones[0]]} excludes zero at "
                             "normalised time " + ", ".join(
                                 f"{g['start']:.2f}-{g['end']:.2f} "
                                 f"({'higher' if g['sign'] > 0 else 'lower'})" for g in reg))
            else:
                parts.append("the CI of the difference includes zero throughout")
        text = "; ".join(parts)
        text += f". Automatic choices: AR1 \u03c1 = {fmt(pf.rho)}"
        if k_asked and pf.k != k_asked:
            text += f"; k lowered from {k_asked} to {pf.k}"
        text += "."
        for n in pf.notes:
            n = " ".join(str(n).split())
            if "k lowered" in n:
                text += (f" Caveat: {md_text(n)}; with so few samples per interval the shape "
                         "test rests on a smooth of at most "
                         f"{pf.k - 1} degrees of freedom fitted to a handful of points, so "
                         "read its p-value as indicative only.")
            else:
                text += f" Note: {md_text(n)}."
        if confounded and (lvl and (a_lvl if a_lvl is not None else lvl["p"]) < ALPHA
                           or (a_shape if a_shape is not None else shape_p) < ALPHA):
            text += " Caveat: confounded with word (design note above)."
        bullets.append("- " + text)
    L += ["", "In words:", ""] + bullets + ["", "Full tables: `phone_contrast.md`.", ""]
    return L

