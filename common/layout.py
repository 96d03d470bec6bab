"""The folders one stage writes and the next reads: file names, column schemas and the
versions of the JSON records, in one place that writers and readers both import.

A prepared dataset (prepare.py -> train.py, extract.py; docs/CONVENTIONS.md):

    dataset.json        format_version, sample_rate, slice_len, words, splits, shards, ...
    manifest.csv        one row per token (:data:`MANIFEST`)
    phones.csv          one row per phone interval of a token (:data:`PHONES`)
    tfrecords/<split>-NNNNN-of-MMMMM.tfrecord   the shards (corpus.slicing.shard_paths)

A training folder (train.py -> generate.py, extract.py, a resumed train.py):

    config.json         the model (wavegan.config.WaveGANConfig)
    flags.json          the run's options (ciwgan.train_options.TrainOptions); flags.log
    ckpt-N.*, checkpoint, preview/step-N/, events.out.tfevents.*

An activations folder (extract.py -> analyze.py):

    <stem>.parquet (+ <stem>.csv)   the long tables, one row per (token, layer, sample):
        activations          channel means after the activation, per conv layer
        phone_activations    the same inside each wanted phone interval (--phones)
        upsampled            each layer's trace upsampled to the input (--upsample)
        channel_activations  every channel, not averaged (--channels)
        acoustics            Praat's measures of the input audio on each layer's axis
                             (--acoustics; extraction.acoustics)
    q_outputs.csv / d_outputs.csv    Q's (or D's) outputs per token
    confusion.csv                    Q's code per word: counts (rows word, columns code)
    classification.json              accuracy, mapping, permutation baseline
    extract_info.json                the run: checkpoint, layers (jump, centre0), sample rate

generate.py's folder holds one WAV per clip and ``generated.csv`` (:data:`GENERATED`);
analyze.py's holds the tables, figures and report of docs/analysis.md and ``fit_info.json``.

Every JSON record a stage writes carries ``format_version`` (:data:`FORMAT_VERSIONS`),
written by :func:`stamp` and checked by :func:`check_version` on read: a record of a newer
version is refused in one line; one without the key (written before versions were recorded)
is version 1.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional, Tuple

from .errors import InputError

# ------------------------------------------------------------------ column schemas
COLUMN_TYPES = ("int64", "float64", "string")


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of a stage's folder: its file stem and its columns ``(name, type)``, type one
    of :data:`COLUMN_TYPES` (the Parquet and pandas types follow from it)."""
    stem: str
    columns: Tuple[Tuple[str, str], ...]

    def __post_init__(self):
        bad = [t for _, t in self.columns if t not in COLUMN_TYPES]
        if bad:
            raise ValueError(f"{self.stem}: column types {bad}")

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def labels(self) -> Tuple[str, ...]:
        """The text columns (words, speakers, layers, phones: data, never numbers)."""
        return tuple(name for name, kind in self.columns if kind == "string")

    def pick(self, *names: str) -> Tuple[str, ...]:
        """``names``, each checked to be a column (what a reader needs of the table)."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"{self.stem} has no column(s) {unknown}")
        return tuple(names)


def _table(stem: str, spec: str) -> Table:
    """A Table from 'name:type name:type ...'."""
    return Table(stem, tuple(tuple(item.split(":")) for item in spec.split()))


# ------------------------------------------------------------------ prepared dataset
DATASET_JSON = "dataset.json"
MANIFEST_CSV = "manifest.csv"
PHONES_CSV = "phones.csv"
# token_id indexes the dataset; start_sample/end_sample are the word's samples in the source
# (the .WRD boundaries), pad_before the zeros before it in the clip, n_samples the clip's
# length before zero-padding to slice_len, source_sample_rate the source file's rate.
MANIFEST = _table("manifest", "token_id:int64 word:string speaker:string sex:string "
                  "dialect_region:string utterance:string source_path:string "
                  "start_sample:int64 end_sample:int64 pad_before:int64 split:string "
                  "n_samples:int64 source_sample_rate:int64")
# start/end: samples relative to the token's padded clip, end exclusive.
PHONES = _table("phones", "token_id:int64 phone:string start:int64 end:int64")

# ------------------------------------------------------------------ training folder
CONFIG_JSON = "config.json"
FLAGS_JSON = "flags.json"
FLAGS_LOG = "flags.log"

# ------------------------------------------------------------------ activations folder
ACTIVATIONS = "activations"
PHONE_ACTIVATIONS = "phone_activations"
UPSAMPLED = "upsampled"
CHANNEL_ACTIVATIONS = "channel_activations"
ACOUSTICS = "acoustics"
# The acoustic measures of extraction.acoustics (columns of the acoustics table, NaN where
# Praat has no value: f0 unvoiced, cog/f1/f2 silent).
ACOUSTIC_MEASURES = ("intensity_db", "cog_hz", "f0_hz", "f1_hz", "f2_hz")

# The long tables (extraction.schema builds their rows; analysis.columns reads them).
# time: seconds at the centre of the input span the index covers; norm_time: 0-1 within the
# phone interval; value: float64 in Parquet (the CSV copies write it as float32 text).
LONG_TABLES = {t.stem: t for t in (
    _table(ACTIVATIONS, "token_id:int64 word:string speaker:string layer:string "
           "sample:int64 time:float64 value:float64"),
    _table(PHONE_ACTIVATIONS, "token_id:int64 word:string speaker:string layer:string "
           "phone:string phone_index:int64 sample:int64 norm_time:float64 value:float64"),
    _table(UPSAMPLED, "token_id:int64 word:string layer:string sample:int64 value:float64"),
    _table(CHANNEL_ACTIVATIONS, "token_id:int64 word:string speaker:string layer:string "
           "channel:int64 sample:int64 time:float64 value:float64"),
    _table(ACOUSTICS, "token_id:int64 word:string speaker:string layer:string "
           "sample:int64 time:float64 " + " ".join(f"{m}:float64" for m in ACOUSTIC_MEASURES)),
)}
# Every text column of the long tables, in order of first appearance.
LABEL_COLUMNS = tuple(dict.fromkeys(c for t in LONG_TABLES.values() for c in t.labels))

Q_OUTPUTS_CSV = "q_outputs.csv"
D_OUTPUTS_CSV = "d_outputs.csv"
CONFUSION_CSV = "confusion.csv"
CLASSIFICATION_JSON = "classification.json"
EXTRACT_INFO_JSON = "extract_info.json"

# ------------------------------------------------------------------ latent sweeps
# extract.py --codes --values=0,1,2,5 (extraction.sweep): an activations folder whose
# extract_info.json says folder_kind "sweep" (any other: "word"), with one row per generated
# token saying which code at which value made it (noise_index: the shared z draw, the unit
# of replication) and, when the acoustics module is there, the generated audio's measures.
FOLDER_KIND_KEY = "folder_kind"
FOLDER_WORD = "word"
FOLDER_SWEEP = "sweep"
SWEEP_TOKENS_CSV = "sweep_tokens.csv"
SWEEP_TOKENS = _table("sweep_tokens", "token_id:int64 code:string code_value:float64 "
                      "noise_index:int64")
SWEEP_ACOUSTICS = "sweep_acoustics"    # .parquet: token, layer, frame, time_s, measures
# analyze.py on a sweep folder (analysis.sweeps, docs/sweeps.md)
SWEEP_MATRIX = "sweep_matrix"          # .csv, .md (+ figures/sweep_matrix.{png,pdf})
SWEEP_CURVES_CSV = "sweep_curves.csv"  # mean trace per code, layer, value and time
SWEEP_ACOUSTIC_EFFECTS = "sweep_acoustic_effects"   # .csv, .md

# ------------------------------------------------------------------ generated audio
GENERATED_CSV = "generated.csv"
# One row per clip; with Q, then q_code, logit_0.., prob_0.. and q_agrees.
GENERATED = _table("generated", "file:string code:string noise_index:int64 "
                   "code_value:float64")

# ------------------------------------------------------------------ analysis folder
# (analyze.py's; docs/analysis.md.  The contrast matrix's and the spectra's files are named
# by analysis.contrasts and analysis.spectra, which write them.)
FIT_INFO_JSON = "fit_info.json"
PAPER_SUFFIX = "_paper"                # the paper's GAMMs' tables beside the calibrated ones
TABLE1 = "table1"                      # .csv, .md, .tex (the default model's: calibrated)
TABLE1_PAPER = TABLE1 + PAPER_SUFFIX   # the paper's word GAMM, unless --word_model=paper
GAMM_DATA_CSV = "gamm_data.csv"        # the word GAMM's rows ...
WORD_UNITS_CSV = "word_units.csv"      # the calibrated word model's per-token summaries
PHONE_UNITS_CSV = "phone_units.csv"    # the calibrated phone model's per-interval summaries
PREDICTIONS_CSV = "predictions.csv"
DIFFERENCE_CSV = "difference.csv"
DIFFERENCE_REGIONS_CSV = "difference_regions.csv"
PHONE_CONTRAST = "phone_contrast"      # .csv, .md, .tex
PHONE_CONTRAST_PAPER = PHONE_CONTRAST + PAPER_SUFFIX
PHONE_PREDICTIONS_CSV = "phone_predictions.csv"
LMM = "lmm"
LMM_CSV = LMM + ".csv"
CONTRAST_MATRIX = "contrast_matrix"    # .csv, .md (+ figures/contrast_matrix.{png,pdf})
ACOUSTIC_CORRELATES = "acoustic_correlates"   # .csv, .md (+ figures/acoustic_correlates.*)
ACOUSTIC_CORRELATES_CSV = ACOUSTIC_CORRELATES + ".csv"
INPUT_LAYER = "input"                  # the input's intensity envelope as a pseudo-layer
FIGURES_DIR = "figures"


def refit_script(table: str) -> str:
    """The R script beside a table that refits its model from the rows written with it."""
    return f"{table}_refit.R"


REFIT_R = refit_script(TABLE1)         # Table 1's

# ------------------------------------------------------------------ JSON records
MARKER_JSON = ".ciwgan-output.json"       # common.outputs: which stage wrote a folder
DEMO_CORPUS_JSON = "demo_corpus.json"
DEMO_STATE_JSON = "demo_state.json"
FORMAT_VERSIONS = {DATASET_JSON: 1, CONFIG_JSON: 1, FLAGS_JSON: 1, EXTRACT_INFO_JSON: 1,
                   CLASSIFICATION_JSON: 1, FIT_INFO_JSON: 1, MARKER_JSON: 1,
                   DEMO_CORPUS_JSON: 1, DEMO_STATE_JSON: 1}
DATASET_FORMAT_VERSION = FORMAT_VERSIONS[DATASET_JSON]
VERSION_KEY = "format_version"


class RecordVersionError(InputError):
    """A JSON record written by a newer version of this tool (or with a version that is not
    a number)."""


def stamp(record: dict, name: str) -> dict:
    """``record`` with the format_version of the record ``name`` first."""
    return {VERSION_KEY: FORMAT_VERSIONS[name], **{k: v for k, v in record.items()
                                                   if k != VERSION_KEY}}


def check_version(record, path: str, name: Optional[str] = None) -> dict:
    """``record`` (a parsed JSON object read from ``path``) after checking its format_version
    against the one this code writes for ``name`` (default: the file's name): newer is a
    :class:`RecordVersionError`; absent means 1.  Returns the record unchanged."""
    import os

    name = name or os.path.basename(path)
    if not isinstance(record, dict):
        return record
    version = record.get(VERSION_KEY, 1)
    known = FORMAT_VERSIONS[name]
    if isinstance(version, bool) or not isinstance(version, int):
        raise RecordVersionError(f"{path}: format_version {version!r} is not a version "
                                 "number; the file is damaged")
    if version > known:
        raise RecordVersionError(f"{path}: format_version {version} was written by a newer "
                                 f"version of this tool (this one reads up to {known}); "
                                 "update the tool to read it")
    return record


def without_version(record: dict) -> dict:
    """``record`` without its format_version (e.g. to build a dataclass from it)."""
    return {k: v for k, v in record.items() if k != VERSION_KEY}


def read_record(path: str, name: Optional[str] = None):
    """The JSON record at ``path``, version-checked (:func:`check_version`); OSError and
    ValueError (unreadable, not JSON) are left to the caller."""
    with open(path, encoding="utf-8") as f:
        return check_version(json.load(f), path, name)


class FolderKindError(InputError):
    """An activations folder of the other kind: a latent sweep where a word folder is
    expected, or the reverse."""


def folder_kind(info: Optional[dict]) -> str:
    """The kind of an activations folder from its extract_info.json record: ``sweep`` or
    ``word`` (a record without the key was written before sweeps existed: ``word``)."""
    kind = (info or {}).get(FOLDER_KIND_KEY, FOLDER_WORD)
    return kind if kind in (FOLDER_WORD, FOLDER_SWEEP) else FOLDER_WORD


def check_folder_kind(info: Optional[dict], where: str, expected: str, flag: str) -> None:
    """FolderKindError (one line, exit 2) unless the folder ``where`` (its extract_info
    record ``info``) is of the ``expected`` kind."""
    kind = folder_kind(info)
    if kind == expected:
        return
    if kind == FOLDER_SWEEP:
        raise FolderKindError(f"{flag}={where} is a latent sweep (extract.py --values), not a "
                              "folder of word tokens; analyze it as a sweep "
                              "(analyze.py --folder_kind=sweep or auto)")
    raise FolderKindError(f"{flag}={where} is a folder of word tokens, not a latent sweep; "
                          "make one with extract.py --codes=all --values=0,1,2,5")
