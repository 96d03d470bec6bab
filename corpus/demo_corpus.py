"""Synthetic TIMIT-layout demo corpus spoken by festival (TIMIT itself cannot be shipped).

Every "speaker" says TIMIT's SA1 "She had your dark suit in greasy wash water all year." and SA2
"Don't ask me to carry an oily rag like that.", so each of the 8 target words (ask, dark,
greasy, oily, rag, wash, water, year) gets one token per speaker. Speakers differ by

* voice: kal_diphone (M), ked_diphone (M), cmu_us_slt_arctic_hts (F), in turn;
* speaking rate: festival Duration_Stretch (diphone voices) or the HTS engine rate ``-r``;
* pitch: festival's linear-regression intonation targets (diphone voices: f0 mean and range);
* "vocal tract size": a speed change by resampling, factor d/100 with integer d, so every label
  time scales exactly by 100/d (pitch and formants scale by d/100);
* level (gain) and a faint noise floor.

Label times come from festival itself (Word word_start/word_end, Segment segment_start/end),
so .WRD/.PHN line up with the audio. Festival's radio phone set is a subset of TIMIT's labels;
pauses become h# (utterance edges) or pau. Output, exactly TIMIT's layout:
``OUT/TRAIN|TEST/DR<n>/<S><VOICE><k>/SA1.WAV`` (NIST SPHERE, 16 kHz, 16 bit) with .TXT, .WRD,
.PHN, and ``demo_corpus.json`` (settings and every speaker's parameters).  The folder is
written under the safe-output rule (:mod:`common.outputs`, stage "demo-corpus"): a complete
demo corpus with the same settings is reused; another one is replaced only with --overwrite;
any other existing folder is refused.

    python -m corpus.demo_corpus --out=work/demo_timit --n_speakers=64
    python -m corpus.demo_corpus --out=work/demo_mfa --layout=textgrid    # MFA's layout, TextGrids

``--voice=synthetic`` writes a corpus of TIMIT's size instead (630 speakers x 10 sentences of
pseudo-words from a 6,229-word vocabulary, ``--n_speakers=630``) with the fast numpy voice of
:mod:`corpus.synth`; festival would take tens of minutes for its 6,300 sentences.
"""

from __future__ import annotations

if __name__ == "__main__":
    # The command line, before the imports below (numpy, scipy, soundfile): a bad flag or
    # --out is refused at once; the run imports this module under its own name.
    from common.cli import stage_script
    from corpus.demo_corpus_options import DemoCorpusOptions

    def _run(options, script):
        from corpus.demo_corpus import run
        return run(options, script)

    def _summary(result):
        from corpus.demo_corpus import summary
        return summary(result)

    stage_script("corpus.demo_corpus", DemoCorpusOptions, _run, _summary)

import concurrent.futures  # noqa: E402
import dataclasses  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy import signal  # noqa: E402

from common import layout as records  # noqa: E402  (a corpus's layout is a parameter)
from common.atomic import atomic_write_json  # noqa: E402
from common.constants import SAMPLE_RATE  # noqa: E402
from common.options import require  # noqa: E402
from common.outputs import OutputFolder, check_not_project  # noqa: E402
from common.outputs import read_marker as read_output_marker  # noqa: E402
from corpus.demo_corpus_options import (DEFAULT_N_SPEAKERS, LAYOUTS, SYNTHETIC_FLAGS,  # noqa: E402
                                        VOICE_NAMES, DemoCorpusOptions, DemoError)
from corpus import synth  # noqa: E402
from corpus.mfa_layout import convert_to_textgrid_layout  # noqa: E402
from corpus.synth import base36  # noqa: E402

SCRIPT = "corpus.demo_corpus"
DEMO_VERSION = 1
STAGE = "demo-corpus"
INFO_NAME = records.DEMO_CORPUS_JSON
SENTENCES = {"SA1": "She had your dark suit in greasy wash water all year.",
             "SA2": "Don't ask me to carry an oily rag like that."}
# (festival voice, sex, 3-letter code, kind)
VOICES = (("kal_diphone", "M", "KAL", "diphone"),
          ("ked_diphone", "M", "KED", "diphone"),
          ("cmu_us_slt_arctic_hts", "F", "SLT", "hts"))
# festival's radio phone set -> TIMIT labels (identical symbols; pau handled by position)
RADIO_PHONES = ("aa ae ah ao aw ax axr ay b ch d dh dx eh el em en er ey f g hh hv ih iy jh k l "
                "m n nx ng ow oy p r s sh t th uh uw v w y z zh").split()
RADIO_TO_TIMIT = {p: p for p in RADIO_PHONES}


@dataclasses.dataclass(frozen=True)
class DemoSpeaker:
    """Settings of one synthetic speaker (all derived from (seed, index))."""

    speaker: str
    voice: str
    kind: str
    sex: str
    dialect_region: str
    split: str            # 'TRAIN' or 'TEST'
    duration_stretch: float
    hts_rate: float
    f0_mean: float
    f0_std: float
    speed_percent: int    # resampling factor d/100: durations x 100/d, pitch x d/100
    gain: float
    noise_seed: int


def speaker_plan(n_speakers: int, seed: int = 0) -> list:
    """The speakers of a demo corpus: voice i % 3, id <sex><voice code><base-36 k>, k = i // 3,
    dialect region DR(i % 8 + 1), TEST when k % 4 == 3 (about a quarter, like TIMIT).
    Settings drawn from numpy default_rng([seed, i]) so a speaker does not depend on n."""
    if n_speakers < 1:
        raise DemoError(f"--n_speakers={n_speakers}: must be >= 1")
    out = []
    for i in range(int(n_speakers)):
        voice, sex, code, kind = VOICES[i % len(VOICES)]
        k = i // len(VOICES)
        rng = np.random.default_rng([int(seed), i])
        f0_lo, f0_hi = (85.0, 150.0) if sex == "M" else (160.0, 230.0)
        out.append(DemoSpeaker(
            speaker=f"{sex}{code}{base36(k)}", voice=voice, kind=kind, sex=sex,
            dialect_region=f"DR{i % 8 + 1}", split="TEST" if k % 4 == 3 else "TRAIN",
            duration_stretch=round(float(rng.uniform(0.85, 1.2)), 3),
            hts_rate=round(float(rng.uniform(0.85, 1.15)), 3),
            f0_mean=round(float(rng.uniform(f0_lo, f0_hi)), 1),
            f0_std=round(float(rng.uniform(8.0, 25.0)), 1),
            speed_percent=int(rng.integers(92, 109)),
            gain=round(float(rng.uniform(0.5, 1.0)), 3),
            noise_seed=int(rng.integers(0, 2**31 - 1))))
    return out


def festival_script(spk: DemoSpeaker, wav_dir: str) -> str:
    """A festival --batch Scheme script synthesising SA1 and SA2 for one speaker: writes
    <wav_dir>/<utt>.wav (RIFF, 16 kHz) and prints 'DEMO_W utt word start end' and
    'DEMO_S utt segment start end' lines (seconds)."""
    if '"' in wav_dir or "\\" in wav_dir:
        raise DemoError(f"output path {wav_dir!r} must not contain quotes or backslashes")
    lines = [f"(voice_{spk.voice})"]
    if spk.kind == "diphone":
        lines += [f"(Parameter.set 'Duration_Stretch {spk.duration_stretch})",
                  "(set! int_lr_params (list (list 'target_f0_mean "
                  f"{spk.f0_mean}) (list 'target_f0_std {spk.f0_std}) "
                  "(assoc 'model_f0_mean int_lr_params) (assoc 'model_f0_std int_lr_params)))"]
    else:
        lines += [f"(set! hts_engine_params (append {spk.voice}::hts_engine_params "
                  f"(list (list \"-r\" {spk.hts_rate}))))"]
    lines += [
        "(define (demo_dump utt name path)",
        f"  (utt.save.wave (utt.wave.resample utt {SAMPLE_RATE}) path 'riff)",
        "  (mapcar (lambda (w) (format t \"DEMO_W %s %s %f %f\\n\" name (item.name w) "
        "(item.feat w 'word_start) (item.feat w 'word_end))) (utt.relation.items utt 'Word))",
        "  (mapcar (lambda (s) (format t \"DEMO_S %s %s %f %f\\n\" name (item.name s) "
        "(item.feat s 'segment_start) (item.feat s 'segment_end))) "
        "(utt.relation.items utt 'Segment))",
        "  t)"]
    for utt, text in SENTENCES.items():
        path = os.path.join(wav_dir, f"{utt}.wav")
        lines.append(f"(demo_dump (SynthText \"{text}\") \"{utt}\" \"{path}\")")
    return "\n".join(lines) + "\n"


def parse_festival_output(text: str) -> dict:
    """{utt: {'words': [(word, start_s, end_s)], 'segments': [(phone, start_s, end_s)]}}."""
    out: dict = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[0] not in ("DEMO_W", "DEMO_S"):
            continue
        key = "words" if parts[0] == "DEMO_W" else "segments"
        d = out.setdefault(parts[1], {"words": [], "segments": []})
        d[key].append((parts[2], float(parts[3]), float(parts[4])))
    return out


def timit_labels(words: list, segments: list, n_samples: int, scale: float) -> tuple:
    """festival times (s) -> TIMIT .WRD and .PHN intervals in samples.

    sample = round(t * SAMPLE_RATE * scale) (scale = 100/d for the speed change), clipped to
    n_samples; the last phone ends at n_samples. Pauses at the edges become h#, others pau;
    words are lower-cased without punctuation. Returns (wrd [(s, e, word)], phn [(s, e, p)]).
    Raises DemoError for a phone outside the radio set.
    """
    def smp(t: float) -> int:
        return min(n_samples, int(round(t * SAMPLE_RATE * scale)))

    phn = []
    for i, (p, s, e) in enumerate(segments):
        if p == "pau":
            lab = "h#" if i in (0, len(segments) - 1) else "pau"
        elif p in RADIO_TO_TIMIT:
            lab = RADIO_TO_TIMIT[p]
        else:
            raise DemoError(f"festival phone '{p}' has no TIMIT mapping")
        phn.append([smp(s), smp(e), lab])
    if phn:
        phn[-1][1] = n_samples
    phn = [(s, e, p) for s, e, p in phn if e > s]
    wrd = []
    for w, s, e in words:
        word = "".join(c for c in w.lower() if c.isalnum() or c == "'")
        if smp(e) > smp(s):
            wrd.append((smp(s), smp(e), word))
    return wrd, phn


def _speed_change(x: np.ndarray, speed_percent: int) -> np.ndarray:
    """Play ``x`` faster by d/100 (resample_poly(x, 100, d)); len -> ceil(n * 100 / d)."""
    if speed_percent == 100:
        return x
    return signal.resample_poly(x, 100, int(speed_percent))


def synthesize_speaker(spk: DemoSpeaker, root: str) -> dict:
    """Run festival once for both sentences and write the speaker's TIMIT files under root."""
    spk_dir = os.path.join(root, spk.split, spk.dialect_region, spk.speaker)
    os.makedirs(spk_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
        script = os.path.join(tmp, "run.scm")
        with open(script, "w") as f:
            f.write(festival_script(spk, tmp))
        try:
            res = subprocess.run(["festival", "--batch", script], capture_output=True,
                                 text=True, timeout=300)
        except FileNotFoundError as e:
            raise DemoError("festival is not installed (apt-get install festival "
                            "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)") from e
        labels = parse_festival_output(res.stdout)
        rng = np.random.default_rng(spk.noise_seed)
        for utt, text in SENTENCES.items():
            wav = os.path.join(tmp, f"{utt}.wav")
            if utt not in labels or not os.path.exists(wav):
                raise DemoError(f"festival (voice {spk.voice}) produced no {utt}: rc "
                                f"{res.returncode}, stderr: {res.stderr.strip()[-500:]}")
            x, sr = sf.read(wav, dtype="float64")
            if sr != SAMPLE_RATE:
                raise DemoError(f"festival wrote {sr} Hz for {utt}, expected {SAMPLE_RATE}")
            y = _speed_change(x, spk.speed_percent) * spk.gain
            y = y + rng.standard_normal(y.shape[0]) * 2e-4
            pcm = np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
            wrd, phn = timit_labels(labels[utt]["words"], labels[utt]["segments"],
                                    pcm.shape[0], 100.0 / spk.speed_percent)
            sf.write(os.path.join(spk_dir, f"{utt}.WAV"), pcm, SAMPLE_RATE, format="NIST",
                     subtype="PCM_16")
            with open(os.path.join(spk_dir, f"{utt}.TXT"), "w") as f:
                f.write(f"0 {pcm.shape[0]} {text}\n")
            with open(os.path.join(spk_dir, f"{utt}.WRD"), "w") as f:
                f.writelines(f"{s} {e} {w}\n" for s, e, w in wrd)
            with open(os.path.join(spk_dir, f"{utt}.PHN"), "w") as f:
                f.writelines(f"{s} {e} {p}\n" for s, e, p in phn)
    return dataclasses.asdict(spk)


def _settings(n_speakers: int, seed: int, voice: str = "festival", n_sentences: int = 2,
              vocab_size: int = 0, words_per_sentence: int = 0, layout: str = "timit") -> dict:
    """The settings a corpus is reused by. The festival corpus keeps its original keys (its
    demo_corpus.json is unchanged); the synthetic one adds its voice and sizes, the TextGrid
    layout its name."""
    out = {"demo_version": DEMO_VERSION, "n_speakers": int(n_speakers), "seed": int(seed)}
    if layout != "timit":
        out["layout"] = layout
    if voice == "synthetic":
        out.update({"voice": "synthetic", "synth_version": synth.SYNTH_VERSION,
                    "n_sentences": int(n_sentences), "vocab_size": int(vocab_size),
                    "words_per_sentence": int(words_per_sentence)})
    return out


def _same_settings(existing: dict, settings: dict) -> bool:
    """Whether a corpus's demo_corpus.json was written with ``settings`` (a corpus without a
    'voice' key is a festival one)."""
    return existing.get("voice", "festival") == settings.get("voice", "festival") and \
        existing.get("layout", "timit") == settings.get("layout", "timit") and all(
            existing.get(k) == v for k, v in settings.items())


def read_complete_corpus(out_dir: str):
    """The demo_corpus.json dict of a complete demo corpus (a finished demo-corpus output), or
    None."""
    marker = read_output_marker(out_dir)
    if not marker or marker.get("stage") != STAGE or not marker.get("complete"):
        return None
    try:
        return records.read_record(os.path.join(out_dir, INFO_NAME))
    except (OSError, ValueError):
        return None


def generate_demo_corpus(out_dir: str, n_speakers: int = DEFAULT_N_SPEAKERS, seed: int = 0,
                         jobs: int = 0, overwrite: bool = False, progress: bool = True,
                         voice: str = "festival", n_sentences: int = synth.DEFAULT_N_SENTENCES,
                         vocab_size: int = synth.DEFAULT_VOCAB_SIZE,
                         words_per_sentence: int = synth.DEFAULT_WORDS_PER_SENTENCE,
                         layout: str = "timit") -> dict:
    """Generate (or reuse) the demo corpus in ``out_dir``; returns its demo_corpus.json dict.

    Deterministic for its settings. A complete corpus with the same settings is reused
    without work ('reused': True). A demo corpus with other settings is replaced only with
    ``overwrite``; any other existing folder is refused (OutputPathError).  Built in a temporary
    sibling and renamed into place.  ``jobs``: parallel festival processes or synthetic-voice
    threads (0 = number of CPUs).  ``voice``: 'festival' (SA1 + SA2 per speaker; the other
    arguments are not used) or 'synthetic' (:mod:`corpus.synth`: ``n_sentences`` per speaker
    of ``words_per_sentence`` pseudo-words from a ``vocab_size``-word vocabulary).
    ``layout``: 'timit' (TIMIT's tree) or 'textgrid' (MFA's: <speaker>/<utt>.wav + .TextGrid,
    :mod:`corpus.mfa_layout`, converted exactly from the TIMIT tree).
    """
    if layout not in LAYOUTS:
        raise DemoError(f"--layout={layout}: expected one of {', '.join(LAYOUTS)}")
    if voice not in VOICE_NAMES:
        raise DemoError(f"--voice={voice}: expected one of {', '.join(VOICE_NAMES)}")
    if n_speakers < 1:
        raise DemoError(f"--n_speakers={n_speakers}: must be >= 1")
    if voice == "synthetic":
        synth.check_settings(n_sentences, vocab_size, words_per_sentence, DemoError)
        return _generate_synthetic(out_dir, n_speakers, seed, jobs, overwrite, progress,
                                   n_sentences, vocab_size, words_per_sentence, layout)
    from tqdm import tqdm

    settings = _settings(n_speakers, seed, layout=layout)
    # Reuse writes nothing, but a repository folder is refused all the same.
    check_not_project(out_dir, "--out")
    existing = read_complete_corpus(out_dir)
    if existing is not None and _same_settings(existing, settings):
        return {**existing, "reused": True}
    plan = speaker_plan(n_speakers, seed)
    output = OutputFolder(out_dir, STAGE, overwrite=overwrite, flag="--out")
    if shutil.which("festival") is None:
        raise DemoError("festival is not installed (apt-get install festival festvox-kallpc16k "
                        "festvox-kdlpc16k festvox-us-slt-hts)")
    t0 = time.time()
    with output as tmp:
        jobs = jobs or os.cpu_count() or 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(synthesize_speaker, spk, tmp) for spk in plan]
            for fut in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                            desc="festival speakers", unit="spk", disable=not progress):
                fut.result()
        if layout == "textgrid":
            convert_to_textgrid_layout(tmp, DemoError)
        info = {**settings, "speakers": [dataclasses.asdict(s) for s in plan],
                "sentences": SENTENCES, "seconds": round(time.time() - t0, 1)}
        atomic_write_json(os.path.join(tmp, INFO_NAME), records.stamp(info, INFO_NAME), indent=1,
                          sort_keys=False)
    return {**info, "reused": False}


def _generate_synthetic(out_dir: str, n_speakers: int, seed: int, jobs: int, overwrite: bool,
                        progress: bool, n_sentences: int, vocab_size: int,
                        words_per_sentence: int, layout: str = "timit") -> dict:
    """generate_demo_corpus for voice='synthetic' (same reuse and output rules)."""
    from tqdm import tqdm

    settings = _settings(n_speakers, seed, "synthetic", n_sentences, vocab_size,
                         words_per_sentence, layout)
    check_not_project(out_dir, "--out")
    existing = read_complete_corpus(out_dir)
    if existing is not None and _same_settings(existing, settings):
        return {**existing, "reused": True}
    output = OutputFolder(out_dir, STAGE, overwrite=overwrite, flag="--out")
    plan = synth.synth_speaker_plan(n_speakers, seed)
    vocab = synth.vocabulary(vocab_size, seed)
    stream = synth.word_stream(n_speakers * n_sentences * words_per_sentence, vocab_size, seed)
    t0 = time.time()
    with output as tmp:
        jobs = jobs or os.cpu_count() or 1
        # numpy/scipy filtering releases the GIL for most of a speaker's work
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(synth.synthesize_speaker, spk, i, tmp, vocab, stream,
                                   n_sentences, words_per_sentence, seed)
                       for i, spk in enumerate(plan)]
            for fut in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                            desc="synthetic speakers", unit="spk", disable=not progress):
                fut.result()
        if layout == "textgrid":
            convert_to_textgrid_layout(tmp, DemoError)
        used = np.bincount(stream, minlength=vocab_size)
        info = {**settings, "speakers": [dataclasses.asdict(s) for s in plan],
                "n_tokens": int(stream.shape[0]), "n_words_used": int(np.count_nonzero(used)),
                "vocabulary": {w: " ".join(p) for w, p in vocab},
                "seconds": round(time.time() - t0, 1)}
        atomic_write_json(os.path.join(tmp, INFO_NAME), records.stamp(info, INFO_NAME), indent=1,
                          sort_keys=False)
    return {**info, "reused": False}


def run(options: DemoCorpusOptions, script: str = SCRIPT) -> dict:
    """The command line's run: :func:`generate_demo_corpus` with ``options``; returns its
    demo_corpus.json dict plus 'reused' and 'out'."""
    require(options)
    sizes = {name: getattr(options, name) for name in SYNTHETIC_FLAGS
             if getattr(options, name) is not None}
    m = generate_demo_corpus(options.out, options.n_speakers, options.seed, options.jobs,
                             options.overwrite, options.progress, voice=options.voice,
                             layout=options.layout, **sizes)
    return {**m, "out": options.out}


def summary(m: dict) -> str:
    """The closing line: reused, or what was written."""
    if m["reused"]:
        return f"{m['out']}: complete demo corpus with these settings exists; reused"
    if m.get("voice") == "synthetic":
        return (f"wrote {m['out']}: {m['n_speakers']} speakers x {m['n_sentences']} "
                f"sentences, {m['n_tokens']} word tokens of {m['n_words_used']} distinct "
                f"words, in {m['seconds']} s")
    return f"wrote {m['out']}: {m['n_speakers']} speakers x 2 sentences in {m['seconds']} s"

