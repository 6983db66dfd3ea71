"""Tickers and companies as one: the pairs the archive writes as 宁德时代（300750.SZ）, learned from its texts.

A query of a code also finds the reports that name the company only, and the other way round.
Nothing is configured: a pair counts when the archive writes it so (twice, or once with a short
name), and only when both directions agree (the code's name names that code), so that a word
written before a code once ("推荐宁德时代（300750）") does not become a company.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from indexer.query import Term
from indexer.textrules import CJK_CHARS, QUERY_STOCK_CODE, STOCK_CODE
from indexer.view import IndexView

_NAME_BEFORE = re.compile(rf"([{CJK_CHARS}]{{2,10}})\(\s*$")
_CODE_AFTER = re.compile(rf"\(\s*({STOCK_CODE})\s*\)")
MAX_NAME = 10
SHORT_NAME = 5              # a name seen once is taken only this short (longer runs hold other words)
AGREE = 0.6                 # the share of the sightings a name (or code) must have
SAMPLE_DOCS = 200           # reports read to learn one pair: enough for the share, bounded in time
LEARNED_SECONDS = 600.0     # how long a learned pair (or its absence) is trusted
MEMO_ENTRIES = 50_000       # query words remembered at most (then forgotten all at once)


def learned_pair(view: IndexView, text: str, memo: dict) -> str:
    """What the archive pairs with a query's code or company name ("" when nothing, or not clearly).

    Remembered in `memo` (the searcher's) for LEARNED_SECONDS across generations: a watcher
    committing every second must not make every query word be learned again (pairs change
    rarely; a new one shows within minutes).
    """
    now = time.monotonic()
    known = memo.get(text)
    if known is not None and now - known[1] < LEARNED_SECONDS:
        return known[0]
    if QUERY_STOCK_CODE.fullmatch(text):
        other = name_of_code(view, bare_code(text))
    else:
        other = code_of_name(view, text)
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    memo[text] = (other, now)
    return other


def bare_code(code: str) -> str:
    """A code without its exchange (300750.sz -> 300750): how the text is searched for it."""
    return code.split(".")[0]


def _sightings_of_code(view: IndexView, code: str) -> list[str]:
    """The runs of characters written just before "(code" in the archive."""
    runs = []
    for docnum in sorted(view.candidates(Term(code, "latin")))[:SAMPLE_DOCS]:
        text = view.folded(docnum).text
        at = text.find(code)
        while at != -1:
            after = text[at + len(code):at + len(code) + 1]
            if not after.isalnum():
                before = _NAME_BEFORE.search(text, max(0, at - MAX_NAME - 3), at)
                if before:
                    runs.append(before.group(1))
            at = text.find(code, at + 1)
    return runs


def _name_from_runs(runs: list[str]) -> str:
    """The longest ending the runs share: 红利属性的中国神华, 中国神华 -> 中国神华."""
    if len(runs) == 1:
        return runs[0] if len(runs[0]) <= SHORT_NAME else ""
    best = ""
    for length in range(2, MAX_NAME + 1):
        endings = Counter(run[-length:] for run in runs if len(run) >= length)
        if not endings:
            break
        ending, count = endings.most_common(1)[0]
        if count >= 2 and count >= AGREE * len(runs):
            best = ending
    return best


def name_of_code(view: IndexView, code: str) -> str:
    """The company the archive names with a code ("" when it does not, or not clearly)."""
    name = _name_from_runs(_sightings_of_code(view, code))
    return name if name and code_of_name(view, name, check=False) == code else ""


def code_of_name(view: IndexView, name: str, check: bool = True) -> str:
    """The code the archive writes after a company's name ("" when it writes none, or several)."""
    # A common word (经济) has thousands of candidates: check only as many as are read.
    term = Term(name, "phrase")
    docs = view.holding(set(sorted(view.candidates(term))[:2 * SAMPLE_DOCS]), term)
    codes = Counter()
    for docnum in sorted(docs)[:SAMPLE_DOCS]:
        text = view.folded(docnum).text
        at = text.find(name + "(")
        while at != -1:
            found = _CODE_AFTER.match(text, at + len(name))
            if found:
                codes[bare_code(found.group(1))] += 1
            at = text.find(name + "(", at + 1)
    if not codes:
        return ""
    code, count = codes.most_common(1)[0]
    if count < AGREE * sum(codes.values()):
        return ""
    if check and name_of_code(view, code) != name:
        return ""
    return code
