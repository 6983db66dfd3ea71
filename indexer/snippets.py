"""Snippets: the best fragments of a report around its matches, cut at sentence ends, marked."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from html import escape

from indexer.textrules import BULLET_GLYPHS, CONTACT_LINE, CREDIT_LINE, TIGHT, latin_word_spans

FRAGMENT_CHARS = 140        # aim: a fragment of about 80-160 characters
MAX_FRAGMENTS = 3
MAX_OCCURRENCES = 400       # per needle: enough to choose fragments, bounded for huge reports
SENTENCE_ENDS = "。！？；!?;\n"
CREDIT_LINE_CHARS = 80      # a cover's credit line (analyst, SAC number, e-mail) is short
_LIST_DASH = re.compile(f"(^|\\n)[ \\t]*[{BULLET_GLYPHS}\\-–—·*]+(?:[ \\t]+|(?=[{TIGHT}]))")
SHINGLE = 6                 # characters: two fragments sharing half their 6-grams say the same thing
SAME_SHARE = 0.5


@dataclass(frozen=True)
class Needle:
    """A folded string to find: a substring (CJK words, phrases) or a whole Latin word."""

    text: str
    whole_word: bool = False


def find_spans(folded: str, needles: list[Needle], start: int = 0, end: int | None = None) -> list[tuple[int, int, int]]:
    """(start, end, needle index) of every match in folded[start:end], in text order."""
    end = len(folded) if end is None else end
    spans: list[tuple[int, int, int]] = []
    for index, needle in enumerate(needles):
        if not needle.text:
            continue
        if needle.whole_word:
            spans.extend((s, e, index) for s, e in latin_word_spans(folded, needle.text, start, end, MAX_OCCURRENCES))
        else:
            pos = folded.find(needle.text, start, end)
            count = 0
            while pos != -1 and count < MAX_OCCURRENCES:
                spans.append((pos, pos + len(needle.text), index))
                count += 1
                pos = folded.find(needle.text, pos + 1, end)
    spans.sort()
    return spans


def merge_spans(spans: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """find_spans' matches as non-overlapping (start, end) ranges, overlapping ones joined."""
    merged: list[list[int]] = []
    for start, end, _ in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _mark(inner: str) -> str:
    return f"<mark>{inner}</mark>"


def mark_html(text: str, spans: list[tuple[int, int]], lo: int, hi: int, tag=_mark) -> str:
    """Escaped text[lo:hi] with the merged spans that fall inside it wrapped by `tag` (<mark> by default).

    The one highlighter: snippets, the document view's paragraphs and its Markdown text nodes.
    """
    out, pos = [], lo
    for start, end in spans:
        if end <= lo or start >= hi:
            continue
        start, end = max(start, lo), min(end, hi)
        out.append(escape(text[pos:start], quote=False))
        out.append(tag(escape(text[start:end], quote=False)))
        pos = end
    out.append(escape(text[pos:hi], quote=False))
    return "".join(out)


def _sentence_window(text: str, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    """Grow [start, end) to sentence ends within [lo, hi), to about FRAGMENT_CHARS."""
    budget = max(FRAGMENT_CHARS - (end - start), 20)
    left_limit = max(lo, start - budget // 2 - 20)
    right_limit = min(hi, end + budget)
    left = start
    for i in range(start - 1, left_limit - 1, -1):
        if text[i] in SENTENCE_ENDS:
            left = i + 1
            break
    else:
        left = left_limit
    right = right_limit
    for i in range(end, right_limit):
        if text[i] in SENTENCE_ENDS:
            right = i + 1
            if right - left >= 80:
                break
    return left, right


def _render(text: str, left: int, right: int, marks: list[tuple[int, int]], lo: int, hi: int) -> str:
    inner = _LIST_DASH.sub(r"\1", mark_html(text, marks, left, right))    # a list's dash reads as noise
    return ("…" if left > lo else "") + inner.strip().replace("\n", " ") + ("…" if right < hi else "")


def _holds_credit_line(text: str, left: int, right: int) -> bool:
    """Whether a fragment holds a short line of credits or contacts (analyst, SAC number, e-mail):
    a report's cover, which reads as noise next to its sentences."""
    line_start = text.rfind("\n", 0, left) + 1
    while line_start < right:
        line_end = text.find("\n", line_start)
        line_end = len(text) if line_end == -1 else line_end
        line = text[line_start:line_end]
        if len(line) <= CREDIT_LINE_CHARS and (CREDIT_LINE.search(line) or CONTACT_LINE.search(line)):
            return True
        line_start = line_end + 1
    return False


def _shingles(fragment: str) -> set[str]:
    compact = "".join(fragment.split())
    return {compact[i:i + SHINGLE] for i in range(max(1, len(compact) - SHINGLE + 1))}


def build_snippets(text: str, folded: str, body_len: int, needles: list[Needle],
                   max_fragments: int = MAX_FRAGMENTS) -> list[str]:
    """Up to `max_fragments` HTML fragments, best first; boilerplate only if the body has no match.

    `text` is the display text, `folded` its same-length matching form; every match is
    wrapped in <mark>, everything else is escaped.
    """
    return [html for html, _ in build_passages(text, folded, body_len, needles, max_fragments)]


def page_at(pages: list, offset: int) -> int | None:
    """The page an offset of the text was printed on, from (offset, page) starts; None without pages."""
    if not pages:
        return None
    index = bisect.bisect_right(pages, offset, key=lambda start: start[0]) - 1
    return pages[max(index, 0)][1]


def build_passages(text: str, folded: str, body_len: int, needles: list[Needle],
                   max_fragments: int = MAX_FRAGMENTS) -> list[tuple[str, int]]:
    """The snippets with where each starts in the text: (html, offset), best first."""
    lo, hi = 0, body_len
    spans = find_spans(folded, needles, 0, body_len) if needles else []
    if needles and not spans:
        lo, hi = body_len, len(text)
        spans = find_spans(folded, needles, body_len, len(text))
    if not spans:
        left, right = _sentence_window(text, 0, body_len or len(text), 0, 0)
        return [(_render(text, left, right, [], 0, body_len or len(text)), left)] if text else []
    marks = merge_spans(spans)
    candidates = []
    for start, end in marks:
        left, right = _sentence_window(text, lo, hi, start, end)
        inside = [s for s in spans if s[0] >= left and s[1] <= right]
        distinct = len({s[2] for s in inside})
        # Matches in the body's sentences first; a cover's credit lines only when nothing else matches.
        candidates.append((_holds_credit_line(text, left, right), -distinct, -len(inside), left, right))
    candidates.sort()
    chosen: list[tuple[int, int]] = []
    seen: set[str] = set()
    for *_, left, right in candidates:
        if any(left < b and a < right for a, b in chosen):
            continue
        # What a report says twice (its summary again in the body) is shown once.
        shingles = _shingles(text[left:right])
        if len(shingles & seen) >= SAME_SHARE * len(shingles):
            continue
        seen |= shingles
        chosen.append((left, right))
        if len(chosen) == max_fragments:
            break
    return [(_render(text, left, right, marks, lo, hi), _first_visible(text, left)) for left, right in chosen]


def _first_visible(text: str, left: int) -> int:
    """The offset of a fragment's first character that is not a line break."""
    while left < len(text) and text[left] == "\n":
        left += 1
    return left
