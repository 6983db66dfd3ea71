"""Ranking: BM25F over jieba words (title boosted, boilerplate not ranked) and a proximity bonus.

Two scorers give the same BM25F: from the postings, or (when very few documents match common
words) counted in the folded texts. The best RANK_POOL are then scaled by how close the query's
words stand (bench/real_reports.py chose the constants: +11 points over a plain BM25 peer on
any-two-words-of-a-sentence queries).
"""

from __future__ import annotations

import math
import re

import numpy as np

from indexer.analysis import query_words
from indexer.docsets import DocArray, as_array, locate
from indexer.query import ParsedQuery
from indexer.schema import TITLE_BOOST
from indexer.snippets import Needle, find_spans
from indexer.textrules import LATIN_WORD, latin_word_spans
from indexer.view import IndexView

RANK_POOL = 200              # candidates re-ranked with the proximity bonus
# Scoring a matched document from its cached text costs about this many postings read:
# the cheaper of the two is used (a few hundred matches of common words).
TEXT_SCORING_COST = 3
# ... plus reading the text from the index when it is not cached: about 670 postings' worth (stored
# fields, decompression, folding: 67 us against 0.1 us a posting on 3,000 xwlb texts, short ones).
# Matching no longer reads the texts of CJK phrases (positions), so they are counted as not cached:
# at 100k, `习近平 会见` read 9,799 texts to score them. Counted always, not looked up in the cache,
# so that the scorer (and with it the order) does not depend on what a process happens to hold.
TEXT_READING_COST = 700
BM25_K1, BM25_B = 1.2, 0.75
STOPWORD_SHARE = 0.6         # a word in more than this share of documents adds nothing to ranking
PROXIMITY_WEIGHT = 3.0
PROXIMITY_SCALE = 16         # characters between the query's words that halve the bonus
SAME_SENTENCE = 0.5          # the least closeness of words in one sentence
TITLE_ALL_WORDS = 2.0        # factor when the title holds every word of the query
_SENTENCE_BREAK = re.compile(r"[。！？!?\n]")


def rank(view: IndexView, query: ParsedQuery, docs, need: int) -> list[tuple[float, int]]:
    """The top `need` of the matched documents: BM25F, then a proximity bonus on the best RANK_POOL;
    documents no query word scores follow, newest first. Over arrays: the scored documents (ascending)
    and their scores, so that a common word's hundreds of thousands of matches are not a dict."""
    words: list[str] = []
    for term in query.positive_terms():
        if term.kind == "latin":
            words.append(term.text)
        else:
            words.extend(query_words(term.text.replace(" ", "")) or [term.text])
    # Words nearly every report holds (的, 发展 in news) cost the most to score and
    # barely move BM25: leave them to matching.
    # In titles every word counts (their postings are short).
    limit = STOPWORD_SHARE * max(view.doc_count, 1)
    words = list(dict.fromkeys(words))
    body_words = [w for w in words if view.doc_count < 50 or view.doc_frequency("words", w) <= limit]
    matched = as_array(docs)
    scored, scores = matched[:0], np.zeros(0)
    if words and len(matched):
        postings = (sum(view.doc_frequency("words", w) for w in body_words)
                    + sum(view.doc_frequency("title_words", w) for w in words))
        if len(matched) * (len(words) * TEXT_SCORING_COST + TEXT_READING_COST) < postings:
            scored, scores = _score_by_text(view, words, body_words, matched)
        else:
            scored, scores = _score_by_postings(view, words, body_words, matched)
    needles = [t.needle for t in query.positive_terms() if not t.field]
    if len(needles) > 1 and len(scored):
        for i in _top(scored, scores, view.day_array, RANK_POOL, by_day=False).tolist():
            folded = view.folded(int(scored[i]))
            bonus = 1 + PROXIMITY_WEIGHT * _closeness(folded.text, needles)
            if len({j for _, _, j in find_spans(folded.title, needles)}) == len(needles):
                bonus *= TITLE_ALL_WORDS  # the title holds every word: what a known item looks like
            scores[i] = float(scores[i]) * bonus
    # The top `need` by a partition, not a sort of every scored document (的: 100,000 of them at 100k).
    top = _top(scored, scores, view.day_array, need)
    ranked = [(float(scores[i]), int(scored[i])) for i in top.tolist()]
    if len(ranked) < need:
        rest = DocArray(matched) - DocArray(scored)
        ranked.extend((0.0, d) for d in view.newest_first(rest, need - len(ranked)))
    return ranked


def _top(scored: np.ndarray, scores: np.ndarray, day: np.ndarray, need: int, by_day: bool = True) -> np.ndarray:
    """Indexes of the best `need` scores, best first: ties newest first (by_day), then by document
    number. Only the scores down to the need-th best can place: a partition first, every tie at the
    threshold kept, so that the order is exactly that of a full sort."""
    if need <= 0 or not len(scored):
        return np.zeros(0, dtype=np.intp)
    candidates = np.arange(len(scored))
    if len(scored) > 4 * need:
        threshold = -np.partition(-scores, need - 1)[need - 1]
        candidates = np.flatnonzero(scores >= threshold)
    keys = [scored[candidates]]
    if by_day:
        keys.append(-day[scored[candidates]].astype(np.int64))
    keys.append(-scores[candidates])
    return candidates[np.lexsort(keys)[:need]]

# -- the search -------------------------------------------------------------------


def _bm25_setup(view: IndexView, words: list[str]) -> tuple[dict[str, float], float]:
    """idf of each query word (from its document frequency in bodies) and the average body length."""
    count = view.doc_count or 1
    avg_body = view.total_length["words"] / max(len(view.lengths["words"]), 1) or 1.0
    idf = {w: math.log(1 + (count - df + 0.5) / (df + 0.5))
           for w in words for df in [max(view.doc_frequency("words", w), 1)]}
    return idf, avg_body


def _score_by_postings(view: IndexView, words: list[str], body_words: list[str],
                       docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25F of the query words over the matched documents (ascending), from the postings: body
    words with length normalization, title words boosted (titles are short: no normalization).
    The scored documents (ascending) and their scores; each score is summed in the order the
    words come, as a document's own loop would (the same floats, so the same order)."""
    idf, avg_body = _bm25_setup(view, words)
    k1, b = BM25_K1, BM25_B
    lengths = np.frombuffer(view.lengths["words"], dtype=np.uint32)
    scores = np.zeros(len(docs))
    touched = np.zeros(len(docs), dtype=bool)
    for field_name, field_words, boost in (("words", body_words, 1.0), ("title_words", words, TITLE_BOOST)):
        for word in field_words:
            ids, tfs = view.weights(field_name, word)
            if not len(ids):
                continue
            weight = boost * idf[word] * (k1 + 1)
            at, held = locate(ids, docs)
            tf = tfs[held].astype(np.float64)
            if field_name == "words":
                scores[at] += weight * tf / (tf + k1 * (1 - b + b * lengths[ids[held]] / avg_body))
            else:
                scores[at] += weight * tf / (tf + k1)
            touched[at] = True
    return docs[touched], scores[touched]


def _score_by_text(view: IndexView, words: list[str], body_words: list[str],
                   docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same BM25F as _score_by_postings, counted in the matched documents' cached texts
    (cheaper when few documents match common words): a word counts wherever its
    characters appear, as matching does."""
    idf, avg_body = _bm25_setup(view, words)
    in_body_too = set(body_words)
    latin = {w for w in words if LATIN_WORD.fullmatch(w)}
    k1, b = BM25_K1, BM25_B
    lengths = view.lengths["words"]
    scored: dict[int, float] = {}
    for docnum in docs.tolist():
        text, title, body_len = view.folded(docnum)
        norm = k1 * (1 - b + b * lengths[docnum] / avg_body)
        score = 0.0
        for word in words:
            counted = word in in_body_too
            if word not in latin:
                in_body = text.count(word, 0, body_len) if counted else 0
                in_title = title.count(word)
            else:
                in_body = len(latin_word_spans(text, word, 0, body_len)) if counted else 0
                in_title = len(latin_word_spans(title, word))
            if in_body:
                score += idf[word] * in_body * (k1 + 1) / (in_body + norm)
            if in_title:
                score += TITLE_BOOST * idf[word] * in_title * (k1 + 1) / (in_title + k1)
        if score:
            scored[docnum] = score
    return np.fromiter(scored, dtype=np.int64, count=len(scored)), np.fromiter(scored.values(), dtype=np.float64,
                                                                               count=len(scored))


def _closeness(text: str, needles: list[Needle]) -> float:
    """1.0 when all needles stand side by side somewhere, falling towards 0 as they spread apart;
    at least SAME_SENTENCE when they share a sentence."""
    spans = find_spans(text, needles)
    wanted = {i for _, _, i in spans}
    if len(wanted) < 2:
        return 0.0
    best = None
    best_lo = 0
    last: dict[int, tuple[int, int]] = {}
    for start, end, index in spans:
        last[index] = (start, end)
        if len(last) == len(wanted):
            lo = min(s for s, _ in last.values())
            window = end - lo
            if best is None or window < best:
                best, best_lo = window, lo
    if not best:
        return 0.0
    needed = sum(len(n.text) for n in needles)
    near = 1.0 / (1.0 + max(0, best - needed) / PROXIMITY_SCALE)
    if _SENTENCE_BREAK.search(text, best_lo, best_lo + best) is None:
        near = max(near, SAME_SENTENCE)
    return near
