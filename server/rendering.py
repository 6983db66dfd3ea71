"""Document view rendering: text as paragraphs or sanitized Markdown, with the query's matches marked."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass

from indexer.errors import ArchiveError
from indexer.normalize import fold
from indexer.query import parse_query
from indexer.snippets import Needle, find_spans, mark_html, merge_spans

# A tag of sanitized HTML (attribute values are always double-quoted by nh3 and may hold '>').
_TAG = re.compile(r"""(<(?:"[^"]*"|'[^']*'|[^'">])*>)""")
_SENTENCE_END = "。！？；：!?;:…”」』)）"
HEADING_MAX_CHARS = 30
SHORT_LINE_CHARS = 40
# Why a Markdown report is shown as its cleaned text (indexer.markup's notes).
RENDER_NOTES = {
    "too_large": "这份 Markdown 报告过大，按纯文本显示。",
    "timeout": "这份 Markdown 报告的格式过于复杂，未能在时限内排版，按纯文本显示。",
    "recursion": "这份 Markdown 报告嵌套过深，按纯文本显示。",
    "memory": "这份 Markdown 报告排版所需内存过多，按纯文本显示。",
    "crashed": "这份 Markdown 报告无法排版，按纯文本显示。",
    "error": "这份 Markdown 报告无法排版，按纯文本显示。",
}
MAX_MARKS = 2000            # a very common word in a long report: mark the first ones only


@dataclass(frozen=True)
class RenderedDocument:
    """The HTML of a document's body and boilerplate, and how many matches were marked."""

    title: str          # the title, escaped, its matches marked (the first marks of the page)
    body: str
    boilerplate: str
    marks: int
    markdown: bool
    note: str = ""  # why a Markdown report is shown as text (in Chinese), "" otherwise


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


def render_document(document: dict, q: str = "") -> RenderedDocument:
    """The body and boilerplate HTML of a document from ArchiveSearcher.document(): what the index holds.

    A Markdown report shows the HTML rendered (and sanitized) when it was indexed; a report whose
    Markdown could not be rendered within the indexer's budget shows its cleaned text, and says so.
    """
    needles = query_needles(q)
    counter = _MarkCounter()
    title = document["title"]
    title_html = _marked(title, _merged_spans(fold(title), needles), 0, len(title), counter)
    text, body_len = document["text"], document["body_len"]
    markup = document.get("html")
    if markup is not None:
        body = highlight_html(markup["body"], needles, counter)
        boilerplate = highlight_html(markup["boilerplate"], needles, counter) if markup["boilerplate"] else ""
        return RenderedDocument(title_html, body, boilerplate, counter.count, True)
    pages = document.get("pages") or []
    body = render_paragraphs(text, 0, body_len, needles, counter, pages)
    boilerplate = render_paragraphs(text, body_len, len(text), needles, counter, pages)
    return RenderedDocument(title_html, body, boilerplate, counter.count, False,
                            RENDER_NOTES.get(document.get("render_note", ""), ""))
