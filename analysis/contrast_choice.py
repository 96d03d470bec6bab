"""Which phone contrasts the contrast matrix fits (analyze.py ``--contrasts``, ``--min_intervals``,
``--max_contrasts``): the text's parser, the 'auto' choice of the best-powered pairs, and the
phone labels as the phone table spells them. The fits are in :mod:`analysis.contrasts`.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

import pandas as pd

from analysis.gamm.data import PHONE_COLUMNS, AnalysisInputError

# A phone needs this many intervals (with at least min_samples samples at the layer) for its
# cell to be fitted: the fs term estimates one random smooth per interval, and with fewer
# intervals the level test has almost no residual df between intervals (docs/contrasts.md).
DEFAULT_MIN_INTERVALS = 10
# 'auto' keeps this many pairs at most: P phones give P (P - 1) / 2 pairs (TIMIT's ~50
# phones: 1,225 pairs, x 5 layers = 6,125 fits), so the best-powered pairs are kept.
DEFAULT_MAX_AUTO = 10

class ContrastInputError(AnalysisInputError):
    """--contrasts or --min_intervals cannot be used as given (message names the value)."""



# --------------------------------------------------------------------------- --contrasts

def interval_counts(phone_table: pd.DataFrame, layer: Optional[str] = None) -> pd.Series:
    """Number of intervals (distinct token_id, phone, phone_index) per phone, at ``layer`` or
    in any layer; sorted by count (descending), then phone."""
    require_phone_table(phone_table)
    t = phone_table if layer is None else phone_table[phone_table["layer"].astype(str) == layer]
    keys = t[["token_id", "phone", "phone_index"]].drop_duplicates()
    counts = keys["phone"].astype(str).value_counts()
    return counts.sort_index().sort_values(ascending=False, kind="mergesort")


def parse_contrasts(text: str, phone_table: Optional[pd.DataFrame] = None,
                    min_intervals: int = DEFAULT_MIN_INTERVALS,
                    max_auto: int = DEFAULT_MAX_AUTO) -> List[Tuple[str, str]]:
    """The ``--contrasts`` text as [(reference, phone), ...]: :func:`parse_contrast_text`,
    then, with a phone table, :func:`choose_contrasts` (without one, 'auto' is refused and a
    listed text is returned as parsed). Raises :class:`ContrastInputError` naming the bad
    value."""
    listed = parse_contrast_text(text)
    if phone_table is None:
        check_min_intervals(min_intervals)
        if listed is None:
            raise ContrastInputError("--contrasts=auto needs a phone_activations table "
                                     "(extract.py --phones)")
        return listed
    return choose_contrasts(listed, phone_table, min_intervals, max_auto)


def parse_contrast_text(text: str) -> Optional[List[Tuple[str, str]]]:
    """'a:b,c:d' -> [('a', 'b'), ('c', 'd')] (the first phone of each pair is the reference);
    'auto' (any case) -> None. Refuses an empty text, a malformed or self pair and a pair
    given twice (in either order)."""
    text = "" if text is None else str(text).strip()
    if text.lower() == "auto":
        return None
    if not text:
        raise ContrastInputError("--contrasts is empty: give pairs like s:sh,p:b or 'auto'")
    pairs, seen = [], set()
    for item in text.split(","):
        item = item.strip()
        parts = [x.strip() for x in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ContrastInputError(f"--contrasts: {item!r} is not a pair of phones like "
                                     "s:sh")
        if parts[0] == parts[1]:
            raise ContrastInputError(f"--contrasts: {item!r} pairs a phone with itself")
        key = frozenset(parts)
        if key in seen:
            raise ContrastInputError(f"--contrasts: the pair {item!r} is given twice")
        seen.add(key)
        pairs.append((parts[0], parts[1]))
    return pairs


def choose_contrasts(listed: Optional[List[Tuple[str, str]]], phone_table: pd.DataFrame,
                     min_intervals: int = DEFAULT_MIN_INTERVALS,
                     max_auto: int = DEFAULT_MAX_AUTO,
                     include: Sequence[Tuple[str, str]] = ()) -> List[Tuple[str, str]]:
    """The contrasts to fit on ``phone_table``. Listed pairs (:func:`parse_contrast_text`):
    every phone must occur in the table. None ('auto'): every phone with at least
    ``min_intervals`` intervals (:func:`interval_counts`, any layer) is paired with every
    other such phone; the pairs are sorted by the smaller count of the pair (descending: the
    best-powered first), then the larger, then the names, and the first ``max_auto`` are kept
    (P phones give P (P - 1) / 2 pairs). Within a pair the more frequent phone is the
    reference. ``include`` (the paper's own contrast, [s]/[ʃ]): with 'auto', each of these
    pairs whose two phones occur in the table comes first, as given, and counts towards
    ``max_auto``."""
    check_min_intervals(min_intervals)
    counts = interval_counts(phone_table)
    if listed is not None:
        listed = [tuple(table_label(p, counts.index) for p in ab) for ab in listed]
        unknown = sorted({p for ab in listed for p in ab} - set(counts.index))
        if unknown:
            raise ContrastInputError(
                f"--contrasts: phone(s) {unknown} have no interval in the phone_activations "
                f"table (phones there: {_show_counts(counts)}); extract.py --phones must "
                "list every phone of every contrast")
        return list(listed)
    if int(max_auto) < 1:
        raise ContrastInputError(f"--max_contrasts={max_auto} must be at least 1")
    keep = counts[counts >= int(min_intervals)]
    if len(keep) < 2:
        raise ContrastInputError(
            f"--contrasts=auto: fewer than two phones have at least {min_intervals} "
            f"intervals (--min_intervals); counts: {_show_counts(counts)}")
    phones = list(keep.index)  # count descending, then name
    pairs = [(a, b) for i, a in enumerate(phones) for b in phones[i + 1:]]
    pairs.sort(key=lambda ab: (-min(keep[ab[0]], keep[ab[1]]),
                               -max(keep[ab[0]], keep[ab[1]]), ab[0], ab[1]))
    first = [(str(a), str(b)) for a, b in include
             if str(a) in counts.index and str(b) in counts.index and str(a) != str(b)]
    first = list(dict.fromkeys(first))
    taken = {frozenset(ab) for ab in first}
    rest = [ab for ab in pairs if frozenset(ab) not in taken]
    return (first + rest)[:int(max_auto)]


def table_label(phone: str, present) -> str:
    """The label the phone table uses for ``phone`` as typed: itself when present, else its
    TIMIT-style label in the first phone set that knows it and whose label is present
    (common.phones: ``ʃ``, ``SH``, ``S`` -> ``sh``); else ``phone`` unchanged (then refused,
    with the phones present, by the caller)."""
    from common.phones import PHONE_SETS, to_timit
    present = set(str(p) for p in present)
    if phone in present:
        return phone
    for phone_set in PHONE_SETS:
        mapped = to_timit(phone, phone_set)
        if mapped is not None and mapped in present:
            return mapped
    return phone


def check_min_intervals(min_intervals: int) -> None:
    if int(min_intervals) < 2:
        raise ContrastInputError(f"--min_intervals={min_intervals} must be at least 2")


def _show_counts(counts: pd.Series, n: int = 20) -> str:
    items = [f"{p} ({c})" for p, c in counts.head(n).items()]
    return ", ".join(items) + (" ..." if len(counts) > n else "") if items else "none"


def require_phone_table(phone_table: pd.DataFrame) -> None:
    if not isinstance(phone_table, pd.DataFrame):
        raise ContrastInputError("phone_activations: expected a pandas DataFrame")
    missing = [c for c in PHONE_COLUMNS if c not in phone_table.columns]
    if missing:
        raise ContrastInputError(f"phone_activations table: missing column(s) {missing}")


def contrast_label(a: str, b: str) -> str:
    """How tables name a contrast: 'a:b' (a the reference)."""
    return f"{a}:{b}"


def natural_layers(layers: Sequence[str]) -> List[str]:
    """Layer names in network order: conv2 before conv10 (digits compared as numbers)."""
    def key(s):
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", str(s))]
    return sorted({str(x) for x in layers}, key=key)


# --------------------------------------------------------------------------- one cell
