"""Where the analysed activations come from, and what software fitted them (issue 27).

:func:`read_design` follows the records back from the activations folder: extract_info.json
(checkpoint, step, network, split extracted, normalisation, tokens per word, each layer's
receptive field) -> the prepared dataset it names (dataset.json: corpus source, split method,
speakers per split; manifest.csv: which test speakers were also in training) -> the corpus
folder dataset.json names (demo_corpus.json when it is the festival or synthetic-voice demo
corpus: the voices). A record that is missing (a folder moved, a corpus without
demo_corpus.json) leaves its facts None; the report then says they are not recorded.

:func:`software_versions` gives R's and its packages' versions (through the running R
session) and the Python packages'; they go into fit_info.json and the report.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import Dict, List, Optional

import pandas as pd

from analysis.records import ActivationsRecords, read_json
from common import layout

# Python packages whose versions the report names (what reads, fits, draws and writes).
PYTHON_PACKAGES = ("numpy", "pandas", "scipy", "matplotlib", "duckdb", "pyarrow", "rpy2",
                   "markdown-it-py")
R_PACKAGES = ("mgcv", "lme4", "lmerTest")
DEMO_CORPUS_JSON = "demo_corpus.json"  # corpus.demo.INFO_NAME (analysis does not import corpus)


@dataclass
class LayerField:
    """One layer's time geometry: ``jump`` input samples between consecutive indices, a
    receptive field of ``width`` input samples; both in ms at ``sample_rate``."""
    name: str
    jump: float
    width: Optional[float]
    sample_rate: int

    @property
    def step_ms(self) -> float:
        return 1000.0 * self.jump / self.sample_rate

    @property
    def field_ms(self) -> Optional[float]:
        return None if self.width is None else 1000.0 * self.width / self.sample_rate


@dataclass
class Design:
    """What the report's design paragraph states (None: not recorded)."""
    corpus: Optional[str] = None          # 'festival', 'synthetic', 'timit', 'folder'
    corpus_path: Optional[str] = None
    voices: Dict[str, int] = field(default_factory=dict)   # voice -> speakers
    n_corpus_speakers: Optional[int] = None
    split_method: Optional[str] = None    # prepare.py --split: random, speaker, timit
    test_fraction: Optional[float] = None
    split_seed: Optional[int] = None
    split_extracted: Optional[str] = None  # extract.py --split
    speakers_per_split: Dict[str, int] = field(default_factory=dict)
    tokens_per_split: Dict[str, int] = field(default_factory=dict)
    shared_speakers: Optional[int] = None  # extracted split's speakers also in training
    normalize: Optional[str] = None
    pad_ms: Optional[float] = None
    checkpoint: Optional[str] = None
    step: Optional[int] = None
    network: Optional[str] = None
    model: Optional[str] = None
    n_tokens: Optional[int] = None
    tokens_per_word: Dict[str, int] = field(default_factory=dict)
    layers: List[LayerField] = field(default_factory=list)


def layer_fields(records: ActivationsRecords) -> List[LayerField]:
    """Each layer of extract_info.json with its jump (and width when recorded)."""
    out = []
    for entry in records.info.get("layers", []) or []:
        if not isinstance(entry, dict) or not entry.get("jump"):
            continue
        width = entry.get("width")
        out.append(LayerField(str(entry.get("name")), float(entry["jump"]),
                              float(width) if width else None, int(records.sample_rate)))
    return out


def _corpus(source: Optional[str]) -> tuple:
    """(kind, path, demo_corpus.json or None) of dataset.json's ``source``."""
    if not source or ":" not in str(source):
        return None, None, None
    kind, path = str(source).split(":", 1)
    demo = read_json(os.path.join(path, DEMO_CORPUS_JSON)) if os.path.isdir(path) else None
    if isinstance(demo, dict):
        kind = "synthetic" if demo.get("voice") == "synthetic" else "festival"
    return kind, path, demo if isinstance(demo, dict) else None


def _shared_speakers(data_dir: str, split: Optional[str]) -> Optional[int]:
    """Speakers of the extracted split who also have tokens in the training split
    (manifest.csv's speaker and split columns only); None without a manifest or a split."""
    path = os.path.join(data_dir, layout.MANIFEST_CSV)
    if not split or split == "train" or not os.path.isfile(path):
        return None
    try:
        m = pd.read_csv(path, usecols=["speaker", "split"], dtype=str, keep_default_na=False)
    except (ValueError, OSError):
        return None
    heard = set(m.loc[m["split"] == "train", "speaker"])
    return len(set(m.loc[m["split"] == split, "speaker"]) & heard)


def read_design(records: ActivationsRecords) -> Design:
    """The design facts the records hold (see module docstring)."""
    info = records.info
    counts = info.get("counts") if isinstance(info.get("counts"), dict) else {}
    model = info.get("model") if isinstance(info.get("model"), dict) else {}
    step = info.get("checkpoint_step")
    d = Design(checkpoint=info.get("checkpoint"),
               step=int(step) if isinstance(step, (int, float)) else None,
               network=info.get("network"), model=model.get("model"),
               normalize=info.get("normalize"), split_extracted=info.get("split"),
               n_tokens=counts.get("tokens"),
               tokens_per_word=dict(counts.get("tokens_per_word") or {}),
               layers=layer_fields(records))
    data_dir = info.get("data")
    ds = read_json(os.path.join(data_dir, layout.DATASET_JSON)) \
        if isinstance(data_dir, str) and os.path.isdir(data_dir) else None
    if isinstance(ds, dict):
        d.corpus, d.corpus_path, demo = _corpus(ds.get("source"))
        d.split_method, d.test_fraction = ds.get("split_method"), ds.get("test_fraction")
        d.split_seed, d.pad_ms = ds.get("seed"), ds.get("pad_ms")
        d.speakers_per_split = dict(ds.get("n_speakers") or {})
        d.tokens_per_split = dict(ds.get("splits") or {})
        d.shared_speakers = _shared_speakers(data_dir, d.split_extracted)
        if demo is not None:
            speakers = demo.get("speakers") or []
            d.n_corpus_speakers = len(speakers) or demo.get("n_speakers")
            for s in speakers:
                v = str(s.get("voice", "?")) if isinstance(s, dict) else "?"
                d.voices[v] = d.voices.get(v, 0) + 1
            if not d.voices and demo.get("voice") == "synthetic":
                d.voices["synthetic (numpy)"] = int(demo.get("n_speakers") or 0)
    return d


def software_versions(r_packages=R_PACKAGES) -> Dict[str, str]:
    """{name: version}: Python, the Python packages of :data:`PYTHON_PACKAGES` that are
    installed, and, when R runs here, R and the R packages of ``r_packages`` that load."""
    out = {"Python": platform.python_version()}
    for name in PYTHON_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        from analysis.rbridge import get_r
        ro = get_r(()).ro
        out["R"] = str(ro.r("paste(R.version$major, R.version$minor, sep = '.')")[0])
        for pkg in r_packages:
            try:
                out[pkg] = str(ro.r(f"as.character(packageVersion('{pkg}'))")[0])
            except Exception:  # not installed: not named
                continue
    except Exception:  # no R here (a report built without fits)
        pass
    return out
