"""What a code's value does to the generated sound (docs/sweeps.md): pure functions on the
long acoustics table of a sweep (extraction.acoustics' ``measure_acoustics`` output, with
``token`` = the sweep's token_id; columns token, layer, frame, time_s, intensity_db, cog_hz,
f0_hz, f1_hz, f2_hz) and its sweep_tokens table (token_id, code, code_value, noise_index).

Per token, on one layer's frames (:func:`token_measures`):

- ``sound_ms``: frames whose intensity is within ``sound_db`` dB of the token's loudest frame,
  times the frame step (how long the sound lasts);
- ``frication_ms``: those sounding frames whose spectral centre of gravity is at least
  ``frication_hz`` (noise of fricatives: [s], [ʃ] have COG of 4-8 kHz, vowels below 2 kHz);
- ``intensity_db``: mean intensity of the sounding frames;
- ``f0_hz``, ``f1_hz``, ``f2_hz``, ``cog_hz``: means over the sounding frames where the
  measure is defined (F0: voiced frames).

Per code, value and measure (:func:`value_effects`): the change from the reference value
(the lowest), paired within noise draws (the unit of replication): the mean difference, its
95 % t interval and a paired t-test over the draws (draws where either value lacks the
measure are left out), with Holm and BH over the whole table. :func:`effect_sentences` says
it in words: "code_3 at value 5 lengthens the frication noise by 40 ms (95 % CI 22 to 58,
Holm p 0.002)".
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import pandas as pd

from analysis.corrections import ALPHA, benjamini_hochberg, holm

MEASURES = ("sound_ms", "frication_ms", "intensity_db", "cog_hz", "f0_hz", "f1_hz", "f2_hz")
ACOUSTIC_COLUMNS = ("token", "layer", "frame", "time_s", "intensity_db", "cog_hz", "f0_hz",
                    "f1_hz", "f2_hz")
WORDS = {"sound_ms": ("lengthens the sound", "shortens the sound", "ms"),
         "frication_ms": ("lengthens the frication noise", "shortens the frication noise",
                          "ms"),
         "intensity_db": ("raises the intensity", "lowers the intensity", "dB"),
         "cog_hz": ("raises the centre of gravity", "lowers the centre of gravity", "Hz"),
         "f0_hz": ("raises F0", "lowers F0", "Hz"),
         "f1_hz": ("raises F1", "lowers F1", "Hz"),
         "f2_hz": ("raises F2", "lowers F2", "Hz")}


def pick_layer(acoustics: pd.DataFrame) -> str:
    """The layer with the most frames (the finest time axis)."""
    counts = acoustics.groupby("layer", observed=True)["frame"].nunique()
    return str(counts.idxmax())


def token_measures(acoustics: pd.DataFrame, layer: Optional[str] = None,
                   sound_db: float = 30.0, frication_hz: float = 3000.0) -> pd.DataFrame:
    """One row per token: token and :data:`MEASURES` (module docstring), on ``layer``'s frames
    (default :func:`pick_layer`)."""
    missing = set(ACOUSTIC_COLUMNS) - set(acoustics.columns)
    if missing:
        raise ValueError(f"acoustics table lacks column(s) {sorted(missing)}")
    layer = layer or pick_layer(acoustics)
    a = acoustics[acoustics["layer"] == layer].sort_values(["token", "frame"])
    times = np.sort(a["time_s"].unique())
    step_ms = 1000.0 * float(np.median(np.diff(times))) if len(times) > 1 else np.nan
    loud = a.groupby("token")["intensity_db"].transform("max")
    sounding = a["intensity_db"].to_numpy(float) >= loud.to_numpy(float) - sound_db
    fric = sounding & (a["cog_hz"].to_numpy(float) >= frication_hz)
    s = a.assign(_sound=sounding, _fric=fric)
    g = s.groupby("token")
    out = pd.DataFrame({"sound_ms": g["_sound"].sum() * step_ms,
                        "frication_ms": g["_fric"].sum() * step_ms})
    on = s[s["_sound"]].groupby("token")
    for col in ("intensity_db", "cog_hz", "f0_hz", "f1_hz", "f2_hz"):
        out[col] = on[col].mean()
    out.attrs.update(layer=layer, step_ms=step_ms)
    return out.reset_index()


def value_effects(measures: pd.DataFrame, tokens: pd.DataFrame,
                  alpha: float = ALPHA) -> pd.DataFrame:
    """Per code, value (other than the reference, the lowest) and measure: reference and value
    means, the paired difference (value - reference) over draws with its 95 % CI and paired
    t-test p, n_draws; p_holm, p_bh over the table."""
    from scipy import stats

    d = measures.merge(tokens, left_on="token", right_on="token_id")
    values = sorted(d["code_value"].unique())
    ref = values[0]
    rows = []
    for code, dc in d.groupby("code", sort=False):
        wide = {v: dc[dc["code_value"] == v].set_index("noise_index") for v in values}
        for v in values[1:]:
            for m in MEASURES:
                pair = pd.concat([wide[ref][m].rename("a"), wide[v][m].rename("b")],
                                 axis=1).dropna()
                diff = (pair["b"] - pair["a"]).to_numpy(float)
                n = len(diff)
                row = {"code": code, "code_value": v, "reference_value": ref, "measure": m,
                       "n_draws": n, "reference_mean": pair["a"].mean() if n else np.nan,
                       "value_mean": pair["b"].mean() if n else np.nan,
                       "difference": diff.mean() if n else np.nan,
                       "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
                if n >= 2:
                    se = diff.std(ddof=1) / np.sqrt(n)
                    q = stats.t.ppf(0.975, n - 1)
                    row["ci_low"], row["ci_high"] = row["difference"] - q * se, \
                        row["difference"] + q * se
                    if se > 0:
                        row["p"] = float(2 * stats.t.sf(abs(row["difference"] / se), n - 1))
                    else:
                        row["p"] = 1.0 if row["difference"] == 0 else 0.0
                rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out["p"])
        out["p_bh"] = benjamini_hochberg(out["p"])
        out["significant_holm"] = out["p_holm"] < alpha
    out.attrs["alpha"] = alpha
    return out


def effect_sentences(effects: pd.DataFrame, alpha: float = ALPHA,
                     limit: int = 20) -> List[str]:
    """The Holm-significant effects in words, largest |t| first (at most ``limit``)."""
    if not len(effects):
        return []
    sig = effects[effects["p_holm"] < alpha].copy()
    sig = sig.reindex(sig["p"].sort_values(kind="mergesort").index)
    lines = []
    for r in sig.head(limit).itertuples():
        up, down, unit = WORDS[r.measure]
        verb = up if r.difference > 0 else down
        lines.append(f"{r.code} at value {r.code_value:g} (against {r.reference_value:g}) "
                     f"{verb} by {abs(r.difference):.3g} {unit} (95 % CI {r.ci_low:+.3g} to "
                     f"{r.ci_high:+.3g}; Holm p {r.p_holm:.3g}; {r.n_draws} draws)")
    return lines
