"""The spread of demo.py's results over seeds: one Markdown table, a column per demo folder.

Reads only what each demo wrote (``generated/generated.csv``,
``activations/classification.json``, ``analysis/{table1,phone_contrast,lmm,contrast_matrix,
spectra_bands}.csv``, ``analysis/fit_info.json``) and prints, per folder, the figures
docs/demo.md reports: Q on generated audio, held-out accuracy against the permutation
baseline, the conv5 word GAMM, the difference curve, [s] vs [ʃ] per layer, the mixed models,
the contrast matrix and the spectra.

    .venv/bin/python bench/demo_spread.py work/demo_s0 work/demo_s1 work/demo_s2
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Dict, List

import pandas as pd

ALPHA = 0.05


def _read(folder: str, *parts: str):
    path = os.path.join(folder, *parts)
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.001 else f"{p:.3f}"


def generated(folder: str) -> str:
    g = _read(folder, "generated", "generated.csv")
    agrees = g["q_agrees"].astype(str).str.lower().isin(["true", "1"])
    per_code = agrees.groupby(g["code"]).mean()
    return (f"{agrees.mean():.0%} of {len(g)} (per code {per_code.min():.0%}-"
            f"{per_code.max():.0%})")


def held_out(folder: str) -> str:
    c = _read(folder, "activations", "classification.json")
    perm = c["permutation_chance"]
    return (f"{c['accuracy']:.3f} (perm. 95th pct {perm['p95']:.3f}, p {_p(perm['p'])}); "
            f"{c['n_codes_used']} codes used, {c['n_words'] - len(c['mapping'])} word(s) "
            "unmapped")


def word_levels(folder: str) -> str:
    t = _read(folder, "analysis", "table1.csv")
    par = t[(t["section"] == "parametric") & (t["term"] != "(Intercept)")]
    sig = par[par["p-value"] < ALPHA]
    words = [f"{term[len('Word'):]} {'higher' if est > 0 else 'lower'}"
             for term, est in zip(sig["term"], sig["Estimate"])]
    return f"{len(sig)} of {len(par)}: {', '.join(words) or 'none'}"


def word_shapes(folder: str) -> str:
    t = _read(folder, "analysis", "table1.csv")
    sm = t[(t["section"] == "smooth") & t["term"].str.contains("WordOrdered")]
    return f"{int((sm['p-value'] < ALPHA).sum())} of {len(sm)}"


def word_model(folder: str) -> str:
    t = _read(folder, "analysis", "table1.csv")
    model = dict(zip(t.loc[t["section"] == "model", "term"],
                     t.loc[t["section"] == "model", "Estimate"].astype(float)))
    return f"rho {model['rho']:.2f}, deviance explained {model['dev_expl']:.1%}"


def difference(folder: str) -> str:
    info = _read(folder, "analysis", "fit_info.json")
    regions = "; ".join(f"Sample {r['start']:g}-{r['end']:g}" for r in info["regions"])
    return f"{info['diff'][0]} - {info['diff'][1]}: {regions or 'no region'}"


def phone_levels(folder: str) -> str:
    t = _read(folder, "analysis", "phone_contrast.csv")
    par = t[(t["section"] == "parametric") & (t["term"] != "(Intercept)")]
    return ", ".join(f"{lay} {'higher' if est > 0 else 'lower'} (p {_p(p)})"
                     for lay, est, p in zip(par["layer"], par["Estimate"], par["p-value"]))


def phone_shapes(folder: str) -> str:
    t = _read(folder, "analysis", "phone_contrast.csv")
    sm = t[(t["section"] == "smooth") & t["term"].str.contains("Ordered")]
    sig = sm[sm["p-value"] < ALPHA]
    return f"{len(sig)} of {len(sm)} layers ({', '.join(sig['layer']) or 'none'})"


def lmm(folder: str) -> str:
    t = _read(folder, "analysis", "lmm.csv").drop_duplicates("layer")
    return (f"F {t['F_word'].min():.1f}-{t['F_word'].max():.1f}, largest p "
            f"{_p(t['p_word'].max())} ({len(t)} layers)")


def contrasts(folder: str) -> str:
    m = _read(folder, "analysis", "contrast_matrix.csv")
    fitted = m[m["status"] == "fitted"]
    encoded = fitted["encoded_holm"].astype(str).str.lower().isin(["true", "1"])
    return f"{len(fitted)} of {len(m)} cells fitted, {int(encoded.sum())} encoded (Holm)"


def spectra(folder: str) -> str:
    b = _read(folder, "analysis", "spectra_bands.csv")
    return f"{int((b['p_holm'] < ALPHA).sum())} of {len(b)} bands differ by word (Holm)"


ROWS: Dict[str, Callable[[str], str]] = {
    "Q on generated audio": generated,
    "held-out accuracy": held_out,
    "conv5 levels vs *ask* (p < 0.05)": word_levels,
    "conv5 shapes vs *ask* (p < 0.05)": word_shapes,
    "conv5 model": word_model,
    "difference curve": difference,
    "[ʃ] against [s], level": phone_levels,
    "[ʃ] vs [s] shape (p < 0.05)": phone_shapes,
    "mixed models, words": lmm,
    "contrast matrix": contrasts,
    "spectra": spectra,
}


def spread_table(folders: List[str]) -> str:
    names = [os.path.basename(os.path.normpath(f)) for f in folders]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(folders)]
    for label, fn in ROWS.items():
        lines.append(f"| {label} | " + " | ".join(fn(f) for f in folders) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bench/demo_spread.py <demo folder> [<demo folder> ...]")
    print(spread_table(sys.argv[1:]))
