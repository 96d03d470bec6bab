"""The figures as a reader sees them (issue 27), on hand-built tables with the demo's 8 words
(no R): no text overlaps another or is cut by the figure's edge (matplotlib's renderer
extents, analysis.style.text_problems), every word has one colour in every figure, words are
in italics, Fig. 5 shows several pairs, the contrast matrix states its sign, the spectra's
axis is the modulation frequency."""

import os

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis import contrast_report, figure_waveforms, figures as F, spectra, style
from analysis.diffcurves import LayerTime

WORDS = ["ask", "dark", "greasy", "oily", "rag", "wash", "water", "year"]
FIELDS = {"conv1": 6.0, "conv2": 30.0, "conv3": 126.0, "conv4": 510.0, "conv5": 2046.0}


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved through save_figure: its problems, and per text shown the colour of
    the line it labels (legend entries, Fig. 2's word titles and traces)."""
    seen = {}
    real = style.save_figure

    def spy(fig, folder, name, *a, **k):
        seen[name] = {"problems": style.figure_problems(fig), "colours": _word_colours(fig),
                      "texts": [t for t in style._visible_texts(fig)]}
        return real(fig, folder, name, *a, **k)

    for module in (F, figure_waveforms, style):
        monkeypatch.setattr(module, "save_figure", spy)
    return seen


def _word_colours(fig) -> dict:
    """{word: colour} of what the figure draws for each word: legend handles (by their
    label), Fig. 2's column titles (and the traces under them)."""
    out = {}
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            if text.get_text() in WORDS and hasattr(handle, "get_color"):
                out.setdefault(text.get_text(), set()).add(
                    matplotlib.colors.to_hex(handle.get_color()))
    for ax in fig.axes:
        title = ax.title.get_text()
        if title in WORDS and ax.title.get_fontstyle() == "italic":
            out.setdefault(title, set()).add(matplotlib.colors.to_hex(ax.title.get_color()))
    return out


def _tables(rng):
    xs = np.arange(16.0)
    data = pd.DataFrame([{"Value": rng.normal(), "Sample": x, "Word": w, "UniqueWord": f"{w}{t}"}
                         for w in WORDS for t in range(3) for x in xs])
    preds = pd.DataFrame([{"Word": w, "Sample": x, "fit": i + np.sin(x), "lower": i - 1,
                           "upper": i + 1} for i, w in enumerate(WORDS) for x in xs])
    diff = pd.concat([pd.DataFrame({"comparison": c, "Sample": xs, "difference": -1.0,
                                    "lower": -1.5, "upper": -0.5, "lower_simultaneous": -1.8,
                                    "upper_simultaneous": -0.2})
                      for c in ("wash - ask", "greasy - ask")])
    pairs = [{"pair": ("wash", "ask"), "regions": [{"start": 0, "end": 7, "sign": -1}],
              "simultaneous": []},
             {"pair": ("greasy", "ask"), "regions": [], "simultaneous": []}]
    pp = pd.DataFrame([{"layer": lay, "Phone": ph, "norm_time": t, "fit": j * t,
                        "lower": j * t - 0.2, "upper": j * t + 0.2}
                       for lay in ("conv1", "conv2", "conv3", "conv4")
                       for j, ph in enumerate(["s", "sh"]) for t in np.linspace(0, 1, 11)])
    up = []
    for i, w in enumerate(WORDS):
        for lay in ["input"] + list(FIELDS):
            s = np.arange(0, 16384, 16)
            v = rng.normal(size=len(s)) * ((s > 4000) & (s < 11000))
            up.append(pd.DataFrame({"token_id": i, "word": w, "layer": lay, "sample": s,
                                    "value": v}))
    spans = pd.DataFrame([{"token_id": i, "phone": p, "phone_index": k,
                           "start_ms": 260 + 45 * k, "end_ms": 305 + 45 * k}
                          for i in range(8) for k, p in enumerate(["ae", "s", "k", "sh", "iy",
                                                                   "r", "ao", "l"])])
    logits = pd.DataFrame([{"token_id": i, **{f"logit_{k}": rng.normal() for k in range(8)}}
                           for i in range(8)])
    conf = pd.DataFrame(rng.integers(0, 20, (8, 8)), index=WORDS,
                        columns=[str(k) for k in range(8)])
    return data, preds, diff, pairs, pp, pd.concat(up), spans, logits, conf


def test_figures_with_eight_words_have_no_overlap_or_clipped_text(tmp_path, drawn):
    rng = np.random.default_rng(0)
    data, preds, diff, pairs, pp, up, spans, logits, conf = _tables(rng)
    out = str(tmp_path)
    lt = LayerTime(32.0, 64.0)
    colours = style.word_colours(WORDS)
    F.fig_waveforms(up, out, sample_rate=16000, spans=spans, logits=logits, colours=colours,
                    fields_ms=FIELDS)
    F.fig_word_curves(data, preds, out, layer="conv5", layer_time=lt, colours=colours)
    F.fig_phone_contrast(pp, out, regions={"conv1": [{"start": 0.2, "end": 0.5}]},
                         fields_ms=FIELDS)
    F.fig_differences(preds, diff, pairs, out, layer="conv5", layer_time=lt, colours=colours)
    F.fig_confusion(conf, out, mapping={"ask": "0", "dark": "1"})
    spec = pd.concat([pd.DataFrame({"layer": "conv1", "by": by, "group": g,
                                    "frequency": np.linspace(0, 2000, 9), "mean_db": -40.0,
                                    "lower": -42.0, "upper": -38.0, "n": 6})
                      for by, groups in (("word", WORDS), ("phone", ["s", "sh"]))
                      for g in groups])
    spectra.fig_spectra(spec, out, colours)
    for name, seen in drawn.items():
        assert seen["problems"] == [], (name, seen["problems"])
    # one colour per word, the same in every figure that shows it
    shown = {}
    for name, seen in drawn.items():
        for w, c in seen["colours"].items():
            assert len(c) == 1, (name, w, c)
            shown.setdefault(w, {})[name] = c.pop()
    assert set(shown) == set(WORDS)
    for w, per_figure in shown.items():
        assert set(per_figure.values()) == {colours[w].lower()}, (w, per_figure)
        assert len(per_figure) >= 3, (w, per_figure)  # Fig. 2, Fig. 3, spectra (and Fig. 5)
    assert len(set(colours.values())) == 8
    # words in italics wherever a legend or title names them
    for name, seen in drawn.items():
        for t in seen["texts"]:
            if t.get_text() in WORDS and name != "confusion" and t.axes is None:
                assert t.get_fontstyle() == "italic", (name, t.get_text())
    texts = {k: " ".join(t.get_text() for t in v["texts"]) for k, v in drawn.items()}
    assert "modulation frequency" in texts["spectra_conv1"]
    assert "wash \u2212 ask" in texts["fig5_difference"]
    assert "greasy \u2212 ask" in texts["fig5_difference"]
    assert "simultaneous 95% band" in texts["fig5_difference"]
    assert "field 510 ms" in texts["fig4_phone_contrast"]
    assert "[ʃ]" in texts["fig2_waveforms"] and "Q logit" in texts["fig2_waveforms"]
    assert "510 ms" in texts["fig2_waveforms"]  # conv4's field beside its row
    for ext in ("png", "pdf"):
        assert os.path.getsize(os.path.join(out, f"fig2_waveforms.{ext}")) > 1000


def test_the_checker_finds_overlapping_and_clipped_text():
    fig, axes = style.figure("single", height_in=2.0)
    ax = axes[0, 0]
    ax.text(0.5, 0.5, "one label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
    problems = style.text_problems(_drawn(fig))
    assert any("overlaps" in p for p in problems), problems
    matplotlib.pyplot.close(fig)
    fig, axes = style.figure("single", height_in=2.0)
    fig.text(0.8, 0.5, "a label that runs off the page")  # constrained layout cannot move it
    problems = style.text_problems(_drawn(fig))
    assert any("clipped" in p for p in problems), problems
    matplotlib.pyplot.close(fig)
    # the old Fig. 4 layout: one long x label per panel, four panels at two columns' width
    fig, axes = style.figure("double", height_in=2.4, nrows=1, ncols=4)
    for ax in axes[0]:
        ax.set_xlabel("time in phone (normalised, 0-1) and more words")
    assert any("overlaps" in p for p in style.text_problems(_drawn(fig)))
    matplotlib.pyplot.close(fig)


def _drawn(fig):
    fig.canvas.draw()
    return fig


def test_word_colours_are_fixed_by_word():
    a = style.word_colours(["year", "ask", "dark"])
    b = style.word_colours(["dark", "year", "ask", "ask"])
    assert a == b and list(a) == ["ask", "dark", "year"]
    assert style.SIGNIFICANT_COLOUR not in style.WORD_PALETTE  # bands never read as a word
    assert not set(style.PHONE_PALETTE) & set(style.WORD_PALETTE)
    many = style.word_colours([f"w{i:02d}" for i in range(12)])
    assert len(set(many.values())) == 12


def test_matrix_figure_states_its_sign(tmp_path, drawn):
    matrix = pd.DataFrame({"contrast": ["s:sh", "s:sh"], "reference": "s", "phone": "sh",
                           "layer": ["conv1", "conv2"], "status": ["fitted", "fitted"],
                           "effect_size": [1.2, -0.3],
                           "encoded_holm": pd.array([True, False], dtype="boolean")})
    contrast_report.fig_contrast_matrix(matrix, str(tmp_path))
    seen = drawn["contrast_matrix"]
    assert seen["problems"] == []
    texts = " ".join(t.get_text() for t in seen["texts"])
    assert "[ʃ] \u2212 [s]" in texts and "b \u2212 a" in texts
