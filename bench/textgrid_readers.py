"""Which TextGrid reader (issue 25): what Praat's own reader (praat-parselmouth, the one
prepare.py uses) and praatio read, and how fast.

For each reader: every text format Praat writes (long/short x UTF-8 with/without BOM, UTF-16
LE/BE with BOM x LF/CRLF, a label with doubled quotes and non-ASCII text; Praat's own binary
file), every truncation of a long and a short file (refused / read whole / read partly: fewer
intervals or tiers without an error), and the time to read a 9-word, 45-phone utterance.
praatio and textgrid are not dependencies of the project: ``pip install praatio textgrid`` to
compare.

    .venv/bin/python -m bench.textgrid_readers
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

from textgrid_helpers import ENCODINGS, FORMATS, encode, textgrid_text, tile  # noqa: E402

TIERS = [("words", "interval", [(0, 0.3, ""), (0.3, 0.9, 'say "hi" ʃé'), (0.9, 1.5, "")]),
         ("phones", "interval", [(0, 0.3, ""), (0.3, 0.5, "ʃ"), (0.5, 0.9, "iː"),
                                 (0.9, 1.5, "")]),
         ("bell", "point", [(0.7, "ding")])]


def read_parselmouth(path: str) -> tuple:
    from corpus.textgrid import read_textgrid
    grid = read_textgrid(path)
    return tuple((t.name, tuple((s, e, x) for s, e, x in t.intervals if t.is_interval))
                 for t in grid.tiers)


def read_praatio(path: str) -> tuple:
    from praatio import textgrid
    grid = textgrid.openTextgrid(path, includeEmptyIntervals=False)
    out = []
    for name in grid.tierNames:
        tier = grid.getTier(name)
        items = tuple((e.start, e.end, e.label.strip()) for e in tier.entries) \
            if tier.tierType == "IntervalTier" else ()
        out.append((name, items))
    return tuple(out)


def read_textgrid_package(path: str) -> tuple:
    import textgrid
    grid = textgrid.TextGrid.fromFile(path)
    return tuple((t.name, tuple((i.minTime, i.maxTime, i.mark.strip()) for i in t if i.mark))
                 if isinstance(t, textgrid.IntervalTier) else (t.name, ()) for t in grid)


def _try(reader, path):
    try:
        return reader(path)
    except Exception:  # noqa: BLE001  (any refusal counts as refused)
        return None


def main() -> None:
    readers = {"parselmouth (Praat)": read_parselmouth}
    try:
        import praatio  # noqa: F401
        readers["praatio"] = read_praatio
    except ImportError:
        print("praatio not installed (pip install praatio): not measured")
    try:
        import textgrid  # noqa: F401
        readers["textgrid"] = read_textgrid_package
    except ImportError:
        print("textgrid not installed (pip install textgrid): not measured")
    tmp = tempfile.mkdtemp(prefix="tg-bench-")
    path = os.path.join(tmp, "t.TextGrid")
    for name, reader in readers.items():
        ok, total = 0, 0
        want = None
        for form in FORMATS:
            for enc in ENCODINGS:
                for crlf in (False, True):
                    with open(path, "wb") as f:
                        f.write(encode(textgrid_text(TIERS, 0, 1.5, form), enc, crlf))
                    got = _try(reader, path)
                    want = want or got
                    total += 1
                    ok += got is not None and got == want
        import parselmouth
        parselmouth.read(path).save(path, parselmouth.Data.FileFormat.BINARY)
        binary = _try(reader, path) == want
        cuts = {}
        for form in FORMATS:
            full = encode(textgrid_text(TIERS, 0, 1.5, form))
            refused = whole = partly = 0
            for cut in range(len(full)):
                with open(path, "wb") as f:
                    f.write(full[:cut])
                got = _try(reader, path)
                refused += got is None
                whole += got is not None and got == want
                partly += got is not None and got != want
            cuts[form] = (len(full), refused, whole, partly)
        words = [(round(0.1 + 0.25 * i, 4), round(0.35 + 0.25 * i, 4), f"word{i}")
                 for i in range(9)]
        phones = [(round(0.1 + 0.05 * i, 4), round(0.15 + 0.05 * i, 4), "AH0")
                  for i in range(45)]
        with open(path, "wb") as f:
            f.write(encode(textgrid_text([("words", "interval", tile(words, 2.6)),
                                          ("phones", "interval", tile(phones, 2.6))],
                                         0, 2.6)))
        t0 = time.perf_counter()
        if _try(reader, path) is None:
            print(f"{name}: cannot read the timing file")
            continue
        for _ in range(300):
            reader(path)
        ms = (time.perf_counter() - t0) / 300 * 1000
        print(f"{name}: text formats read correctly {ok}/{total}; binary "
              f"{'read' if binary else 'not read'}; {ms:.2f} ms per utterance file")
        for form, (n, refused, whole, partly) in cuts.items():
            print(f"  {form} file cut at each of its {n} bytes: refused {refused}, read whole "
                  f"{whole}, read partly without an error {partly}")


if __name__ == "__main__":
    main()
