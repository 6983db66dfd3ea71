"""Markdown reports as safe HTML: split like the indexed text, rendered once at index time, in the sandbox.

Python-Markdown is kept for its faithful rendering, but it backtracks on some inputs (20 KB of
"[" took 48 s) and recurses on deep nesting: it runs in indexer.sandbox under a deadline, and a
report it cannot render in time is shown as its cleaned text, with a note saying so.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import markdown
import nh3

from indexer.normalize import is_boilerplate_heading, split_paragraphs

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align", "colspan", "rowspan"},
                      "td": {"align", "colspan", "rowspan"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Links that report portals weave into the text (cleaning drops them from the indexed text too).
_PORTAL_LINK = re.compile(
    r"\[[^\]\n]*\]\(\s*<?(?:https?:)?//(?:[\w-]+\.)*"
    r"(?:hibor\.com\.cn|hibor\.com|vzkoo\.com|fxbaogao\.com|djyanbao\.com|robo\.datayes\.com)[^)\n]*\)",
    re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# Larger Markdown is shown as its cleaned text: rendering it would cost more than it gives.
MAX_MARKDOWN_CHARS = 1_000_000
MARKDOWN_SECONDS = 5.0
MARKDOWN_MEMORY_MB = 1024
# Any Markdown syntax at all; a report without any reads the same as its cleaned paragraphs and
# is not rendered (93% of the news corpus written as Markdown: the build stays as fast as before).
_SYNTAX = re.compile(r"[*_`\[\]<>|\\~]|^\s{0,3}(?:[-+*]|\d{1,9}[.)])\s|^\s{0,3}(?:#{1,6}\s|>|```|---|===)|^ {4}|\t|&[a-z]+;",
                     re.MULTILINE)


@dataclass(frozen=True)
class Markup:
    """A Markdown report's sanitized HTML: body and boilerplate, or why it is shown as text instead."""

    body: str = ""
    boilerplate: str = ""
    note: str = ""  # "" when rendered; "plain" (no Markdown syntax); else why not ("too_large", "timeout", ...)

    @property
    def rendered(self) -> bool:
        return not self.note


def sanitize_html(unsafe: str) -> str:
    """Only harmless markup survives: no scripts, styles, event handlers, images or javascript: links."""
    return nh3.clean(unsafe, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


_converters = threading.local()


def _converter() -> markdown.Markdown:
    # Building a Markdown instance (its extensions, processors and patterns) was a third of the
    # time of rendering a report (build_bench.py); Python-Markdown documents reset() as the way to
    # reuse one for another document, with the same output. One per thread: an instance keeps
    # state while it converts.
    converter = getattr(_converters, "converter", None)
    if converter is None:
        converter = _converters.converter = markdown.Markdown(
            extensions=["tables", "fenced_code", "sane_lists"],
            extension_configs={"tables": {"use_align_attribute": True}}, output_format="html")
    return converter


def markdown_to_html(source: str) -> str:
    """Markdown through Python-Markdown, then sanitized with nh3 (in-process: callers bound it)."""
    converter = _converter()
    try:
        rendered = converter.reset().convert(source)
    except BaseException:
        _converters.converter = None    # a conversion that failed half-way may leave state reset() misses
        raise
    return sanitize_html(rendered)


def render_sources(sources: list[str]) -> list[str]:
    """markdown_to_html of each source: the task indexer.sandbox runs."""
    return [markdown_to_html(source) if source else "" for source in sources]


def split_markdown(source: str, boilerplate: str) -> tuple[str, str]:
    """Split a report's Markdown into body and boilerplate blocks, as cleaning split its text.

    A block whose first paragraph cleaning put in the boilerplate (and that opens a disclaimer
    section, or stands alone) goes to the boilerplate; after a boilerplate heading, everything
    does. Portal watermark links are dropped.
    """
    source = _PORTAL_LINK.sub("", source)
    boiler_lines = {line for line in boilerplate.split("\n") if line.strip()}
    if not boiler_lines:
        # Every block is body: splitting each into paragraphs (cleaning's work again) would decide
        # nothing (0.14 ms of a synthetic report's 0.3 ms in the build worker's side of rendering).
        return "\n\n".join(block for block in _BLANK_LINES.split(source) if block.strip()), ""
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


def render_markdown(source: str, boilerplate: str) -> Markup:
    """The HTML of a Markdown report whose cleaned boilerplate is `boilerplate`, rendered in the sandbox."""
    from indexer.sandbox import TaskFailed, sandbox

    if len(source) > MAX_MARKDOWN_CHARS:
        return Markup(note="too_large")
    if not _SYNTAX.search(source):
        return Markup(note="plain")
    body, boiler = split_markdown(source, boilerplate)
    try:
        body_html, boiler_html = sandbox().run("markdown", ([body, boiler],), MARKDOWN_MEMORY_MB, MARKDOWN_SECONDS)
    except TaskFailed as e:
        return Markup(note=e.kind)
    return Markup(body_html, boiler_html)
