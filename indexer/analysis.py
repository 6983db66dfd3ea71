"""Text analysis: jieba words for ranking, character n-grams and Latin words for exact matching.

Analysis happens here, before anything is written: the words, n-grams and Latin words go to
our own postings (indexer.postings); Whoosh keeps only stored fields and columns, so no
analyzer class of ours is pickled into the index.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import jieba

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


def char_ngrams(folded: str) -> set[str]:
    """Every CJK character and every pair of adjacent CJK characters: the matching postings.

    A CJK substring of two or more characters can only occur in a document that holds all
    of its bigrams; one character only where its unigram is. Latin words and numbers are
    matched through `latin_words`; punctuation is not indexed (a third of all n-grams,
    measured on gator_reports). Where the bigrams' positions do not decide a term (one
    with Latin or punctuation in it, a title: term), candidates are checked against the
    text, so the result is exact.
    """
    grams: set[str] = set()
    for run in _CJK_RUN.findall(folded):
        grams.update(run)
        grams.update(map(str.__add__, run, run[1:]))
    return grams


def bigram_positions(folded: str) -> dict[str, list[int]]:
    """Every pair of adjacent CJK characters with the offsets where it starts, ascending.

    The offsets index exactly `folded`, the string indexer.view.IndexView.holding would test
    (the folded text: body, then boilerplate), so that a run of CJK characters of any length
    is found from positions alone: bigram i of the run at offset p + i, for every i.
    """
    found: dict[str, list[int]] = {}
    for run in _CJK_RUN.finditer(folded):
        text = run.group()
        for offset, gram in enumerate(map(str.__add__, text, text[1:]), run.start()):
            offsets = found.get(gram)
            if offsets is None:
                found[gram] = [offset]
            else:
                offsets.append(offset)
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
