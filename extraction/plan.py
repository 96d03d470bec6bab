"""The plan of one extraction run: every setting checked against the model and the data
before any output is written (:class:`extraction.extraction_errors.ExtractionError`, exit 2, on bad
input), and the layer axes, channels and phone intervals the run needs."""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Iterable, Sequence

import pandas as pd

from common.constants import SAMPLE_RATE
from extraction.extraction_errors import ExtractionError
from extraction.forward import NORMALIZE_MODES, generator_axes, layer_channels
from extraction.geometry import layer_axes

logger = logging.getLogger(__name__)

NETWORKS = ("Q", "D", "G")


@dataclasses.dataclass
class Plan:
    """Validated settings of one extraction run (built by :func:`make_plan`)."""

    network: str
    normalize: str | None   # 'peak' | 'none'; None for G (no input audio)
    layers: list
    axes: dict              # selected layers: name -> LayerAxis (GLayerAxis for G)
    all_axes: dict          # every layer
    channels: dict          # layer -> channel ids (--channels)
    n_channels: dict        # layer -> number of channels
    phones: list
    phones_by_token: dict   # token_id -> [(phone, phone_index, start, end)]
    upsample: bool
    upsample_per_word: int
    sample_rate: int
    acoustics: bool = False  # --acoustics: Praat's measures of the input (extraction.acoustics)


def parse_layer_list(text: str | Sequence[str] | None, available: Iterable[str]) -> list[str]:
    """``conv1,conv3`` (or a list) checked against the available layer names; None/'' -> all.
    Returns the chosen layers in the network's order."""
    available = list(available)
    if isinstance(text, (list, tuple)):
        text = ",".join(text)
    if not text:
        return available
    wanted = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [w for w in wanted if w not in available]
    if bad:
        raise ValueError(f"unknown layer(s) {bad}; available: {available}")
    return [a for a in available if a in wanted]


def parse_channel_spec(text: str | None, available: dict[str, int]) -> dict[str, list[int]]:
    """Parse ``conv5:0,1,2;conv4:3`` (``;`` or whitespace between layers) into {layer: channels}.

    Args:
      available: {layer name: number of channels}.
    """
    out: dict[str, list[int]] = {}
    if not text:
        return out
    for part in str(text).replace(";", " ").split():
        if ":" not in part:
            raise ValueError(f"--channels entry {part!r} must look like conv5:0,1,2")
        layer, chans = part.split(":", 1)
        if layer not in available:
            raise ValueError(f"--channels: unknown layer {layer!r}; available: "
                             f"{list(available)}")
        try:
            idx = sorted({int(c) for c in chans.split(",") if c.strip()})
        except ValueError:
            raise ValueError(f"--channels: channels of {layer} must be integers, got {chans!r}")
        n = available[layer]
        bad = [c for c in idx if not 0 <= c < n]
        if bad or not idx:
            raise ValueError(f"--channels: channel(s) {bad or chans!r} out of range for {layer} "
                             f"with {n} channels")
        out[layer] = idx
    return out


def check_phones(source, phones: Sequence[str]) -> pd.DataFrame:
    """phones.csv restricted to the wanted labels; clear errors for missing data/labels."""
    table = source.phones
    if table is None:
        raise ExtractionError(f"--phones needs phone boundaries: --data={source.data_dir} has "
                              "no phones.csv (only prepared datasets have them)")
    missing = {"token_id", "phone", "start", "end"} - set(table.columns)
    if missing:
        raise ExtractionError(f"{source.data_dir}/phones.csv lacks column(s) {sorted(missing)}")
    available = sorted(set(table["phone"].astype(str)))
    unknown = [p for p in phones if p not in available]
    if unknown:
        raise ExtractionError(f"--phones: unknown phone label(s) {unknown}; available in "
                              f"{source.data_dir}/phones.csv: {available}")
    table = table[table["phone"].isin(phones)]
    bad = table[table["end"] <= table["start"]]
    if len(bad):
        r = bad.iloc[0]
        raise ExtractionError(f"{source.data_dir}/phones.csv: {len(bad)} empty interval(s), e.g. "
                              f"token {r.token_id} phone {r.phone!r} [{r.start}, {r.end})")
    return table


def all_speech_phones(source) -> list:
    """``--phones=all``: every label of the dataset's phones.csv except the non-speech ones
    (:data:`common.constants.NON_SPEECH_PHONES`), sorted."""
    from common.constants import NON_SPEECH_PHONES
    if source.phones is None or "phone" not in source.phones.columns:
        check_phones(source, [])  # the one error message for a dataset without phones
    labels = sorted(set(source.phones["phone"].astype(str)) - set(NON_SPEECH_PHONES))
    if not labels:
        raise ExtractionError(f"--phones=all: {source.data_dir}/phones.csv has no speech phone")
    return labels


def phone_intervals(phones: pd.DataFrame, token_id: int, wanted: Sequence[str]):
    """(phone, phone_index, start, end) of the wanted phones of one token, by start time;
    phone_index counts the occurrences of that phone within the token from 0."""
    rows = phones[(phones["token_id"] == token_id) & phones["phone"].isin(wanted)]
    rows = rows.sort_values("start", kind="stable")
    seen = collections.Counter()
    out = []
    for ph, s, e in zip(rows["phone"], rows["start"], rows["end"]):
        out.append((ph, seen[ph], int(s), int(e)))
        seen[ph] += 1
    return out


def make_plan(model, config, source, *, network="Q", layers=None, normalize="peak",
              phones=None, upsample=False, upsample_per_word=1, channels=None,
              acoustics=False) -> Plan:
    """Check every setting against the model and the data (ExtractionError on bad input)."""
    from wavegan.config import layer_geometry

    if network not in NETWORKS:
        raise ExtractionError(f"--network={network}: expected Q, D or G")
    if network == "G":
        if acoustics:
            raise ExtractionError("--acoustics needs input audio: --network=G has none; "
                                  "measure G's audio with --network=Q --codes=... --acoustics")
        return make_generator_plan(model, config, source, layers=layers, phones=phones,
                                   upsample=upsample, channels=channels)
    if model is None:
        raise ExtractionError(f"--network={network}: the checkpoint has no {network} network"
                              + (" (a plain WaveGAN has no Q; use --network=D)"
                                 if network == "Q" else ""))
    if normalize not in NORMALIZE_MODES:
        raise ExtractionError(f"--normalize={normalize}: expected peak or none")
    if source.slice_len != config.slice_len:
        raise ExtractionError(f"data slice_len {source.slice_len} != model slice_len "
                              f"{config.slice_len}")
    # The models' config has no sample rate: every WaveGAN / ciwGAN model is trained at
    # SAMPLE_RATE, and a dataset prepared at another rate would shift every time axis.
    if source.sample_rate != SAMPLE_RATE:
        raise ExtractionError(f"data sample rate {source.sample_rate} Hz: the models expect "
                              f"{SAMPLE_RATE}")
    if upsample_per_word < 0:
        raise ExtractionError(f"--upsample_per_word={upsample_per_word} must be >= 0")
    if config.batchnorm:
        # The original builds D's and Q's batch norm with training=True: batch statistics,
        # also at inference. The traces then depend on which tokens share a batch.
        logger.warning("this model has batch norm: D and Q normalise with the statistics of "
                       "each batch (as the original code does at inference too), so the traces "
                       "depend on --batch_size and the batch composition")
    all_axes = {a.name: a for a in layer_axes(layer_geometry(config), config.slice_len,
                                              config.kernel_len)}
    n_channels = layer_channels(config)
    try:
        layers = parse_layer_list(layers, list(all_axes))
        chan_spec = parse_channel_spec(channels, n_channels)
    except ValueError as e:
        raise ExtractionError(str(e)) from None
    phones = [p for p in (phones or []) if p]
    if phones == ["all"]:
        phones = all_speech_phones(source)
    phones_by_token = {}
    if phones:
        table = check_phones(source, phones)
        for tid, rows in table.groupby("token_id", sort=False):
            phones_by_token[int(tid)] = phone_intervals(rows, tid, phones)
    return Plan(network=network, normalize=normalize, layers=layers,
                axes={n: all_axes[n] for n in layers}, all_axes=all_axes, channels=chan_spec,
                n_channels=n_channels, phones=phones, phones_by_token=phones_by_token,
                upsample=bool(upsample), upsample_per_word=int(upsample_per_word),
                sample_rate=source.sample_rate, acoustics=bool(acoustics))


def make_generator_plan(G, config, source, *, layers=None, phones=None, upsample=False,
                        channels=None) -> Plan:
    """The plan of ``--network=G``: G's block traces for the latents of a GeneratedSource.

    --phones, --upsample and --channels do not apply (clear ExtractionError); --normalize is
    ignored (recorded as null): there is no input audio to normalise.
    """
    if G is None:
        raise ExtractionError("--network=G: the checkpoint has no generator")
    if getattr(source, "kind", None) not in ("generated", "sweep"):
        raise ExtractionError("--network=G needs --codes (G's traces come from the latent "
                              "codes, not from --data audio)")
    if phones:
        raise ExtractionError("--phones does not apply to --network=G (generated audio has no "
                              "phone boundaries)")
    if upsample:
        raise ExtractionError("--upsample does not apply to --network=G (the last block is "
                              "already on the output-sample axis)")
    if channels:
        raise ExtractionError("--channels does not apply to --network=G")
    all_axes = generator_axes(G, config)
    try:
        layers = parse_layer_list(layers, list(all_axes))
    except ValueError as e:
        raise ExtractionError(f"--network=G --layers: {e}") from None
    return Plan(network="G", normalize=None, layers=layers,
                axes={n: all_axes[n] for n in layers}, all_axes=all_axes, channels={},
                n_channels={n: a.channels for n, a in all_axes.items()}, phones=[],
                phones_by_token={}, upsample=False, upsample_per_word=0,
                sample_rate=source.sample_rate)
