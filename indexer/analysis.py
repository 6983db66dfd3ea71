"""Text analysis: jieba words for ranking, character n-grams and Latin words for exact matching.

Analysis happens here, before Whoosh sees the text: the schema's fields only split on
spaces (Whoosh built-in analyzers), so no analyzer class of ours is pickled into the index.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import jieba

DATA_DIR = Path(__file__).resolve().parent / "data"
FINANCE_DICT = DATA_DIR / "finance_dict.txt"

# A Latin "word": letters and digits of non-CJK scripts; a decimal number stays one word.
LATIN_WORD = re.compile(r"[0-9]+(?:\.[0-9]+)+|[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+")
_WORDLIKE = re.compile(r"[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_SPACE_RUN = re.compile(r"\S+")

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
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tokenizer.cache_file = str(cache_file)
        tokenizer.initialize()
        tokenizer.load_userdict(str(FINANCE_DICT))
        if user_dict is not None:
            tokenizer.load_userdict(str(user_dict))
        _tokenizer = tokenizer
        return tokenizer


def get_jieba() -> jieba.Tokenizer:
    """The process's jieba tokenizer (initialized with defaults if nobody did it before)."""
    return _tokenizer or init_jieba()


def ranking_words(folded: str) -> list[str]:
    """jieba search-mode words of folded text (sub-words of long words included), no punctuation."""
    return [w for w in get_jieba().cut_for_search(folded) if _WORDLIKE.search(w)]


def query_words(folded: str) -> list[str]:
    """jieba precise-mode words of a folded query run, no punctuation."""
    return [w for w in get_jieba().lcut(folded) if _WORDLIKE.search(w)]


def latin_words(folded: str) -> list[str]:
    """Latin words and numbers of folded text, matched as whole words."""
    return LATIN_WORD.findall(folded)


def char_ngrams(folded: str) -> set[str]:
    """Every character and every pair of adjacent non-space characters: the matching postings.

    A substring of two or more characters can only occur in a document that holds all of
    its bigrams; one character only where its unigram is. The candidates are then checked
    against the text itself, so the result is exact.
    """
    grams: set[str] = set()
    for run in _NON_SPACE_RUN.findall(folded):
        grams.update(run)
        grams.update(map(str.__add__, run, run[1:]))
    return grams


def query_ngrams(folded: str) -> list[str]:
    """The n-gram postings a substring needs (bigrams, or the unigram of a single character)."""
    needed: list[str] = []
    for run in _NON_SPACE_RUN.findall(folded):
        if len(run) == 1:
            needed.append(run)
        else:
            needed.extend(dict.fromkeys(map(str.__add__, run, run[1:])))
    return list(dict.fromkeys(needed))
