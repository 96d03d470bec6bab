"""Labels as text: words, speakers, phones and layers come from the data and can be any
string. Every writer shows them as text, never as markup: on one line (control characters as
escapes), with the characters that mean something in Markdown, HTML or LaTeX escaped.
(:mod:`analysis.tables` re-exports these.)
"""

from __future__ import annotations

import re


def visible(text: object) -> str:
    """``text`` on one line: every non-printable character (newline, tab, other control or
    format characters, line separators) is shown as its Python escape (``\\n``, ``\\x07``,
    ``\\u2028``); everything else, non-ASCII letters included, is kept."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


# Inline markup of CommonMark/GFM: escapes, code, emphasis, links/images, raw HTML, entities,
# table cells, strikethrough, math (GitHub renders $...$).
_MD_INLINE = frozenset("\\`*_[]<>&|~$")
# Characters that open a block when they start a line (heading, quote, list, setext rule).
_MD_BLOCK_START = frozenset("#>+-=")
_MD_ORDERED_START = re.compile(r"^(\d+)([.)])")


def md_text(text: object) -> str:
    """``text`` as literal Markdown text (:func:`visible`, markup characters backslash-escaped,
    a leading block marker escaped); a CommonMark renderer and
    :func:`analysis.report_html.markdown_to_html` show exactly :func:`visible` of it."""
    out = "".join("\\" + ch if ch in _MD_INLINE else ch for ch in visible(text))
    if out[:1] in _MD_BLOCK_START:
        return "\\" + out
    return _MD_ORDERED_START.sub(r"\1\\\2", out, count=1)


def md_code(text: object) -> str:
    """``text`` as a Markdown code span: fenced by more backticks than any run inside it,
    padded with a space when it starts or ends with a backtick (CommonMark)."""
    body = visible(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body[:1] == "`" or body[-1:] == "`" else ""
    return f"{fence}{pad}{body}{pad}{fence}"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                "<": r"$<$", ">": r"$>$", "|": r"\textbar{}"}


def tex_escape(text: object) -> str:
    """``text`` as literal LaTeX text: :func:`visible` (so no line break or blank line, which
    would end a tabular row or paragraph), then LaTeX's special characters escaped. Non-ASCII
    letters are kept as UTF-8 (a document may need fonts for e.g. IPA letters)."""
    return "".join(_TEX_ESCAPES.get(c, c) for c in visible(text))


def sentence_case(text: str) -> str:
    """``text`` with its first character upper-cased and the rest untouched (labels inside
    keep their case, unlike ``str.capitalize``)."""
    return text[:1].upper() + text[1:]
