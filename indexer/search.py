"""Search: the lenient query language, exact matching, BM25F ranking, snippets, facets, pages.

Matching is exact by construction: character n-gram postings (no positions) give a
superset of the documents that hold a substring, and the cleaned text itself decides.
Ranking is BM25F over jieba words (title boosted, boilerplate not indexed for ranking),
plus a bonus when the query's words stand close together; ties go to the newest report.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
import time
from array import array
from collections import Counter
from itertools import chain
from dataclasses import dataclass, field
from datetime import date as Date
from typing import Mapping, NamedTuple

from indexer.analysis import LATIN_WORD, init_jieba, plan_substring, query_words
from indexer.config import Settings
from indexer.errors import IndexUnavailable, InvalidRequest, QueryTooLong
from indexer.normalize import CJK_CHARS, fold, normalize_query_text
from indexer.snippets import Needle, build_passages, find_spans, page_at
from indexer.textrules import latin_word_spans
from indexer.postings import SCORED_FIELDS, SegmentPostings, open_segment
from indexer.schema import TITLE_BOOST, stored_markup, stored_text
from indexer.store import IndexStore

FACETS = ("broker", "industry", "rating")
FILTER_PREFIXES = ("broker", "industry", "rating")
SORTS = ("relevance", "date")
RANK_POOL = 200              # candidates re-ranked with the proximity bonus
POSTINGS_CACHE_IDS = 4_000_000   # document ids kept per generation (about 150 MB at most)
TEXT_CACHE_CHARS = 120_000_000   # folded texts kept per process (about 250-500 MB): oldest go first
# Scoring a matched document from its cached text costs about this many postings read:
# the cheaper of the two is used (a few hundred matches of common words).
TEXT_SCORING_COST = 3
BM25_K1, BM25_B = 1.2, 0.75
STOPWORD_SHARE = 0.6         # a word in more than this share of documents adds nothing to ranking
PROXIMITY_WEIGHT = 3.0
PROXIMITY_SCALE = 16         # characters between the query's words that halve the bonus
SAME_SENTENCE = 0.5          # the least closeness of words in one sentence
TITLE_ALL_WORDS = 2.0        # factor when the title holds every word of the query
_SENTENCE_BREAK = re.compile(r"[。！？!?\n]")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\uff02": '"', "\u300c": '"', "\u300d": '"'})
_TOKEN = re.compile(r'(?P<neg>-)?(?:(?P<field>[A-Za-z]+):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))')
_PIECE = re.compile(f"(?P<cjk>[{CJK_CHARS}]+)|(?P<latin>{LATIN_WORD.pattern})")


@dataclass(frozen=True)
class Term:
    """One thing a document must contain, in matching (folded) form."""

    text: str
    kind: str           # "word" (CJK, substring), "latin" (whole word), "phrase" (substring)
    field: str = ""     # "" for the whole text, "title" for the title only

    @property
    def needle(self) -> Needle:
        return Needle(self.text, whole_word=self.kind == "latin")

    def label(self) -> str:
        shown = f'"{self.text}"' if self.kind == "phrase" else self.text
        return f"{self.field}:{shown}" if self.field else shown


@dataclass
class ParsedQuery:
    """How a query was understood: AND of clauses (each an OR of alternatives), exclusions, filters."""

    raw: str
    clauses: list[list[list[Term]]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    segmentation: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def positive_terms(self) -> list[Term]:
        seen = dict.fromkeys(t for clause in self.clauses for alt in clause for t in alt)
        return list(seen)

    def is_empty(self) -> bool:
        return not self.clauses and not self.excluded and not self.filters

    def to_json(self) -> dict:
        terms = self.positive_terms()
        return {
            "terms": [t.label() for t in terms if t.kind != "phrase"],
            "phrases": [t.text for t in terms if t.kind == "phrase"],
            "excluded": [t.label() for t in self.excluded],
            "any_of": [[" ".join(t.label() for t in alt) for alt in clause] for clause in self.clauses if len(clause) > 1],
            "filters": self.filters,
            "segmentation": " / ".join(w for words in self.segmentation for w in words),
            "notes": self.notes,
        }


def _unit_terms(text: str, field_name: str, query: ParsedQuery, segment: bool) -> list[Term]:
    folded = normalize_query_text(text)
    terms: list[Term] = []
    for piece in _PIECE.finditer(folded):
        if piece.group("latin"):
            terms.append(Term(piece.group("latin"), "latin", field_name))
            if segment:
                query.segmentation.append([piece.group("latin")])
        elif segment:
            words = query_words(piece.group("cjk")) or [piece.group("cjk")]
            query.segmentation.append(words)
            terms.extend(Term(w, "word", field_name) for w in words)
        else:
            terms.append(Term(piece.group("cjk"), "word", field_name))
    return terms


def parse_query(raw: str, max_terms: int = 32) -> ParsedQuery:
    """Understand a query; never raises on syntax (it degrades to plain words and says so)."""
    query = ParsedQuery(raw=raw)
    # Chinese quotes delimit phrases too, unless ASCII quotes do (then they are text).
    text = raw if '"' in raw else raw.translate(_QUOTES)
    if text.count('"') % 2:
        last = text.rfind('"')
        text = text[:last] + " " + text[last + 1:]
        query.notes.append("an unmatched quote was ignored")
    pending_or = pending_not = False
    for match in _TOKEN.finditer(text):
        negate = bool(match.group("neg")) or pending_not
        pending_not = False
        prefix = (match.group("field") or "").lower()
        phrase, word = match.group("phrase"), match.group("word")
        if word in ("OR", "|") and not prefix and not match.group("neg"):
            if query.clauses:
                pending_or = True
            else:
                query.notes.append("OR at the start was ignored")
            continue
        if word in ("AND", "&&") and not prefix:
            continue
        if word == "NOT" and not prefix and not match.group("neg"):
            pending_not = True
            continue
        if word is not None and match.group("neg") and word == "":
            continue
        if prefix and prefix not in FILTER_PREFIXES and prefix != "title":
            # Not one of ours ("12:30", "http:"): the whole thing is plain text.
            word = f"{match.group('field')}:{word if word is not None else phrase}"
            phrase, prefix = None, ""
        value = phrase if phrase is not None else word
        if prefix in FILTER_PREFIXES:
            cleaned = normalize_query_text(value or "")
            if not cleaned:
                query.notes.append(f"{prefix}: without a value was ignored")
            elif negate:
                query.notes.append(f"-{prefix}: is not supported; the filter was ignored")
            else:
                query.filters.setdefault(prefix, []).append(cleaned)
            continue
        field_name = "title" if prefix == "title" else ""
        if phrase is not None:
            folded = normalize_query_text(phrase)
            unit = [Term(folded, "phrase", field_name)] if folded else []
            if not unit:
                query.notes.append("an empty phrase was ignored")
        else:
            unit = _unit_terms(value, field_name, query, segment=not negate)
        if not unit:
            if value and value.strip("-"):
                query.notes.append(f"{value!r} has no searchable characters and was ignored")
            pending_or = False
            continue
        if negate:
            query.excluded.extend(unit)
        elif pending_or and query.clauses:
            query.clauses[-1].append(unit)
        else:
            query.clauses.append([unit])
        pending_or = False
    if pending_or:
        query.notes.append("OR at the end was ignored")
    if pending_not:
        query.notes.append("NOT at the end was ignored")
    count = sum(len(alt) for clause in query.clauses for alt in clause) + len(query.excluded)
    if count > max_terms:
        raise QueryTooLong(f"the query has {count} words and phrases; at most {max_terms} are allowed")
    return query


@dataclass(frozen=True)
class SearchRequest:
    """Validated search parameters, shared by the API, the pages and the CLI."""

    q: str = ""
    page: int = 1
    size: int = 10
    sort: str = "relevance"
    broker: str = ""
    industry: str = ""
    rating: str = ""
    date_from: str = ""
    date_to: str = ""
    indexed_from: float | None = None
    indexed_to: float | None = None

    def filters(self) -> dict[str, str]:
        return {k: v for k, v in (("broker", self.broker), ("industry", self.industry), ("rating", self.rating)) if v}


def _parse_int(params: Mapping, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, got {str(raw)[:40]!r}") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _parse_day(params: Mapping, name: str) -> str:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return ""
    try:
        return Date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidRequest(f"{name} must be a date like 2025-02-04, got {raw[:40]!r}") from None


def _parse_instant(params: Mapping, name: str) -> float | None:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return None
    from datetime import datetime, timezone
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO date or time like 2025-02-04T09:30:00, got {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000


def parse_request(params: Mapping, settings: Settings) -> SearchRequest:
    """Validate request parameters (from a query string or the CLI) into a SearchRequest."""
    limits = settings.search
    q = str(params.get("q") or "").strip()
    if len(q) > limits.max_query_chars:
        raise InvalidRequest(f"the query is {len(q)} characters long; at most {limits.max_query_chars} are allowed")
    sort = str(params.get("sort") or "relevance")
    if sort not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}, got {sort[:40]!r}")
    request = SearchRequest(
        q=q,
        page=_parse_int(params, "page", 1, 1, limits.max_page),
        size=_parse_int(params, "size", limits.default_size, 1, limits.max_size),
        sort=sort,
        broker=str(params.get("broker") or "").strip(),
        industry=str(params.get("industry") or "").strip(),
        rating=str(params.get("rating") or "").strip(),
        date_from=_parse_day(params, "from"),
        date_to=_parse_day(params, "to"),
        indexed_from=_parse_instant(params, "indexed_from"),
        indexed_to=_parse_instant(params, "indexed_to"),
    )
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise InvalidRequest(f"from ({request.date_from}) is after to ({request.date_to})")
    return request


COLUMNS = ("date", "broker", "industry", "rating", "content_hash", "added_at")


class TextCache:
    """Folded texts by content hash, shared across generations, bounded by total characters
    (the oldest entries go first). Safe to share between threads: single dict operations."""

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self.entries: dict[str, tuple["Folded", int]] = {}     # read directly by IndexView.holding

    def get(self, key: str) -> "Folded | None":
        found = self.entries.get(key)
        return found[0] if found is not None else None

    def put(self, key: str, value: "Folded", size: int) -> None:
        if key in self.entries:
            return
        self.entries[key] = (value, size)
        self.size += size
        while self.size > self.limit and len(self.entries) > 1:
            try:
                oldest = next(iter(self.entries))
                _, dropped = self.entries.pop(oldest)
            except (StopIteration, KeyError, RuntimeError):   # another thread got there first
                break
            self.size -= dropped

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0


class Folded(NamedTuple):
    """A document's matching forms: text (body, then boilerplate), title, length of the body."""

    text: str
    title: str
    body_len: int


class IndexView:
    """One generation of the index opened for searching, with its columns in memory.

    Column values are read once per segment (segments never change; a new generation
    mostly adds a small one), so a commit by the watcher costs the next search little.
    """

    def __init__(self, ix, build: str, texts: dict, segment_columns: dict):
        self.ix = ix
        self.build = build
        self.generation = ix.latest_generation()
        self.searcher = ix.searcher()
        self.lock = threading.Lock()    # Whoosh's stored fields and columns: one reader at a time
        reader = self.searcher.reader()
        self.live = frozenset(reader.all_doc_ids())
        self.columns: dict[str, list] = {name: [] for name in COLUMNS}
        self.segments: list[tuple[int, SegmentPostings]] = []
        self.lengths: dict[str, array] = {name: array("I") for name in SCORED_FIELDS}
        used = {}
        for leaf, offset in reader.leaf_readers():
            if leaf.segment() is None:      # an index with no documents yet
                continue
            key = (build, leaf.segment().segment_id())
            values = segment_columns.get(key)
            if values is None:
                values = {name: list(leaf.column_reader(name)) for name in COLUMNS}
                values["content_hash"] = [h.decode("utf-8") if isinstance(h, bytes) else h for h in values["content_hash"]]
                values["postings"] = open_segment(ix.storage.folder, leaf.segment().segment_id())
            used[key] = values
            for name in COLUMNS:
                self.columns[name].extend(values[name])
            postings = values["postings"]
            self.segments.append((offset, postings))
            for name in SCORED_FIELDS:
                self.lengths[name].extend(postings.lengths[name])
        segment_columns.clear()
        segment_columns.update(used)
        self.total_length = {name: sum(p.total_length[name] for _, p in self.segments) for name in SCORED_FIELDS}
        self.deleted = frozenset(range(len(self.columns["date"]))) - self.live if reader.has_deletions() else frozenset()
        self.date = self.columns["date"]
        self.hash = self.columns["content_hash"]
        self.added = self.columns["added_at"]
        self._texts = texts     # content hash -> (folded text, folded title): shared across generations
        self._by_value: dict[str, dict[str, set[int]]] = {}
        self._files = reader.column_reader("files") if self.live else {}
        # Newest first as a number: 20250204 for "2025-02-04", -1 for no date (sorts last).
        self.day = [int(d.replace("-", "")) if d else -1 for d in self.date]
        self.doc_count = len(self.live)
        self._postings: dict[tuple[str, str], frozenset[int]] = {}
        self._weights: dict[str, dict[int, int]] = {}
        self._postings_size = 0

    def docs_with(self, name: str, value: str) -> set[int]:
        """Live documents whose column `name` folds to `value` or contains it."""
        index = self._by_value.get(name)
        if index is None:
            index = {}
            for docnum in self.live:
                index.setdefault(fold(self.columns[name][docnum] or ""), set()).add(docnum)
            self._by_value[name] = index
        found: set[int] = set(index.get(value, ()))
        for known, docs in index.items():
            if known and known != value and value in known:
                found |= docs
        return found

    def close(self) -> None:
        self.searcher.close()

    def postings(self, fieldname: str, token: str) -> frozenset[int]:
        """The live documents holding a token, kept for this generation while the cache has room."""
        key = (fieldname, token)
        docs = self._postings.get(key)
        if docs is not None:
            return docs
        docs = frozenset(chain.from_iterable(p.docs(fieldname, token, base) for base, p in self.segments))
        if self.deleted and docs:
            docs = docs - self.deleted
        # Big posting lists (common characters) are the ones worth keeping; bound the total.
        if len(docs) > 256 and self._postings_size + len(docs) <= POSTINGS_CACHE_IDS:
            self._postings[key] = docs
            self._postings_size += len(docs)
        return docs

    def weights(self, fieldname: str, token: str) -> dict[int, int]:
        """{document: frequency} of a ranking word (deleted documents included: callers
        look up matched documents only)."""
        found = self._weights.get((fieldname, token))
        if found is not None:
            return found
        found = {}
        for base, p in self.segments:
            found.update(p.weights(fieldname, token, base))
        if len(found) > 256 and self._postings_size + len(found) <= POSTINGS_CACHE_IDS:
            self._weights[(fieldname, token)] = found
            self._postings_size += len(found)
        return found

    def doc_frequency(self, fieldname: str, token: str) -> int:
        return sum(p.df(fieldname, token) for _, p in self.segments)

    def folded(self, docnum: int) -> "Folded":
        """The folded text, title and body length of a document, cached by content hash."""
        key = self.hash[docnum]
        cached = self._texts.get(key)
        if cached is None:
            with self.lock:
                stored = self.searcher.stored_fields(docnum)
            cached = Folded(fold(stored_text(stored)), fold(stored["title"]), stored["body_len"])
            self._texts.put(key, cached, len(cached.text))
        return cached

    def holding(self, docs: set[int], term: Term) -> set[int]:
        """The documents among `docs` whose folded text (title, for title:) holds the term.

        The check of every candidate that postings cannot decide (习近平: 5,917 of them): the
        cache lookup of `folded` is inlined, a call per candidate costs more than the `in`.
        """
        part = 1 if term.field == "title" else 0
        if term.kind == "latin":
            return {d for d in docs if find_spans(self.folded(d)[part], [term.needle])}
        needle, entries, hashes, folded = term.text, self._texts.entries, self.hash, self.folded
        found = set()
        for d in docs:
            entry = entries.get(hashes[d])
            if needle in (entry[0] if entry is not None else folded(d))[part]:
                found.add(d)
        return found

    def files(self, docnum: int) -> dict:
        """{relative path: [size, mtime]} of every name a document's content has."""
        with self.lock:
            return self._files[docnum] or {}

    def stored(self, docnum: int) -> dict:
        """A document's stored fields, its text unpacked."""
        with self.lock:
            stored = dict(self.searcher.stored_fields(docnum))
        stored["text"] = stored_text(stored)
        return stored

    def doc_by_id(self, report_id: str) -> int | None:
        try:
            with self.lock:
                return self.searcher.document_number(id=report_id)
        except Exception:
            return None


def _exact_by_postings(term: Term) -> bool:
    """True when postings alone decide the term (no need to read the text)."""
    if term.field:
        return False
    if term.kind == "latin":
        return True
    return plan_substring(term.text).exact




class ArchiveSearcher:
    """Searches the live index; reopens it when the writer commits or a build is swapped in."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = IndexStore(settings)
        self._view: IndexView | None = None
        self._lock = threading.Lock()
        self._texts = TextCache(TEXT_CACHE_CHARS)
        self._segment_columns: dict = {}
        init_jieba(settings.var_dir / "jieba.cache", settings.index.user_dict)

    # -- the current generation -------------------------------------------------------
    def view(self) -> IndexView:
        """The view of the newest committed generation (opened again only when it changed)."""
        with self._lock:
            view = self._view
            try:
                build = str(self.store.live_build())
                if view is not None and view.build == build and view.ix.latest_generation() == view.generation:
                    return view
                ix = self.store.open()
                fresh = IndexView(ix, build, self._texts, self._segment_columns)
            except IndexUnavailable:
                raise
            except Exception as exc:
                if view is not None:
                    return view     # a generation being switched: keep serving the last one
                raise IndexUnavailable(f"the index cannot be read ({exc}): run `python -m indexer build`") from None
            if view is not None and view.build != build:
                self._texts.clear()
            self._view = fresh
            return fresh

    # -- matching -------------------------------------------------------------------------
    def _candidates(self, view: IndexView, term: Term) -> set[int]:
        if term.kind == "latin":
            return view.postings("latin", term.text)
        plan = plan_substring(term.text)
        sets = []
        for field_name, tokens in (("ngrams", plan.grams), ("latin", plan.words)):
            for token in tokens:
                docs = view.postings(field_name, token)
                if not docs:
                    return set()
                sets.append(docs)
        if not sets:
            return set(view.live)   # nothing to narrow with (punctuation, part of a word): check them all
        sets.sort(key=len)
        result = sets[0]
        for other in sets[1:]:
            result = result & other
            if not result:
                break
        return result

    def _match_alternative(self, view: IndexView, terms: list[Term], within: set[int] | None,
                           exact: bool = True, cache: dict | None = None) -> set[int]:
        """Documents holding every term (within `within`); exact=False: the postings' candidates only."""
        cache = {} if cache is None else cache
        for t in terms:
            if t not in cache:
                cache[t] = self._candidates(view, t)
        ordered = sorted(((cache[t], t) for t in terms), key=lambda pair: len(pair[0]))
        docs = set(within) if within is not None else None
        for candidates, _ in ordered:
            docs = candidates if docs is None else docs & candidates
            if not docs:
                return set()
        to_check = [t for _, t in ordered if not _exact_by_postings(t)] if exact else []
        if to_check:
            for term in to_check:
                docs = view.holding(docs, term)
        return docs

    def match(self, view: IndexView, query: ParsedQuery, request: SearchRequest) -> set[int]:
        """The exact set of documents the query and filters select."""
        docs: set[int] | None = self._filter_docs(view, query, request)
        cache: dict = {}
        if len(query.clauses) > 1:
            # Narrow by every clause's candidates first (set operations only), so that the text
            # checks run on documents all clauses may hold rather than on each clause's own
            # candidates (高质量发展 新质生产力: 3,705 checks -> the few hundred both may hold).
            for clause in sorted(query.clauses, key=len):
                maybe: set[int] = set()
                for alternative in clause:
                    maybe |= self._match_alternative(view, alternative, docs, exact=False, cache=cache)
                docs = maybe
                if not docs:
                    return set()
        for clause in sorted(query.clauses, key=len):
            found: set[int] = set()
            for alternative in clause:
                found |= self._match_alternative(view, alternative, docs, cache=cache)
            docs = found
            if not docs:
                return set()
        if docs is None:
            docs = set(view.live)
        for term in query.excluded:
            if not docs:
                break
            hit = self._candidates(view, term) & docs
            if hit and not _exact_by_postings(term):
                hit = view.holding(hit, term)
            docs -= hit
        return docs

    def _filter_docs(self, view: IndexView, query: ParsedQuery, request: SearchRequest) -> set[int] | None:
        wanted = {name: [fold(v)] for name, v in request.filters().items()}
        for name, values in query.filters.items():
            wanted.setdefault(name, []).extend(values)
        docs: set[int] | None = None
        for name, values in wanted.items():
            for value in values:
                found = view.docs_with(name, value)
                docs = found if docs is None else docs & found
        if request.date_from or request.date_to:
            low, high = request.date_from or "0000", request.date_to or "9999"
            date = view.date
            docs = {d for d in (view.live if docs is None else docs) if date[d] and low <= date[d] <= high}
        if request.indexed_from is not None or request.indexed_to is not None:
            low = request.indexed_from if request.indexed_from is not None else float("-inf")
            high = request.indexed_to if request.indexed_to is not None else float("inf")
            added = view.added
            docs = {d for d in (view.live if docs is None else docs) if low <= added[d] <= high}
        return docs

    # -- ranking --------------------------------------------------------------------------
    def _rank(self, view: IndexView, query: ParsedQuery, docs: set[int], need: int) -> list[tuple[float, int]]:
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
        scored: dict[int, float] = {}
        if words and docs:
            postings = (sum(view.doc_frequency("words", w) for w in body_words)
                        + sum(view.doc_frequency("title_words", w) for w in words))
            if len(docs) * len(words) * TEXT_SCORING_COST < postings:
                scored = _score_by_text(view, words, body_words, docs)
            else:
                scored = _score_by_postings(view, words, body_words, docs)
        needles = [t.needle for t in query.positive_terms() if not t.field]
        if len(needles) > 1:
            pool = heapq.nlargest(RANK_POOL, scored.items(), key=lambda kv: kv[1])
            for docnum, score in pool:
                folded = view.folded(docnum)
                bonus = 1 + PROXIMITY_WEIGHT * _closeness(folded.text, needles)
                if len({i for _, _, i in find_spans(folded.title, needles)}) == len(needles):
                    bonus *= TITLE_ALL_WORDS  # the title holds every word: what a known item looks like
                scored[docnum] = score * bonus
        day = view.day
        ranked = sorted(scored, key=lambda d: (-scored[d], -day[d], d))
        if len(ranked) < need:
            rest = (d for d in docs if d not in scored)
            ranked.extend(heapq.nsmallest(need - len(ranked), rest, key=lambda d: (-day[d], d)))
        return [(scored.get(d, 0.0), d) for d in ranked[:need]]

    # -- the search -------------------------------------------------------------------
    def search(self, request: SearchRequest) -> dict:
        """Run a search; the answer is the JSON of GET /api/search."""
        return self._answer(request, browsing=False)

    def newest(self, size: int) -> dict:
        """The newest reports and the facets of the whole archive (the start page), as a search answer."""
        return self._answer(SearchRequest(sort="date", size=size), browsing=True)

    def _answer(self, request: SearchRequest, browsing: bool) -> dict:
        started = time.perf_counter()
        query = parse_query(request.q, self.settings.search.max_terms)
        if not browsing and query.is_empty() and not request.filters() and not (
                request.date_from or request.date_to or request.indexed_from or request.indexed_to):
            raise InvalidRequest("the query is empty: type a word, a \"phrase\" or choose a filter")
        view = self.view()
        docs = self.match(view, query, request)
        total = len(docs)
        start = (request.page - 1) * request.size
        if request.page > 1 and start >= total:
            last = max(1, -(-total // request.size))
            raise InvalidRequest(f"page {request.page} is beyond the last page ({last}) of {total} results")
        need = start + request.size
        if request.sort == "date":
            day = view.day
            top = heapq.nsmallest(need, docs, key=lambda d: (-day[d], d))
            page = [(0.0, d) for d in top[start:need]]
        else:
            page = self._rank(view, query, docs, need)[start:need]
        needles = [t.needle for t in query.positive_terms()]
        hits = [self._hit(view, docnum, score, needles) for score, docnum in page]
        facets = {}
        for name in FACETS:
            column = view.columns[name]
            counts = Counter(column[d] for d in docs)
            counts.pop("", None)
            counts.pop(None, None)
            facets[name] = [[value, n] for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {
            "ok": True,
            "query": request.q,
            "parsed": query.to_json(),
            "total": total,
            "page": request.page,
            "size": request.size,
            "sort": request.sort,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "hits": hits,
            "facets": facets,
        }

    def _hit(self, view: IndexView, docnum: int, score: float, needles: list[Needle]) -> dict:
        stored = view.stored(docnum)
        folded = view.folded(docnum).text
        pages = (stored.get("meta") or {}).get("pages") or []
        passages = build_passages(stored["text"], folded, stored["body_len"], needles)
        return {
            "id": stored["id"],
            "title": stored["title"],
            "date": stored.get("date", ""),
            "broker": stored.get("broker", ""),
            "industry": stored.get("industry", ""),
            "rating": stored.get("rating", ""),
            "path": stored["path"],
            "paths": sorted(view.files(docnum) or [stored["path"]]),
            "score": round(score, 4),
            "snippets": [html for html, _ in passages],
            "passages": [{"html": html, "page": page_at(pages, at)} for html, at in passages],
        }

    def document(self, report_id: str) -> dict | None:
        """Metadata and cleaned text of one report, or None if the id is unknown."""
        view = self.view()
        docnum = view.doc_by_id(report_id)
        if docnum is None:
            return None
        stored = view.stored(docnum)
        files = view.files(docnum)
        meta = stored.pop("meta", {}) or {}
        return {
            "id": stored["id"],
            "title": stored["title"],
            "date": stored.get("date", ""),
            "broker": stored.get("broker", ""),
            "industry": stored.get("industry", ""),
            "rating": stored.get("rating", ""),
            "rating_action": meta.get("rating_action", ""),
            "analysts": [{"name": n, "sac": s} for n, s in meta.get("analysts", [])],
            "stock_codes": meta.get("stock_codes", []),
            "kind": stored.get("kind", ""),
            "encoding": meta.get("encoding", ""),
            "path": stored["path"],
            "paths": sorted(files) or [stored["path"]],
            "size": meta.get("size", 0),
            "content_hash": stored["content_hash"],
            "added_at": _iso(stored.get("added_at")),
            "indexed_at": _iso(stored.get("indexed_at")),
            "text": stored["text"],
            "body_len": stored["body_len"],
            "ranked_share": meta.get("ranked_share", 1.0),
            "pages": meta.get("pages", []),
            **_markup_fields(stored),
        }

    def document_count(self) -> int:
        view = self.view()
        return len(view.live)


def _markup_fields(stored: dict) -> dict:
    """A Markdown report's HTML as indexed ({"body", "boilerplate"}, or None) and why it is absent."""
    markup = stored_markup(stored)
    if markup is None:
        return {"html": None, "render_note": ""}
    if markup["note"]:
        return {"html": None, "render_note": markup["note"]}
    return {"html": {"body": markup["body"], "boilerplate": markup["boilerplate"]}, "render_note": ""}


def _bm25_setup(view: IndexView, words: list[str]) -> tuple[dict[str, float], float]:
    """idf of each query word (from its document frequency in bodies) and the average body length."""
    count = view.doc_count or 1
    avg_body = view.total_length["words"] / max(len(view.lengths["words"]), 1) or 1.0
    idf = {w: math.log(1 + (count - df + 0.5) / (df + 0.5))
           for w in words for df in [max(view.doc_frequency("words", w), 1)]}
    return idf, avg_body


def _score_by_postings(view: IndexView, words: list[str], body_words: list[str], docs: set[int]) -> dict[int, float]:
    """BM25F of the query words over the matched documents, from the postings: body words
    with length normalization, title words boosted (titles are short: no normalization)."""
    idf, avg_body = _bm25_setup(view, words)
    k1, b = BM25_K1, BM25_B
    lengths = view.lengths["words"]
    scored: dict[int, float] = {}
    get = scored.get
    for field_name, field_words, boost in (("words", body_words, 1.0), ("title_words", words, TITLE_BOOST)):
        for word in field_words:
            weights = view.weights(field_name, word)
            if not weights:
                continue
            weight = boost * idf[word] * (k1 + 1)
            pairs = ((d, tf) for d, tf in weights.items() if d in docs) if len(weights) <= len(docs) \
                else ((d, tf) for d in docs if (tf := weights.get(d)))
            if field_name == "words":
                for d, tf in pairs:
                    scored[d] = get(d, 0.0) + weight * tf / (tf + k1 * (1 - b + b * lengths[d] / avg_body))
            else:
                for d, tf in pairs:
                    scored[d] = get(d, 0.0) + weight * tf / (tf + k1)
    return scored


def _score_by_text(view: IndexView, words: list[str], body_words: list[str], docs: set[int]) -> dict[int, float]:
    """The same BM25F as _score_by_postings, counted in the matched documents' cached texts
    (cheaper when few documents match common words): a word counts wherever its
    characters appear, as matching does."""
    idf, avg_body = _bm25_setup(view, words)
    in_body_too = set(body_words)
    latin = {w for w in words if LATIN_WORD.fullmatch(w)}
    k1, b = BM25_K1, BM25_B
    lengths = view.lengths["words"]
    scored: dict[int, float] = {}
    for docnum in docs:
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
    return scored


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    from datetime import datetime, timezone
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="seconds")


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
