"""The rules of text shared by reading, cleaning, metadata and search: character classes and markers."""

from __future__ import annotations

import re

# Ideographs (BMP + extension A + compatibility) and CJK punctuation/full-width forms.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014\u2018\u2019\u201c\u201d\u2026\u00b7"
# Characters no space is written next to in Chinese text.
TIGHT = CJK_CHARS + CJK_PUNCT
# The letters and digits of a Latin word (folded: lower case), Greek and Cyrillic included.
LATIN_CHARS = "0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
CJK_RE = re.compile(f"[{CJK_CHARS}]")
# A Latin "word" (of folded text): letters and digits of non-CJK scripts; a decimal number
# ("2025.8", "1.5") stays one word. Indexing, matching, snippets and scoring all use this one.
LATIN_WORD = re.compile(f"[0-9]+(?:\\.[0-9]+)+|[{LATIN_CHARS}]+")
_LATIN_RUN_CHAR = re.compile(f"[{LATIN_CHARS}.]")

# The glyphs reports set before list items (the ASCII ones, - * + #, each reader adds as its context allows).
BULLET_GLYPHS = "●⚫•■◆▪□◇○►➢◼❖"
# A Markdown link [text](target): the reading keeps the text of web and local links, the metadata
# the text of every link.
MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_KEPT_LINK_TARGET = re.compile(r"(?:https?:|/|#|mailto:)")


def md_link_text(match: re.Match, every: bool = False) -> str:
    """The text of a Markdown link match (for MD_LINK.sub); a link to elsewhere stays as written unless `every`."""
    text, target = match.group(1), match.group(2)
    if every or (text and _KEPT_LINK_TARGET.match(target)):
        return text
    return match.group(0)


# A listed company's code as reports write it, folded: A shares (6 digits, .sh/.sz/.bj), Hong Kong
# (4-5 digits .hk), US (letters .us/.o/.n). A query may give an A-share code bare (300750).
STOCK_CODE = r"\d{6}(?:\.(?:sh|sz|bj))?|\d{4,5}\.hk|[a-z]{1,5}\.(?:us|o|n)"
QUERY_STOCK_CODE = re.compile(rf"(?:{STOCK_CODE})")

# A report's credits and contacts: the cover and closing lines that name analysts with their SAC
# certificates, e-mail, telephone and address. Titles never come from them; snippets use them last.
CONTACT_LINE = re.compile(r"@|电话|邮箱|[Tt]el|[Ee]-?mail|https?:|www\.|地址|邮编|网址|传真")
CREDIT_LINE = re.compile(r"分析师|证书编号|执业证书|SAC|S\d{13}|研究助理|联系人|研究员")

# What report templates and extraction tools leave in the text: layout tags of the broker's
# template ([Table_Title], [table_research], with the spaces pypdf puts inside them: "Tabl e_Title"),
# unfilled placeholders (＃assAuthor＃), page tags and unmapped glyph ids (cid:123).
MARKER = re.compile(
    r"\[?\s?T\s?a\s?b\s?l\s?e\s?_\s?[A-Za-z]+(?:_[A-Za-z]+)*\s?\]?"
    r"|\[[A-Za-z]+_[A-Za-z_]+\d*\]"
    r"|[#＃][A-Za-z]{2,}[#＃]"
    r"|\[(?:Page|PAGE)_?\d*\]|\(cid:\d+\)",
    re.IGNORECASE,
)

# YAML front matter at the top of a Markdown file (a BOM before it is tolerated).
FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)

# Private-use glyphs: a symbol font's bullets (Wingdings U+F06C, U+F0A7, U+F0B7 ...) that
# have no Unicode meaning. At the start of a line they are list bullets; elsewhere noise.
_PRIVATE_USE_LEAD = re.compile(r"^[\s\ue000-\uf8ff]*[\ue000-\uf8ff]\s*")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")
BULLET = "•"


def latin_word_spans(folded: str, word: str, start: int = 0, end: int | None = None, limit: int = 0):
    """(start, end) of every place in folded[start:end] where `word` stands as a whole LATIN_WORD.

    The word is found as a literal, then confirmed by tokenizing its run of letters, digits and
    dots from the run's start, exactly as the index tokenized the text ("2025.8.26ai" holds "ai";
    "2025.8" is one word, so "2025" alone is not in it).
    """
    end = len(folded) if end is None else end
    found = []
    at = folded.find(word, start, end)
    while at != -1:
        run = at
        while run > 0 and _LATIN_RUN_CHAR.match(folded[run - 1]):
            run -= 1
        stop = at + len(word)
        while stop < len(folded) and _LATIN_RUN_CHAR.match(folded[stop]):
            stop += 1
        for token in LATIN_WORD.finditer(folded, run, stop):
            if token.start() == at and token.end() == at + len(word):
                found.append((at, at + len(word)))
                break
            if token.start() > at:
                break
        if limit and len(found) >= limit:
            break
        at = folded.find(word, at + 1, end)
    return found


def drop_markers(text: str, replacement: str = "") -> str:
    """Text without template tags, placeholders and glyph ids."""
    return MARKER.sub(replacement, text)


def map_private_use(line: str) -> str:
    """A line with a leading private-use glyph made a bullet and every other one dropped."""
    if not _PRIVATE_USE.search(line):
        return line
    line = _PRIVATE_USE_LEAD.sub(BULLET + " ", line, count=1)
    return _PRIVATE_USE.sub("", line)
