"""How well Q's codes separate real words: confusion table, accuracy, chance levels.

Reading a code from Q's logits (argmax for ciwGAN, bits for fiwGAN) is
:func:`ciwgan.codes.read_codes`; this module only counts. Codes are arbitrary labels, so
accuracy is measured under the best one-to-one assignment of words to codes (Hungarian
algorithm, ``scipy.optimize.linear_sum_assignment``) on the confusion table:
``accuracy = max over injective matchings M of sum_{(w,c) in M} n[w, c] / N``. With more
words than codes (or vice versa) only ``min(#words, #codes)`` pairs are matched and the tokens
of unmatched words count as errors.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


def confusion_table(words: Sequence[Hashable], codes: Sequence[Hashable],
                    all_codes: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """Counts of tokens per (word, code).

    Args:
      words: length-N labels (true words).
      codes: length-N Q codes (ints for ciwGAN, bit strings for fiwGAN).
      all_codes: optional full list of codes; codes never produced get an all-zero column.
    Returns:
      int64 DataFrame, index ``word`` (sorted), columns ``code`` (sorted), entries counts.
    """
    words = list(words)
    codes = list(codes)
    if len(words) != len(codes):
        raise ValueError(f"confusion_table: {len(words)} words but {len(codes)} codes")
    if not words:
        raise ValueError("confusion_table: no tokens")
    table = pd.crosstab(pd.Series(words, name="word"), pd.Series(codes, name="code"))
    if all_codes is not None:
        missing = set(codes) - set(all_codes)
        if missing:
            raise ValueError(f"confusion_table: codes {sorted(missing)} not in all_codes")
        cols = sorted(set(table.columns) | set(all_codes))
        table = table.reindex(columns=cols, fill_value=0)
    table = table.sort_index().sort_index(axis=1).astype(np.int64)
    table.index.name, table.columns.name = "word", "code"
    return table


def hungarian_accuracy(confusion: pd.DataFrame) -> tuple[float, dict]:
    """Accuracy under the best one-to-one word -> code mapping.

    Args:
      confusion: counts, rows words, columns codes (any shape).
    Returns:
      ``(accuracy, mapping)``: accuracy in [0, 1] = matched counts / all counts; mapping
      ``{word: code}`` for the matched words; a word left without a code, or matched to a code
      it never received (a zero cell, an arbitrary choice), is absent.
    """
    counts = np.asarray(confusion.to_numpy(), dtype=np.float64)
    total = counts.sum()
    if counts.size == 0 or total <= 0:
        raise ValueError("hungarian_accuracy: empty confusion table")
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = {confusion.index[r]: confusion.columns[c] for r, c in zip(rows, cols)
               if counts[r, c] > 0}
    return float(counts[rows, cols].sum() / total), mapping


def chance_level(words: Sequence[Hashable]) -> float:
    """Accuracy of a Q that ignores its input (one constant code): ``max_w n_w / N``.

    For balanced words this is ``1 / #words``.
    """
    if len(words) == 0:
        raise ValueError("chance_level: no tokens")
    _, counts = np.unique(np.asarray(list(words), dtype=object).astype(str), return_counts=True)
    return float(counts.max() / counts.sum())


def permutation_chance(words: Sequence[Hashable], codes: Sequence[Hashable], n_perm: int = 200,
                       seed: int = 0, observed: float | None = None) -> dict:
    """Hungarian accuracy expected when codes are unrelated to words.

    Shuffles the codes against the words ``n_perm`` times (numpy seed ``seed``), keeping both
    marginals, and recomputes the Hungarian accuracy each time. The Hungarian mapping is fitted on
    the same data, so with few tokens per word this baseline lies above ``chance_level``.

    Returns ``{'mean': ..., 'p95': ..., 'n_perm': n_perm, 'seed': seed}`` and, when the
    ``observed`` accuracy is given, its one-sided permutation p-value
    ``p = (1 + #{shuffles with accuracy >= observed}) / (n_perm + 1)`` (the +1 counts the
    observed assignment as one of the permutations, so p is never 0; Phipson & Smyth 2010).
    """
    # Counted with np.bincount on integer codes of the labels, factorised once: the same
    # tables as confusion_table (rows and columns in another order, which leaves the best
    # matching's total unchanged) at a few ms per shuffle instead of a pandas crosstab's
    # seconds at TIMIT's size (54,378 tokens, 6,229 words). Permuting the integer codes draws
    # the same permutations as permuting the labels (same length, same generator).
    word_idx, word_labels = pd.factorize(pd.Series(list(words), dtype=object))
    code_idx, code_labels = pd.factorize(pd.Series(list(codes), dtype=object))
    n_words, n_codes = len(word_labels), len(code_labels)
    if len(word_idx) != len(code_idx):
        raise ValueError(f"permutation_chance: {len(word_idx)} words but {len(code_idx)} codes")
    if len(word_idx) == 0:
        raise ValueError("permutation_chance: no tokens")
    rng = np.random.default_rng(seed)
    accs = np.empty(n_perm)
    for i in range(n_perm):
        counts = np.bincount(word_idx * n_codes + rng.permutation(code_idx),
                             minlength=n_words * n_codes).reshape(n_words, n_codes)
        rows, cols = linear_sum_assignment(counts, maximize=True)
        accs[i] = counts[rows, cols].sum() / len(word_idx)
    out = {"mean": float(accs.mean()), "p95": float(np.quantile(accs, 0.95)),
           "n_perm": int(n_perm), "seed": int(seed)}
    if observed is not None:
        # 1e-12: an accuracy equal to the observed one up to float rounding counts as >=
        out["p"] = float((1 + np.sum(accs >= observed - 1e-12)) / (n_perm + 1))
    return out


def classification_summary(words: Sequence[Hashable], codes: Sequence[Hashable],
                           all_codes: Sequence[Hashable] | None = None, n_perm: int = 200,
                           seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Confusion table plus the JSON-ready summary written to classification.json."""
    table = confusion_table(words, codes, all_codes)
    acc, mapping = hungarian_accuracy(table)
    summary = {
        "n_tokens": int(len(words)),
        "n_words": int(table.shape[0]),
        "n_codes_used": int(len(set(codes))),
        "accuracy": acc,
        "mapping": {str(w): _jsonable(c) for w, c in mapping.items()},
        "chance": chance_level(words),
        "permutation_chance": permutation_chance(words, codes, n_perm=n_perm, seed=seed,
                                                 observed=acc),
    }
    return table, summary


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v
