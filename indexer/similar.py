"""Similar reports: the reports that share the most of one report's rare words, and which words."""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict

from indexer.analysis import query_words
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
    scores: dict[int, float] = defaultdict(float)
    shared: dict[int, list[tuple[float, str]]] = defaultdict(list)
    own = view.hash[docnum]
    for _, word, idf in heapq.nlargest(KEY_WORDS, keys):
        for other in view.postings("words", word):
            if other != docnum and view.hash[other] != own:
                scores[other] += idf
                shared[other].append((idf, word))
    liked = [(score, other) for other, score in scores.items() if len(shared[other]) >= MIN_SHARED]
    best = heapq.nlargest(count, liked, key=lambda item: (item[0], -item[1]))
    return [(other, [word for _, word in sorted(shared[other], reverse=True)[:SHOWN_WORDS]]) for _, other in best]
