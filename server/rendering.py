"""Document view rendering: text as paragraphs or sanitized Markdown, with the query's matches marked."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import markdown
import nh3

from indexer.config import Settings
from indexer.documents import read_document
from indexer.errors import ArchiveError
from indexer.normalize import fold, is_boilerplate_heading, split_paragraphs
from indexer.search import parse_query
from indexer.snippets import Needle, find_spans, mark_html, merge_spans

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align", "colspan", "rowspan"},
                      "td": {"align", "colspan", "rowspan"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Links that report portals weave into the text (the indexer drops them from the cleaned text too).
_PORTAL_LINK = re.compile(
    r"\[[^\]\n]*\]\(\s*<?(?:https?:)?//(?:[\w-]+\.)*"
    r"(?:hibor\.com\.cn|hibor\.com|vzkoo\.com|fxbaogao\.com|djyanbao\.com|robo\.datayes\.com)[^)\n]*\)",
    re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# A tag of sanitized HTML (attribute values are always double-quoted by nh3 and may hold '>').
_TAG = re.compile(r"""(<(?:"[^"]*"|'[^']*'|[^'">])*>)""")
_SENTENCE_END = "。！？；：!?;:…”」』)）"
HEADING_MAX_CHARS = 30
SHORT_LINE_CHARS = 40
MAX_MARKS = 2000            # a very common word in a long report: mark the first ones only


@dataclass(frozen=True)
class RenderedDocument:
    """The HTML of a document's body and boilerplate, and how many matches were marked."""

    body: str
    boilerplate: str
    marks: int
    markdown: bool


class _MarkCounter:
    """Numbers the <mark> elements of one page in document order (ids m1, m2, ...)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.count = 0

    def tag(self, inner: str) -> str:
        if self.count >= MAX_MARKS:
            return inner
        self.count = next(self._numbers)
        return f'<mark class="match" id="m{self.count}">{inner}</mark>'


def query_needles(q: str) -> list[Needle]:
    """The strings to highlight for a query: its positive words and phrases (none if it is unusable)."""
    if not q or not q.strip():
        return []
    try:
        return [term.needle for term in parse_query(q).positive_terms()]
    except ArchiveError:
        return []


def _merged_spans(folded: str, needles: list[Needle], start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    return merge_spans(find_spans(folded, needles, start, end)) if needles else []


def _marked(text: str, spans: list[tuple[int, int]], lo: int, hi: int, counter: _MarkCounter) -> str:
    """Escaped text[lo:hi] with the spans that fall inside it wrapped in numbered <mark>s."""
    return mark_html(text, spans, lo, hi, counter.tag)


def _is_heading(line: str) -> bool:
    return len(line) <= HEADING_MAX_CHARS and line[-1] not in _SENTENCE_END and not line[-1].isdigit()


def render_paragraphs(text: str, start: int, end: int, needles: list[Needle], counter: _MarkCounter,
                      pages: list | None = None) -> str:
    """text[start:end] (a cleaned report text, one paragraph per line) as HTML paragraphs.

    A short line without closing punctuation before a long paragraph reads as its heading;
    runs of short lines (a report's cover: sector, date, analysts) are set tight. `pages`
    ((offset, page) starts of a PDF's pages) puts a page mark before the paragraph a page starts in.
    """
    page_starts = [(at, page) for at, page in pages or [] if page > 1]
    spans = _merged_spans(fold(text), needles, start, end)
    lines: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        stop = text.find("\n", pos, end)
        stop = end if stop == -1 else stop
        line = text[pos:stop]
        if line.strip():
            lines.append((pos + len(line) - len(line.lstrip()), pos + len(line.rstrip())))
        pos = stop + 1
    out = []
    next_page = 0
    for index, (lo, hi) in enumerate(lines):
        while next_page < len(page_starts) and page_starts[next_page][0] < hi:
            page = page_starts[next_page][1]
            if page_starts[next_page][0] >= start:
                out.append(f'<div class="page-break" id="page-{page}" role="separator">第 {page} 页</div>')
            next_page += 1
        following = lines[index + 1] if index + 1 < len(lines) else None
        css = ""
        if hi - lo <= SHORT_LINE_CHARS:
            long_next = following is not None and following[1] - following[0] > SHORT_LINE_CHARS
            css = ' class="para-head"' if long_next and _is_heading(text[lo:hi]) else ' class="para-short"'
        out.append(f"<p{css}>{_marked(text, spans, lo, hi, counter)}</p>")
    return "\n".join(out)


def sanitize_html(unsafe: str) -> str:
    """Only harmless markup survives: no scripts, styles, event handlers, images or javascript: links."""
    return nh3.clean(unsafe, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def markdown_to_html(source: str) -> str:
    """Markdown through Python-Markdown, then sanitized with nh3."""
    rendered = markdown.markdown(source, extensions=["tables", "fenced_code", "sane_lists"],
                                 extension_configs={"tables": {"use_align_attribute": True}},
                                 output_format="html")
    return sanitize_html(rendered)


def highlight_html(safe_html: str, needles: list[Needle], counter: _MarkCounter) -> str:
    """Wrap the needles' matches inside the text nodes of sanitized HTML in <mark>."""
    if not needles:
        return safe_html
    out = []
    for part in _TAG.split(safe_html):
        if not part or part.startswith("<"):
            out.append(part)
            continue
        text = html.unescape(part)
        spans = _merged_spans(fold(text), needles)
        out.append(_marked(text, spans, 0, len(text), counter) if spans else part)
    return "".join(out)


def split_markdown(source: str, boilerplate: str) -> tuple[str, str]:
    """Split a report's Markdown into body and boilerplate blocks, as the indexer split its text.

    A block whose first paragraph the indexer put in the boilerplate (and that opens a
    disclaimer section, or stands alone) goes to the boilerplate; after a boilerplate
    heading, everything does. Portal watermark links are dropped.
    """
    source = _PORTAL_LINK.sub("", source)
    boiler_lines = {line for line in boilerplate.split("\n") if line.strip()}
    body: list[str] = []
    boiler: list[str] = []
    in_boilerplate = False
    for block in _BLANK_LINES.split(source):
        if not block.strip():
            continue
        paragraphs = split_paragraphs(block)
        first = paragraphs[0] if paragraphs else ""
        if not in_boilerplate and first in boiler_lines and is_boilerplate_heading(first):
            in_boilerplate = True
        (boiler if in_boilerplate or (first and first in boiler_lines) else body).append(block)
    return "\n\n".join(body), "\n\n".join(boiler)


def read_markdown_source(settings: Settings, relpath: str) -> str | None:
    """The Markdown of an archived report (front matter removed), or None when it cannot be read.

    The path comes from the index, never from a request, and must stay inside the archive root.
    """
    root = Path(settings.archive.root).resolve()
    try:
        path = (root / relpath).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return read_document(path, root, int(settings.archive.max_file_mb * 1024 * 1024)).text
    except (ArchiveError, OSError, ValueError):
        return None


def render_document(document: dict, settings: Settings, q: str = "") -> RenderedDocument:
    """The body and boilerplate HTML of a document from ArchiveSearcher.document()."""
    needles = query_needles(q)
    counter = _MarkCounter()
    text, body_len = document["text"], document["body_len"]
    source = read_markdown_source(settings, document["path"]) if document.get("kind") == "md" else None
    if source is not None:
        body_md, boiler_md = split_markdown(source, text[body_len:])
        body = highlight_html(markdown_to_html(body_md), needles, counter)
        boilerplate = highlight_html(markdown_to_html(boiler_md), needles, counter) if boiler_md else ""
        return RenderedDocument(body, boilerplate, counter.count, True)
    pages = document.get("pages") or []
    body = render_paragraphs(text, 0, body_len, needles, counter, pages)
    boilerplate = render_paragraphs(text, body_len, len(text), needles, counter, pages)
    return RenderedDocument(body, boilerplate, counter.count, False)
