"""Similar reports: the reports that share the most of one report's rare words, and which words."""

from __future__ import annotations

import heapq
import math
from collections import Counter

import numpy as np

from indexer.analysis import query_words
from indexer.docsets import as_array, member
from indexer.view import IndexView

SIMILAR_COUNT = 5
KEY_WORDS = 40              # the report's most distinctive words (tf-idf) that are looked up
RARE_SHARE = 0.05           # a word in more reports than this share says little about a report...
SMALL_ARCHIVE = 40          # ...except in a small archive, where a word in up to half of them still does
MIN_SHARED = 2              # fewer shared words than this is coincidence, not likeness
SHOWN_WORDS = 4             # the shared words given as the reason
BODY_CHARS = 30_000         # the part of a long report read for its words (its summary and argument)
_ADDRESS_WORDS = {"http", "https", "www", "com", "cn", "html", "htm", "pdf"}   # parts of links, not of the text


def similar_reports(view: IndexView, docnum: int, count: int = SIMILAR_COUNT) -> list[tuple[int, list[str]]]:
    """Up to `count` (docnum, shared words) of the reports most like `docnum`, best first.

    Likeness is the summed idf of the report's distinctive words (the KEY_WORDS of highest
    tf-idf among those at most RARE_SHARE of the archive holds) that the other report holds
    too; copies of the same content are not "similar", they are the same report.
    """
    folded = view.folded(docnum)
    body = folded.text[:min(folded.body_len or len(folded.text), BODY_CHARS)]
    # Precise-mode words (比亚迪, not its search-mode piece 比亚); numbers and link parts say nothing.
    counts = Counter(w for w in query_words(body)
                     if len(w) >= 2 and not w.replace(".", "").isdigit() and w not in _ADDRESS_WORDS)
    total = max(view.doc_count, 1)
    limit = total // 2 if total < SMALL_ARCHIVE else RARE_SHARE * total
    keys = []
    for word, tf in counts.items():
        df = view.doc_frequency("words", word)
        if 2 <= df <= max(limit, 2):
            idf = math.log(total / df)
            keys.append(((1 + math.log(tf)) * idf, word, idf))
    # Over arrays: at 1,000,000 reports a key word may be in 50,000 of them, 40 words two million
    # (document, word) pairs, which a loop of dict updates took seconds over.
    chosen = heapq.nlargest(KEY_WORDS, keys)
    holders = [as_array(view.postings("words", word)) for _, word, _ in chosen]
    if not holders or not sum(len(h) for h in holders):
        return []
    every = np.concatenate(holders)
    others, where = np.unique(every, return_inverse=True)
    # Summed in the order of the words, as adding them one by one would (the same floats).
    scores = np.bincount(where, weights=np.repeat([idf for _, _, idf in chosen], [len(h) for h in holders]))
    shared = np.bincount(where)
    keep = (shared >= MIN_SHARED) & (others != docnum)
    others, scores = others[keep], scores[keep]
    own = view.hash[docnum]
    out = []
    for i in np.lexsort((others, -scores)).tolist():       # best first, then the lower document number
        other = int(others[i])
        if view.hash[other] == own:     # a copy of the same content
            continue
        words = sorted(((idf, word) for (_, word, idf), held in zip(chosen, holders)
                        if member(np.array([other]), held)[0]), reverse=True)
        out.append((other, [word for _, word in words[:SHOWN_WORDS]]))
        if len(out) == count:
            break
    return out
