"""The query language and the search request: what a user asked for, understood leniently.

Words are ANDed (a run of Chinese characters is segmented with jieba), "phrases" are exact,
OR, -word / NOT word, title:/broker:/industry:/rating:; a malformed query degrades to words
and says so in `notes`. Never raises on syntax; request parameters the caller can fix raise
InvalidRequest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date as Date
from typing import Mapping

from indexer.analysis import query_words
from indexer.config import Settings
from indexer.errors import InvalidRequest, QueryTooLong
from indexer.messages import Message
from indexer.normalize import normalize_query_text
from indexer.snippets import Needle
from indexer.textrules import CJK_CHARS, CJK_RE, LATIN_WORD, QUERY_STOCK_CODE

FILTER_PREFIXES = ("broker", "industry", "rating", "analyst", "code")
# The column each typed filter looks in; author: is read as analyst:.
FILTER_COLUMNS = {"broker": "broker", "industry": "industry", "rating": "rating", "analyst": "analysts",
                  "code": "codes"}
_PREFIX_ALIASES = {"author": "analyst"}
UNKNOWN = "未知"            # the facet value of reports without one (no industry, no rating found)
MAX_FACET_VALUES = 50       # values of one facet in a request
SORTS = ("relevance", "date", "added")   # added: newest in the archive first
_COMPANY_LIKE = re.compile(f"[{CJK_CHARS}]{{2,10}}")
_NOT_FIELDS = ("http", "https", "ftp", "mailto", "file")     # a URL's scheme is text, not a mistyped field
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
    notes: list[Message] = field(default_factory=list)
    # Runs of Chinese characters jieba split into several words (功率半导体 -> 功率 / 半导体): each
    # word must appear anywhere, and the documents holding the run itself rank first.
    runs: list[str] = field(default_factory=list)
    # Words that may be a listed company's code or name, by clause; the search adds the other
    # one the archive pairs with it as an alternative (indexer.tickers) and records it in same_as.
    entities: list[tuple[int, str]] = field(default_factory=list)
    same_as: list[tuple[str, str]] = field(default_factory=list)

    def add_same_as(self, clause: int, text: str, other: Term) -> None:
        """Let `other` (a company's code or name learned from the archive) answer for `text` too."""
        self.clauses[clause].append([other])
        self.same_as.append((text, other.text))

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
            "notes": [note.to_json() for note in self.notes],
            "same_as": [list(pair) for pair in self.same_as],
        }


def _unit_terms(text: str, field_name: str, query: ParsedQuery, segment: bool) -> list[Term]:
    folded = normalize_query_text(text)
    terms: list[Term] = []
    pieces = list(_PIECE.finditer(folded))
    for piece in pieces:
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
    # A unit written as one run (功率半导体, 5G手机) but matched as several words.
    run = "".join(piece.group() for piece in pieces)
    if segment and not field_name and len(terms) > 1 and run == folded and CJK_RE.search(run):
        query.runs.append(run)
    return terms


def parse_query(raw: str, max_terms: int = 32) -> ParsedQuery:
    """Understand a query; never raises on syntax (it degrades to plain words and says so)."""
    query = ParsedQuery(raw=raw)
    # Chinese quotes delimit phrases too, unless ASCII quotes do (then they are text).
    text = raw if '"' in raw else raw.translate(_QUOTES)
    if text.count('"') % 2:
        last = text.rfind('"')
        text = text[:last] + " " + text[last + 1:]
        query.notes.append(Message("unmatched_quote"))
    pending_or = pending_not = False
    tokens = list(_TOKEN.finditer(text))
    for position, match in enumerate(tokens):
        negate = bool(match.group("neg")) or pending_not
        pending_not = False
        prefix = (match.group("field") or "").lower()
        prefix = _PREFIX_ALIASES.get(prefix, prefix)
        phrase, word = match.group("phrase"), match.group("word")
        if word in ("or", "not") and not prefix and not match.group("neg") and position + 1 < len(tokens) and (
                word == "not" or query.clauses):
            # Lower-case or/not between words are meant as operators (nobody searches the English word
            # "or" in a Chinese archive); the note says how to search the word itself.
            query.notes.append(Message("lowercase_operator", {"word": word, "operator": word.upper()}))
            word = word.upper()
        if word in ("OR", "|") and not prefix and not match.group("neg"):
            if query.clauses:
                pending_or = True
            else:
                query.notes.append(Message("or_at_start"))
            continue
        if word in ("AND", "&&") and not prefix:
            continue
        if word == "NOT" and not prefix and not match.group("neg"):
            pending_not = True
            continue
        if word is not None and match.group("neg") and word == "":
            continue
        if prefix and prefix not in FILTER_PREFIXES and prefix != "title":
            # Not one of ours ("author:", "http:"): the whole thing is plain text, and a field-like
            # prefix with a value says which fields there are.
            value = word if word is not None else phrase
            if value and prefix not in _NOT_FIELDS and not value.startswith("/"):
                query.notes.append(Message("unknown_field", {"prefix": match.group("field"), "value": value,
                                                              "fields": ", ".join(("title", *FILTER_PREFIXES))}))
            word = f"{match.group('field')}:{value}"
            phrase, prefix = None, ""
        value = phrase if phrase is not None else word
        if prefix in FILTER_PREFIXES:
            cleaned = normalize_query_text(value or "")
            if not cleaned:
                query.notes.append(Message("filter_without_value", {"prefix": prefix}))
            elif negate:
                query.notes.append(Message("negated_filter", {"prefix": prefix}))
            else:
                query.filters.setdefault(prefix, []).append(cleaned)
            continue
        field_name = "title" if prefix == "title" else ""
        if phrase is not None:
            folded = normalize_query_text(phrase)
            unit = [Term(folded, "phrase", field_name)] if folded else []
            if not unit:
                query.notes.append(Message("empty_phrase"))
        else:
            unit = _unit_terms(value, field_name, query, segment=not negate)
        if not unit:
            if value and value.strip("-"):
                query.notes.append(Message("unsearchable", {"value": value}))
            pending_or = False
            continue
        if negate:
            query.excluded.extend(unit)
        elif pending_or and query.clauses:
            query.clauses[-1].append(unit)
        else:
            query.clauses.append([unit])
            folded = normalize_query_text(value) if phrase is None and not field_name else ""
            if QUERY_STOCK_CODE.fullmatch(folded) or _COMPANY_LIKE.fullmatch(folded):
                query.entities.append((len(query.clauses) - 1, folded))
        pending_or = False
    if pending_or:
        query.notes.append(Message("or_at_end"))
    if pending_not:
        query.notes.append(Message("not_at_end"))
    count = sum(len(alt) for clause in query.clauses for alt in clause) + len(query.excluded)
    if count > max_terms:
        raise QueryTooLong("too_many_terms", count=count, limit=max_terms)
    return query


@dataclass(frozen=True)
class SearchRequest:
    """Validated search parameters, shared by the API, the pages and the CLI."""

    q: str = ""
    page: int = 1
    size: int = 10
    sort: str = "relevance"
    broker: tuple[str, ...] = ()       # facet values: any of them (OR); different facets AND
    industry: tuple[str, ...] = ()
    rating: tuple[str, ...] = ()
    date_from: str = ""
    date_to: str = ""
    indexed_from: float | None = None
    indexed_to: float | None = None

    def filters(self) -> dict[str, tuple[str, ...]]:
        """The facet values selected, by facet (UNKNOWN selects the reports without a value)."""
        return {k: v for k, v in (("broker", self.broker), ("industry", self.industry), ("rating", self.rating)) if v}


def _facet_values(params: Mapping, name: str) -> tuple[str, ...]:
    """Every non-empty value of a repeated parameter (broker=A&broker=B), in order, once each."""
    raw = params.getlist(name) if hasattr(params, "getlist") else params.get(name) or ()
    if isinstance(raw, str):
        raw = [raw]
    values = [str(value).strip() for value in raw]
    if len(values) > MAX_FACET_VALUES:
        raise InvalidRequest("too_many_values", name=name, count=len(values), limit=MAX_FACET_VALUES)
    return tuple(dict.fromkeys(value for value in values if value))


def _parse_int(params: Mapping, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidRequest("not_a_whole_number", name=name, value=str(raw)[:40]) from None
    if not low <= value <= high:
        raise InvalidRequest("out_of_range", name=name, low=low, high=high, value=value)
    return value


def _date_text(params: Mapping, name: str) -> str:
    """A date parameter without its surrounding spaces; "" only when it was left out or sent empty.

    Blanks or control characters are not stripped to nothing (that would read as "left out"): such a
    value is kept as it came, so parsing it fails with a 400, as the OpenAPI schema says (format: date).
    """
    raw = str(params.get(name) or "")
    value = raw.strip()
    return value if value and raw.isprintable() else raw


def _parse_day(params: Mapping, name: str) -> str:
    raw = _date_text(params, name)
    if not raw:
        return ""
    try:
        return Date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidRequest("not_a_date", name=name, value=raw[:40]) from None


def _parse_instant(params: Mapping, name: str, zone) -> float | None:
    raw = _date_text(params, name)
    if not raw:
        return None
    from datetime import datetime
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest("not_an_instant", name=name, value=raw[:40]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)     # a time without a zone is the archive's time
    return moment.timestamp() * 1000


def parse_request(params: Mapping, settings: Settings) -> SearchRequest:
    """Validate request parameters (from a query string or the CLI) into a SearchRequest."""
    limits = settings.search
    q = str(params.get("q") or "").strip()
    if len(q) > limits.max_query_chars:
        raise QueryTooLong("query_too_long", length=len(q), limit=limits.max_query_chars)
    sort = str(params.get("sort") or "relevance")
    if sort not in SORTS:
        raise InvalidRequest("bad_sort", allowed=", ".join(SORTS), value=sort[:40])
    request = SearchRequest(
        q=q,
        page=_parse_int(params, "page", 1, 1, limits.max_page),
        size=_parse_int(params, "size", limits.default_size, 1, limits.max_size),
        sort=sort,
        broker=_facet_values(params, "broker"),
        industry=_facet_values(params, "industry"),
        rating=_facet_values(params, "rating"),
        date_from=_parse_day(params, "from"),
        date_to=_parse_day(params, "to"),
        indexed_from=_parse_instant(params, "indexed_from", settings.zone),
        indexed_to=_parse_instant(params, "indexed_to", settings.zone),
    )
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise InvalidRequest("dates_reversed", date_from=request.date_from, date_to=request.date_to)
    return request
