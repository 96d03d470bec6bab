"""The contrast matrix (:mod:`analysis.contrasts`) as a heat map, a report section and files.

Both models' matrices are read: the calibrated one (the default; untestable contrasts are
named with their words, and cells where the paper's model disagrees are listed beside it) and
the paper's (``--phone_model=paper``: the section as it was before the calibrated model).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis.calibrated import STATUS_FITTED
from analysis.contrasts import ENCODED
from analysis.labels import md_text
from analysis.tables import format_number, format_p
from common import layout

__all__ = ["contrast_report_section", "disagreements", "encoding_summary",
           "fig_contrast_matrix", "write_contrast_outputs"]

UNTESTABLE = "cannot be tested"
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def _model(matrix: pd.DataFrame) -> str:
    return "calibrated" if "status_paper" in matrix.columns else "paper"


def difference_label(matrix: pd.DataFrame, contrast: str) -> str:
    """How a contrast is named in the figure and tables: '[ʃ] − [s]' (phone minus
    reference, the sign of every number of its row); plain text (escape it for Markdown)."""
    from common.phones import phone_label
    row = matrix[matrix["contrast"] == contrast].iloc[0]
    return f"{phone_label(row['phone'])} \u2212 {phone_label(row['reference'])}"


def _cell_text(status: str) -> str:
    """'n/t' for a contrast its words cannot carry, 'n/f' for any other cell not tested."""
    return "n/t" if str(status).startswith(UNTESTABLE) else "n/f"


# --------------------------------------------------------------------------- heat map

def fig_contrast_matrix(matrix: pd.DataFrame, folder: str, name: str = "contrast_matrix",
                        method: str = "holm") -> List[str]:
    """Heat map, contrasts (rows) x layers (columns): colour = signed effect_size (level
    difference b - a in SDs of interval means, diverging around 0), text = effect size with
    '*' when the cell is encoded (``encoded_<method>``), grey 'n/f' where not fitted ('n/t'
    where the contrast's words cannot carry a test)."""
    from analysis.style import effect_heatmap, save_figure

    if method not in ENCODED:
        raise ValueError(f"method must be one of {sorted(ENCODED)}, got {method!r}")
    contrasts = list(pd.unique(matrix["contrast"]))
    layers = list(pd.unique(matrix["layer"]))

    def grid(col):
        return matrix.pivot(index="contrast", columns="layer", values=col).reindex(
            index=contrasts, columns=layers)

    eff, enc, status = grid("effect_size"), grid(f"encoded_{method}"), grid("status")
    vals = eff.to_numpy(float)

    def text(i, j):
        v, e = vals[i, j], enc.iloc[i, j]
        if not np.isfinite(v):
            return _cell_text(status.iloc[i, j])
        return f"{v:.2f}" + ("*" if (e is not pd.NA and bool(e)) else "")

    label = "Holm" if method == "holm" else "BH"
    alpha = matrix.attrs.get("alpha", 0.05)
    fig = effect_heatmap(
        vals, text, [difference_label(matrix, c) for c in contrasts], layers,
        "effect size of b \u2212 a\n(SD of interval means)",
        f"rows b \u2212 a (second phone minus first)\n*: encoded ({label}, \u03b1 {alpha:g}); "
        "n/f: not fitted; n/t: not testable")
    return save_figure(fig, folder, name)


# --------------------------------------------------------------------------- report

def encoding_summary(matrix: pd.DataFrame, method: str = "holm") -> pd.DataFrame:
    """Per contrast (matrix order): first_encoded (layer or None), encoded, not_encoded,
    not_fitted (lists of layers, in the matrix's layer order) and untestable (the reason when
    every tested cell of the contrast was refused for too few words, else '')."""
    if method not in ENCODED:
        raise ValueError(f"method must be one of {sorted(ENCODED)}, got {method!r}")
    col = f"encoded_{method}"
    out = []
    for c in pd.unique(matrix["contrast"]):
        sub = matrix[matrix["contrast"] == c]
        fitted = sub["status"] == STATUS_FITTED
        enc = [str(x) for x, e, f in zip(sub["layer"], sub[col], fitted) if f and bool(e)]
        not_enc = [str(x) for x, e, f in zip(sub["layer"], sub[col], fitted) if f and not bool(e)]
        nf = [str(x) for x, f in zip(sub["layer"], fitted) if not f]
        refused = [str(s) for s in sub["status"] if str(s).startswith(UNTESTABLE)]
        out.append({"contrast": c, "first_encoded": enc[0] if enc else None, "encoded": enc,
                    "not_encoded": not_enc, "not_fitted": nf,
                    "untestable": refused[0] if refused and not enc and not not_enc else ""})
    return pd.DataFrame(out, columns=["contrast", "first_encoded", "encoded", "not_encoded",
                                      "not_fitted", "untestable"])


def disagreements(matrix: pd.DataFrame, method: str = "holm") -> pd.DataFrame:
    """Cells of a calibrated matrix where the paper's model and the calibrated one disagree on
    'encoded' (either tested; an untestable cell that the paper's model calls encoded counts):
    contrast, layer, calibrated, paper (True/False/None), p_param, p_smooth and their _paper."""
    if _model(matrix) != "calibrated":
        return pd.DataFrame()
    a, b = matrix[f"encoded_{method}"], matrix[f"encoded_paper_{method}"]
    ours = a.astype("boolean").fillna(False).to_numpy(bool)
    theirs = b.astype("boolean").fillna(False).to_numpy(bool)
    keep = ours != theirs
    cols = ["contrast", "layer", "status", "p_param", "p_smooth", "p_param_paper",
            "p_smooth_paper", f"p_param_{method}", f"p_smooth_{method}",
            f"p_param_paper_{method}", f"p_smooth_paper_{method}"]
    out = matrix.loc[keep, cols].copy()
    out.insert(2, "calibrated", ours[keep])
    out.insert(3, "paper", theirs[keep])
    return out.reset_index(drop=True)


def _join(layers: Sequence[str]) -> str:
    return ", ".join(md_text(x) for x in layers)


def _intro(matrix: pd.DataFrame, label: str, alpha: float) -> List[str]:
    n_fit = int((matrix["status"] == STATUS_FITTED).sum())
    if _model(matrix) == "paper":
        return [f"The phone GAMM (level and shape of the second phone against the first) at "
                f"every layer: {n_fit} of {len(matrix)} cells fitted. A contrast is *encoded* "
                f"at a layer when its level or its difference smooth differs after {label} "
                f"correction over the whole matrix (alpha {alpha:g}).", ""]
    return [f"Model: the calibrated phone model (mixed models of per-interval level and shape "
            f"with words and speakers as random factors; docs/calibration.md): {n_fit} of "
            f"{len(matrix)} cells tested. A contrast is *encoded* at a layer when the mean "
            f"level or the shape over normalised time of the second phone's intervals differs "
            f"from the first's, beyond what the words they come from differ, after {label} "
            f"correction over the whole matrix (alpha {alpha:g}). Differences are b - a "
            "(second phone minus first).", ""]


def _disagreement_lines(matrix: pd.DataFrame, method: str) -> List[str]:
    dis = disagreements(matrix, method)
    if dis.empty:
        return []
    L = ["The paper's phone GAMM (intervals as independent replicates, in the `*_paper` "
         "columns) disagrees with the calibrated model at these cells (corrected p, level / "
         "shape):", "", "| contrast | layer | calibrated | paper's model |", "|---|---|---|---|"]
    for r in dis.itertuples(index=False):
        d = r._asdict()
        ours = ("encoded" if r.calibrated else
                ("not testable" if str(r.status).startswith(UNTESTABLE) else "not encoded"))
        ours_p = ("" if not np.isfinite(d[f"p_param_{method}"]) else
                  f" ({format_p(d[f'p_param_{method}'])} / {format_p(d[f'p_smooth_{method}'])})")
        theirs = "encoded" if r.paper else "not encoded"
        L.append(f"| {md_text(difference_label(matrix, r.contrast))} | {md_text(r.layer)} | "
                 f"{ours}{ours_p} | {theirs} "
                 f"({format_p(d[f'p_param_paper_{method}'])} / "
                 f"{format_p(d[f'p_smooth_paper_{method}'])}) |")
    return L + [""]


def contrast_report_section(matrix: pd.DataFrame, method: str = "holm",
                            figure: Optional[str] = None, level: int = 2) -> str:
    """Markdown section: per contrast the first layer where it is encoded and the layers where
    it is not (and those not fitted), then the matrix as a table (effect size, '*' encoded);
    for a calibrated matrix also the contrasts that cannot be tested (with their words) and
    the cells where the paper's model disagrees. ``figure``: relative path of the heat map.
    Pure function of the matrix."""
    alpha = matrix.attrs.get("alpha", 0.05)
    label = CORRECTION_NAMES[method]
    h = "#" * level
    lines = [f"{h} Phone contrasts by layer", ""] + _intro(matrix, label, alpha)
    for r in encoding_summary(matrix, method).itertuples(index=False):
        name = md_text(difference_label(matrix, r.contrast))
        if r.untestable:
            lines.append(f"- **{name}**: {md_text(r.untestable)}.")
            continue
        first = ("encoded at no layer" if r.first_encoded is None
                 else f"first encoded at {md_text(r.first_encoded)}")
        parts = [first]
        if r.not_encoded:
            parts.append(f"not encoded at {_join(r.not_encoded)}")
        if r.not_fitted:
            parts.append(f"not fitted at {_join(r.not_fitted)} (too few intervals)")
        lines.append(f"- **{name}**: " + "; ".join(parts) + ".")
    lines.append("")
    if figure:
        lines += [f"![Contrast matrix]({figure})", ""]
    layers = list(pd.unique(matrix["layer"]))
    lines += ["| contrast (b \u2212 a) | " + " | ".join(md_text(x) for x in layers) + " |",
              "|---|" + "---:|" * len(layers)]
    col = f"encoded_{method}"
    for c in pd.unique(matrix["contrast"]):
        sub = matrix[matrix["contrast"] == c].set_index("layer")
        cells = []
        for lay in layers:
            r = sub.loc[lay]
            if r["status"] != STATUS_FITTED:
                cells.append(_cell_text(r["status"]))
            else:
                cells.append(format_number(float(r["effect_size"]), 2)
                             + ("\\*" if bool(r[col]) else ""))
        lines.append(f"| {md_text(difference_label(matrix, c))} | " + " | ".join(cells) + " |")
    if _model(matrix) == "paper":
        lines += ["", "Cells: effect size (level difference b - a in SDs of interval means); \\*: "
                  "encoded; n/f: not fitted. Every number is in contrast_matrix.csv.", ""]
        return "\n".join(lines)
    lines += ["", "Cells: effect size (level difference b - a in SDs of interval means); \\*: "
              "encoded; n/f: not fitted (too few intervals); n/t: not testable (too few words "
              "per phone). Every number is in contrast_matrix.csv.", ""]
    lines += _disagreement_lines(matrix, method)
    return "\n".join(lines)


def write_contrast_outputs(matrix: pd.DataFrame, folder: str, figures: bool = True,
                           figure_folder: str = "figures", method: str = "holm",
                           cells: Optional[dict] = None, nthreads: int = 2
                           ) -> Dict[str, str]:
    """Write ``contrast_matrix.csv``, ``contrast_matrix.md`` (the report section) and, with
    ``figures``, ``<figure_folder>/contrast_matrix.{png,pdf}`` into ``folder`` (atomic writes;
    ``folder`` is the caller's output folder, already made safe by common.outputs).
    ``cells`` (:func:`analysis.contrasts.contrast_matrix`'s): the refit scripts of every
    tested cell (:mod:`analysis.refits`): the calibrated cells' ``contrast_matrix_refit.R``
    and the paper's GAMMs' ``contrast_matrix_paper_refit.R`` (``contrast_matrix_refit.R``
    when the matrix is the paper's). Returns {'csv', 'md'[, 'figure']: path}."""
    from analysis import refits
    from common.atomic import atomic_write_csv, atomic_write_text
    if cells:
        paper = _model(matrix) == "paper"
        units = {key: c["units"] for key, c in cells.items() if "units" in c}
        fits = {f"{key[0]} at {key[1]}": c["fit"] for key, c in cells.items() if "fit" in c}
        if units:
            refits.write_units_refit(folder, "contrast_matrix", units)
        refits.write_gamm_refit(folder, "contrast_matrix" if paper else
                                "contrast_matrix_paper", fits,
                                "the contrast matrix's phone GAMMs (the paper's model)",
                                nthreads=nthreads)

    paths = {"csv": os.path.join(folder, f"{layout.CONTRAST_MATRIX}.csv"),
             "md": os.path.join(folder, f"{layout.CONTRAST_MATRIX}.md")}
    atomic_write_csv(matrix, paths["csv"])
    rel = None
    if figures:
        fdir = os.path.join(folder, figure_folder)
        os.makedirs(fdir, exist_ok=True)
        paths["figure"] = fig_contrast_matrix(matrix, fdir, method=method)[0]
        rel = f"{figure_folder}/contrast_matrix.png"
    atomic_write_text(paths["md"], contrast_report_section(matrix, method, figure=rel))
    return paths
