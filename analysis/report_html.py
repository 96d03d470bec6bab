"""report.md as a self-contained report.html, through markdown-it-py.

Why markdown-it-py: it follows CommonMark (the escapes of :func:`analysis.labels.md_text` and
:func:`analysis.labels.md_code` are CommonMark's, so a label converts back to exactly its
text), its ``js-default`` preset has GFM pipe tables and **raw HTML switched off** (a ``<b>``
in the Markdown is shown as text, never passed through), it validates link targets
(``javascript:`` and the like are not made links), it is maintained (executablebooks) and
already installed as a dependency of rich. Python-Markdown, the other candidate, passes raw
HTML through and has no safe mode since 3.0, and its escaping is not CommonMark's.

What this module adds to the library's output, all on the parsed token stream (no text is
re-parsed):

* ``id`` attributes ``s1``, ``s2``, ... on the ``##``/``###`` headings (never derived from a
  label) and a table of contents linking to them;
* images and audio embedded as ``data:`` URIs, so the page is one file: an image whose source
  is a relative path inside the report's folder, or a link to a ``.wav`` file (relative to the
  report's folder: generate.py's clips) becomes an ``<audio controls>`` element. A source that
  is absent or outside what the report wrote is left as it is (the page then names it).
"""

from __future__ import annotations

import base64
import html
import os
import urllib.parse
from typing import List, Optional, Tuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["markdown_to_html"]

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
         ".wav": "audio/wav"}
STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
         "line-height:1.4}table{border-collapse:collapse;margin:0.5em 0}"
         "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
         "nav{border:1px solid #ddd;padding:0.2em 1em;margin:1em 0}"
         "nav ul{margin:0.2em 0}audio{vertical-align:middle;height:2em}")


def _parser() -> MarkdownIt:
    # js-default: CommonMark + GFM tables and strikethrough; html, linkify, typographer off
    return MarkdownIt("js-default")


def _headings(tokens: List[Token], parser: MarkdownIt) -> List[Tuple[int, str, str]]:
    """Give every h2/h3 an id (s1, s2, ...); returns [(level, id, rendered inline HTML)]."""
    out = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag in ("h2", "h3"):
            ident = f"s{len(out) + 1}"
            tok.attrSet("id", ident)
            inline = tokens[i + 1]
            text = parser.renderer.renderInline(inline.children or [], parser.options, {})
            out.append((int(tok.tag[1]), ident, text))
    return out


def _toc(headings: List[Tuple[int, str, str]]) -> str:
    """A nested list of links: each h2 with its h3s (an h3 before any h2 at the top)."""
    groups: List[Tuple[Tuple[str, str], List[Tuple[str, str]]]] = []
    for level, ident, text in headings:
        if level == 3 and groups:
            groups[-1][1].append((ident, text))
        else:
            groups.append(((ident, text), []))
    lines = ["<nav><strong>Contents</strong><ul>"]
    for (ident, text), subs in groups:
        sub = "".join(f"<li><a href=\"#{i}\">{t}</a></li>" for i, t in subs)
        lines.append(f"<li><a href=\"#{ident}\">{text}</a>"
                     + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
    lines.append("</ul></nav>")
    return "\n".join(lines)


def _local_file(folder: Optional[str], target: str, allow_outside: bool) -> Optional[str]:
    """The file a relative link target names (percent-decoded) under ``folder``; None for a
    URL, an absolute path, an absent file, or (unless ``allow_outside``) a path leaving the
    folder."""
    if folder is None or not target or urllib.parse.urlsplit(target).scheme:
        return None
    rel = urllib.parse.unquote(target)
    if os.path.isabs(rel):
        return None
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, rel))
    if not allow_outside and os.path.commonpath([root, path]) != root:
        return None
    return path if os.path.isfile(path) else None


def _data_uri(path: str) -> Optional[str]:
    mime = _MIME.get(os.path.splitext(path)[1].lower())
    if mime is None:
        return None
    with open(path, "rb") as f:
        return f"data:{mime};base64,{base64.b64encode(f.read()).decode('ascii')}"


def _embed(tokens: List[Token], folder: Optional[str]) -> None:
    """Images -> data URIs; links to .wav files -> <audio> elements (in place)."""
    for tok in tokens:
        if tok.type != "inline" or not tok.children:
            continue
        children, out, i = tok.children, [], 0
        while i < len(children):
            child = children[i]
            if child.type == "image":
                path = _local_file(folder, str(child.attrGet("src") or ""), False)
                uri = _data_uri(path) if path else None
                if uri:
                    child.attrSet("src", uri)
            elif child.type == "link_open":
                href = str(child.attrGet("href") or "")
                close = next((j for j in range(i + 1, len(children))
                              if children[j].type == "link_close"), None)
                path = (_local_file(folder, href, True) if href.lower().endswith(".wav")
                        else None)
                uri = _data_uri(path) if path and close is not None else None
                if uri:
                    audio = Token("html_inline", "", 0)
                    audio.content = f"<audio controls preload=\"none\" src=\"{uri}\"></audio> "
                    out.append(audio)
                    out.extend(children[i + 1:close])  # the link's text, without the link
                    i = close + 1
                    continue
            out.append(child)
            i += 1
        tok.children = out


def markdown_to_html(md: str, title: str = "GAMM analysis", folder: Optional[str] = None,
                     toc: bool = True) -> str:
    """``md`` as a standalone HTML page (any input). ``folder``: where the Markdown's relative
    image and audio paths point (the report's folder), embedded as data URIs; None leaves them
    as links. ``toc``: a table of contents when the page has more than one h2/h3."""
    parser = _parser()
    tokens = parser.parse(md)
    heads = _headings(tokens, parser)
    _embed(tokens, folder)
    body = parser.renderer.render(tokens, parser.options, {})
    nav = _toc(heads) + "\n" if toc and len(heads) > 1 else ""
    # the first h1 stays above the contents
    if nav and body.startswith("<h1>"):
        end = body.index("</h1>") + len("</h1>\n")
        body = body[:end] + nav + body[end:]
    else:
        body = nav + body
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"{body}</body></html>")
