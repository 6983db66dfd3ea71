"""Cleaning report text and queries: PDF line repair, markers, watermarks, boilerplate, folding.

Two layers, both applied identically to documents and queries:
- `clean_inline` / `clean_report` produce the *display* text (what snippets and the
  document view show): broken lines joined, extraction markers and watermarks dropped,
  spaces that PDF extraction puts around digits and CJK removed, full-width ASCII letters
  and digits made half-width.
- `fold` maps that text character by character to the *matching* form: NFKC width folding,
  lower case, traditional -> simplified. It never changes the length, so an offset found
  in the folded text is the same offset in the display text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.analysis import get_jieba
from indexer.textrules import BULLET_GLYPHS, CJK_RE, MD_LINK, TIGHT, drop_markers, map_private_use, md_link_text

_CJK_RE = CJK_RE
_SPACE_BEFORE_TIGHT = re.compile(f"[ \t]+(?=[{TIGHT}])")
_SPACE_AFTER_TIGHT = re.compile(f"(?<=[{TIGHT}])[ \t]+")
_TIGHT_RE = re.compile(f"[{TIGHT}]")
_WHITESPACE_RUN = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000\u202f\u205f\ufeff]+")
_FULLWIDTH_ALNUM = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_MARKUP = re.compile(r"\*\*|!\[[^\]]*\]\([^)]*\)")
_MD_PREFIX = re.compile(r"^(?:#{1,6}\s+|>\s*)+")

# Lines a portal adds, and notices pointing to the disclaimer: dropped wherever they stand.
_WATERMARK = re.compile(
    r"^(?:"
    r".{0,30}(?:hibor\.com|慧博|萝卜投研|发现报告|洞见研报|维科号|未来智库|vzkoo).{0,30}"
    r"|\[hibor\]\(.*\)"
    r"|请务必(?:仔细)?(?:阅读|参阅).{0,20}(?:免责|声明|披露|条款).{0,12}"
    r"|(?:敬请|谨请)(?:参阅|阅读).{0,24}(?:声明|披露|条款|标准).{0,12}"
    r")$",
    re.IGNORECASE,
)
# A page number that says it is one ("- 12 -", "第 2 页 共 15 页", "3/11"): dropped anywhere.
_PAGE_NUMBER_EXPLICIT = re.compile(
    r"^(?:[-—–]\s*\d{1,4}\s*[-—–]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*/\s*\d{1,4}"
    r"|page\s*\d{1,4}(?:\s*of\s*\d{1,4})?)$",
    re.IGNORECASE,
)
# A bare number is a page number only as the first or last line of a page (next to a form feed).
_BARE_NUMBER = re.compile(r"^[-—–\s]*\d{1,4}[-—–\s]*$")
# A figure set on a line of its own ("近" / "50" / "年"): joined back to its words.
_FIGURE = re.compile(r"^[+\-−]?\d[\d,.]*%?$|^[+\-−]?[\d.]+[%‰]$")
FIGURE_MAX_CHARS = 12

# Headings that open a boilerplate section (everything after them is boilerplate).
_BOILER_HEADING = re.compile(
    r"免责(?:声明|条款|申明)|分析师(?:声明|申明|承诺|证明|简介|介绍)|研究团队简介|作者简介|"
    r"(?:投资|股票|行业|公司|证券)?评级(?:说明|定义|体系|标准)|法律声明|特别声明|重要声明|"
    r"一般声明|信息披露|适当性|版权声明|Disclaimer|Analyst Certification",
    re.IGNORECASE,
)
_READ_NOTICE = re.compile(r"请务必|请阅读|敬请|谨请|参阅|详见|见本报告|请与")
# Where a boilerplate section may start: in the last part of the text, or on its last pages.
# Broker reports put disclaimers, certifications and rating definitions at the end; a heading
# earlier than this (a contents page, a cover notice) never hides the body from ranking.
BOILER_MIN_SHARE = 0.5
BOILER_LAST_PAGES = 2
BOILER_LAST_PAGES_SHARE = 0.2
BOILER_SERIES_MIN_SHARE = 0.25
BOILER_SERIES_MIN = 3
# Sentences of disclaimers: evidence that a run of sections is boilerplate, never alone a reason.
_BOILER_SENTENCE = re.compile(
    r"本报告仅供|版权(?:归|仅为|所有)|未经.{0,12}书面(?:许可|授权)|不构成(?:任何)?(?:投资|买卖)建议|"
    r"证券投资咨询(?:业务)?资格|执业资格|本公司不对|具备证券投资咨询|风险等级"
)
_TERMINAL = "。！？!?；;：:」』”…"
_LIST_START = re.compile(rf"^(?:[{BULLET_GLYPHS}\-\*+|#]|\(?[0-9一二三四五六七八九十]{1,2}(?:[)）、]|[.．](?![0-9]))|（[0-9一二三四五六七八九十]{1,2}）)")
JOIN_MIN_WIDTH = 30      # display width (CJK = 2) below which a line is never a page-width break
JOIN_WIDTH_SHARE = 0.75  # a line this close to the text's usual full-line width was broken by the page
WORD_WINDOW = 6          # characters each side of a line break that jieba reads to see a word split by it
# A line this long holds many paragraphs (extraction tools that write one line per report):
# it is cut into sentences, and sentences are grouped into paragraphs of about PARAGRAPH_CHARS.
LONG_LINE_CHARS = 400
PARAGRAPH_CHARS = 300
_SENTENCE = re.compile(r"[^。！？!?]*(?:[。！？!?]+[”’」』）)]*|$)")
_SECTION_START = re.compile(r"^(?:[一二三四五六七八九十]{1,3}、|（[一二三四五六七八九十\d]{1,2}）|\d{1,2}(?:\.\d{1,2})*[、．]|第[一二三四五六七八九十\d]{1,3}[章节部分])")
# Lines repeated through a text without page breaks are running headers when they say at least
# this much and stand at least this often (a PDF's header extracted with the body).
RUNNING_MIN_CHARS = 6
RUNNING_MIN_COUNT = 3
RUNNING_SHARE = 0.4      # with page breaks: the share of pages whose edge lines hold it
RUNNING_EDGE_LINES = 3
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class CleanedText:
    """A report's display text: body paragraphs, then boilerplate paragraphs; where its pages start."""

    text: str
    body_len: int
    # (offset, page): from this offset of `text` on, the text was printed on that page (1-based);
    # empty when the source has no pages (.txt, .md).
    pages: tuple[tuple[int, int], ...] = ()

    @property
    def body(self) -> str:
        return self.text[: self.body_len]

    @property
    def boilerplate(self) -> str:
        return self.text[self.body_len :].lstrip("\n")


@dataclass
class _Paragraph:
    text: str
    pages: list[tuple[int, int]]  # (offset in text, page) where each of its lines starts


def clean_inline(text: str) -> str:
    """Normalize one line or query: width of ASCII alnum, whitespace runs, spaces around CJK."""
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _WHITESPACE_RUN.sub(" ", text)
    text = _SPACE_BEFORE_TIGHT.sub("", text)
    text = _SPACE_AFTER_TIGHT.sub("", text)
    return text.strip()


def _clean_line(line: str) -> str:
    line = map_private_use(drop_markers(line))
    line = MD_LINK.sub(md_link_text, line)
    line = _MARKUP.sub("", line)
    line = _MD_PREFIX.sub("", line.strip())
    return clean_inline(line)


def _width(line: str) -> int:
    return sum(2 if ord(char) >= 0x2E80 else 1 for char in line)


def _full_line_width(lines: list[str]) -> float:
    """The usual width of a line that runs on (the PDF page width): the median of such lines."""
    widths = sorted(_width(line) for line in lines if line[-1] not in _TERMINAL)
    widths = [w for w in widths if w >= JOIN_MIN_WIDTH]
    return widths[len(widths) // 2] if widths else float("inf")


def _should_join(prev: str, cur: str, min_width: float) -> bool:
    if prev[-1] in _TERMINAL or _width(prev) < min_width:
        return False
    if prev.endswith("|") or _LIST_START.match(cur):
        return False
    return True


def _is_figure(line: str) -> bool:
    return len(line) <= FIGURE_MAX_CHARS and bool(_FIGURE.match(line))


def _joins_a_figure(prev: str, cur: str) -> bool:
    """A number the PDF set on a line of its own, with the words it belongs to ("近" / "50" / "年")."""
    if _is_figure(cur):
        return prev[-1] not in _TERMINAL and bool(_CJK_RE.match(prev[-1]))
    return _is_figure(prev) and bool(_TIGHT_RE.match(cur[0]))


def _breaks_a_word(prev: str, cur: str) -> bool:
    """True when jieba reads a dictionary word across the line break (模型成|本大幅下降 -> 成本).

    The width rule misses lines a PDF broke short (titles in a larger font, text boxes, table
    cells): 44 of 391 such breaks in a 申万宏源 report split a word, 投资|者, 因|此, 财|务状况.
    A break inside a word is the page's, not the author's. Only CJK on both sides, never after
    closing punctuation or before a list item; the dictionary is the indexer's (finance words).
    """
    if prev[-1] in _TERMINAL or not (_CJK_RE.match(prev[-1]) and _CJK_RE.match(cur[0])) or _LIST_START.match(cur):
        return False
    head = prev[-WORD_WINDOW:]
    tail = cur[:WORD_WINDOW]
    cut = get_jieba().lcut
    at = 0
    for word in cut(head + tail, HMM=False):
        if at < len(head) < at + len(word):
            # ...and one side alone leaves a character jieba cannot place in a word
            # (模型/成, 者): a title that merely ends where a word could start (通水|平陆) stays.
            return len(cut(head, HMM=False)[-1]) == 1 or len(cut(tail, HMM=False)[0]) == 1
        at += len(word)
        if at >= len(head):
            break
    return False


def _join_gap(prev: str, cur: str) -> str:
    """What stands between two joined lines: nothing next to Chinese, a space between Latin words."""
    return "" if _TIGHT_RE.match(prev[-1]) or _TIGHT_RE.match(cur[0]) else " "


def _sentences(line: str) -> list[str]:
    """A long line cut into paragraphs of whole sentences; a numbered section starts a new one."""
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE.findall(line):
        sentence = sentence.strip()
        if not sentence:
            continue
        starts_section = bool(_SECTION_START.match(sentence) or _BOILER_HEADING.match(sentence))
        if current and (len(current) >= PARAGRAPH_CHARS or starts_section):
            out.append(current)
            current = ""
        current += sentence
    if current:
        out.append(current)
    return out


def _running_keys(pages: list[list[str]]) -> set[str]:
    """Lines that repeat as running headers or footers (digits ignored)."""
    counts: dict[str, int] = {}
    if len(pages) > 1:
        # pages known: a line among the first or last lines of many pages
        for lines in pages:
            edge = lines[:RUNNING_EDGE_LINES] + lines[-RUNNING_EDGE_LINES:]
            for key in {_running_key(l) for l in edge}:
                counts[key] = counts.get(key, 0) + 1
        need = max(RUNNING_MIN_COUNT, RUNNING_SHARE * len(pages))
    else:
        # one stream of lines: a line that says something, is no sentence, and recurs three times or more
        for line in pages[0] if pages else []:
            if line[-1] in _TERMINAL:
                continue
            key = _running_key(line)
            counts[key] = counts.get(key, 0) + 1
        need = RUNNING_MIN_COUNT
    return {k for k, n in counts.items() if n >= need and sum(ch.isalpha() for ch in k) >= RUNNING_MIN_CHARS}


def _running_key(line: str) -> str:
    return _DIGITS.sub("#", re.sub(r"\s+", "", line))


def _source_lines(raw: str, laid_out: bool = False) -> list[tuple[str | None, int]]:
    """Cleaned lines (None for a blank) with their page; running headers, page numbers and watermarks out.

    `laid_out`: the text comes from indexer.pdftext, which found the running lines by position.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    pages = [[l.strip() for l in page.split("\n")] for page in text.split("\f")]
    paged = len(pages) > 1
    running = set() if laid_out else _running_keys([[l for l in page if l] for page in pages])
    out: list[tuple[str | None, int]] = []
    for number, page in enumerate(pages, 1):
        filled = [i for i, l in enumerate(page) if l]
        edges = {filled[0], filled[-1]} if paged and filled else set()
        for index, stripped in enumerate(page):
            if not stripped:
                out.append((None, number))
                continue
            if _WATERMARK.match(stripped) or _PAGE_NUMBER_EXPLICIT.match(stripped):
                continue
            if index in edges and _BARE_NUMBER.match(stripped):
                continue
            if running and _running_key(stripped) in running:
                continue
            line = _clean_line(stripped)
            if not line:
                continue
            if len(line) > LONG_LINE_CHARS:
                out.extend((sentence, number) for sentence in _sentences(line))
            else:
                out.append((line, number))
    return out


def _paragraphs(raw: str, markdown: bool = False, laid_out: bool = False) -> list[_Paragraph]:
    lines = _source_lines(raw, laid_out)
    min_width = max(JOIN_MIN_WIDTH, JOIN_WIDTH_SHARE * _full_line_width([l for l, _ in lines if l]))
    paragraphs: list[_Paragraph] = []
    parts: list[str] = []  # the current paragraph's pieces (joined once: linear in its length)
    pages: list[tuple[int, int]] = []
    length = 0
    last_line = ""
    blanks = 0
    for line, page in lines:
        if line is None:
            blanks += 1
            continue
        if parts and blanks <= (0 if markdown else 1) and (
            _should_join(last_line, line, min_width)
            or (blanks == 0 and _joins_a_figure(last_line, line))
            or _breaks_a_word(last_line, line)
        ):
            gap = _join_gap(last_line, line)
            parts.append(gap)
            length += len(gap)
        else:
            if parts:
                paragraphs.append(_Paragraph("".join(parts), pages))
            parts, pages, length = [], [], 0
        pages.append((length, page))
        parts.append(line)
        length += len(line)
        last_line = line
        blanks = 0
    if parts:
        paragraphs.append(_Paragraph("".join(parts), pages))
    return paragraphs


def split_paragraphs(raw: str, markdown: bool = False) -> list[str]:
    """Cleaned paragraphs of a report, with lines broken by PDF extraction joined again.

    In Markdown a blank line always ends a paragraph; in extracted text a single blank
    line may sit inside a sentence that the page width broke.
    """
    return [p.text for p in _paragraphs(raw, markdown)]


def is_boilerplate_heading(paragraph: str) -> bool:
    """True for a paragraph that opens a disclaimer, certification or rating-definition section.

    A short line naming such a section, or (in text cut into sentences) a paragraph starting with
    the name; never a notice that points to the disclaimer ("请务必阅读正文之后的免责声明").
    """
    if _READ_NOTICE.search(paragraph[:40]):
        return False
    if len(paragraph) <= 30:
        return bool(_BOILER_HEADING.search(paragraph))
    return bool(_BOILER_HEADING.match(paragraph.lstrip("【[（(•")))


def _boilerplate_start(paragraphs: list[_Paragraph]) -> int:
    """Index of the paragraph that opens the trailing boilerplate, or len(paragraphs).

    Told by structure: a heading of such a section that stands in the last half of the text, on
    the last pages, or past the first quarter with the rest of the text made of such sections
    (a short comment whose disclaimers outweigh it). A disclaimer sentence in the body, or a
    notice pointing to the disclaimer, never hides the rest of the report from ranking.
    """
    total = sum(len(p.text) + 1 for p in paragraphs)
    last_page = max((p.pages[-1][1] for p in paragraphs), default=1)
    first_tail_page = last_page - max(BOILER_LAST_PAGES, round(BOILER_LAST_PAGES_SHARE * last_page)) + 1
    evidence = [is_boilerplate_heading(p.text) or bool(_BOILER_SENTENCE.search(p.text)) for p in paragraphs]
    after = [0] * (len(paragraphs) + 1)
    for index in range(len(paragraphs) - 1, -1, -1):
        after[index] = after[index + 1] + evidence[index]
    at = 0
    for index, paragraph in enumerate(paragraphs):
        if is_boilerplate_heading(paragraph.text):
            late = at >= BOILER_MIN_SHARE * total
            on_last_pages = last_page >= 3 and paragraph.pages[0][1] >= first_tail_page
            a_series = at >= BOILER_SERIES_MIN_SHARE * total and after[index] >= BOILER_SERIES_MIN
            if late or on_last_pages or a_series:
                return index
        at += len(paragraph.text) + 1
    return len(paragraphs)


def clean_report(raw: str, markdown: bool = False, laid_out: bool = False) -> CleanedText:
    """Clean a report's raw text and separate body from trailing boilerplate (both stay searchable).

    Pages of the source are separated by form feeds; where each page starts in the cleaned text
    is kept (`CleanedText.pages`). `laid_out`: a PDF read by position, its running lines already out.
    """
    paragraphs = _paragraphs(raw, markdown, laid_out)
    split = _boilerplate_start(paragraphs)
    parts: list[str] = []
    length = 0
    body_len = 0
    pages: list[tuple[int, int]] = []
    for index, paragraph in enumerate(paragraphs):
        separator = ("\n\n" if index == split else "\n") if parts else ""
        if index == split:
            body_len = length
        parts.append(separator)
        length += len(separator)
        for at, page in paragraph.pages:
            if not pages or pages[-1][1] != page:
                pages.append((length + at, page))
        parts.append(paragraph.text)
        length += len(paragraph.text)
    if split >= len(paragraphs):
        body_len = length
    return CleanedText("".join(parts), body_len, tuple(pages) if "\f" in raw else ())


def _t2s_table() -> dict[str, str]:
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            source, target = parts[0], parts[1].split(" ")[0]
            if len(source) == 1 and len(target) == 1 and source != target:
                table[source] = target
    return table


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    t2s = _t2s_table()
    table: dict[int, str] = {}
    for cp in range(0x20, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        folded = unicodedata.normalize("NFKC", char)
        if len(folded) != 1:
            folded = char
        lower = folded.lower()
        if len(lower) == 1:
            folded = lower
        folded = t2s.get(folded, folded)
        if folded != char:
            table[cp] = folded
    return table


def fold(text: str) -> str:
    """Matching form of display text: width, case and traditional->simplified folded; same length."""
    return text.translate(_fold_table())


def normalize_query_text(text: str) -> str:
    """The matching form of a piece of query text (a word or a phrase)."""
    return fold(clean_inline(drop_markers(text)))


def has_cjk(text: str) -> bool:
    """True if the text contains a CJK ideograph."""
    return bool(_CJK_RE.search(text))
