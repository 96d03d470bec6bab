"""One look for every figure of the analysis: journal page sizes, fonts, colours, saving.

API (what a figure function uses)::

    fig, axes = figure("double", height_in=2.8, nrows=1, ncols=2)   # axes: 2-D array
    colours = word_colours(all_words)          # {word: colour}, fixed by word for a report
    colours = palette(levels)                  # {level: colour} for other groups (phones)
    ax.plot(x, y, color=colours[w], label=plot_text(w))   # data labels through plot_text
    shade_regions(ax, regions)                 # significance bands (CI excludes 0)
    add_ms_axis(ax, layer_time)                # a second x axis in ms above a Sample axis
    shared_legend(fig, axes, italic=words)     # one legend outside the panels, words italic
    save_figure(fig, folder, "fig3_word_curves")   # PNG (300 dpi) + PDF, exact size

Sizes follow common journal pages: one column :data:`SINGLE_COLUMN_IN` (3.4 in), two columns
:data:`DOUBLE_COLUMN_IN` (7.0 in), at most :data:`MAX_HEIGHT_IN` tall; text is
:data:`FONT_PT` pt and never below :data:`MIN_FONT_PT` pt at that size (:func:`figure_problems`
checks a figure). Figures use constrained layout and are saved without ``bbox_inches='tight'``,
so the saved page size is exactly the requested one. PDFs embed TrueType fonts (Type 42), which
journals accept and which hold the IPA letters.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from analysis.labels import visible  # noqa: E402
from common.atomic import atomic_path  # noqa: E402

SINGLE_COLUMN_IN = 3.4
DOUBLE_COLUMN_IN = 7.0
MAX_HEIGHT_IN = 9.0
DPI = 300
FONT_PT = 8.0
MIN_FONT_PT = 7.0
FORMATS = ("png", "pdf")
# Okabe & Ito's colour-blind-safe palette (black last: it is the difference curves' colour).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
             "#000000")
# The words' colours: Okabe-Ito without its yellow (unreadable as a line on white, and the
# significance bands' colour), with Tol's wine in its place; one per word, up to 8 words.
WORD_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255",
                "#000000")
# Phones' colours (Tol's muted palette): none is a word's colour, so a phone curve is never
# read as a word's.
PHONE_PALETTE = ("#332288", "#117733", "#AA4499", "#88CCEE", "#999933", "#44AA99", "#CC6677",
                 "#DDCC77")
SIGNIFICANT_COLOUR = "#F0E442"   # band where a CI excludes zero
SIGNIFICANT_ALPHA = 0.35
CI_ALPHA = 0.2                   # confidence bands of curves
SIGNIFICANT_LABEL = "95% CI of the difference excludes 0"

_RC = {
    "font.family": "DejaVu Sans",      # ships with matplotlib and holds the IPA block
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": FONT_PT + 1,
    "figure.labelsize": FONT_PT,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "axes.unicode_minus": True,
}


def apply_style() -> None:
    """Set matplotlib's parameters to the house style (idempotent; :func:`figure` calls it)."""
    matplotlib.rcParams.update(_RC)


def width_in(width: Union[str, float]) -> float:
    """Figure width in inches: 'single' (3.4), 'double' (7.0) or a number up to 7.0."""
    if width == "single":
        return SINGLE_COLUMN_IN
    if width == "double":
        return DOUBLE_COLUMN_IN
    w = float(width)
    if not 0 < w <= DOUBLE_COLUMN_IN:
        raise ValueError(f"figure width {w} in: expected 'single', 'double' or (0, 7.0]")
    return w


def figure(width: Union[str, float] = "single", height_in: float = 2.5, nrows: int = 1,
           ncols: int = 1, **subplots_kw):
    """A styled figure of ``width`` ('single' | 'double' | inches) by ``height_in`` (capped at
    :data:`MAX_HEIGHT_IN`) with constrained layout; returns (fig, axes) with axes always a 2-D
    array [nrows, ncols] (``squeeze=False``). Extra keywords go to ``plt.subplots``
    (``sharex``, ``sharey``, ``gridspec_kw``...)."""
    apply_style()
    h = min(float(height_in), MAX_HEIGHT_IN)
    subplots_kw.setdefault("squeeze", False)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width_in(width), h), layout="constrained",
                             **subplots_kw)
    return fig, axes


def palette(levels: Sequence[object]) -> Dict[str, str]:
    """{str(level): colour}: Okabe-Ito for up to 8 levels, then tab20 (order as given)."""
    levels = [str(v) for v in levels]
    if len(levels) <= len(OKABE_ITO):
        colours = list(OKABE_ITO[:len(levels)])
    else:
        cmap = matplotlib.colormaps["tab20"]
        colours = [matplotlib.colors.to_hex(cmap(i % 20)) for i in range(len(levels))]
    return dict(zip(levels, colours))


def word_colours(words: Iterable[object]) -> Dict[str, str]:
    """{word: colour} fixed by word: the words sorted, then :data:`WORD_PALETTE` in that order
    (tab20 beyond 8 words). The analysis computes it once from all its words and passes it
    to every figure, so a word has one colour everywhere in a report."""
    names = sorted({str(w) for w in words})
    if len(names) <= len(WORD_PALETTE):
        return dict(zip(names, WORD_PALETTE))
    cmap = matplotlib.colormaps["tab20"]
    return {w: matplotlib.colors.to_hex(cmap(i % 20)) for i, w in enumerate(names)}


def phone_colours(phones: Iterable[object]) -> Dict[str, str]:
    """{phone: colour} fixed by phone (sorted, :data:`PHONE_PALETTE`; tab20 beyond 8)."""
    names = sorted({str(p) for p in phones})
    if len(names) <= len(PHONE_PALETTE):
        return dict(zip(names, PHONE_PALETTE))
    cmap = matplotlib.colormaps["tab20"]
    return {p: matplotlib.colors.to_hex(cmap(i % 20)) for i, p in enumerate(names)}


def italicise(texts: Iterable, words: Iterable[object]) -> None:
    """Set the Text artists whose text is one of ``words`` (as :func:`plot_text` shows it) in
    italics: words are italic, as in a linguistics paper."""
    shown = {plot_text(w) for w in words}
    for t in texts:
        if t.get_text() in shown:
            t.set_fontstyle("italic")


def plot_text(label: object) -> str:
    """A data label as matplotlib text: one line (:func:`analysis.labels.visible`), '$'
    escaped (an even number of them would start mathtext, which can fail to parse), and a
    leading '_' shielded (matplotlib leaves such labels out of legends)."""
    text = visible(label).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def shade_regions(ax, regions: Optional[Iterable[dict]], label: Optional[str] = None) -> List:
    """Shade each region ({'start', 'end', ...} in the axis's x units, e.g.
    :func:`analysis.diffcurves.significant_regions`) behind the data; ``label`` goes on the
    first band only (one legend entry). Returns the artists."""
    out = []
    for i, r in enumerate(regions or []):
        start, end = float(r["start"]), float(r["end"])
        if end == start:  # a single grid point: a visible sliver
            span = np.diff(ax.get_xlim())[0] / 200.0
            start, end = start - span, end + span
        out.append(ax.axvspan(start, end, color=SIGNIFICANT_COLOUR, alpha=SIGNIFICANT_ALPHA,
                              lw=0, zorder=0, label=label if i == 0 and label else None))
    return out


def significance_handle(label: str = SIGNIFICANT_LABEL) -> Patch:
    """A legend handle for :func:`shade_regions`' bands (for a shared legend)."""
    return Patch(color=SIGNIFICANT_COLOUR, alpha=SIGNIFICANT_ALPHA, lw=0, label=label)


def add_ms_axis(ax, layer_time, label: str = "time (ms)"):
    """A secondary x axis on top of ``ax`` (whose x is a layer's Sample index) in ms:
    ``layer_time`` is an :class:`analysis.diffcurves.LayerTime` (None: nothing added).
    Returns the secondary axis or None."""
    if layer_time is None:
        return None
    sec = ax.secondary_xaxis("top", functions=(layer_time.ms, layer_time.sample))
    sec.set_xlabel(label)
    return sec


def shared_legend(fig, axes=None, handles=None, loc: str = "outside upper center",
                  ncol: Optional[int] = None, extra: Sequence = (),
                  italic: Iterable[object] = ()):
    """One legend for the whole figure: the distinct labelled artists of ``axes`` (or the
    given ``handles``) plus ``extra`` handles, outside the panels (constrained layout makes
    room); entries naming one of ``italic`` (words) in italics. Returns the legend or None
    when there is nothing to show."""
    if handles is None:
        seen, handles = set(), []
        for ax in np.ravel(axes if axes is not None else fig.axes):
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in seen:
                    seen.add(lab)
                    handles.append(h)
    handles = list(handles) + list(extra)
    if not handles:
        return None
    n = ncol or min(len(handles), 4)
    legend = fig.legend(handles=handles, loc=loc, ncol=n)
    italicise(legend.get_texts(), italic)
    return legend


def figure_problems(fig, min_pt: float = MIN_FONT_PT,
                    max_width_in: float = DOUBLE_COLUMN_IN) -> List[str]:
    """What breaks the house style in ``fig`` (drawn first, so tick labels exist): a width
    over ``max_width_in``, a height over :data:`MAX_HEIGHT_IN`, visible text under
    ``min_pt``, and :func:`text_problems` (overlapping or clipped text). Empty when the figure
    conforms."""
    problems = []
    w, h = fig.get_size_inches()
    if w > max_width_in + 1e-6:
        problems.append(f"width {w:.2f} in > {max_width_in} in")
    if h > MAX_HEIGHT_IN + 1e-6:
        problems.append(f"height {h:.2f} in > {MAX_HEIGHT_IN} in")
    fig.canvas.draw()
    for t in _visible_texts(fig):
        if t.get_fontsize() < min_pt - 1e-6:
            problems.append(f"text {t.get_text()!r} at {t.get_fontsize():.1f} pt")
    return problems + text_problems(fig)


def _visible_texts(fig) -> List[Text]:
    """The texts a drawn figure shows: every visible non-empty Text except tick labels, and
    of those only the ones matplotlib draws (ticks within the view)."""
    from matplotlib.axis import Axis
    tick_texts, drawn = set(), []
    for axis in fig.findobj(Axis):
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            tick_texts.update((id(tick.label1), id(tick.label2)))
        if not axis.get_visible() or (axis.axes is not None and not axis.axes.get_visible()):
            continue
        for tick in axis._update_ticks():  # the ticks matplotlib draws (private, stable API)
            drawn += [lab for lab in (tick.label1, tick.label2)
                      if lab.get_visible() and lab.get_text().strip()]
    out = []
    for t in fig.findobj(Text):
        if id(t) in tick_texts or not t.get_visible() or not t.get_text().strip():
            continue
        ax = t.axes
        if ax is not None and not ax.get_visible():
            continue
        out.append(t)
    return out + drawn


def text_problems(fig, tolerance_px: float = 0.5) -> List[str]:
    """Texts of a drawn figure that overlap another text, or that reach outside the figure
    (clipped labels), from matplotlib's renderer extents. Tick labels whose tick lies outside
    its axis' view (matplotlib hides them when drawing) are left out."""
    renderer = fig.canvas.get_renderer()
    fw, fh = fig.bbox.width, fig.bbox.height
    boxes = []
    for t in _visible_texts(fig):
        try:
            bb = t.get_window_extent(renderer)
        except (RuntimeError, ValueError):
            continue
        if bb.width <= 0 or bb.height <= 0:
            continue
        boxes.append((t, bb))
    problems = []
    for t, bb in boxes:
        if (bb.x0 < -tolerance_px or bb.y0 < -tolerance_px or bb.x1 > fw + tolerance_px
                or bb.y1 > fh + tolerance_px):
            problems.append(f"text {t.get_text()!r} is clipped by the figure's edge")
    for i in range(len(boxes)):
        ti, bi = boxes[i]
        for tj, bj in boxes[i + 1:]:
            ox = min(bi.x1, bj.x1) - max(bi.x0, bj.x0)
            oy = min(bi.y1, bj.y1) - max(bi.y0, bj.y0)
            if ox > tolerance_px and oy > tolerance_px:
                problems.append(f"text {ti.get_text()!r} overlaps {tj.get_text()!r}")
    return problems


def drop_overlapping(fig, texts: Sequence[Text]) -> int:
    """Hide each of ``texts`` (e.g. phone labels over a waveform) that overlaps an earlier
    one of them or another visible text of the figure; returns how many were hidden."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    mine = set(map(id, texts))
    others = [t.get_window_extent(renderer) for t in _visible_texts(fig) if id(t) not in mine]
    kept, hidden = [], 0
    for t in texts:
        bb = t.get_window_extent(renderer)
        if any(bb.overlaps(o) for o in others + kept) or bb.x0 < 0 or bb.x1 > fig.bbox.width:
            t.set_visible(False)
            hidden += 1
        else:
            kept.append(bb)
    return hidden


def save_figure(fig, folder: str, name: str, formats: Sequence[str] = FORMATS,
                dpi: int = DPI) -> List[str]:
    """Save ``fig`` as <folder>/<name>.<fmt> for each format (atomically; at its own size when
    it has a layout engine, else cropped to its contents); close it. ``name`` is a plain file name chosen by the code, never
    a path or a label."""
    if not name or name in (".", "..") or os.path.basename(name) != name:
        raise ValueError(f"figure name {name!r} must be a plain file name")
    # A figure with a layout engine (every :func:`figure`) keeps its page size exactly; one
    # without is cropped to its contents so that no label is cut off.
    bbox = None if fig.get_layout_engine() is not None else "tight"
    paths = []
    try:
        for fmt in formats:
            path = os.path.join(folder, f"{name}.{fmt}")
            with atomic_path(path, suffix="." + fmt) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches=bbox)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def effect_heatmap(values: np.ndarray, cell_text, row_labels: Sequence[str],
                   col_labels: Sequence[str], colour_label: str, title: str,
                   row_in: float = 0.22, base_in: float = 1.1):
    """A rows x layers heat map of signed effect sizes (diverging around 0, grey where NaN),
    each cell written as ``cell_text(i, j)``: the contrast matrix's and the sweep matrix's
    figure. One journal column up to 5 columns, two beyond; ``row_in`` inches a row. Returns
    the figure (save it with :func:`save_figure`)."""
    from matplotlib import colors
    vals = np.asarray(values, dtype=float)
    lim = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0
    lim = lim if lim > 0 else 1.0
    fig, axes = figure("single" if len(col_labels) <= 5 else "double",
                       height_in=min(9.0, base_in + row_in * len(row_labels)))
    ax = axes[0, 0]
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, aspect="auto",
                   norm=colors.TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim))
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            v = vals[i, j]
            ax.text(j, i, cell_text(i, j), ha="center", va="center",
                    color="white" if np.isfinite(v) and abs(v) > 0.6 * lim else "black")
    ax.set_xticks(range(len(col_labels)), [plot_text(x) for x in col_labels])
    ax.set_yticks(range(len(row_labels)), [plot_text(x) for x in row_labels])
    ax.set_xlabel("layer")
    fig.colorbar(im, ax=ax, label=colour_label)
    ax.set_title(title, fontsize=7)
    return fig
