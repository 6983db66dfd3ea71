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

# Ideographs (BMP + extension A + compatibility) and CJK punctuation/full-width forms.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014\u2018\u2019\u201c\u201d\u2026\u00b7"
TIGHT = CJK_CHARS + CJK_PUNCT

_CJK_RE = re.compile(f"[{CJK_CHARS}]")
_SPACE_BEFORE_TIGHT = re.compile(f"[ \t]+(?=[{TIGHT}])")
_SPACE_AFTER_TIGHT = re.compile(f"(?<=[{TIGHT}])[ \t]+")
_WHITESPACE_RUN = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000\u202f\u205f\ufeff]+")
_FULLWIDTH_ALNUM = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_MARKER = re.compile(r"\[Table_[A-Za-z]+\]|\[(?:Page|PAGE)_?\d*\]|\(cid:\d+\)")
_MARKUP = re.compile(r"\*\*|!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?:|/|#|mailto:)[^)]*\)")
_MD_PREFIX = re.compile(r"^(?:#{1,6}\s+|>\s*)+")

# Lines a portal or the PDF page layout adds: dropped entirely.
_WATERMARK = re.compile(
    r"^(?:"
    r".{0,30}(?:hibor\.com|慧博|萝卜投研|发现报告|洞见研报|维科号|未来智库|vzkoo).{0,30}"
    r"|\[hibor\]\(.*\)"
    r"|请务必(?:仔细)?阅读.{0,20}(?:免责|声明|披露|条款).{0,10}"
    r"|敬请(?:参阅|阅读).{0,20}(?:声明|披露|条款).{0,10}"
    r"|[-—–\s]*(?:第\s*)?\d{1,3}\s*(?:页)?\s*(?:/|共)?\s*(?:\d{1,3}\s*页?)?[-—–\s]*"
    r")$",
    re.IGNORECASE,
)

# Headings that open a boilerplate section (everything after them is boilerplate).
_BOILER_HEADING = re.compile(
    r"免责(?:声明|条款)|分析师(?:声明|承诺|证明|简介|介绍)|研究团队简介|作者简介|"
    r"(?:投资|股票|行业|公司|证券)?评级(?:说明|定义|体系|标准)|法律声明|特别声明|重要声明|"
    r"一般声明|信息披露|适当性|版权声明|Disclaimer|Analyst Certification",
    re.IGNORECASE,
)
# Sentences that mark a single paragraph as boilerplate wherever it stands.
_BOILER_PARAGRAPH = re.compile(
    r"本报告仅供|版权(?:归|仅为|所有)|未经.{0,12}书面(?:许可|授权)|不构成(?:任何)?(?:投资|买卖)建议|"
    r"证券投资咨询(?:业务)?资格|执业资格|本公司不对|请务必阅读|具备证券投资咨询|风险等级"
)
_TERMINAL = "。！？!?；;：:」』”…"
_LIST_START = re.compile(r"^(?:[●⚫•■◆▪□◇○►➢\-\*+|#]|\(?[0-9一二三四五六七八九十]{1,2}(?:[)）、]|[.．](?![0-9]))|（[0-9一二三四五六七八九十]{1,2}）)")
JOIN_MIN_WIDTH = 30      # display width (CJK = 2) below which a line is never a page-width break
JOIN_WIDTH_SHARE = 0.75  # a line this close to the text's usual full-line width was broken by the page
WORD_WINDOW = 6          # characters each side of a line break that jieba reads to see a word split by it


@dataclass(frozen=True)
class CleanedText:
    """A report's display text: body paragraphs, then boilerplate paragraphs."""

    text: str
    body_len: int

    @property
    def body(self) -> str:
        return self.text[: self.body_len]

    @property
    def boilerplate(self) -> str:
        return self.text[self.body_len :].lstrip("\n")


def clean_inline(text: str) -> str:
    """Normalize one line or query: width of ASCII alnum, whitespace runs, spaces around CJK."""
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _WHITESPACE_RUN.sub(" ", text)
    text = _SPACE_BEFORE_TIGHT.sub("", text)
    text = _SPACE_AFTER_TIGHT.sub("", text)
    return text.strip()


def _clean_line(line: str) -> str:
    line = _MARKER.sub("", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MARKUP.sub("", line)
    line = _MD_PREFIX.sub("", line.strip())
    return line.strip()


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


def _breaks_a_word(prev: str, cur: str) -> bool:
    """True when jieba reads a dictionary word across the line break (模型成|本大幅下降 -> 成本).

    The width rule misses lines a PDF broke short (titles in a larger font, text boxes, table
    cells): 44 of 391 such breaks in a 申万宏源 report split a word, 投资|者, 因|此, 财|务状况.
    A break inside a word is the page's, not the author's. Only CJK on both sides, never after
    closing punctuation or before a list item; the dictionary is the indexer's (finance words).
    """
    if prev[-1] in _TERMINAL or not (_CJK_RE.match(prev[-1]) and _CJK_RE.match(cur[0])) or _LIST_START.match(cur):
        return False
    head = clean_inline(prev[-2 * WORD_WINDOW:])[-WORD_WINDOW:]
    tail = clean_inline(cur[:2 * WORD_WINDOW])[:WORD_WINDOW]
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


def _join(prev: str, cur: str) -> str:
    if _CJK_RE.match(prev[-1]) and _CJK_RE.match(cur[0]):
        return prev + cur
    return prev + " " + cur


def split_paragraphs(raw: str, markdown: bool = False) -> list[str]:
    """Cleaned paragraphs of a report, with lines broken by PDF extraction joined again.

    In Markdown a blank line always ends a paragraph; in extracted text a single blank
    line may sit inside a sentence that the page width broke.
    """
    paragraphs: list[str] = []
    lines: list[str | None] = []
    for source_line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = source_line.strip()
        if not stripped:
            lines.append(None)
        elif not _WATERMARK.match(stripped):
            lines.append(_clean_line(stripped) or None)
    min_width = max(JOIN_MIN_WIDTH, JOIN_WIDTH_SHARE * _full_line_width([l for l in lines if l]))
    current = ""
    last_line = ""
    blanks = 0
    for line in lines:
        if line is None:
            blanks += 1
            continue
        if current and blanks <= (0 if markdown else 1) and (_should_join(last_line, line, min_width)
                                                             or _breaks_a_word(last_line, line)):
            current = _join(current, line)
        else:
            if current:
                paragraphs.append(current)
            current = line
        last_line = line
        blanks = 0
    if current:
        paragraphs.append(current)
    return [p for p in (clean_inline(p) for p in paragraphs) if p]


def is_boilerplate_heading(paragraph: str) -> bool:
    """True for a short paragraph that opens a disclaimer, rating-definition or similar section."""
    return len(paragraph) <= 30 and bool(_BOILER_HEADING.search(paragraph))


def clean_report(raw: str, markdown: bool = False) -> CleanedText:
    """Clean a report's raw text and separate body from boilerplate (boilerplate stays searchable)."""
    body: list[str] = []
    boiler: list[str] = []
    in_boilerplate = False
    for paragraph in split_paragraphs(raw, markdown):
        if not in_boilerplate and is_boilerplate_heading(paragraph):
            in_boilerplate = True
        if in_boilerplate or _BOILER_PARAGRAPH.search(paragraph):
            boiler.append(paragraph)
        else:
            body.append(paragraph)
    body_text = "\n".join(body)
    if not boiler:
        return CleanedText(body_text, len(body_text))
    return CleanedText(body_text + "\n\n" + "\n".join(boiler), len(body_text))


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
    return fold(clean_inline(_MARKER.sub("", text)))


def has_cjk(text: str) -> bool:
    """True if the text contains a CJK ideograph."""
    return bool(_CJK_RE.search(text))
