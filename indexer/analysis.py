"""Text analysis: jieba words for ranking, character n-grams and Latin words for exact matching.

Analysis happens here, before anything is written: the words, n-grams and Latin words go to
our own postings (indexer.postings); Whoosh keeps only stored fields and columns, so no
analyzer class of ours is pickled into the index.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import jieba
import numpy as np

from indexer.textrules import CJK_CHARS, LATIN_CHARS, LATIN_WORD

DATA_DIR = Path(__file__).resolve().parent / "data"
FINANCE_DICT = DATA_DIR / "finance_dict.txt"

_WORDLIKE = re.compile(f"[{LATIN_CHARS}{CJK_CHARS}]")

_RANKING_PIECE = re.compile(f"(?P<cjk>[{CJK_CHARS}]+)|{LATIN_WORD.pattern}")

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()


def init_jieba(cache_file: Path | None = None, user_dict: Path | None = None) -> jieba.Tokenizer:
    """Load jieba's dictionary once per process (about 0.5 s), with our finance words."""
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is not None:
            return _tokenizer
        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        before: set[Path] = set()
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tokenizer.cache_file = str(cache_file)
            before = set(cache_file.parent.glob("tmp*"))
        tokenizer.initialize()
        if cache_file is not None and not cache_file.exists():
            # jieba dumps its cache through a tempfile.mkstemp file beside it and leaves that file
            # behind when the dump fails (a full disk): 8 MB more at every start, refilling the disk
            for leftover in set(cache_file.parent.glob("tmp*")) - before:
                try:
                    leftover.unlink()
                except OSError:
                    pass
        tokenizer.load_userdict(str(FINANCE_DICT))
        if user_dict is not None:
            tokenizer.load_userdict(str(user_dict))
        _tokenizer = tokenizer
        return tokenizer


def get_jieba() -> jieba.Tokenizer:
    """The process's jieba tokenizer (initialized with defaults if nobody did it before)."""
    return _tokenizer or init_jieba()


def ranking_words(folded: str) -> list[str]:
    """Words of folded text for ranking: jieba search-mode words of its CJK runs (sub-words
    of long words included), and Latin words and numbers cut exactly as for matching
    (jieba alone would cut "2025.8.26ai机器人" into "2025.8" and "26ai")."""
    cut = get_jieba().cut_for_search
    words: list[str] = []
    for piece in _RANKING_PIECE.finditer(folded):
        if piece.group("cjk"):
            words.extend(cut(piece.group("cjk")))
        else:
            words.append(piece.group())
    return words


def query_words(folded: str) -> list[str]:
    """jieba precise-mode words of a folded query run, no punctuation."""
    return [w for w in get_jieba().lcut(folded) if _WORDLIKE.search(w)]


def latin_words(folded: str) -> list[str]:
    """Latin words and numbers of folded text, matched as whole words."""
    return LATIN_WORD.findall(folded)


_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_LATIN_CHAR = re.compile(f"[{LATIN_CHARS}]")


# A CJK n-gram as one integer, its gram key: the code point of its first character << 16, plus that of
# its second for a bigram (0 for a unigram). Every character of CJK_CHARS is in the Basic Multilingual
# Plane and none is 0 (checked where the table below is made), so keys sort as their strings do (by
# code point, UTF-8's byte order), a unigram before the bigrams it starts; and a document's n-grams
# are found with numpy instead of a dictionary operation per bigram (0.5 ms of a synthetic report).
GRAM_SHIFT = 16


@functools.cache
def _cjk_table() -> np.ndarray:
    """Whether each code point of the BMP is a CJK character (as _CJK_RUN decides), and False once
    more, standing for every code point past the BMP. Made once per process (25 ms)."""
    every = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros((1 << GRAM_SHIFT) + 1, dtype=bool)
    for run in _CJK_RUN.finditer(every):
        if run.start() == 0 or run.end() > 1 << GRAM_SHIFT:
            raise ValueError("gram keys need CJK_CHARS inside the BMP, without U+0000")
        table[run.start():run.end()] = True
    return table


@dataclass(frozen=True)
class CjkGrams:
    """A text's CJK n-grams, the matching postings: every CJK character and every pair of adjacent
    CJK characters, as gram keys (uint32 numpy arrays).

    A CJK substring of two or more characters can only occur in a document that holds all of its
    bigrams; one character only where its unigram is. Latin words and numbers are matched through
    `latin_words`; punctuation is not indexed (a third of all n-grams, measured on gator_reports).
    Where the bigrams' positions do not decide a term (one with Latin or punctuation in it, a
    title: term), candidates are checked against the text, so the result is exact.
    """

    unigrams: np.ndarray    # the distinct characters' keys, ascending
    bigrams: np.ndarray     # the key of the bigram starting at each of `offsets`
    offsets: np.ndarray     # where each bigram starts in the text, ascending


def cjk_grams(folded: str) -> CjkGrams:
    """The CJK n-grams of folded text (see CjkGrams), the bigrams with the offsets where they start.

    The offsets index exactly `folded`, the string indexer.view.IndexView.holding would test (the
    folded text: body, then boilerplate), so that a run of CJK characters of any length is found
    from positions alone: bigram i of the run at offset p + i, for every i.
    """
    points = np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    cjk = _cjk_table()[np.minimum(points, 1 << GRAM_SHIFT)]
    starts = np.flatnonzero(cjk[:-1] & cjk[1:]).astype(np.uint32)
    return CjkGrams(unigrams=np.unique(points[cjk]) << GRAM_SHIFT,
                    bigrams=(points[starts] << GRAM_SHIFT) | points[starts + 1],
                    offsets=starts)


def gram_key(gram: str) -> int:
    """The gram key of a CJK unigram or bigram (see GRAM_SHIFT)."""
    table = _cjk_table()
    if not 0 < len(gram) <= 2 or not all(table[min(ord(char), 1 << GRAM_SHIFT)] for char in gram):
        raise ValueError(f"{gram!r} is not a CJK n-gram")
    return (ord(gram[0]) << GRAM_SHIFT) | (ord(gram[1]) if len(gram) == 2 else 0)


def gram_text(key: int) -> str:
    """The n-gram a gram key stands for."""
    second = key & ((1 << GRAM_SHIFT) - 1)
    return chr(key >> GRAM_SHIFT) + chr(second) if second else chr(key >> GRAM_SHIFT)


def bigram_positions(folded: str) -> dict[str, list[int]]:
    """Every pair of adjacent CJK characters with the offsets where it starts, ascending (see cjk_grams)."""
    grams = cjk_grams(folded)
    found: dict[str, list[int]] = {}
    for key, offset in zip(grams.bigrams.tolist(), grams.offsets.tolist()):
        found.setdefault(gram_text(key), []).append(offset)
    return found


@dataclass(frozen=True)
class SubstringPlan:
    """The postings a substring needs: n-grams that must all be present, whole Latin words too.

    `exact` is True when those postings alone decide the match (no text check needed): a
    single n-gram, or (`positional`) a run of three or more CJK characters and nothing else,
    decided by its bigrams' positions. A substring with Latin letters, digits or punctuation
    in it (5G手机, A股) is not exact: its candidates are checked against the text. An empty plan
    (no grams, no words) means no index can narrow it: every document is a candidate.
    """

    grams: tuple[str, ...]
    words: tuple[str, ...]
    exact: bool
    positional: bool = False


def _is_word_border(char: str) -> bool:
    return char != "." and not _LATIN_CHAR.match(char)


def plan_substring(folded: str) -> SubstringPlan:
    """What a folded substring needs from the index (see SubstringPlan)."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(folded):
        if len(run) == 1:
            grams.append(run)
        else:
            grams.extend(map(str.__add__, run, run[1:]))
    words = []
    for match in LATIN_WORD.finditer(folded):
        # A Latin word at either end of the substring may be part of a longer word in a
        # document ("eek" of "deepseek"). A word with a neighbour inside the substring on
        # both sides that no word can contain (not a letter, digit or '.') is tokenized the
        # same way in every document holding the substring: it must be a whole word there.
        start, end = match.span()
        if start > 0 and end < len(folded) and _is_word_border(folded[start - 1]) and _is_word_border(folded[end]):
            words.append(match.group())
    positional = len(folded) >= 3 and _CJK_RUN.fullmatch(folded) is not None
    grams = list(dict.fromkeys(grams))
    exact = positional or (len(grams) == 1 and not words and folded == grams[0])
    return SubstringPlan(tuple(grams), tuple(dict.fromkeys(words)), exact, positional)
