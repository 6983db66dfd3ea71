"""Search: the orchestration of a request — match exactly, rank, page, snippets with pages, facets.

Matching is exact by construction: character n-gram postings give a superset of the
documents that hold a substring; a run of CJK characters is then decided by its bigrams'
positions, any other substring (Latin or punctuation among CJK characters, title:) by the
cleaned text itself (indexer.view). The query language is indexer.query, ranking indexer.ranking.
"""

from __future__ import annotations

import logging
import threading
import time
import numpy as np

from indexer.analysis import init_jieba
from indexer.columns import NO_DAY, day_number
from indexer.config import Settings
from indexer.docsets import DocArray, as_array, member
from indexer.errors import IndexUnavailable, InvalidRequest
from indexer.normalize import fold
from indexer.query import FILTER_COLUMNS, UNKNOWN, ParsedQuery, SearchRequest, Term, parse_query
from indexer.ranking import rank
from indexer.similar import similar_reports
from indexer.textrules import CJK_RE
from indexer.tickers import bare_code, learned_pair
from indexer.snippets import Needle, build_passages, find_spans, mark_html, merge_spans, page_at
from indexer.store import IndexStore
from indexer.view import TEXT_CACHE_CHARS, IndexView, TextCache, exact_by_postings

FACETS = ("broker", "industry", "rating")
OPEN_RETRY_SECONDS = 10.0     # a newer generation failing to open longer than this is not a race (503)
COMPANIES_NAMED = 8     # a report's first codes get the name the archive pairs with them (a few ms each)

log = logging.getLogger(__name__)


class ArchiveSearcher:
    """Searches the live index; reopens it when the writer commits or a build is swapped in."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = IndexStore(settings)
        self._view: IndexView | None = None
        self._lock = threading.Lock()
        self._texts = TextCache(TEXT_CACHE_CHARS)
        self._segment_columns: dict = {}
        self._learned: dict = {}        # indexer.tickers' pairs, across generations
        self._open_failed_since: float | None = None    # a newer generation failing to open, since
        init_jieba(settings.var_dir / "jieba.cache", settings.index.user_dict)

    # -- the current generation -------------------------------------------------------
    def view(self) -> IndexView:
        """The view of the newest committed generation (opened again only when it changed)."""
        with self._lock:
            view = self._view
            build = None
            try:
                build = str(self.store.live_build())
                if view is not None and view.build == build and view.ix.latest_generation() == view.generation:
                    self.store.check_damage(view.folder, recheck=True)    # found since (the scrub, another process)
                    return view
                ix = self.store.open()
                fresh = IndexView(ix, build, self._texts, self._segment_columns)
            except Exception as exc:
                # Our own errors of a new build's opening are its to report; anything else (Whoosh meeting
                # a file that went) may be a generation being switched.
                same_build = view is not None and view.build == build
                if view is not None and (same_build or not isinstance(exc, IndexUnavailable)) and self._keep_serving(view, exc):
                    return view
                if isinstance(exc, IndexUnavailable):
                    raise
                raise IndexUnavailable(f"the index cannot be read ({exc}): run `python -m indexer build`") from None
            self._open_failed_since = None
            if view is not None and view.build != build:
                self._texts.clear()
            self._view = fresh
            return fresh

    def _keep_serving(self, view: IndexView, exc: Exception) -> bool:
        """Whether a newer generation that failed to open may be answered from the last one for now.

        Opening races the writer: a commit deletes the files of segments it merged away, and a reader
        that listed them a moment before fails on one (the likely cause of the one 503 of a 30-minute soak). That
        passes with the next generation, so the last view keeps serving, for OPEN_RETRY_SECONDS at most:
        a failure lasting longer is not a race, and damage found by the checksums never waits.
        """
        self.store.check_damage(view.folder)
        now = time.monotonic()
        if self._open_failed_since is None:
            self._open_failed_since = now
            log.warning("a newer generation of %s could not be opened (%s): serving generation %s meanwhile",
                        view.folder, exc, view.generation)
        return now - self._open_failed_since <= OPEN_RETRY_SECONDS

    # -- matching -------------------------------------------------------------------------
    def match(self, view: IndexView, query: ParsedQuery, request: SearchRequest) -> DocArray:
        """The exact set of documents the query and filters select."""
        return _narrowed(self._match(view, query, request), self._facet_docs(view, request))

    def _match(self, view: IndexView, query: ParsedQuery, request: SearchRequest) -> DocArray:
        """The documents of the query and filters, before the facet selections (which the disjunctive
        facet counts need without them: matched once, then intersected)."""
        docs: DocArray | None = self._filter_docs(view, query, request)
        cache: dict = {}
        if len(query.clauses) > 1:
            # Narrow by every clause's candidates first (set operations only), so that the text
            # checks run on documents all clauses may hold rather than on each clause's own
            # candidates (高质量发展 新质生产力: 3,705 checks -> the few hundred both may hold).
            for clause in sorted(query.clauses, key=len):
                maybe = DocArray()
                for alternative in clause:
                    maybe |= view.match_alternative(alternative, docs, exact=False, cache=cache)
                docs = maybe
                if not docs:
                    return DocArray()
        for clause in sorted(query.clauses, key=len):
            found = DocArray()
            for alternative in clause:
                found |= view.match_alternative(alternative, docs, cache=cache)
            docs = found
            if not docs:
                return DocArray()
        if docs is None:
            docs = DocArray.of(view.live)
        for term in query.excluded:
            if not docs:
                break
            hit = view.candidates(term) & docs
            if hit and not exact_by_postings(term):
                hit = view.holding(hit, term)
            docs -= hit
        return docs

    def _filter_docs(self, view: IndexView, query: ParsedQuery, request: SearchRequest) -> DocArray | None:
        # A prefix typed in the query (broker:中信) matches every value holding it; the facet
        # parameters (exact values) are applied by the caller (see _facet_docs). Over the column
        # arrays as masks, turned into the matching's set once at the end.
        mask = None
        for name, values in query.filters.items():
            for value in values:
                found = view.mask_with(FILTER_COLUMNS[name], value, exact=False)
                mask = found if mask is None else mask & found
        if request.date_from or request.date_to:
            # Dates are whole YYYY-MM-DD (query.parse_request), so their day numbers order as the strings did.
            low = day_number(request.date_from) if request.date_from else 0
            high = day_number(request.date_to) if request.date_to else 99999999
            day = view.day_array
            found = (day != NO_DAY) & (day >= low) & (day <= high)
            mask = (view.live_mask if mask is None else mask) & found
        if request.indexed_from is not None or request.indexed_to is not None:
            added = view.added_array
            found = np.ones(len(added), dtype=bool)
            if request.indexed_from is not None:
                found &= added >= request.indexed_from
            if request.indexed_to is not None:
                found &= added <= request.indexed_to
            mask = (view.live_mask if mask is None else mask) & found
        return None if mask is None else view.docs_of(mask)

    @staticmethod
    def _facet_docs(view: IndexView, request: SearchRequest) -> dict[str, DocArray]:
        """Per selected facet, the documents holding any of its selected values (exactly:
        rating=推荐 is not 强烈推荐; UNKNOWN selects the documents without a value)."""
        selected = {}
        for name, values in request.filters().items():
            found = None
            for value in values:
                mask = view.mask_with(name, "" if value == UNKNOWN else fold(value), exact=True)
                found = mask if found is None else found | mask
            selected[name] = view.docs_of(found)
        return selected

    @staticmethod
    def _facets(view: IndexView, selected: dict[str, DocArray], unselected: DocArray, docs: DocArray) -> dict[str, list]:
        """Facet counts, disjunctive: a selected facet counts over the documents every other
        filter selects, so its other values stay listed with what picking them would add.
        Counted over the column arrays (np.bincount of the documents' value codes)."""
        facets = {}
        for name in FACETS:
            if name in selected:
                base = _narrowed(unselected, {other: found for other, found in selected.items() if other != name})
            else:
                base = docs
            counts = view.value_counts(name, base)
            unknown = counts.pop("", 0)
            if unknown:
                counts[UNKNOWN] = counts.get(UNKNOWN, 0) + unknown
            facets[name] = [[value, n] for value, n in sorted(counts.items(), key=_facet_order)]
        return facets

    # -- ranking --------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> dict:
        """Run a search; the answer is the JSON of GET /api/search."""
        return self._answer(request, browsing=False)

    def newest(self, size: int) -> dict:
        """The newest reports and the facets of the whole archive (the start page), as a search answer."""
        return self._answer(SearchRequest(sort="date", size=size), browsing=True)

    def listing(self, request: SearchRequest, snippets: bool = True) -> dict:
        """A search for a feed or an export: an empty query lists the whole archive, and the
        hits may go without snippets (an export of a thousand rows needs none)."""
        return self._answer(request, browsing=True, snippets=snippets)

    def _answer(self, request: SearchRequest, browsing: bool, snippets: bool = True) -> dict:
        started = time.perf_counter()
        query = parse_query(request.q, self.settings.search.max_terms)
        if not browsing and query.is_empty() and not request.filters() and not (
                request.date_from or request.date_to or request.indexed_from or request.indexed_to):
            raise InvalidRequest("empty_query")
        view = self.view()
        for clause, text in query.entities:
            other = learned_pair(view, text, self._learned)
            if other:
                query.add_same_as(clause, text, Term(other, "word" if CJK_RE.search(other) else "latin"))
        selected = self._facet_docs(view, request)
        unselected = self._match(view, query, request)
        docs = _narrowed(unselected, selected)
        let_others_run()
        total = len(docs)
        start = (request.page - 1) * request.size
        if request.page > 1 and start >= total:
            last = max(1, -(-total // request.size))
            raise InvalidRequest("page_beyond_end", page=request.page, last=last, total=total)
        need = start + request.size
        if request.sort in ("date", "added"):
            top = view.newest_first(docs, need, by="day" if request.sort == "date" else "added")
            page = [(0.0, d) for d in top[start:need]]
        else:
            page = self._rank(view, query, docs, need)[start:need]
        let_others_run()
        needles = [Needle(run) for run in query.runs] + [t.needle for t in query.positive_terms()]
        hits = []
        for score, docnum in page:
            hits.append(self._hit(view, docnum, score, needles, snippets))
            let_others_run()
        facets = self._facets(view, selected, unselected, docs)
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

    @staticmethod
    def _rank(view: IndexView, query: ParsedQuery, docs: DocArray, need: int) -> list[tuple[float, int]]:
        """rank(), with the documents that hold more of the query's split runs (功率半导体 whole, not
        功率 here and 半导体 there) before those that hold fewer: a tier at a time."""
        if not query.runs:
            return rank(view, query, docs, need)
        matched = as_array(docs)
        held = np.zeros(len(matched), dtype=np.int64)
        for run in dict.fromkeys(query.runs):
            term = Term(run, "phrase")
            holding = view.candidates(term) & docs
            if holding and not exact_by_postings(term):
                holding = view.holding(holding, term)
            held += member(matched, as_array(holding))
        out: list[tuple[float, int]] = []
        for count in sorted(set(np.unique(held).tolist()) | {0}, reverse=True):
            tier = DocArray(matched[held == count])
            out += rank(view, query, tier, need - len(out))
            if len(out) >= need:
                break
        return out

    def _hit(self, view: IndexView, docnum: int, score: float, needles: list[Needle], snippets: bool = True) -> dict:
        stored = view.stored(docnum)
        pages = (stored.get("meta") or {}).get("pages") or []
        passages = (build_passages(stored["text"], view.folded(docnum).text, stored["body_len"], needles)
                    if snippets else [])
        title = stored["title"]
        return {
            "id": stored["id"],
            "title": title,
            "title_html": mark_html(title, merge_spans(find_spans(fold(title), needles)), 0, len(title)),
            "date": stored.get("date", ""),
            "broker": stored.get("broker", ""),
            "industry": stored.get("industry", ""),
            "rating": stored.get("rating", ""),
            "path": stored["path"],
            "paths": sorted(view.files(docnum) or [stored["path"]]),
            "added_at": _iso(stored.get("added_at"), self.settings.zone),
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
            "companies": [{"code": code, "name": learned_pair(view, bare_code(code.lower()), self._learned)}
                          for code in meta.get("stock_codes", [])[:COMPANIES_NAMED]],
            "kind": stored.get("kind", ""),
            "encoding": meta.get("encoding", ""),
            "path": stored["path"],
            "paths": sorted(files) or [stored["path"]],
            "size": meta.get("size", 0),
            "content_hash": view.hash[docnum],
            "added_at": _iso(stored.get("added_at"), self.settings.zone),
            "indexed_at": _iso(stored.get("indexed_at"), self.settings.zone),
            "text": stored["text"],
            "body_len": stored["body_len"],
            "ranked_share": meta.get("ranked_share", 1.0),
            "pages": meta.get("pages", []),
            "similar": self._similar(view, docnum),
            **_markup_fields(view.markup(stored)),
        }

    def _similar(self, view: IndexView, docnum: int) -> list[dict]:
        """The reports most like one report (indexer.similar), each with the shared words that make it so."""
        out = []
        for other, words in similar_reports(view, docnum):
            stored = view.stored(other)
            out.append({"id": stored["id"], "title": stored["title"], "date": stored.get("date", ""),
                        "broker": stored.get("broker", ""), "words": words})
        return out

    def document_count(self) -> int:
        view = self.view()
        return len(view.live)


def _narrowed(docs: DocArray, selected: dict[str, DocArray]) -> DocArray:
    """`docs` within every facet selection."""
    for found in selected.values():
        docs = docs & found
    return docs


# Set by a server whose requests share one thread cooperatively (gunicorn's gevent workers set
# gevent.sleep): called between a search's stages so that one long search does not hold up the
# short ones queued behind it on the same worker (load bench, gevent 2: p99 222 -> 91 ms).
# Threads need nothing: the interpreter switches them anyway.
cooperative_yield = None


def let_others_run() -> None:
    """A point where a search lets the other requests of its process run (see cooperative_yield)."""
    if cooperative_yield is not None:
        cooperative_yield(0)


def _facet_order(item: tuple[str, int]) -> tuple:
    """Most documents first, then by pinyin, UNKNOWN last among equals. GB18030 orders the
    common (GB2312 level-1) characters by pinyin, which is what broker and industry names use."""
    value, count = item
    return -count, value == UNKNOWN, value.encode("gb18030", "replace")


def _markup_fields(markup: dict | None) -> dict:
    """A Markdown report's HTML as indexed ({"body", "boilerplate"}, or None) and why it is absent."""
    if markup is None:
        return {"html": None, "render_note": ""}
    if markup["note"]:
        return {"html": None, "render_note": markup["note"]}
    return {"html": {"body": markup["body"], "boilerplate": markup["boilerplate"]}, "render_note": ""}


def _iso(millis: int | None, zone) -> str:
    """Milliseconds since the epoch as an ISO time in the archive's zone (with its offset)."""
    if not millis:
        return ""
    from datetime import datetime
    return datetime.fromtimestamp(millis / 1000, zone).isoformat(timespec="seconds")
