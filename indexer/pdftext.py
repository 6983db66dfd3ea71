"""Reading a PDF's text layer by position: lines, running headers and footers, the cover's title.

PDFium (pypdfium2) lays the characters out in lines in reading order; each line keeps its
box and type size, so that the furniture of a page is told from its content by where it
stands and whether it repeats, never by what it says (bench/pdf_compare.py chose PDFium).
"""

from __future__ import annotations

import atexit
import ctypes
import re
import statistics
import threading
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
                    if following.top - last.bottom > 0.8 * size or following.top < last.top:
                        break
                    more = accept(following.text, continued=True)
                    if not more:
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


# --- reading in a child process ---------------------------------------------------------


@dataclass(frozen=True)
class PdfLimits:
    """What reading one PDF may cost: pages and characters, memory of the reading process, seconds."""

    max_pages: int = 2000
    max_chars: int = 20_000_000
    memory_mb: int = 1024
    seconds: float = 60.0


START_SECONDS = 60.0  # a fresh reader process imports PDFium and the metadata rules


class PdfReadFailed(Exception):
    """The PDF could not be read: corrupt, encrypted, over a budget, or it crashed the reader."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind      # "corrupt", "password", "budget", "memory", "timeout", "crashed"
        self.detail = detail


def _serve(conn, memory_mb: int) -> None:
    """The child's loop: read PDFs sent over the pipe until it closes; memory capped by the kernel."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _cover_title("预热")  # import what reading needs before saying ready, so deadlines time the reading
    conn.send(("ready", None))
    while True:
        try:
            data, max_pages, max_chars = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", read_pdf(data, max_pages, max_chars, _cover_title))
        except PdfBudgetExceeded as e:
            answer = ("budget", str(e))
        except MemoryError:
            answer = ("memory", f"over {memory_mb} MB")
        except pdfium.PdfiumError as e:
            answer = ("password" if "password" in str(e).lower() else "corrupt", str(e).strip().splitlines()[0])
        except Exception as e:  # a PDF that trips the reader must not end the child's service
            answer = ("corrupt", f"{type(e).__name__}: {e}")
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("memory", f"over {memory_mb} MB"))


def _cover_title(text: str, continued: bool = False, strict: bool = True) -> str:
    from indexer.metadata import cover_title

    return cover_title(text, continued=continued, strict=strict)


class IsolatedReader:
    """Reads PDFs in one long-lived child process with a memory cap and a deadline.

    PDFium is C: a hostile file can expand a small stream to gigabytes, loop, or crash. In a
    child, the worst it can do is end the child; this process answers with a reason and starts
    a fresh child for the next file. One child serves one process (build workers have theirs).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._memory_mb = 0

    def read(self, data: bytes, limits: PdfLimits) -> PdfText:
        """The PdfText of `data`, or PdfReadFailed saying why not."""
        with self._lock:
            if self._process is None or not self._process.is_alive() or self._memory_mb != limits.memory_mb:
                self._start(limits.memory_mb)
            try:
                self._conn.send((data, limits.max_pages, limits.max_chars))
                if not self._conn.poll(limits.seconds):
                    self._stop()
                    raise PdfReadFailed("timeout", f"reading took longer than {limits.seconds:g} s")
                kind, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._stop()
                if code is not None and code < 0:
                    # PDFium aborts (SIGABRT/SIGTRAP) when an allocation fails under the cap
                    detail = f"{_signal_name(-code)}; memory limit {limits.memory_mb} MB"
                else:
                    detail = f"exit code {code}"
                raise PdfReadFailed("crashed", detail) from None
            if kind == "memory":
                self._stop()  # a child that ran out of memory may be left in any state
            if kind != "ok":
                raise PdfReadFailed(kind, value)
            return value

    def _start(self, memory_mb: int) -> None:
        import multiprocessing

        self._stop()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, memory_mb), daemon=True,
                                        name="pdf-reader")
        self._process.start()
        child.close()
        self._conn, self._memory_mb = parent, memory_mb
        try:
            ready = parent.poll(START_SECONDS) and parent.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._stop()
            raise PdfReadFailed("crashed", "the PDF reader process did not start")

    def _stop(self) -> int | None:
        code = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            code = self._process.exitcode
            self._process = None
        return code

    def close(self) -> None:
        """Stop the child (it also stops by itself when this process ends)."""
        with self._lock:
            self._stop()


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_reader: IsolatedReader | None = None
_reader_lock = threading.Lock()


def isolated_reader() -> IsolatedReader:
    """This process's PDF reading child (started on first use)."""
    global _reader
    with _reader_lock:
        if _reader is None:
            _reader = IsolatedReader()
            atexit.register(_reader.close)
        return _reader
