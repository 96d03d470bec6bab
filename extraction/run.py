"""The extraction run behind ``extract.py``: tokens in, activations folder out.

Feeds tokens (:mod:`extraction.sources`) through the Q-network (or D) in batches, with phase
shuffle off, and writes the activations folder described in docs/CONVENTIONS.md and
docs/extraction.md (tables: :mod:`extraction.schema`). With ``network='G'`` (and a
GeneratedSource) the traces are G's own blocks ('z_project', 'upconv0', ...) for the generated
tokens, on the output-audio time axis, and no network outputs are written:

    activations.parquet/.csv       channel means of every selected layer (eq. 1 of the paper)
    phone_activations.parquet/.csv (--phones) the same restricted to chosen phones
    upsampled.parquet              (--upsample) waveform and traces on the input-sample axis
    channel_activations.parquet/.csv (--channels) single channels of chosen layers
    q_outputs.csv, confusion.csv, classification.json (Q) or d_outputs.csv (D)
    extract_info.json

One forward pass per batch (:mod:`extraction.forward`); each complete batch's rows, and its
per-token results (ids, labels, logits), are written as part files, then counted in a journal
(:mod:`extraction.resume`), so memory stays bounded by one batch and an interrupted run goes on
from its first incomplete batch. At the end the parts are merged into single tables, streamed
(:mod:`extraction.writers`), and the per-token results read back by column for q_outputs,
confusion and classification. The folder is written under the project's safe-output rule
(``common.outputs``, stage ``extract``): never into an input or the repository, an existing
folder replaced only when it is an earlier extract output and ``overwrite`` is given, built as
the hidden sibling ``.<name>.partial`` and renamed.

Tokens whose audio has NaN/inf samples are never fed to the network, and tokens whose network
outputs come out NaN/inf are left out of every table (so never counted as a code): both are
named in the log, counted by reason and listed in extract_info.json, as prepare.py does for
bad input files.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np
import pyarrow as pa

from common import layout
from common.atomic import atomic_write_csv
from common.options import require
from common.outputs import check_output, inputs_of
from extraction import classification as cl
from extraction import schema
from extraction.extraction_errors import ExtractionError
from extraction.extract_options import ExtractOptions
from extraction.forward import finite_rows, make_forward, make_generator_forward, model_input
from extraction.plan import Plan, make_plan
from extraction.run_info import MAX_LISTED_SKIPS, build_info, run_fingerprint
from extraction.sources import GeneratedSource, TokenBatch, open_source
from extraction.writers import merge_parts, write_json

logger = logging.getLogger(__name__)


# --csv left unset ('auto'): the .csv copies of the long tables are written only when the run
# writes at most this many rows of activations + channel_activations (tokens x values per
# token, known before the run). 10 M rows is ~1,800 tokens with the paper's five layers
# (5,456 values per token), about 450 MB of CSV; the paper's small experiment (1,067 tokens,
# 5.8 M rows) still gets them, its TIMIT-wide one (54,378 tokens, 297 M rows) does not.
CSV_AUTO_MAX_ROWS = 10_000_000
# Bytes per activations.csv row, measured (docs/extraction.md, Speed: 262 MiB for 5.82 M rows),
# only for the size the notice quotes.
CSV_BYTES_PER_ROW = 47


class SkippedTokens:
    """Tokens dropped while extracting (NaN/inf audio or network outputs).

    Each is counted by reason and named in the log through :class:`corpus.skip_report.Report` (the
    same counting and logging prepare.py uses for the files it skips) and listed, up to
    :data:`MAX_LISTED_SKIPS`, for extract_info.json. ``counts`` / ``tokens`` start from those
    of the complete batches of an interrupted run.
    """

    def __init__(self, counts: Optional[dict] = None, tokens: Optional[list] = None):
        from corpus.skip_report import Report
        self.report = Report(max_logged=MAX_LISTED_SKIPS)
        self.report.skipped.update(counts or {})
        self.tokens: list = list(tokens or [])

    @property
    def counts(self) -> collections.Counter:
        return self.report.skipped

    def drop(self, batch: TokenBatch, bad: np.ndarray, reason: str, why: str) -> TokenBatch:
        """Record the tokens of ``batch`` where the mask ``bad`` is True; return the others."""
        for i in np.flatnonzero(bad):
            tid, word, speaker = int(batch.token_id[i]), batch.word[i], batch.speaker[i]
            self.report.skip(reason, f"token_id {tid} (word {word!r}, speaker {speaker!r}): "
                                     f"{why}")
            # Report keeps every message; past the logged ones only the count matters, so
            # memory stays bounded however many tokens are skipped (its cap test is on len).
            del self.report.messages[MAX_LISTED_SKIPS + 1:]
            if len(self.tokens) < MAX_LISTED_SKIPS:
                self.tokens.append({"token_id": tid, "word": word, "speaker": speaker,
                                    "reason": reason})
        return batch.select(~np.asarray(bad, bool))


def load_checkpoint(path: str, model: Optional[str] = None):
    """``(prefix, config, G, D, Q)`` for ``--checkpoint=path``: ``prefix`` is the checkpoint
    actually loaded (a folder resolves to its newest readable checkpoint, with a warning when
    it falls back past an unreadable one), recorded in extract_info.json. Any load failure is
    an ExtractionError naming the flag."""
    from wavegan import CheckpointError, load_models

    try:
        loaded = load_models(path, model=model)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        raise ExtractionError(f"--checkpoint={path}: {e}") from None
    return loaded.prefix, loaded.config, loaded.G, loaded.D, loaded.Q


def long_tables(plan: Plan) -> list:
    """The long tables (file stems) the plan asks for, in the order they are listed."""
    return [layout.ACTIVATIONS] + ([layout.PHONE_ACTIVATIONS] if plan.phones else []) + \
        ([layout.UPSAMPLED] if plan.upsample else []) + \
        ([layout.CHANNEL_ACTIVATIONS] if plan.channels else []) + \
        ([layout.ACOUSTICS] if plan.acoustics else [])


def values_per_token(plan: Plan) -> int:
    """Rows of activations + channel_activations (+ acoustics, one row per activations row)
    per token (what --csv=auto weighs)."""
    per_layer_rows = sum(a.length for a in plan.axes.values())
    return per_layer_rows * (2 if plan.acoustics else 1) + \
        sum(len(idx) * plan.all_axes[n].length for n, idx in plan.channels.items())


def decide_csv(csv: Optional[bool], plan: Plan, n_tokens: int) -> tuple[bool, Optional[str]]:
    """(write the .csv copies?, a one-line notice when 'auto' (None) said no because of size).

    True/False are the user's choice; None writes them when n_tokens x values_per_token <=
    :data:`CSV_AUTO_MAX_ROWS`.
    """
    if csv is not None:
        return bool(csv), None
    per = values_per_token(plan)
    rows = int(n_tokens) * per
    if rows <= CSV_AUTO_MAX_ROWS:
        return True, None
    size = rows * CSV_BYTES_PER_ROW
    return False, (f"no .csv copies of the long tables: {n_tokens:,} tokens x {per:,} values = "
                   f"{rows:,} rows, more than the {CSV_AUTO_MAX_ROWS:,} up to which they are "
                   f"written by default (about {size / 1e9:.1f} GB of CSV); Parquet only, pass "
                   "--csv to write them anyway")


def new_counters(state: dict) -> None:
    """The run's counters in the journal (``state``), kept across interruptions."""
    for key, empty in (("tokens", 0), ("skipped", {}), ("skipped_tokens", []),
                       ("n_phone_empty", 0), ("upsampled", {}), ("t_forward", 0.0),
                       ("acoustic_failures", {}), ("t_acoustics", 0.0)):
        state.setdefault(key, empty)


def extract_batches(model, config, source, plan: Plan, job, progress: bool = True) -> None:
    """The streaming loop: one forward pass per batch, from the first batch the journal does
    not count (``job``: :class:`extraction.resume.ResumableOutput`); each batch's rows and its
    per-token results are committed as part files, then the journal.

    Tokens with NaN/inf audio are dropped before the forward pass (reason ``non_finite``), tokens
    whose traces or logits come out NaN/inf after it (``non_finite_output``): neither reaches a
    table, the confusion table or the accuracy. Nothing per token stays in memory: the loop
    holds one batch, and the journal's counters (bounded by the vocabulary and
    :data:`MAX_LISTED_SKIPS`).
    """
    from tqdm import tqdm

    state = job.state
    new_counters(state)
    start = int(state["batches_done"])
    skipped = SkippedTokens(state["skipped"], state["skipped_tokens"])
    upsampled = collections.Counter(state["upsampled"])
    n_batches = -(-source.n_tokens // source.batch_size)
    if plan.network == "G":
        forward = make_generator_forward(model, config.latent_dim, plan.layers)
        batches = source.latent_batches(start) if start else source.latent_batches()
    else:
        forward = make_forward(model, config.slice_len, plan.layers, plan.channels)
        # (a source that cannot skip, with no ``start`` argument, still serves a fresh run)
        batches = ((b, None) for b in (source.batches(start) if start else source.batches()))
    bar = tqdm(batches, total=n_batches, initial=start, unit="batch",
               desc=f"extract {plan.network}", disable=not progress)
    for index, (batch, z) in enumerate(bar, start):
        if plan.network == "G":
            tables = generator_batch_tables(forward, batch, z, plan, skipped, state)
        else:
            tables = batch_tables(forward, batch, plan, config, skipped, upsampled, state)
        state["skipped"] = dict(skipped.counts)
        state["skipped_tokens"] = skipped.tokens
        state["upsampled"] = dict(upsampled)
        job.commit(index, tables)


def batch_tables(forward, batch: TokenBatch, plan: Plan, config, skipped: SkippedTokens,
                 upsampled: collections.Counter, state: dict) -> dict:
    """One Q/D batch: {stem: pyarrow table or None} of the long tables and the tokens side
    table (empty when every token of the batch was skipped); updates the counters."""
    sr = plan.sample_rate
    # Before the forward pass: with batch norm a NaN token would spoil its whole batch.
    batch = skipped.drop(batch, ~finite_rows(batch.audio), "non_finite",
                         "audio has NaN/inf samples; not fed to the network")
    if not len(batch.token_id):
        return {}
    x = model_input(batch.audio, plan.normalize)
    batch, res, keep, seconds = forward_finite(
        forward, x, batch, skipped,
        f"{plan.network}'s traces or logits are NaN/inf; left out of every table")
    state["t_forward"] += seconds
    x = x[keep]
    if not len(batch.token_id):
        return {}
    means = {n: res[n] for n in plan.layers}
    tables = {"activations": schema.activation_rows(batch, means, plan.axes, sr)}
    if plan.phones:
        tables["phone_activations"], n_empty = schema.phone_rows(batch, means, plan.axes,
                                                                 plan.phones_by_token)
        state["n_phone_empty"] += n_empty
    if plan.channels:
        tables["channel_activations"] = schema.channel_rows(
            batch, {n: (idx, res["ch:" + n]) for n, idx in plan.channels.items()},
            plan.all_axes, sr)
    if plan.upsample:
        rows = []
        for b, (tid, w) in enumerate(zip(batch.token_id, batch.word)):
            if plan.upsample_per_word and upsampled[w] >= plan.upsample_per_word:
                continue
            upsampled[w] += 1
            rows.append(schema.upsampled_rows(
                int(tid), w, x[b], {n: means[n][b] for n in plan.layers}, plan.axes,
                config.slice_len))
        tables["upsampled"] = pa.concat_tables(rows) if rows else None
    if plan.acoustics:  # Praat's measures of the audio fed to the network
        from extraction.acoustics import acoustic_rows
        t0 = time.perf_counter()
        tables[layout.ACOUSTICS], failed = acoustic_rows(batch, x, plan.axes, sr)
        state["t_acoustics"] += time.perf_counter() - t0
        state["acoustic_failures"] = dict(collections.Counter(state["acoustic_failures"]) +
                                          collections.Counter(failed))
    tables["tokens"] = schema.token_rows(batch, res["logits"])
    state["tokens"] += len(batch.token_id)
    return tables


def generator_batch_tables(forward, batch: TokenBatch, z: np.ndarray, plan: Plan,
                           skipped: SkippedTokens, state: dict) -> dict:
    """``--network=G``: one ``G.layer_outputs`` pass of a batch of latents z [B, latent_dim];
    {'activations', 'tokens'} (no logits)."""
    batch, res, _, seconds = forward_finite(
        forward, z, batch, skipped, "G's traces are NaN/inf; left out of the table")
    state["t_forward"] += seconds
    if not len(batch.token_id):
        return {}
    means = {n: res[n] for n in plan.layers}
    state["tokens"] += len(batch.token_id)
    return {"activations": schema.activation_rows(batch, means, plan.axes, plan.sample_rate),
            "tokens": schema.token_rows(batch, None)}


def forward_finite(forward, inputs: np.ndarray, batch: TokenBatch, skipped: SkippedTokens,
                   why: str) -> tuple:
    """One forward pass of a batch; the tokens whose outputs come out NaN/inf are dropped
    (reason ``non_finite_output``, ``why`` in the log).

    Returns (batch of the kept tokens, outputs {name: numpy [B', ...]}, keep bool [B], seconds
    spent in the forward pass).
    """
    t0 = time.perf_counter()
    res = {k: v.numpy() for k, v in forward(inputs).items()}
    seconds = time.perf_counter() - t0
    keep = finite_rows(*res.values())
    if not keep.all():
        batch = skipped.drop(batch, ~keep, "non_finite_output", why)
        res = {k: v[keep] for k, v in res.items()}
    return batch, res, keep, seconds


def check_some_tokens(n_tokens: int, skipped: SkippedTokens) -> None:
    """ExtractionError when no token is left to write (none read, or every one skipped)."""
    if n_tokens:
        return
    if skipped.counts:
        raise ExtractionError(f"every token read was skipped ({dict(skipped.counts)}, e.g. "
                              f"{skipped.tokens[0]}); nothing to write")
    raise ExtractionError("no tokens were read (empty selection)")


def collect_results(folder: str, plan: Plan, state: dict) -> dict:
    """The per-token results of every complete batch, read back from the tokens parts by
    column (ids int64 [N], words, speakers, logits [N, K] or None for G) and the counters."""
    from extraction.writers import iter_parts

    skipped = SkippedTokens(state["skipped"], state["skipped_tokens"])
    check_some_tokens(int(state["tokens"]), skipped)
    parts = list(iter_parts(folder, "tokens", int(state["batches_done"])))
    ids, words, speakers, logits = schema.read_token_columns(pa.concat_tables(parts))
    return {"ids": ids, "words": words, "speakers": speakers,
            "logits": None if plan.network == "G" else logits,
            "n_phone_empty": int(state["n_phone_empty"]),
            "upsampled": collections.Counter(state["upsampled"]),
            "t_forward": float(state["t_forward"]), "skipped": skipped,
            "acoustic_failures": dict(state["acoustic_failures"]),
            "t_acoustics": float(state["t_acoustics"])}


def write_network_outputs(tmp: str, res: dict, config, network: str, n_perm: int) -> dict:
    """q_outputs.csv + confusion.csv + classification.json (Q) or d_outputs.csv (D).

    Returns {'files': [...], 'accuracy': ... (Q only)}.
    """
    if network == "G":
        return {"files": []}
    ids, words, speakers, logits = res["ids"], res["words"], res["speakers"], res["logits"]
    if network == "D":
        atomic_write_csv(schema.d_output_table(ids, words, speakers, logits),
                         os.path.join(tmp, layout.D_OUTPUTS_CSV))
        return {"files": [layout.D_OUTPUTS_CSV]}
    q_table, codes, all_codes = schema.q_output_table(config, ids, words, speakers, logits)
    atomic_write_csv(q_table, os.path.join(tmp, layout.Q_OUTPUTS_CSV))
    confusion, summary = cl.classification_summary(words, codes, all_codes, n_perm=n_perm)
    atomic_write_csv(confusion, os.path.join(tmp, layout.CONFUSION_CSV), index_label="word")
    summary["code_kind"] = "bits" if config.model == "fiwgan" else "argmax"
    write_json(os.path.join(tmp, layout.CLASSIFICATION_JSON),
               layout.stamp(summary, layout.CLASSIFICATION_JSON))
    return {"files": [layout.Q_OUTPUTS_CSV, layout.CONFUSION_CSV, layout.CLASSIFICATION_JSON],
            "accuracy": summary["accuracy"]}


def run_extraction(model, config, source, out: str, *, network: str = "Q",
                   layers=None, normalize: str = "peak", phones: Optional[Sequence[str]] = None,
                   upsample: bool = False, upsample_per_word: int = 1,
                   channels: Optional[str] = None, overwrite: bool = False,
                   checkpoint: str = "", checkpoint_prefix: Optional[str] = None,
                   csv: Optional[bool] = None, progress: bool = True, n_perm: int = 200,
                   acoustics: bool = False,
                   notify: Optional[Callable[[str], None]] = None,
                   finish: Optional[Callable[[str, dict], None]] = None) -> dict:
    """Extract, classify and write the activations folder ``out``; returns extract_info.

    Args:
      model: Q (``layer_outputs`` with [B, num_categ] logits), D ([B] logits) or, with
        ``network='G'``, the generator G (source must then be a GeneratedSource; phones,
        upsample and channels are refused, normalize is ignored).
      config: the model's WaveGANConfig.
      source: DatasetSource | WavFolderSource | GeneratedSource | ArraySource.
      layers: subset of the conv layers, list or 'conv1,conv5' (default all).
      normalize: 'peak' (x / max|x| per token, as the original loader) or 'none'.
      phones: phone labels for phone_activations (dataset sources only).
      upsample / upsample_per_word: write upsampled.parquet for that many tokens per word
        (0 = all). channels: '--channels' text, e.g. 'conv5:0,1,2'.
      overwrite: replace ``out`` when it holds an earlier extract output (never anything else),
        and start again over an interrupted run of other settings.
      checkpoint: the checkpoint as given (recorded; also an input ``out`` must keep apart from).
      checkpoint_prefix: the prefix actually loaded (recorded with its step).
      csv: also write .csv copies of the long tables: True, False, or None = only up to
        :data:`CSV_AUTO_MAX_ROWS` rows (:func:`decide_csv`). n_perm: permutations for the
        permutation chance level.
      acoustics: also write the acoustics table (Praat's measures of the audio fed to the
        network on each layer's axis, :mod:`extraction.acoustics`; Praat failures counted in
        extract_info.json's ``counts.acoustic_failures``, never fatal).
      notify: receives one-line notices (CSV skipped for size, resuming, interrupted);
        default: logged at INFO.
      finish: called as ``finish(partial_folder, info)`` before extract_info.json is
        written (a latent sweep's side tables and record: :func:`extraction.sweep.finish_sweep`).
    ``out`` must not be, contain or lie inside the data folder, the checkpoint or the
    repository (:class:`common.errors.OutputPathError`). The folder is built in
    ``.<name>.partial`` beside ``out`` (:mod:`extraction.resume`): a run interrupted after
    complete batches leaves it there and the same call goes on from the first incomplete batch,
    giving the same folder as an uninterrupted run; a run that fails on bad input, or before
    any batch is complete, leaves nothing, and an earlier output at ``out`` stays as it was
    until the new one replaces it.
    """
    from extraction.resume import ResumableOutput

    t_start = time.perf_counter()
    notify = notify or logger.info
    inputs = {"--data": source.data_dir, "--checkpoint": checkpoint or None}
    # The output rules first, before the plan reads anything (ResumableOutput checks again).
    check_output(out, "extract", inputs, overwrite)
    plan = make_plan(model, config, source, network=network, layers=layers,
                     normalize=normalize, phones=phones, upsample=upsample,
                     upsample_per_word=upsample_per_word, channels=channels,
                     acoustics=acoustics)
    csv, note = decide_csv(csv, plan, source.n_tokens)
    if note:
        notify(note)
    fingerprint = run_fingerprint(model, config, source, plan, csv, n_perm, checkpoint,
                                  checkpoint_prefix)
    n_batches = -(-source.n_tokens // source.batch_size)
    with ResumableOutput(out, inputs, overwrite, fingerprint, n_batches, notify) as job:
        tmp = job.partial
        if job.finished:
            job.install_finished()
            return layout.read_record(os.path.join(job.out, layout.EXTRACT_INFO_JSON))
        new_counters(job.state)
        extract_batches(model, config, source, plan, job, progress)
        res = collect_results(tmp, plan, job.state)
        writers = {stem: merge_parts(tmp, stem, schema.LONG_TABLES[stem],
                                     int(job.state["batches_done"]),
                                     csv=csv and stem != layout.UPSAMPLED)
                   for stem in long_tables(plan)}
        net_out = write_network_outputs(tmp, res, config, plan.network, n_perm)
        seconds = {"total": round(time.perf_counter() - t_start, 3),
                   "forward": round(res["t_forward"], 3),
                   **({"acoustics": round(res["t_acoustics"], 3)} if plan.acoustics else {})}
        info = build_info(checkpoint=checkpoint, config=config, source=source, plan=plan,
                          res=res, writers=writers, net_out=net_out, seconds=seconds,
                          checkpoint_prefix=checkpoint_prefix)
        if finish is not None:
            finish(tmp, info)
        write_json(os.path.join(tmp, layout.EXTRACT_INFO_JSON), info)
        job.finish()
    return info


def run(options: ExtractOptions, script: str = "extract") -> dict:
    """The extract stage: load the checkpoint, open the source and run the extraction into
    ``options.out``; returns {'info': extract_info, 'prefix': the checkpoint loaded, 'out'}.

    The output rules are checked before the checkpoint is loaded (and again by
    :func:`run_extraction`).  One-line notices (CSV left out for size, resuming,
    interrupted) go to stderr as ``<script>: note: ...``; the device line to stdout.  SIGTERM
    (a scheduler stopping the job) ends the run as Ctrl-C does: the complete batches stay in
    the partial folder with a notice, and the same command resumes them.
    """
    import signal
    import sys

    from wavegan.runtime import describe_devices

    require(options)
    check_output(options.out, "extract", inputs_of(options), options.overwrite)
    print(describe_devices(script), flush=True)

    def note(line: str) -> None:
        print(f"{script}: note: {line}", file=sys.stderr, flush=True)

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        prefix, config, G, D, Q = load_checkpoint(options.checkpoint, model=options.model)
        finish = None
        if options.values is not None:          # a latent sweep (docs/sweeps.md)
            from extraction.sweep import SweepSource, finish_sweep
            source = SweepSource(G, config, list(options.codes), options.sweep_values(),
                                 options.n_per_code, options.batch_size, seed=options.seed)
            finish = finish_sweep(source, notify=note)
        elif options.codes:
            source = GeneratedSource(G, config, list(options.codes), options.n_per_code,
                                     options.batch_size, value=options.value,
                                     seed=options.seed)
        else:
            source = open_source(options.data, options.split, options.batch_size,
                                 config.slice_len)
        for entry in source.skipped_files:
            logger.warning("skipped %s (%s)", entry["file"], entry["reason"])
        info = run_extraction(
            {"Q": Q, "D": D, "G": G}[options.network], config, source, options.out,
            network=options.network, layers=options.layers, normalize=options.normalize,
            phones=options.phones, upsample=options.upsample,
            upsample_per_word=options.upsample_per_word, channels=options.channels,
            overwrite=options.overwrite, checkpoint=options.checkpoint,
            checkpoint_prefix=prefix, csv=options.csv, progress=options.progress,
            acoustics=options.acoustics, notify=note, finish=finish)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return {"info": info, "prefix": prefix, "out": options.out}


def summary(result: dict) -> str:
    """extract.py's closing line: tokens, words, rows, skips, Q's accuracy, checkpoint, time."""
    info = result["info"]
    c = info["counts"]
    msg = (f"wrote {result['out']}: {c['tokens']} tokens, {c['words']} words, "
           f"{c['rows']['activations']} activation rows")
    if c["skipped"]:
        msg += (f", skipped {sum(c['skipped'].values())} ("
                + ", ".join(f"{k}={v}" for k, v in sorted(c["skipped"].items())) + ")")
    if c.get("acoustic_failures"):  # --acoustics: Praat's failures, tokens per reason
        msg += ", Praat failures (" + ", ".join(
            f"{k}={v}" for k, v in sorted(c["acoustic_failures"].items())) + ")"
    if "accuracy" in info:
        msg += f", Q accuracy (Hungarian) {info['accuracy']:.3f}"
    step = info["checkpoint_step"]
    msg += f", checkpoint {result['prefix']}" + (f" (step {step})" if step is not None else "")
    return msg + f", {info['seconds']['total']:.1f} s"
