"""Reading a PDF's text layer by position: lines, running headers and footers, the cover's title.

PDFium (pypdfium2) lays the characters out in lines in reading order; each line keeps its
box and type size, so that the furniture of a page is told from its content by where it
stands and whether it repeats, never by what it says (bench/pdf_compare.py chose PDFium).
"""

from __future__ import annotations

import ctypes
import re
import statistics
from collections import Counter
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from indexer.textrules import CJK_RE

# A line whose box lies within this share of the page height from its top or bottom edge,
# and among the first or last ZONE_LINES lines there, may be a running header or footer.
ZONE_SHARE = 0.12
ZONE_LINES = 3
# A zone line is running furniture when it (digits ignored) stands on this share of the pages,
# and on at least RUNNING_MIN_PAGES of them: the 23 shared broker PDFs repeat theirs on 80-100%.
RUNNING_SHARE = 0.4
RUNNING_MIN_PAGES = 3
RUNNING_MIN_CHARS = 4
# What a header line may hold besides its running part: a label such as 证券研究报告.
ZONE_LABEL_CHARS = 8
# Characters stacked one or two per line, at least this many lines in a row, in one column:
# text set vertically (a cover banner), which PDFium reads a character at a time.
STACK_MIN_LINES = 3
# Type at least this much larger than the page's body text makes a title candidate.
TITLE_MIN_SCALE = 1.15
# A title's next line stands at most this many type sizes below it (covers set titles at 1.5-2.2x leading).
TITLE_LINE_GAP = 1.2
_PAGE_NUMBER = re.compile(
    r"^[-—–\s]*(?:第\s*)?\d{1,4}\s*页?\s*(?:(?:/|共|of)\s*\d{1,4}\s*页?)?[-—–\s]*$|^page\s*\d{1,4}(?:\s*of\s*\d{1,4})?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PdfLine:
    """One line of a page as PDFium sees it; y grows downwards from the page's top edge."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float  # median type height of its characters, in points

    @property
    def vertical(self) -> bool:
        """Text set top to bottom (a margin banner), not across."""
        chars = len(self.text.strip())
        return chars >= 3 and (self.bottom - self.top) > 2.5 * max(self.x1 - self.x0, 1.0)


@dataclass(frozen=True)
class PdfText:
    """The readable text of a PDF: one string per page, furniture removed, and the cover's title."""

    pages: list[str]
    title: str
    dropped_lines: int  # running headers, footers and page numbers taken out
    cover_lines: tuple[str, ...] = ()  # page 1 top to bottom, furniture included (its date, say)


class PdfBudgetExceeded(Exception):
    """The PDF holds more pages or characters than one report may."""


def page_lines(page, textpage, height: float) -> list[PdfLine]:
    """The lines of one page in PDFium's reading order, with their boxes and type sizes."""
    count = pdfium_c.FPDFText_CountChars(textpage)
    rect = pdfium_c.FS_RECTF()
    lines: list[PdfLine] = []
    chars: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []

    def close() -> None:
        # PDFium gives UTF-16 code units: pairs become one character, a lone half is dropped
        text = "".join(chars).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore").strip()
        if text and boxes:
            sizes = sorted(b[3] - b[1] for b in boxes)
            lines.append(PdfLine(
                text,
                min(b[0] for b in boxes), height - max(b[3] for b in boxes),
                max(b[2] for b in boxes), height - min(b[1] for b in boxes),
                sizes[len(sizes) // 2],
            ))
        chars.clear()
        boxes.clear()

    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        if code in (10, 13):
            close()
            continue
        if code == 0 or code == 0xFFFE:
            continue
        char = chr(code)
        chars.append(char)
        if not char.isspace() and not pdfium_c.FPDFText_IsGenerated(textpage, index):
            if pdfium_c.FPDFText_GetLooseCharBox(textpage, index, ctypes.byref(rect)):
                boxes.append((rect.left, rect.bottom, rect.right, rect.top))
    close()
    return _without_stacks(lines)


def _is_stack_cell(line: PdfLine) -> bool:
    chars = line.text.replace(" ", "")
    return 1 <= len(chars) <= 2 and all(CJK_RE.match(ch) for ch in chars)


def _without_stacks(lines: list[PdfLine]) -> list[PdfLine]:
    """The lines less runs of vertically set characters; their text joined as one vertical line."""
    out: list[PdfLine] = []
    index = 0
    while index < len(lines):
        end = index
        while (end < len(lines) and _is_stack_cell(lines[end])
               and abs(lines[end].x0 - lines[index].x0) <= 2 * max(lines[index].size, 1.0)):
            end += 1
        if end - index >= STACK_MIN_LINES:
            run = lines[index:end]
            out.append(PdfLine("".join(l.text.replace(" ", "") for l in run), min(l.x0 for l in run),
                               min(l.top for l in run), min(l.x0 for l in run) + max(l.size for l in run),
                               max(l.bottom for l in run), max(l.size for l in run)))
            index = end
        else:
            out.append(lines[index])
            index += 1
    return out


def _key(text: str) -> str:
    """A line as repetition sees it: no spaces, every number the same."""
    return _DIGITS.sub("#", _SPACE.sub("", text))


def _zone_lines(lines: list[PdfLine], height: float) -> list[PdfLine]:
    top = sorted((l for l in lines if l.bottom <= height * ZONE_SHARE), key=lambda l: l.top)[:ZONE_LINES]
    bottom = sorted((l for l in lines if l.top >= height * (1 - ZONE_SHARE)), key=lambda l: -l.bottom)[:ZONE_LINES]
    return top + bottom


def find_furniture(pages: list[list[PdfLine]], heights: list[float]) -> list[set[int]]:
    """Per page, the indexes of its running headers and footers, page numbers and vertical banners."""
    zone_keys: Counter[str] = Counter()
    for lines, height in zip(pages, heights):
        zone_keys.update({_key(l.text) for l in _zone_lines(lines, height)})
    need = max(RUNNING_MIN_PAGES, RUNNING_SHARE * len(pages))
    running = {k for k, n in zone_keys.items() if n >= need and len(k) >= RUNNING_MIN_CHARS}
    furniture: list[set[int]] = []
    for lines, height in zip(pages, heights):
        zone = {id(l) for l in _zone_lines(lines, height)}
        dropped = set()
        for index, line in enumerate(lines):
            key = _key(line.text)
            if key in running and _letters(key) >= RUNNING_MIN_CHARS:
                # the same header set elsewhere on a page (a cover, a contents page)
                dropped.add(index)
            elif line.vertical:
                dropped.add(index)  # a banner or a rotated chart label: furniture, not prose
            elif id(line) in zone:
                # Page numbers only where furniture stands; a lone figure elsewhere is content.
                if _PAGE_NUMBER.match(line.text.strip()):
                    dropped.add(index)
                elif key in running or (_letters(key) >= 2 and any(key in r for r in running)):
                    dropped.add(index)
                elif any(_letters(r) >= RUNNING_MIN_CHARS and r in key for r in running) and _rest_is_furniture(key, running):
                    dropped.add(index)
        furniture.append(dropped)
    return furniture


def _letters(key: str) -> int:
    return sum(ch.isalpha() for ch in key)


def _rest_is_furniture(key: str, running: set[str]) -> bool:
    """A zone line made of running pieces, page numbers, a date and a short label (a header set as one
    line on the cover: "证券研究报告/金融工程报告 2021年08月03日" where later pages say "金融工程报告")."""
    rest = key
    for piece in sorted(running, key=len, reverse=True):
        rest = rest.replace(piece, "")
    return len(re.sub(r"[#/第页共年月日\-—|｜.]", "", rest)) <= ZONE_LABEL_CHARS


def _title(lines: list[PdfLine], dropped: set[int], accept) -> str:
    """The cover's title: the largest type on page 1 that reads like a title, lines of it joined.

    `accept(text, continued=False, strict=True)` returns the line as a title (cleaned) or "" when it
    is none; strict also refuses a line that only names the kind of report, unless nothing else is found.
    """
    kept = [l for i, l in enumerate(lines) if i not in dropped and not l.vertical and l.text.strip()]
    if not kept:
        return ""
    weights: Counter[float] = Counter()
    for line in kept:
        weights[round(line.size, 1)] += len(line.text)
    body_size = weights.most_common(1)[0][0]
    by_size = sorted({round(l.size, 1) for l in kept if l.size >= body_size * TITLE_MIN_SCALE}, reverse=True)
    for strict in (True, False):
        for size in by_size:
            group = [l for l in kept if abs(l.size - size) <= 0.06 * size]
            group.sort(key=lambda l: (l.top, l.x0))
            for start, line in enumerate(group):
                first = accept(line.text, strict=strict)
                if not first:
                    continue
                parts = [first]
                last = line
                for following in group[start + 1:]:
                    # the next line of the same title: just below, same type
                    if following.top - last.bottom > TITLE_LINE_GAP * size or following.top < last.top:
                        break
                    more = accept(following.text, continued=True)
                    if not more:
                        break
                    if "——" in more:   # a dash opens the subtitle (a series line): the title ends before it
                        head = more.split("——", 1)[0].strip()
                        if head:
                            parts.append(head)
                        break
                    parts.append(more)
                    last = following
                joined = parts[0]
                for part in parts[1:]:
                    joined += (" " if joined[-1:].isascii() and part[:1].isascii() else "") + part
                return joined if len(joined) <= 80 else parts[0]
    return ""


def read_pdf(data: bytes, max_pages: int, max_chars: int,
             accept_title=lambda text, continued=False, strict=True: text.strip()) -> PdfText:
    """The text of a PDF by position; raises pdfium.PdfiumError when unreadable, PdfBudgetExceeded when too big."""
    document = pdfium.PdfDocument(data)
    try:
        if len(document) > max_pages:
            raise PdfBudgetExceeded(f"{len(document)} pages, over the {max_pages} page limit")
        pages: list[list[PdfLine]] = []
        heights: list[float] = []
        total = 0
        for number in range(len(document)):
            page = document[number]
            try:
                textpage = page.get_textpage()
                try:
                    height = page.get_height()
                    lines = page_lines(page, textpage, height)
                finally:
                    textpage.close()
            finally:
                page.close()
            total += sum(len(l.text) for l in lines)
            if total > max_chars:
                raise PdfBudgetExceeded(f"over {max_chars:,} characters of text")
            pages.append(lines)
            heights.append(height)
    finally:
        document.close()
    furniture = find_furniture(pages, heights)
    texts = ["\n".join(l.text for i, l in enumerate(lines) if i not in dropped)
             for lines, dropped in zip(pages, furniture)]
    title = _title(pages[0], furniture[0], accept_title) if pages else ""
    cover = tuple(l.text for l in sorted(pages[0], key=lambda l: (round(l.top), l.x0))) if pages else ()
    return PdfText(texts, title, sum(len(d) for d in furniture), cover)


def median_size(lines: list[PdfLine]) -> float:
    """The usual type size of a page (for callers that compare sizes)."""
    return statistics.median(l.size for l in lines) if lines else 0.0


# --- the task the sandbox runs ------------------------------------------------------------


@dataclass(frozen=True)
class PdfLimits:
    """What reading one PDF may cost: pages and characters, memory of the reading process, seconds."""

    max_pages: int = 2000
    max_chars: int = 20_000_000
    memory_mb: int = 1024
    seconds: float = 60.0


def read_pdf_task(data: bytes, max_pages: int, max_chars: int) -> PdfText:
    """read_pdf as indexer.sandbox runs it: failures as TaskFailed with a kind the caller words."""
    from indexer.metadata import cover_title
    from indexer.sandbox import TaskFailed

    try:
        return read_pdf(data, max_pages, max_chars, cover_title)
    except PdfBudgetExceeded as e:
        raise TaskFailed("budget", str(e)) from None
    except pdfium.PdfiumError as e:
        message = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TaskFailed("password" if "password" in message.lower() else "corrupt", message) from None
