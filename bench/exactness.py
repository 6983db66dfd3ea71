"""Exactness of matching: the engine's document sets against a plain scan of the cleaned texts.

Usage: python bench/exactness.py [--rebuild] [--corpus NAME ...] [--seed N] [--scale F]

NAME is a shared corpus (gator_reports, xwlb_stories: indexed here when needed) or scale_<N>, a
synthetic archive of bench/scale_bench.py that an earlier `scale_bench.py --sizes N --build-only`
(or --keep) left built: `--corpus gator_reports xwlb_stories scale_100000` checks all three (the
report's section holds the corpora of the last run).

Queries are generated from the cleaned texts themselves (seeded): random substrings of 1-8
characters as quoted phrases (single characters and ones crossing jieba word boundaries
included), unquoted CJK words, word pairs, Latin words (case and width varied), mixed
Latin+CJK phrases and words, exclusions and OR, and a few title: queries; and phrases of 3-6
characters made of the corpus's most frequent bigrams (cut from the texts around one, or chained
from overlapping ones, which often occur apart but not together), alone and excluded: the runs
the bigram positions decide, where every bigram is in most documents. Each query carries
its expected meaning as plain conditions (DESIGN.md §3), evaluated by a scan over the folded
texts; the engine's exact match set (ArchiveSearcher.match) must equal it, both directions.

The generators and the oracle are importable (for a small test-suite version):
    generate_queries(texts, rng, titles=None, counts=None) -> list[GenQuery]
    expected_docs(query, corpus: ScanCorpus) -> set[int]   (indexes into texts)
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.analysis import LATIN_WORD, get_jieba, latin_words, query_words  # noqa: E402
from indexer.normalize import fold, normalize_query_text  # noqa: E402
from indexer.textrules import CJK_CHARS  # noqa: E402

CORPORA = ("gator_reports", "xwlb_stories")
# Characters a generated phrase may not hold: quote marks (query syntax) and line breaks
# (a search box holds one line).
_FORBIDDEN = set('"\u201c\u201d\uff02\u300c\u300d\n\r')
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_IS_CJK = re.compile(f"^[{CJK_CHARS}]+$")
_MIXED_EDGE = re.compile(f"[0-9a-z][{CJK_CHARS}]|[{CJK_CHARS}][0-9a-z]")
_OPERATOR_WORDS = {"or", "and", "not"}   # upper-cased they are operators, not words

DEFAULT_COUNTS = {
    "phrase-1char": 40,
    "phrase-2-8": 140,
    "phrase-cross": 90,
    "phrase-space": 30,
    "phrase-variant": 40,
    "word": 90,
    "word-pair": 60,
    "latin": 60,
    "mixed-phrase": 35,
    "mixed-word": 25,
    "exclude": 30,
    "or": 25,
    "title": 20,
    "phrase-title": 30,
    "phrase-common": 80,
    "exclude-common": 20,
}
FREQUENT_BIGRAMS = 150      # the common-character phrases are made of these
BIGRAM_SAMPLE = 3000        # texts counted for them


# -- the query model ---------------------------------------------------------------------

@dataclass(frozen=True)
class Cond:
    """One thing a matching document holds: a substring ("sub") or a whole Latin word ("latin")."""

    kind: str
    text: str
    field: str = ""     # "" the whole text, "title" the title only


@dataclass(frozen=True)
class GenQuery:
    """A generated query: its string, and its meaning as conditions (AND of ORs of ANDs, minus excluded)."""

    kind: str
    q: str
    clauses: tuple[tuple[tuple[Cond, ...], ...], ...]
    excluded: tuple[tuple[Cond, ...], ...] = ()    # each excluded unit: documents matching all its conds
    source: int | None = None                      # index of the text it was drawn from (it must match)


@dataclass
class ScanCorpus:
    """Folded texts (and titles) for the plain scan, with whole-word Latin sets made lazily."""

    folded: list[str]
    folded_titles: list[str] = field(default_factory=list)
    _latin: dict = field(default_factory=dict)
    _title_latin: dict = field(default_factory=dict)

    def latin(self, i: int, title: bool = False) -> set[str]:
        cache = self._title_latin if title else self._latin
        words = cache.get(i)
        if words is None:
            words = cache[i] = set(latin_words(self.folded_titles[i] if title else self.folded[i]))
        return words


def _holds(corpus: ScanCorpus, i: int, cond: Cond) -> bool:
    title = cond.field == "title"
    if cond.kind == "latin":
        return cond.text in corpus.latin(i, title)
    return cond.text in (corpus.folded_titles[i] if title else corpus.folded[i])


def _all_docs(corpus: ScanCorpus, conds: tuple[Cond, ...], within=None) -> set[int]:
    pool = range(len(corpus.folded)) if within is None else within
    return {i for i in pool if all(_holds(corpus, i, c) for c in conds)}


def expected_docs(query: GenQuery, corpus: ScanCorpus) -> set[int]:
    """The plain-scan answer: indexes of the texts that satisfy the query's conditions."""
    docs: set[int] | None = None
    for clause in query.clauses:
        found: set[int] = set()
        for alternative in clause:
            found |= _all_docs(corpus, alternative, docs)
        docs = found
    if docs is None:
        docs = set(range(len(corpus.folded)))
    for unit in query.excluded:
        docs -= _all_docs(corpus, unit, docs)
    return docs


# -- meanings of query pieces (DESIGN.md §3) ---------------------------------------------

def phrase_conds(display: str, field_name: str = "") -> tuple[Cond, ...]:
    """A quoted phrase: its normalized characters contiguously."""
    return (Cond("sub", normalize_query_text(display), field_name),)


def word_conds(display: str, field_name: str = "") -> tuple[Cond, ...]:
    """An unquoted word: Latin words whole, each CJK run's jieba words as substrings."""
    folded = normalize_query_text(display)
    conds: list[Cond] = []
    for piece in re.finditer(f"(?P<cjk>[{CJK_CHARS}]+)|(?P<latin>{LATIN_WORD.pattern})", folded):
        if piece.group("latin"):
            conds.append(Cond("latin", piece.group("latin"), field_name))
        else:
            words = query_words(piece.group("cjk")) or [piece.group("cjk")]
            conds.extend(Cond("sub", w, field_name) for w in words)
    return tuple(dict.fromkeys(conds))


# -- generators ----------------------------------------------------------------------------

def _ok_phrase(s: str) -> bool:
    return bool(s.strip()) and not (_FORBIDDEN & set(s)) and bool(normalize_query_text(s))


def _random_substring(rng: random.Random, text: str, length: int) -> tuple[str, int] | None:
    if len(text) < length:
        return None
    for _ in range(20):
        start = rng.randrange(0, len(text) - length + 1)
        s = text[start:start + length]
        if _ok_phrase(s):
            return s, start
    return None


def _quoted(s: str) -> str:
    return f'"{s}"'


def _jieba_tokens(folded: str) -> list[tuple[str, int, int]]:
    return list(get_jieba().tokenize(folded))


def _gen_phrase(rng, texts, n, lengths, kind):
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(texts))
        found = _random_substring(rng, texts[i], rng.choice(lengths))
        if found:
            out.append(GenQuery(kind, _quoted(found[0]), ((phrase_conds(found[0]),),), source=i))
    return out


def _gen_cross(rng, texts, n):
    """Phrases that cross a jieba word boundary, usually starting or ending inside a word."""
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(texts))
        text = texts[i]
        if len(text) < 4:
            continue
        lo = rng.randrange(0, max(1, len(text) - 200))
        window = text[lo:lo + 200]
        tokens = _jieba_tokens(fold(window))
        pairs = [(a, b) for a, b in zip(tokens, tokens[1:])
                 if _IS_CJK.match(a[0]) and _IS_CJK.match(b[0]) and (len(a[0]) > 1 or len(b[0]) > 1)]
        if not pairs:
            continue
        (w1, s1, e1), (w2, s2, e2) = rng.choice(pairs)
        left = rng.randint(1, min(3, len(w1)))
        right = rng.randint(1, min(3, len(w2)))
        if left == len(w1) and right == len(w2) and len(w1) > 1:
            left -= 1      # start inside the first word
        phrase = window[e1 - left:s2 + right]
        if _ok_phrase(phrase) and len(phrase) >= 2:
            out.append(GenQuery("phrase-cross", _quoted(phrase), ((phrase_conds(phrase),),), source=i))
    return out


def _gen_spaced(rng, texts, n):
    """Phrases holding a space (Latin text, numbers and units), e.g. "deep learning", "6 | -1"."""
    spaced = [i for i, t in enumerate(texts) if re.search(r"\S \S", t)]
    out = []
    tries = 0
    while spaced and len(out) < n and tries < n * 50:
        tries += 1
        i = rng.choice(spaced)
        positions = [m.start() + 1 for m in re.finditer(r"\S \S", texts[i])]
        pos = rng.choice(positions)
        phrase = texts[i][max(0, pos - rng.randint(1, 5)):pos + 1 + rng.randint(1, 5)]
        if _ok_phrase(phrase):
            out.append(GenQuery("phrase-space", _quoted(phrase), ((phrase_conds(phrase),),), source=i))
    return out


def _variant(rng: random.Random, s: str) -> str:
    """The same phrase as a user might type it: traditional characters, full-width or upper case."""
    choice = rng.random()
    if choice < 0.5:
        from opencc import OpenCC
        return OpenCC("s2t").convert(s)
    if choice < 0.75:
        return _to_fullwidth(s)
    return s.upper()


def _gen_variants(rng, texts, n):
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(texts))
        found = _random_substring(rng, texts[i], rng.randint(2, 8))
        if not found:
            continue
        phrase = _variant(rng, found[0])
        if phrase != found[0] and _ok_phrase(phrase):
            out.append(GenQuery("phrase-variant", _quoted(phrase), ((phrase_conds(phrase),),), source=i))
    return out


def _cjk_words(text: str, rng: random.Random, span: int = 300) -> list[str]:
    lo = rng.randrange(0, max(1, len(text) - span))
    return [w for w in query_words(fold(text[lo:lo + span])) if _IS_CJK.match(w) and 2 <= len(w) <= 4]


def _gen_words(rng, texts, n):
    """Unquoted CJK words of 2-4 characters: half jieba words, half arbitrary CJK runs."""
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(texts))
        if len(out) % 2 == 0:
            words = _cjk_words(texts[i], rng)
            if not words:
                continue
            word = rng.choice(words)
        else:
            runs = [r for r in _CJK_RUN.findall(texts[i]) if len(r) >= 2]
            if not runs:
                continue
            run = rng.choice(runs)
            size = rng.randint(2, min(4, len(run)))
            start = rng.randrange(0, len(run) - size + 1)
            word = run[start:start + size]
        out.append(GenQuery("word", word, ((word_conds(word),),), source=i))
    return out


def _gen_pairs(rng, texts, n):
    """"A B": two words ANDed, mostly from the same text, sometimes from two texts."""
    out = []
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(texts))
        words = _cjk_words(texts[i], rng, 1000)
        if len(words) < 2:
            continue
        a = rng.choice(words)
        source = i
        if rng.random() < 0.3:
            other = _cjk_words(texts[rng.randrange(len(texts))], rng)
            if not other:
                continue
            b, source = rng.choice(other), None
        else:
            b = rng.choice(words)
        if a == b:
            continue
        out.append(GenQuery("word-pair", f"{a} {b}", ((word_conds(a),), (word_conds(b),)), source=source))
    return out


def _to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _gen_latin(rng, texts, folded, n):
    """Latin words and numbers, whole word; the query's case and width varied."""
    with_latin = [i for i, f in enumerate(folded) if LATIN_WORD.search(f)]
    out = []
    tries = 0
    while with_latin and len(out) < n and tries < n * 50:
        tries += 1
        i = rng.choice(with_latin)
        matches = list(LATIN_WORD.finditer(folded[i]))
        m = rng.choice(matches)
        word = texts[i][m.start():m.end()]          # as displayed
        variant = rng.random()
        if variant < 0.25 and m.group().lower() not in _OPERATOR_WORDS:
            word = word.upper()
        elif variant < 0.4 and m.group().isascii():
            word = _to_fullwidth(word)
        elif variant < 0.55:
            word = word.lower()
        conds = word_conds(word)
        if not conds:
            continue
        out.append(GenQuery("latin", word, ((conds,),), source=i))
    return out


def _gen_mixed(rng, texts, folded, n_phrase, n_word):
    """Latin next to CJK: quoted phrases over the edge, and unquoted Latin+CJK words (AI芯片)."""
    edges = []
    for i, f in enumerate(folded):
        for m in _MIXED_EDGE.finditer(f):
            edges.append((i, m.start() + 1))
            if len(edges) > 200_000:
                break
    out: list[GenQuery] = []
    if not edges:
        return out
    tries = 0
    while len(out) < n_phrase and tries < n_phrase * 50:
        tries += 1
        i, edge = rng.choice(edges)
        text = texts[i]
        left, right = rng.randint(1, 4), rng.randint(1, 4)
        phrase = text[max(0, edge - left):edge + right]
        if _ok_phrase(phrase):
            out.append(GenQuery("mixed-phrase", _quoted(phrase), ((phrase_conds(phrase),),), source=i))
    tries = 0
    count = 0
    while count < n_word and tries < n_word * 50:
        tries += 1
        i, edge = rng.choice(edges)
        f = folded[i]
        lo, hi = edge, edge
        while lo > 0 and (LATIN_WORD.match(f[lo - 1]) or _IS_CJK.match(f[lo - 1])) and edge - lo < 6:
            lo -= 1
        while hi < len(f) and (LATIN_WORD.match(f[hi]) or _IS_CJK.match(f[hi])) and hi - edge < 6:
            hi += 1
        word = texts[i][lo:hi]
        conds = word_conds(word)
        if not conds or not _ok_phrase(word) or " " in word:
            continue
        # A word cut from a longer Latin word is not a whole word: the text need not match.
        out.append(GenQuery("mixed-word", word, ((conds,),), source=None))
        count += 1
    return out


def _gen_bool(rng, texts, n_exclude, n_or):
    """Exclusions (-word, -"phrase", NOT word) and OR, from words of the texts."""
    out = []
    tries = 0
    while len(out) < n_exclude and tries < n_exclude * 50:
        tries += 1
        i = rng.randrange(len(texts))
        words = _cjk_words(texts[i], rng, 1000)
        if len(words) < 2:
            continue
        a, b = rng.sample(words, 2)
        if a == b:
            continue
        if rng.random() < 0.5:                       # exclude a word of another text
            other = _cjk_words(texts[rng.randrange(len(texts))], rng)
            if other:
                b = rng.choice(other)
        style = len(out) % 3
        if style == 0:
            q, excluded = f"{a} -{b}", (word_conds(b),)
        elif style == 1:
            q, excluded = f"{a} NOT {b}", (word_conds(b),)
        else:
            found = _random_substring(rng, texts[rng.randrange(len(texts))], rng.randint(2, 4))
            if not found:
                continue
            q, excluded = f'{a} -"{found[0]}"', (phrase_conds(found[0]),)
        out.append(GenQuery("exclude", q, ((word_conds(a),),), excluded))
    tries = 0
    count = 0
    while count < n_or and tries < n_or * 50:
        tries += 1
        picks = []
        for _ in range(3):
            words = _cjk_words(texts[rng.randrange(len(texts))], rng)
            if words:
                picks.append(rng.choice(words))
        if len(picks) < 3 or len(set(picks)) < 3:
            continue
        a, b, c = picks
        if count % 2 == 0:
            q = f"{a} OR {b}"
            clauses = ((word_conds(a), word_conds(b)),)
        else:
            q = f'{a} "{b}" OR {c}'                  # a AND ("b" OR c)
            clauses = ((word_conds(a),), (phrase_conds(b), word_conds(c)))
        out.append(GenQuery("or", q, clauses))
        count += 1
    return out


def _gen_title(rng, texts, titles, n):
    out = []
    tries = 0
    while titles and len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(titles))
        words = [w for w in query_words(fold(titles[i])) if _IS_CJK.match(w) and len(w) >= 2]
        if not words:
            continue
        word = rng.choice(words)
        if rng.random() < 0.5:
            out.append(GenQuery("title", f"title:{word}", ((word_conds(word, "title"),),), source=i))
        else:
            out.append(GenQuery("title", f'title:"{word}"', ((phrase_conds(word, "title"),),), source=i))
    return out


def _gen_title_phrases(rng, texts, titles, n):
    """A whole title (or a long piece of it) as a quoted phrase: a user pasting a report's title."""
    out = []
    tries = 0
    while titles and len(out) < n and tries < n * 50:
        tries += 1
        i = rng.randrange(len(titles))
        title = titles[i].strip()
        if len(title) > 12 and rng.random() < 0.5:
            start = rng.randrange(0, len(title) - 8)
            title = title[start:start + rng.randint(8, 12)]
        if _ok_phrase(title):
            out.append(GenQuery("phrase-title", _quoted(title), ((phrase_conds(title),),), source=i))
    return out


def _frequent_bigrams(rng, texts) -> list[str]:
    """The most frequent CJK bigrams of (a sample of) the display texts."""
    counts = Counter()
    for text in rng.sample(texts, min(len(texts), BIGRAM_SAMPLE)):
        for run in _CJK_RUN.findall(text):
            counts.update(map(str.__add__, run, run[1:]))
    return [gram for gram, _ in counts.most_common(FREQUENT_BIGRAMS)]


def _common_phrase(rng, texts, frequent: list[str], by_first: dict) -> tuple[str, int | None] | None:
    """A 3-6 character phrase of common characters: cut from a text around a frequent bigram, or
    chained from frequent bigrams that overlap by a character (occurring or not)."""
    length = rng.randint(3, 6)
    gram = rng.choice(frequent)
    if rng.random() < 0.5:
        for _ in range(30):
            i = rng.randrange(len(texts))
            at = texts[i].find(gram)
            if at < 0:
                continue
            start = max(0, at - rng.randint(0, length - 2))
            phrase = texts[i][start:start + length]
            if len(phrase) == length and _IS_CJK.match(phrase):
                return phrase, i
        return None
    phrase = gram
    while len(phrase) < length and by_first.get(phrase[-1]):
        phrase += rng.choice(by_first[phrase[-1]])[1]
    return (phrase, None) if len(phrase) >= 3 else None


def _gen_common(rng, texts, n_phrase, n_exclude):
    """Phrases of the most frequent characters (see _common_phrase), quoted, unquoted and excluded."""
    frequent = _frequent_bigrams(rng, texts)
    by_first = defaultdict(list)
    for gram in frequent:
        by_first[gram[0]].append(gram)
    out = []
    tries = 0
    while frequent and len(out) < n_phrase + n_exclude and tries < (n_phrase + n_exclude) * 50:
        tries += 1
        found = _common_phrase(rng, texts, frequent, by_first)
        if not found or not _ok_phrase(found[0]):
            continue
        phrase, source = found
        if len(out) < n_phrase:
            out.append(GenQuery("phrase-common", _quoted(phrase), ((phrase_conds(phrase),),), source=source))
        else:
            word = rng.choice(frequent)
            out.append(GenQuery("exclude-common", f'{word} -"{phrase}"', ((word_conds(word),),),
                                (phrase_conds(phrase),)))
    return out


def generate_queries(texts: list[str], rng: random.Random | int = 0, titles: list[str] | None = None,
                     counts: dict[str, int] | None = None) -> list[GenQuery]:
    """Queries drawn from cleaned display texts; counts per kind (DEFAULT_COUNTS by default)."""
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    folded = [fold(t) for t in texts]
    queries: list[GenQuery] = []
    queries += _gen_phrase(rng, texts, counts["phrase-1char"], [1], "phrase-1char")
    queries += _gen_phrase(rng, texts, counts["phrase-2-8"], list(range(2, 9)), "phrase-2-8")
    queries += _gen_cross(rng, texts, counts["phrase-cross"])
    queries += _gen_spaced(rng, texts, counts["phrase-space"])
    queries += _gen_variants(rng, texts, counts["phrase-variant"])
    queries += _gen_words(rng, texts, counts["word"])
    queries += _gen_pairs(rng, texts, counts["word-pair"])
    queries += _gen_latin(rng, texts, folded, counts["latin"])
    queries += _gen_mixed(rng, texts, folded, counts["mixed-phrase"], counts["mixed-word"])
    queries += _gen_bool(rng, texts, counts["exclude"], counts["or"])
    queries += _gen_title(rng, texts, titles or [], counts["title"])
    queries += _gen_title_phrases(rng, texts, titles or [], counts["phrase-title"])
    queries += _gen_common(rng, texts, counts.get("phrase-common", 0), counts.get("exclude-common", 0))
    return queries


# -- the check ------------------------------------------------------------------------------

@dataclass
class Outcome:
    query: GenQuery
    expected: set[int]
    got: set[int]
    seconds: float

    @property
    def missing(self) -> set[int]:
        return self.expected - self.got

    @property
    def extra(self) -> set[int]:
        return self.got - self.expected


def run_check(searcher, docs, queries: list[GenQuery]) -> tuple[list[Outcome], list[str]]:
    """Each query through the engine's match and through the scan; docs from bench.common.load_docs."""
    from indexer.query import SearchRequest, parse_query

    view = searcher.view()
    index_of = {d.docnum: i for i, d in enumerate(docs)}
    corpus = ScanCorpus([d.folded for d in docs], [d.folded_title for d in docs])
    outcomes = []
    errors = []
    for query in queries:
        started = time.perf_counter()
        try:
            got_docnums = searcher.match(view, parse_query(query.q), SearchRequest())
        except Exception as exc:   # a generated query must never error
            errors.append(f"{query.q!r}: {type(exc).__name__}: {exc}")
            continue
        seconds = time.perf_counter() - started
        got = {index_of[d] for d in got_docnums}
        outcomes.append(Outcome(query, expected_docs(query, corpus), got, seconds))
    return outcomes, errors


def _context(folded: str, display: str, needle: str, width: int = 30) -> str:
    pos = folded.find(needle) if needle else -1
    if pos < 0:
        return display[:2 * width] + "…"
    lo, hi = max(0, pos - width), min(len(display), pos + len(needle) + width)
    return ("…" if lo else "") + display[lo:pos] + "【" + display[pos:pos + len(needle)] + "】" + display[pos + len(needle):hi] + ("…" if hi < len(display) else "")


def _example(outcome: Outcome, docs, direction: str) -> str:
    which = sorted(outcome.missing if direction == "missing" else outcome.extra)
    i = which[0]
    doc = docs[i]
    subs = [c.text for clause in outcome.query.clauses for alt in clause for c in alt if c.kind == "sub"]
    needle = next((s for s in subs if s in doc.folded), subs[0] if subs else "")
    return (f"`{outcome.query.q}` ({outcome.query.kind}): {len(which)} {direction}, e.g. doc {doc.id} "
            f"«{_context(doc.folded, doc.text, needle)}»")


def _raw_phrase(query: GenQuery) -> str:
    q = query.q
    return q[1:-1] if q.startswith('"') and q.endswith('"') else ""


def summarize(name: str, outcomes: list[Outcome], errors: list[str], docs, seconds: float) -> tuple[str, dict]:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.query.kind].append(o)
    rows = []
    totals = Counter()
    for kind in [*DEFAULT_COUNTS, *sorted(set(by_kind) - set(DEFAULT_COUNTS))]:
        group = by_kind.get(kind, [])
        if not group:
            continue
        bad_q = sum(1 for o in group if o.missing or o.extra)
        missing = sum(len(o.missing) for o in group)
        extra = sum(len(o.extra) for o in group)
        empty = sum(1 for o in group if not o.expected)
        source_lost = sum(1 for o in group if o.query.source is not None and o.query.source not in o.expected)
        expected_docs_n = sum(len(o.expected) for o in group)
        ms = sorted(o.seconds * 1000 for o in group)
        rows.append([kind, len(group), f"{expected_docs_n:,}", empty, bad_q, missing, extra, source_lost,
                     f"{ms[len(ms) // 2]:.1f} / {ms[-1]:.0f}"])
        totals.update(queries=len(group), expected=expected_docs_n, bad=bad_q, missing=missing, extra=extra,
                      source_lost=source_lost, empty=empty)
    rows.append(["**all**", totals["queries"], f"{totals['expected']:,}", totals["empty"], totals["bad"],
                 totals["missing"], totals["extra"], totals["source_lost"], ""])
    from bench.common import md_table
    table = md_table(["query type", "queries", "expected doc hits", "empty", "mismatched queries",
                      "missing docs", "extra docs", "source doc not matched", "match ms p50 / max"], rows)
    lines = [f"### {name} ({len(docs):,} documents, {totals['queries']} queries, {seconds:.1f} s)", "", table, ""]
    mismatched = [o for o in outcomes if o.missing or o.extra]
    if mismatched:
        lines.append("Mismatches (first 15):")
        lines.append("")
        for o in mismatched[:15]:
            if o.missing:
                lines.append("- " + _example(o, docs, "missing"))
            if o.extra:
                lines.append("- " + _example(o, docs, "extra"))
        lines.append("")
    lost = [o for o in outcomes if o.query.source is not None and o.query.source not in o.expected]
    if lost:
        lines.append("Queries cut from a document's display text whose normalized form that document does "
                     "not contain (normalization of queries and texts disagree; first 10):")
        lines.append("")
        in_title = sum(1 for o in lost if _raw_phrase(o.query) and _raw_phrase(o.query) in docs[o.query.source].title)
        lines.append(f"{in_title} of these {len(lost)} lie in the document's title, which the text starts with "
                     "but which (unlike the body) still has spaces next to CJK characters, while the query's "
                     "normalization removes them.")
        lines.append("")
        for o in lost[:10]:
            d = docs[o.query.source]
            lines.append(f"- `{o.query.q}` ({o.query.kind}) from doc {d.id}: normalized "
                         f"{[c.text for cl in o.query.clauses for a in cl for c in a]}")
        lines.append("")
    if errors:
        lines.append(f"Errors ({len(errors)}): " + "; ".join(errors[:5]))
        lines.append("")
    return "\n".join(lines), dict(totals)


def main(argv: list[str] | None = None) -> int:
    from bench.common import ensure_index, load_docs, machine, stamp, write_section
    from indexer.search import ArchiveSearcher
    from indexer.query import parse_request

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the corpus indexes again")
    parser.add_argument("--corpus", nargs="*", default=list(CORPORA))
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the query counts")
    parser.add_argument("--no-report", action="store_true", help="do not write bench/REPORT.md")
    args = parser.parse_args(argv)

    counts = {k: max(1, round(v * args.scale)) for k, v in DEFAULT_COUNTS.items()}
    sections = []
    all_ok = True
    for name in args.corpus:
        if re.fullmatch(r"scale_\d+", name):     # a synthetic archive of bench/scale_bench.py, built by it
            from bench.scale_bench import settings_for
            settings = settings_for(int(name.split("_")[1]))
            if not (settings.index.dir / "live").exists():
                raise SystemExit(f"no index of {name}: python bench/scale_bench.py --sizes {name.split('_')[1]} "
                                 "--build-only")
        else:
            settings, _ = ensure_index(name, args.rebuild)
        searcher = ArchiveSearcher(settings)
        view, docs = load_docs(searcher)
        rng = random.Random(f"{args.seed}:{name}")
        queries = generate_queries([d.text for d in docs], rng, [d.title for d in docs], counts)
        started = time.perf_counter()
        outcomes, errors = run_check(searcher, docs, queries)
        # The API path reports the same total as the exact match set.
        api_diff = []
        for o in outcomes[::10]:
            total = searcher.search(parse_request({"q": o.query.q, "size": 10}, settings))["total"]
            if total != len(o.got):
                api_diff.append(f"`{o.query.q}`: search total {total} vs match {len(o.got)}")
        seconds = time.perf_counter() - started
        text, totals = summarize(name, outcomes, errors, docs, seconds)
        text += (f"\nAPI check: search() total equals the match set size for {len(outcomes[::10]) - len(api_diff)}"
                 f" of {len(outcomes[::10])} sampled queries." + (" Differences: " + "; ".join(api_diff[:5]) if api_diff else "") + "\n")
        print(text)
        sections.append(text)
        all_ok &= not (totals["missing"] or totals["extra"] or errors or api_diff)
    if not args.no_report:
        intro = (f"Engine match sets (`ArchiveSearcher.match`) against a plain scan of the folded cleaned texts "
                 f"(stored field `text`, `fold`ed). Seed {args.seed}; {machine()}. Expected meaning per DESIGN.md §3: "
                 "a quoted phrase = its normalized characters contiguously; an unquoted CJK word = each of its jieba "
                 "words (`query_words`) as a substring; a Latin word = in `latin_words(folded text)`; `A B` ANDed; "
                 "`-x`/`NOT x` removes the documents `x` alone would match; `title:` the same on the title. "
                 "'source doc not matched' counts queries cut from a document that the scan itself does not find in "
                 "that document (a normalization disagreement, not an engine mismatch). Target: zero mismatches.")
        write_section("Exactness", "exactness.py", f"_{stamp()}_\n\n" + intro + "\n\n" + "\n".join(sections))
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
