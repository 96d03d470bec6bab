"""TextGrid reading (every format Praat writes, truncated and malformed files), the tier choice
and label rules (corpus.textgrid), and the one phone table (common.phones): hand-made cases from
the issue and property-based tests (hypothesis)."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from common import phones as ph
from corpus.textgrid import (NON_SPEECH_LABELS, TextGridError, choose_tiers, read_textgrid,
                             word_of)
from textgrid_helpers import ENCODINGS, FORMATS, encode, textgrid_text, tile, write_textgrid

PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# A TextGrid with a label holding quotes and non-ASCII text, and a point tier.
TIERS = [("words", "interval", [(0, 0.3, ""), (0.3, 0.9, 'say "hi" ʃé'), (0.9, 1.5, "")]),
         ("phones", "interval", [(0, 0.3, ""), (0.3, 0.5, "ʃ"), (0.5, 0.9, "iː"), (0.9, 1.5, "")]),
         ("bell", "point", [(0.7, "ding")])]
EXPECTED = {"words": (True, ((0.3, 0.9, 'say "hi" ʃé'),)),
            "phones": (True, ((0.3, 0.5, "ʃ"), (0.5, 0.9, "iː"))),
            "bell": (False, ((0.7, 0.7, "ding"),))}


def _read(path):
    grid = read_textgrid(str(path))
    return {t.name: (t.is_interval, t.intervals) for t in grid.tiers}


# ------------------------------------------------------------------------------------------
# Formats
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("crlf", [False, True])
def test_every_text_format_reads_the_same(tmp_path, form, encoding, crlf):
    path = write_textgrid(str(tmp_path / "a.TextGrid"), TIERS, 1.5, form=form,
                          encoding=encoding, crlf=crlf)
    head = open(path, "rb").read(3)
    assert head.startswith({"utf-8-sig": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe",
                            "utf-16-be": b"\xfe\xff"}.get(encoding, b"F"))
    assert (b"\r\n" in open(path, "rb").read().replace(b"\x00", b"")) == crlf
    assert _read(path) == EXPECTED


def test_files_praat_itself_writes(tmp_path):
    """Praat's own long, short and binary files (written through parselmouth; Praat writes
    UTF-16 BE for non-ASCII text) read as the hand-written ones do."""
    import parselmouth
    grid = parselmouth.read(write_textgrid(str(tmp_path / "src.TextGrid"), TIERS, 1.5))
    for fmt in ("TEXT", "SHORT_TEXT", "BINARY"):
        path = str(tmp_path / f"{fmt}.TextGrid")
        grid.save(path, getattr(parselmouth.Data.FileFormat, fmt))
        assert _read(path) == EXPECTED, fmt
    assert open(str(tmp_path / "TEXT.TextGrid"), "rb").read(2) == b"\xfe\xff"
    # and the helper writes what Praat writes (long and short, as text)
    for fmt, form in (("TEXT", "long"), ("SHORT_TEXT", "short")):
        praat = open(str(tmp_path / f"{fmt}.TextGrid"), "rb").read().decode("utf-16")
        assert praat.lstrip("\ufeff") == textgrid_text(TIERS, 0, 1.5, form)


@pytest.mark.parametrize("form", FORMATS)
def test_truncated_and_malformed_files_are_refused(tmp_path, form):
    full = encode(textgrid_text(TIERS, 0, 1.5, form))
    path = tmp_path / "cut.TextGrid"
    # every cut that loses an interval, a tier or the header is refused, none read partly
    for cut in range(0, len(full) - 4, 3):
        path.write_bytes(full[:cut])
        try:
            got = _read(path)
        except TextGridError as e:
            assert e.reason == "textgrid_malformed" and str(path) in e.message
            continue
        assert got == EXPECTED, cut
    for junk in (b"", b"\x00\x01garbage", b'File type = "ooTextFile"\nObject class = "Pitch"\n',
                 "text = \"ʃ\"".encode("latin-1", "replace")):
        path.write_bytes(junk)
        with pytest.raises(TextGridError, match="textgrid_malformed"):
            read_textgrid(str(path))


def test_another_praat_object_is_refused(tmp_path):
    import numpy as np
    import soundfile as sf
    path = str(tmp_path / "sound.TextGrid")
    sf.write(path, np.zeros(800, np.float32), 16000, format="WAV")
    with pytest.raises(TextGridError, match="not a TextGrid"):
        read_textgrid(path)


# Labels: any printable text (quotes, non-ASCII, '!' and the like), no control characters.
LABELS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)


@st.composite
def interval_tiers(draw):
    """1-3 interval tiers over [0, xmax] with random boundaries (ms grid) and labels."""
    xmax = draw(st.integers(50, 3000)) / 1000
    tiers = []
    for k in range(draw(st.integers(1, 3))):
        cuts = sorted(set(draw(st.lists(st.integers(1, int(xmax * 1000) - 1), max_size=8))))
        edges = [0.0] + [c / 1000 for c in cuts] + [xmax]
        items = [(a, b, draw(LABELS)) for a, b in zip(edges, edges[1:])]
        tiers.append((f"tier{k} {draw(LABELS)}", "interval", items))
    return xmax, tiers


@PROPERTY
@given(grid=interval_tiers(), form=st.sampled_from(FORMATS),
       encoding=st.sampled_from(ENCODINGS), crlf=st.booleans())
def test_property_any_labels_and_boundaries_read_back(tmp_path, grid, form, encoding, crlf):
    xmax, tiers = grid
    assume(len({name for name, _, _ in tiers}) == len(tiers))
    path = write_textgrid(str(tmp_path / "p.TextGrid"), tiers, xmax, form=form,
                          encoding=encoding, crlf=crlf)
    got = _read(path)
    # labels come back without white space around them (tgt strips them; prepare would)
    want = {name: (True, tuple((a, b, lab.strip()) for a, b, lab in items if lab))
            for name, _, items in tiers}
    assert got == want


@PROPERTY
@given(grid=interval_tiers(), form=st.sampled_from(FORMATS), data=st.data())
def test_property_a_truncated_file_is_never_read_partly(tmp_path, grid, form, data):
    xmax, tiers = grid
    assume(len({name for name, _, _ in tiers}) == len(tiers))
    full = encode(textgrid_text(tiers, 0, xmax, form), data.draw(st.sampled_from(ENCODINGS)))
    cut = data.draw(st.integers(0, len(full) - 1))
    path = tmp_path / "t.TextGrid"
    path.write_bytes(full)
    whole = _read(path)
    path.write_bytes(full[:cut])
    try:
        got = _read(path)
    except TextGridError:
        return
    assert got == whole        # a cut in the trailing white space only


# ------------------------------------------------------------------------------------------
# Tiers and labels
# ------------------------------------------------------------------------------------------

def _grid(tmp_path, names, kinds=None):
    kinds = kinds or ["interval"] * len(names)
    tiers = [(n, k, tile([(0.1, 0.2, "x")], 1.0) if k == "interval" else [(0.5, "p")])
             for n, k in zip(names, kinds)]
    return read_textgrid(write_textgrid(str(tmp_path / "g.TextGrid"), tiers, 1.0))


def _choice(grid, word="", phone=""):
    return [(p.words.name, p.phones.name if p.phones else None, p.speaker)
            for p in choose_tiers(grid, word, phone)]


def test_automatic_tier_choice(tmp_path):
    # MFA, with other tiers and a point tier around
    assert _choice(_grid(tmp_path, ["notes", "words", "phones"])) == [("words", "phones", None)]
    # MFA multi-speaker: one speaker -> the folder names it; several -> each its own
    assert _choice(_grid(tmp_path, ["anna - words", "anna - phones"])) == \
        [("anna - words", "anna - phones", None)]
    assert _choice(_grid(tmp_path, ["a - words", "a - phones", "b - words", "b - phones"])) == \
        [("a - words", "a - phones", "a"), ("b - words", "b - phones", "b")]
    # WebMAUS
    assert _choice(_grid(tmp_path, ["ORT-MAU", "KAN-MAU", "MAU"])) == [("ORT-MAU", "MAU", None)]
    # otherwise the one tier named ...word... / ...phone..., case-insensitive
    assert _choice(_grid(tmp_path, ["My Words", "Phone labels"])) == \
        [("My Words", "Phone labels", None)]
    assert _choice(_grid(tmp_path, ["Wordtier"])) == [("Wordtier", None, None)]
    # a point tier named 'words' is ignored
    assert _choice(_grid(tmp_path, ["words", "word intervals"], ["point", "interval"])) == \
        [("word intervals", None, None)]
    with pytest.raises(TextGridError, match="ambiguous_word_tier.*'word a', 'word b'"):
        choose_tiers(_grid(tmp_path, ["word a", "word b"]))
    with pytest.raises(TextGridError, match="missing_word_tier.*'ortho' \\(interval\\)"):
        choose_tiers(_grid(tmp_path, ["ortho", "segs"]))


def test_named_tiers(tmp_path):
    grid = _grid(tmp_path, ["ortho", "segs", "words"])
    assert _choice(grid, "ortho", "segs") == [("ortho", "segs", None)]
    assert _choice(grid, "ORTHO") == [("ortho", None, None)]
    assert _choice(grid, "words", "nope") == [("words", None, None)]
    with pytest.raises(TextGridError, match="missing_word_tier.*no interval tier 'x'"):
        choose_tiers(grid, "x")


def test_word_label_rules():
    for label in ["", "  ", "sil", "SIL", "sp", "spn", "<eps>", "<unk>", "<UNK>", "<p:>", " sp "]:
        assert word_of(label) is None, label
    assert word_of(" Dark ") == "dark"
    assert word_of("ÉCOLE") == "école" and word_of("Straße") == "straße"
    assert "" in NON_SPEECH_LABELS


# ------------------------------------------------------------------------------------------
# The phone table
# ------------------------------------------------------------------------------------------

def test_issue_examples_map():
    assert ph.to_timit("AH0", "arpabet") == "ah" and ph.to_timit("SH", "arpabet") == "sh"
    assert ph.to_timit("IY1", "arpabet") == "iy" and ph.to_timit("ER2", "arpabet") == "er"
    assert ph.to_timit("ʃ", "ipa") == "sh" and ph.to_timit("ɑ", "ipa") == "aa"
    assert ph.to_timit("iː", "ipa") == "iy" and ph.to_timit("tʰ", "ipa") == "t"
    assert ph.to_timit("dʒ", "ipa") == "jh" and ph.to_timit("d͡ʒ", "ipa") == "jh"
    assert ph.to_timit("S", "sampa") == "sh" and ph.to_timit("{", "sampa") == "ae"
    assert ph.to_timit("@U", "sampa") == "ow" and ph.to_timit("r\\", "sampa") == "r"
    assert ph.to_timit("SH", "timit") == "sh" and ph.to_timit("h#", "timit") == "h#"
    assert ph.to_timit("ɱ", "ipa") is None and ph.to_timit("XX1", "arpabet") is None
    assert ph.detect_phone_set(["ʃ", "iː", "t"]) == "ipa"
    assert ph.detect_phone_set(["AH0", "SH", "D"]) == "arpabet"
    assert ph.detect_phone_set(["@", "{", "p", "S"]) == "sampa"
    assert ph.detect_phone_set(["sh", "iy", "h#", "pau"]) == "timit"
    with pytest.raises(ValueError, match="phone set"):
        ph.to_timit("s", "klingon")


def test_display_is_the_table_inverse():
    """IPA shown in the report -> TIMIT -> IPA is the identity, for every TIMIT phone."""
    assert len(ph.TIMIT_TO_IPA) == 58 and ph.TIMIT_PHONES >= set(ph.TIMIT_TO_IPA)
    for timit, shown in ph.TIMIT_TO_IPA.items():
        assert ph.to_timit(shown, "ipa") == timit
        assert ph.ipa(timit) == shown and ph.phone_label(timit) == f"[{shown}]"
    assert ph.phone_label("ɱ") == "[ɱ]"


SETS = st.sampled_from(ph.PHONE_SETS)
ARPABET = sorted(p for p in ph.TIMIT_PHONES if p.isalpha())
IPA_SPELLINGS = sorted({s for _, shown, others, _ in ph.PHONE_TABLE
                        for s in ((shown,) if shown else ()) + others})
SAMPA_SPELLINGS = sorted({s for row in ph.PHONE_TABLE for s in row[3]})


@PROPERTY
@given(label=st.text(max_size=8), phone_set=SETS)
def test_property_mapping_is_total(label, phone_set):
    """Any text in any set: a TIMIT label or None, never an exception."""
    got = ph.to_timit(label, phone_set)
    assert got is None or got in ph.TIMIT_PHONES


@PROPERTY
@given(phone=st.sampled_from(ARPABET), stress=st.sampled_from(["", "0", "1", "2"]))
def test_property_arpabet_drops_stress(phone, stress):
    assert ph.to_timit(phone.upper() + stress, "arpabet") == phone


@PROPERTY
@given(labels=st.lists(st.sampled_from(IPA_SPELLINGS), min_size=1, max_size=12))
def test_property_ipa_files_are_detected(labels):
    """A file of MFA IPA labels: every label maps under the detected set, to what IPA says
    whenever one label is not ASCII (then only IPA knows it)."""
    used = ph.detect_phone_set(labels)
    assert all(ph.to_timit(x, used) is not None for x in labels)
    if any(not x.isascii() for x in labels):
        assert used == "ipa"


@PROPERTY
@given(labels=st.lists(st.sampled_from(SAMPA_SPELLINGS), min_size=1, max_size=12),
       marker=st.sampled_from(["@", "{", "@U", "3:", "i:", "r\\"]))
def test_property_sampa_files_are_detected(labels, marker):
    labels = labels + [marker]          # a symbol only SAMPA has
    assert ph.detect_phone_set(labels) == "sampa"
    assert [ph.to_timit(x, "sampa") for x in labels] == \
        [ph.to_timit(x, ph.detect_phone_set(labels)) for x in labels]


@PROPERTY
@given(labels=st.lists(st.sampled_from(sorted(ph.TIMIT_PHONES)), min_size=1, max_size=12),
       upper=st.booleans())
def test_property_timit_files_map_to_themselves(labels, upper):
    shown = [x.upper() if upper else x for x in labels]
    used = ph.detect_phone_set(shown)
    assert [ph.to_timit(x, used) for x in shown] == labels

