"""What an extraction run records about itself: the content of extract_info.json
(:func:`build_info`) and the fingerprint of its settings that an interrupted run is compared
with before it goes on (:func:`run_fingerprint`, :mod:`extraction.resume`).
"""

from __future__ import annotations

import collections
import datetime
import os
from typing import Optional

from common import layout
from extraction.geometry import GLayerAxis
from extraction.plan import Plan

# Skipped tokens and files listed by name in extract_info.json (the rest are counted).
MAX_LISTED_SKIPS = 200


def build_info(*, checkpoint, config, source, plan: Plan, res: dict, writers: dict,
               net_out: dict, seconds: dict, checkpoint_prefix: Optional[str] = None) -> dict:
    """The content of extract_info.json."""
    from wavegan.checkpoint_files import checkpoint_step

    words = res["words"]
    info = {
        layout.VERSION_KEY: layout.FORMAT_VERSIONS[layout.EXTRACT_INFO_JSON],
        "checkpoint": checkpoint,
        "checkpoint_prefix": checkpoint_prefix,
        "checkpoint_step": checkpoint_step(checkpoint_prefix) if checkpoint_prefix else None,
        layout.FOLDER_KIND_KEY: layout.FOLDER_WORD,   # extraction.sweep: "sweep"
        "network": plan.network,
        "model": config.to_dict(),
        "data": source.data_dir,
        "data_kind": source.kind,
        "split": getattr(source, "split", None),
        "normalize": plan.normalize,
        "sample_rate": plan.sample_rate,
        "slice_len": config.slice_len,
        "layers": [a.info() if isinstance(a, GLayerAxis) else a.info(plan.n_channels[a.name])
                   for a in plan.axes.values()],
        "time_formula": ("time = (sample + 0.5) * jump / sample_rate, jump = slice_len / length"
                         if plan.network == "G" else
                         "time = (centre0 + sample * jump) / sample_rate"),
        "channels": dict(plan.channels),
        "phones": plan.phones,
        "counts": {
            "tokens": int(len(res["ids"])),
            "words": int(len(set(words))),
            "tokens_per_word": dict(sorted(collections.Counter(words).items())),
            "skipped": dict(source.skipped + res["skipped"].counts),
            "skipped_files": source.skipped_files[:MAX_LISTED_SKIPS],
            "skipped_tokens": res["skipped"].tokens,
            "rows": {k: w.rows for k, w in writers.items()},
            "phone_layer_pairs_without_index": res["n_phone_empty"],
            "upsampled_tokens": int(sum(res["upsampled"].values())),
        },
        "acoustics": plan.acoustics,
        "files": sorted([os.path.basename(p) for w in writers.values() for p in w.paths] +
                        net_out["files"] + [layout.EXTRACT_INFO_JSON]),
        "seconds": seconds,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if plan.acoustics:  # Praat failures, tokens per reason (extraction.acoustics)
        info["counts"]["acoustic_failures"] = dict(res.get("acoustic_failures", {}))
    if "accuracy" in net_out:
        info["accuracy"] = net_out["accuracy"]
    return info


def run_fingerprint(model, config, source, plan: Plan, csv: bool, n_perm: int,
                    checkpoint: str, checkpoint_prefix: Optional[str]) -> dict:
    """Everything the finished folder depends on (extraction.resume compares it before going on
    with an interrupted run): the checkpoint and the network's weights, the input, the
    batches (with batch norm their composition matters) and every setting of the plan."""
    from extraction.resume import weights_digest

    def absolute(path):
        return os.path.abspath(path) if path else path

    return {"checkpoint": absolute(checkpoint), "checkpoint_prefix": absolute(checkpoint_prefix),
            "model": config.to_dict(), "weights": weights_digest(model),
            "network": plan.network, "source": source.fingerprint(),
            "batch_size": int(source.batch_size), "layers": plan.layers,
            "normalize": plan.normalize, "phones": plan.phones, "upsample": plan.upsample,
            "upsample_per_word": plan.upsample_per_word, "channels": plan.channels,
            "csv": bool(csv), "n_perm": int(n_perm), "acoustics": plan.acoustics}
