"""The report's Q classification section: accuracy against the permutation baseline, the
word-to-code table, codes never used, and Q on generated audio per code."""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Dict, List, Optional

import pandas as pd

from analysis.report_text import fmt, word_text
from analysis.labels import md_code, md_text
from analysis.tables import p_phrase


def classification_section(r, files) -> List[str]:
    c, conf, info = files.records.classification, files.records.confusion, files.records.info
    if not c and conf is None and files.generated is None:
        return []
    L = ["## Q classification", ""]
    ck = info.get("checkpoint")
    if ck:
        step = info.get("checkpoint_step")
        L += [f"Checkpoint {md_code(ck)}"
              + (f", training step {int(step)}" if isinstance(step, (int, float)) else
                 ", step not recorded")
              + (f"; network {md_text(info['network'])}" if info.get("network") else "")
              + (f"; {int(info['counts']['tokens'])} tokens" if
                 isinstance(info.get("counts"), dict) and "tokens" in info["counts"] else "")
              + ".", ""]
    if c:
        L += _accuracy_lines(c)
    if conf is not None and conf.size:
        L += _mapping_lines(conf, (c or {}).get("mapping") or {})
    L += _generated_lines(files.generated, r, c)
    return L


def _accuracy_lines(c: dict) -> List[str]:
    acc = c.get("accuracy")
    if acc is None:
        return []
    n = c.get("n_tokens")
    text = (f"Accuracy {fmt(float(acc))} under the best one-to-one word-to-code mapping"
            + (f" ({int(n)} tokens)" if isinstance(n, (int, float)) else "")
            + f"; chance (always the most frequent word) {fmt(c.get('chance', float('nan')))}.")
    perm = c.get("permutation_chance")
    if isinstance(perm, dict) and "p95" in perm:
        n_perm = perm.get("n_perm")
        base = (" Permutation baseline (codes shuffled against words"
                + (f", {int(n_perm)} shuffles" if n_perm else "") + f"): mean "
                f"{fmt(float(perm.get('mean', float('nan'))))}, 95th percentile "
                f"{fmt(float(perm['p95']))}.")
        if "p" in perm:  # exact one-sided permutation p, when extract.py stores it
            floor = (f" (the smallest p {int(n_perm)} shuffles can give is 1/{int(n_perm) + 1}"
                     f" = {1 / (int(n_perm) + 1):.4f})" if n_perm else "")
            verdict = (f" One-sided permutation {p_phrase(float(perm['p']))}{floor}: Q's codes "
                       + ("track the words above chance." if float(perm["p"]) < 0.05 else
                          "are not shown to track the words."))
        elif float(acc) > float(perm["p95"]):
            verdict = (" The accuracy lies above the 95th percentile, so the one-sided "
                       "permutation p < 0.05: Q's codes track the words above chance "
                       "(classification.json stores no exact p).")
        else:
            verdict = (" The accuracy does not exceed the 95th percentile (permutation "
                       "p >= 0.05): Q's codes are not shown to track the words.")
        text += base + verdict
    return [text, ""]


def _mapping_lines(conf: pd.DataFrame, mapping: dict) -> List[str]:
    counts = conf.astype(float)
    codes = [str(c) for c in counts.columns]
    mapped = {str(w): str(code) for w, code in mapping.items()}
    L = ["Word-to-code table (from confusion.csv):", "",
         "| word | tokens | most frequent code (tokens, share) | one-to-one mapping: code "
         "(tokens) |", "|---|---:|---|---|"]
    majority = {}
    for w, row in counts.iterrows():
        total = float(row.sum())
        top = float(row.max()) if len(row) else 0.0
        best = [codes[j] for j in range(len(codes)) if top > 0 and row.iloc[j] == top]
        majority[str(w)] = best
        maj = (f"{', '.join(md_text(b) for b in best)} ({top:g}, {100 * top / total:.0f} %)"
               + (" (tie)" if len(best) > 1 else "")) if best else "none"
        m = mapped.get(str(w))
        mtxt = (f"{md_text(m)} ({float(row.iloc[codes.index(m)]):g})" if m in codes else
                "none")
        L.append(f"| {word_text(w)} | {total:g} | {maj} | {mtxt} |")
    L.append("")
    shared = {}
    for w, best in majority.items():
        if len(best) == 1:
            shared.setdefault(best[0], []).append(w)
    notes = [f"{' and '.join(word_text(w) for w in ws)} most often go to the same code "
             f"{md_text(code)}" for code, ws in shared.items() if len(ws) > 1]
    unmapped = [w for w in majority if w not in mapped]
    used = counts.sum(axis=0)
    never = [c for c, n in zip(codes, used) if n == 0]
    unmatched = [c for c, n in zip(codes, used) if n > 0 and c not in set(mapped.values())]
    if notes:
        L.append("- Shared codes: " + "; ".join(notes) + ".")
    if mapping:
        L.append("- Words the one-to-one mapping leaves without a code: "
                 + (", ".join(word_text(w) for w in unmapped) or "none") + ".")
    L.append(f"- Codes Q never chose: {', '.join(md_text(c) for c in never) or 'none'}"
             + (f"; codes chosen but matched to no word: "
                f"{', '.join(md_text(c) for c in unmatched) or 'none'}" if mapping else "")
             + ".")
    return L + [""]


def code_words(classification: Optional[dict]) -> Dict[str, str]:
    """{code label: word} from classification.json's one-to-one ``mapping`` ({word: code}):
    each code under its number ('3') and its ciwGAN label ('code_3')."""
    out: Dict[str, str] = {}
    for w, code in ((classification or {}).get("mapping") or {}).items():
        out[str(code)] = str(w)
        out[f"code_{code}"] = str(w)
    return out


def _audio_link(r, gen_folder: Optional[str], name: str) -> str:
    """A Markdown link to one generated clip, relative to the report's folder (report.html
    embeds it as a player); '' when the file is not there."""
    base = getattr(r, "audio_base", None)
    if not gen_folder or base is None or not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}\.wav", name):
        return ""
    path = os.path.join(gen_folder, name)
    if not os.path.isfile(path):
        return ""
    rel = os.path.relpath(path, base)
    return f"[{md_text(name)}]({urllib.parse.quote(rel.replace(os.sep, '/'))})"


def _generated_lines(gen: Optional[pd.DataFrame], r, classification=None) -> List[str]:
    """Q on generate.py's clips per code, the word each code maps to, and one clip per code
    to listen to."""
    L = ["### Q classification of generated audio", ""]
    if gen is None:
        where = (f" ({md_code(r.generated)} has no generated.csv with Q's decisions)"
                 if r.generated else "")
        return L + ["Not available here" + where + ": generate.py with the same checkpoint "
                    "writes generated.csv (code, q_code, q_agrees per clip), which this "
                    "section reads.", ""]
    folder = r.generated if r.generated and os.path.isdir(r.generated) else \
        (os.path.dirname(r.generated) if r.generated else None)
    words = code_words(classification)
    L += ["| code | word (Q's mapping) | clips | Q reads the code back | accuracy | listen |",
          "|---|---|---:|---:|---:|---|"]
    for code, g in gen.groupby("code", sort=True):
        word = (str(g["word"].iloc[0]) if "word" in g.columns and str(g["word"].iloc[0])
                else words.get(str(code), ""))
        first = g.sort_values("noise_index")["file"].iloc[0] \
            if {"file", "noise_index"} <= set(g.columns) else ""
        L.append(f"| {md_text(code)} | {word_text(word) if word else 'none'} | {len(g)} | "
                 f"{int(g['q_agrees'].sum())} | {100 * g['q_agrees'].mean():.0f} % | "
                 f"{_audio_link(r, folder, str(first))} |")
    L += ["", f"Overall Q recovers the code of {100 * gen['q_agrees'].mean():.0f} % of "
          f"{len(gen)} generated clips. The word of a code is the one Q's one-to-one mapping "
          "on real tokens gives it (classification.json); report.html plays the first clip "
          "of each code (the same noise vector for every code).", ""]
    return L
