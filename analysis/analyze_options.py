"""What ``analyze.py`` is asked to do: every option with its default, range and help (the
flags are generated from this class, :mod:`common.cli`).  ``analysis.pipeline.run(options)``
does it; the folder it reads (an activations folder) and the one it writes are declared in
:mod:`common.layout`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

from common.options import (Renamed, StageOptions, boolean, choice, integer, items, shared,
                            text)

# The word GAMM's engines (analysis.gamm): 'auto' fits with mgcv up to AUTO_MGCV_MAX_TOKENS
# tokens (mgcv takes ~2.5 min at 200 tokens, ~5 at 250: ENVIRONMENT.md), the fast engine above.
ENGINES = ("auto", "mgcv", "fast")
AUTO_MGCV_MAX_TOKENS = 250
# How the word and phone models are inferred: 'calibrated' (the default) or as the paper.
INFERENCE = ("calibrated", "paper")
NEGATED = ((True, False), (False, True))


@dataclasses.dataclass(frozen=True)
class AnalysisOptions(StageOptions):
    stage: ClassVar[str] = "analyze"

    activations: Optional[str] = text(None, "activations folder written by extract.py",
                                      required=True, role="input")
    out: Optional[str] = shared("out", required=True, help="tables, figures and the report")
    layer: str = text("conv5", "layer of the word GAMM")
    ref_word: str = text("ask", "reference level of Word (treatment coding)")
    k: int = integer(10, "basis dimension of every smooth", low=3, high=1000)
    phones: list = items(["s", "sh"], "two phones to contrast (first = reference)")
    phone_layers: list = items(["conv1", "conv2", "conv3", "conv4"],
                               "layers of the phone GAMMs (empty: skip)")
    diff: list = items([], "difference curves (Fig. 5): pairs a:b, each the curve b - a (a the "
                       "reference), e.g. ask:wash,ask:greasy; or WORD1,WORD2 for the one curve "
                       "WORD1 - WORD2 (default: the paper's pairs ask:wash,ask:greasy that the "
                       "data have, else the two words with the largest difference)")
    simultaneous: bool = boolean(False, "a simultaneous 95% band beside the pointwise CI of "
                                 "each difference curve (covers the whole curve at once)")
    engine: str = choice("auto", ENGINES, "word GAMM engine (auto: mgcv up to "
                         f"{AUTO_MGCV_MAX_TOKENS} tokens, the fast engine analysis.gamm.fast "
                         "above when available)")
    word_model: str = choice("calibrated", INFERENCE, "model of Table 1's tests: calibrated "
                             "(mixed models of per-token level and shape, speakers as a "
                             "random factor; docs/calibration.md) or paper (the paper's word "
                             "GAMM)")
    phone_model: str = choice("calibrated", INFERENCE, "model of the phone contrast and the "
                              "contrast matrix: calibrated (mixed models of per-interval level "
                              "and shape, words and speakers as random factors) or paper (the "
                              "paper's phone GAMM, intervals as independent replicates)")
    shape_terms: int = integer(3, "calibrated models: Legendre shape coefficients per "
                               "interval or token", low=1, high=8)
    min_words: int = integer(3, "calibrated phone model: a phone contrast needs at least this "
                             "many words per phone to be tested", low=2, high=1_000_000)
    generated: Optional[str] = text(None, "generate.py's output folder (its generated.csv): "
                                    "Q's accuracy on generated audio per code, in the report",
                                    role="input")
    rho_method: str = choice("global", ("global", "within"), "lag-1 residual autocorrelation: "
                             "acf over all rows (as itsadug) or within tokens")
    lmm_layers: list = items([], "layers of the mean-activation mixed model (default: all "
                             "layers in the table; 'none' to skip)")
    nthreads: int = integer(2, "threads for mgcv::bam", low=1, high=1024)
    grid: int = integer(0, "prediction points along Sample (0: 4 per sample step)", low=0,
                        high=1_000_000)
    figures: bool = boolean(True, "write the figures (--nofigures skips them)",
                            renamed=(Renamed("no_figures", NEGATED),))
    overwrite: bool = shared("overwrite", False)
    progress: bool = shared("progress", True, help="on stderr")
    # Words of the word GAMM, the difference curves and the mixed models.
    words: str = shared("words", "all", help="the words of the word GAMM, the difference "
                        "curves and the mixed models (--ref_word must be one of them)")
    # The layer-by-contrast diagnostic (analysis.contrasts, docs/contrasts.md).
    contrasts: str = text("", "phone contrasts for the layer-by-contrast matrix: 'a:b,c:d' "
                          "(first phone = reference) or 'auto' (empty: none); needs "
                          "phone_activations with those phones (docs/contrasts.md)")
    min_intervals: int = integer(10, "intervals each phone of a contrast needs in a layer for "
                                 "its cell to be fitted (and for 'auto')", low=2)
    max_contrasts: int = integer(10, "--contrasts=auto: at most this many pairs (the "
                                 "best-powered first)", low=1, high=10_000)
    contrast_layers: list = items([], "layers of the contrast matrix (default: every layer of "
                                  "the phone table)")
    contrast_engine: str = choice("fast", ENGINES, "engine of the contrast matrix's phone "
                                  "GAMMs (fast: seconds a cell; mgcv: exact, slow)")
    # What --activations holds (extract_info.json's folder_kind; docs/sweeps.md).
    folder_kind: str = choice("auto", ("auto", "word", "sweep"), "what --activations holds: "
                              "auto (as its extract_info.json says), word (word tokens: a "
                              "latent sweep is refused) or sweep (extract.py --values: a "
                              "folder of word tokens is refused); a sweep gets the code x "
                              "layer matrix (--contrast_layers, --shape_terms, --figures)")
    # Spectra of the averaged feature maps (analysis.spectra): off by default.
    spectra: bool = boolean(False, "power spectra of the averaged feature maps per word and "
                            "phone, with band-power tests (docs/contrasts.md)")
    spectra_bands: int = integer(4, "equal-width frequency bands per layer for the band-power "
                                 "tests", low=1, high=1024)
    spectra_test: str = choice("lmm", ("lmm", "anova"), "band-power test: a mixed model per "
                               "band (lmm, needs R) or a one-way ANOVA")
    spectra_layers: list = items([], "layers of the spectra (default: all)")
    # Acoustic correlates of each layer (analysis.acoustic_correlates, docs/acoustics.md).
    acoustics: bool = boolean(False, "acoustic correlates: cross-validated R2 of each "
                              "layer's trace on Praat's intensity, centre of gravity, F0, F1 "
                              "and F2 of the input (needs extract.py --acoustics), and the "
                              "input's intensity as a layer 'input' in the mixed models and "
                              "the contrast matrix (docs/acoustics.md)")
