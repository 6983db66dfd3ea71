"""One generation of the index opened for searching: columns, postings, folded texts and their cache.

The matching primitives live here: a term's candidate documents from the n-gram postings,
the bigrams' positions that decide a run of CJK characters of any length, and the check of
candidates against the folded texts where postings alone cannot decide (a term with Latin
letters, digits or punctuation in it, a title: term).
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import struct
import threading
import zlib
from bisect import bisect_right
from collections.abc import Set
from pathlib import Path
from typing import NamedTuple

import numpy as np

from indexer import integrity
from indexer.analysis import plan_substring
from indexer.columns import SegmentColumns
from indexer.columns import open_segment as open_columns
from indexer.docsets import DocArray, as_array, distinct, intersect, member
from indexer.errors import IndexUnavailable
from indexer.messages import Message
from indexer.normalize import fold
from indexer.postings import POSITIONAL_FIELD, SCORED_FIELDS, SegmentPostings, open_segment
from indexer.query import Term
from indexer.schema import stored_markup, stored_text
from indexer.snippets import find_spans

# Decoded postings kept per generation, in bytes of their arrays (8 a document; with frequencies 8 a
# posting too), least recently used first out: as frozensets, 4,000,000 ids took 192 MB. The scale
# bench's query set at 1,000,000 documents decodes 210 MB (docs/scaling.md, "Document sets as arrays").
POSTINGS_CACHE_BYTES = 256 * 1024 * 1024
RUNS_CACHE_BYTES = 64 * 1024 * 1024     # CJK runs' documents worked out from positions (8 bytes a document)
FREQUENCIES_KEPT = 100_000       # document frequencies remembered per generation (about 15 MB at most)
TEXT_CACHE_CHARS = 120_000_000   # folded texts kept per process (about 250-500 MB): oldest go first
# What reading a damaged postings file or stored field raises (zlib streams, typed views, pickles,
# the stored HTML's JSON).
DECODE_ERRORS = (zlib.error, IndexError, struct.error, EOFError, pickle.UnpicklingError, UnicodeDecodeError,
                 json.JSONDecodeError)
# False: CJK terms of three or more characters are checked against the texts, as before the
# postings had positions. Only bench/positions_bench.py turns it off, to measure that baseline.
MATCH_BY_POSITIONS = True


class BoundedCache:
    """Values by key within a total size (characters, bytes: the caller's measure), the oldest going
    first. Safe to share between threads: single dict operations, a race costs a recomputation."""

    recency = False     # True: a hit moves its entry last, so the least recently used goes first

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self.entries: dict = {}     # key -> (value, size); TextCache's read directly by IndexView.holding

    def get(self, key):
        if self.recency:
            found = self.entries.pop(key, None)
            if found is not None:
                self.entries[key] = found
        else:
            found = self.entries.get(key)
        return found[0] if found is not None else None

    def put(self, key, value, size: int) -> None:
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


class TextCache(BoundedCache):
    """Folded texts by content hash, shared across generations, bounded by total characters
    (the oldest entries go first)."""


class DecodedCache(BoundedCache):
    """Decoded postings of one generation, bounded by the bytes of their arrays, the least recently
    used going first; one larger than the whole bound is not kept."""

    recency = True

    def put(self, key, value, size: int) -> None:
        if size <= self.limit:
            super().put(key, value, size)


class Folded(NamedTuple):
    """A document's matching forms: text (body, then boilerplate), title, length of the body."""

    text: str
    title: str
    body_len: int


log = logging.getLogger(__name__)


def _reads_index(what: str):
    """A view method whose decode errors become IndexUnavailable (index_damaged), never a 500 or a
    silent wrong answer: the second line of defence behind the checksums verified at open."""
    def decorate(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except DECODE_ERRORS as exc:
                raise self.unreadable(what, exc) from None
        return guarded
    return decorate


class LiveDocs(Set):
    """The live documents of a generation as a read-only set over its bool mask (a byte per document,
    where a frozenset of ints took about 70): iteration, `in` and len() as a frozenset's."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self._flags = memoryview(mask)      # indexing a memoryview gives a Python bool, fast
        self._count = int(np.count_nonzero(mask))

    def __contains__(self, docnum) -> bool:
        return isinstance(docnum, int) and 0 <= docnum < len(self._flags) and self._flags[docnum]

    def __iter__(self):
        return iter(np.flatnonzero(self.mask).tolist())

    def __len__(self) -> int:
        return self._count

    @classmethod
    def _from_iterable(cls, iterable) -> DocArray:
        return DocArray._from_iterable(iterable)

    def __and__(self, other):
        if isinstance(other, DocArray):
            return other & self
        return DocArray(as_array(self)) & other

    __rand__ = __and__


class HashColumn:
    """Content hashes by global document number (str), read from each segment's mapped column file."""

    def __init__(self, bases: list[int], segments: list[SegmentColumns]):
        self._bases, self._segments = bases, segments

    def __getitem__(self, docnum: int) -> str:
        i = bisect_right(self._bases, docnum) - 1
        return self._segments[i].hash_at(docnum - self._bases[i])

    def __len__(self) -> int:
        return self._bases[-1] + self._segments[-1].doc_count if self._segments else 0


class IndexView:
    """One generation of the index opened for searching.

    Its columns (dates, times added, content hashes, facet values) are the segments' column files,
    memory-mapped (indexer.columns) and opened once per segment (segments never change; a new
    generation mostly adds a small one), so a commit by the watcher costs the next search little
    and the pages are shared by every searcher process. Per generation only the day, the time added
    and the two lengths are copied into one array each (20 bytes a document: a fancy index and a
    sort over one array, where per-segment pieces would need a lookup per document).
    """

    def __init__(self, ix, build: str, texts: dict, segment_columns: dict):
        self.ix = ix
        self.build = build
        self.folder = Path(ix.storage.folder)
        self.generation = ix.latest_generation()
        self.searcher = ix.searcher()
        self.lock = threading.Lock()    # Whoosh's stored fields and columns: one reader at a time
        reader = self.searcher.reader()
        self.segments: list[tuple[int, SegmentPostings]] = []
        self.column_segments: list[tuple[int, SegmentColumns]] = []
        used = {}
        masks, days, added = [], [], []
        lengths: dict[str, list] = {name: [] for name in SCORED_FIELDS}
        for leaf, offset in reader.leaf_readers():
            if leaf.segment() is None:      # an index with no documents yet
                continue
            segment_id = leaf.segment().segment_id()
            key = (build, segment_id)
            values = segment_columns.get(key)
            if values is None:
                values = {"columns": open_columns(ix.storage.folder, segment_id),
                          "postings": open_segment(ix.storage.folder, segment_id)}
            used[key] = values
            columns, postings = values["columns"], values["postings"]
            self.segments.append((offset, postings))
            self.column_segments.append((offset, columns))
            mask = np.ones(columns.doc_count, dtype=bool)
            if leaf.has_deletions():
                mask[np.fromiter(leaf.segment().deleted_docs(), dtype=np.intp)] = False
            masks.append(mask)
            days.append(columns.day)
            added.append(columns.added)
            for name in SCORED_FIELDS:
                lengths[name].append(np.frombuffer(postings.lengths[name], dtype=np.uint32))
        segment_columns.clear()
        segment_columns.update(used)
        self.bases = [offset for offset, _ in self.column_segments]
        self.live_mask = np.concatenate(masks) if masks else np.zeros(0, dtype=bool)
        self.live = LiveDocs(self.live_mask)
        self.has_deleted = not self.live_mask.all()
        # Numbers, for sorting and filtering over arrays; the memoryviews give Python ints to loops.
        self.day_array = np.concatenate(days) if days else np.zeros(0, dtype=np.int32)
        self.added_array = np.concatenate(added) if added else np.zeros(0, dtype=np.int64)
        self.day = memoryview(self.day_array)               # 20250204 for "2025-02-04", -1 for no date
        self.added = memoryview(self.added_array)
        self.lengths = {name: memoryview(np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32))
                        for name, parts in lengths.items()}
        self.total_length = {name: sum(p.total_length[name] for _, p in self.segments) for name in SCORED_FIELDS}
        self.hash = HashColumn(self.bases, [c for _, c in self.column_segments])
        self._texts = texts     # content hash -> (folded text, folded title): shared across generations
        self._files = reader.column_reader("files") if self.live else {}
        self.doc_count = len(self.live)
        self._decoded = DecodedCache(POSTINGS_CACHE_BYTES)     # postings and weights, by (kind, field, token)
        # CJK runs' documents, by run: apart, so that a common word's big postings never push out what
        # took the positions of every document of the run's bigrams to work out.
        self._runs = DecodedCache(RUNS_CACHE_BYTES)
        self.memo: dict[str, dict] = {}     # what was worked out from this generation (ids by file name)
        self._frequencies: dict[tuple[str, str], int] = {}
        self._facet_codes: dict[str, tuple[np.ndarray, list[str]]] = {}

    # -- columns ----------------------------------------------------------------------------
    @staticmethod
    def docs_of(mask: np.ndarray) -> DocArray:
        """The document numbers of a mask, as the set the matching works with."""
        return DocArray(np.flatnonzero(mask).astype(np.int64, copy=False))

    def mask_with(self, name: str, value: str, exact: bool = False) -> np.ndarray:
        """Live documents whose column `name` folds to `value` (exact) or holds it (a typed `broker:中信`), as a mask."""
        parts = []
        for _, columns in self.column_segments:
            codes = columns.matching(name, value, exact)
            parts.append(np.isin(columns.codes(name), codes) if len(codes) else np.zeros(columns.doc_count, dtype=bool))
        mask = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
        return mask & self.live_mask

    def value_counts(self, name: str, docs) -> dict[str, int]:
        """{value as written: documents} of a CODED column over a set of documents: one np.bincount of
        their codes in the generation's table of that column (`facet_codes`)."""
        codes, table = self.facet_codes(name)
        numbers = as_array(docs)
        if not len(numbers):
            return {}
        tally = np.bincount(codes[numbers], minlength=len(table))
        return {table[code]: int(tally[code]) for code in np.flatnonzero(tally).tolist()}

    def facet_codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A CODED column over the whole generation: each document's code in one table of the values as
        written (int32, 4 bytes a document), made at the first facet count of the generation from the
        segments' own tables. Counting per segment cost a few numpy calls per segment and facet: 50
        segments (a 1,000,000-document build) made it most of a search."""
        found = self._facet_codes.get(name)
        if found is None:       # two threads at once both make it: the same arrays, one kept
            table: dict[str, int] = {}
            parts = []
            for _, columns in self.column_segments:
                mapping = np.array([table.setdefault(value, len(table)) for value in columns.values(name)],
                                   dtype=np.int32)
                parts.append(mapping[columns.codes(name)] if len(mapping) else
                             np.zeros(columns.doc_count, dtype=np.int32))
            codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
            found = self._facet_codes[name] = (codes, list(table))
        return found

    def newest_first(self, docs, need: int, by: str = "day") -> list[int]:
        """The first `need` of `docs` by day (or time added: by="added"), newest first, then by document number."""
        if not docs or need <= 0:
            return []
        numbers = as_array(docs)
        keys = -(self.day_array if by == "day" else self.added_array)[numbers].astype(np.int64)
        if len(numbers) > 4 * need:
            # Only the keys up to the need-th smallest can place: a partition, then a sort of those
            # (the ties at the threshold all kept, so the order by document number stays exact).
            threshold = np.partition(keys, need - 1)[need - 1]
            near = keys <= threshold
            numbers, keys = numbers[near], keys[near]
        order = np.lexsort((numbers, keys))[:need]
        return numbers[order].tolist()

    def close(self) -> None:
        self.searcher.close()

    def unreadable(self, what: str, exc: Exception) -> IndexUnavailable:
        """The error for a decode failure: the damaged file when a checksum names it (recorded for every
        process), else the failure itself (not recorded: it may be ours, and is logged with its traceback)."""
        log.error("reading the index's %s failed in %s", what, self.folder, exc_info=exc)
        try:
            integrity.verify(self.folder, integrity.summed_names(self.folder), force=True, missing_ok=True)
        except integrity.Damaged as damage:
            integrity.record_damage(self.folder, damage, "search")
            return IndexUnavailable(damage.message())
        return IndexUnavailable(Message("index_damaged", {"file": what, "detail": f"{type(exc).__name__}: {exc}"}))

    @_reads_index("postings")
    def postings(self, fieldname: str, token: str) -> DocArray:
        """The live documents holding a token, kept for this generation while the cache has room."""
        key = ("docs", fieldname, token)
        docs = self._decoded.get(key)
        if docs is not None:
            return docs
        parts = [ids + base for base, p in self.segments
                 if (ids := p.doc_array_of(fieldname, token)) is not None]
        ids = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if self.has_deleted and len(ids):
            ids = ids[self.live_mask[ids]]
        docs = DocArray(ids)
        if len(ids) > 256:      # big posting lists (common characters) are the ones worth keeping
            self._decoded.put(key, docs, ids.nbytes)
        return docs

    @_reads_index("postings")
    def weights(self, fieldname: str, token: str) -> tuple[np.ndarray, np.ndarray]:
        """(documents, frequencies) of a ranking word, ascending by document, as int32 arrays (deleted
        documents included: callers look up matched documents only)."""
        key = ("weights", fieldname, token)
        found = self._decoded.get(key)
        if found is not None:
            return found
        ids, tfs = [], []
        for base, p in self.segments:
            pair = p.weight_arrays_of(fieldname, token)
            if pair is not None:
                ids.append((pair[0] + base).astype(np.int32))
                tfs.append(pair[1].astype(np.int32))
        empty = np.zeros(0, dtype=np.int32)
        # int32 both (8 bytes a posting, not 16): a document number and a frequency fit.
        found = (np.concatenate(ids) if ids else empty, np.concatenate(tfs) if tfs else empty)
        if len(found[0]) > 256:
            self._decoded.put(key, found, found[0].nbytes + found[1].nbytes)
        return found

    @_reads_index("postings")
    def doc_frequency(self, fieldname: str, token: str) -> int:
        """Documents holding a token, deleted ones included (as BM25's statistics count them); remembered
        for the generation: ranking asks for each word's several times, a term look-up per segment each."""
        key = (fieldname, token)
        found = self._frequencies.get(key)
        if found is None:
            found = sum(p.df(fieldname, token) for _, p in self.segments)
            if len(self._frequencies) < FREQUENCIES_KEPT:
                self._frequencies[key] = found
        return found

    @_reads_index("stored fields")
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

    def holding(self, docs, term: Term) -> DocArray:
        """The documents among `docs` whose folded text (title, for title:) holds the term.

        A run of three or more CJK characters is decided by its bigrams' positions (no text is
        read); any other term is checked against every candidate's folded text (5G手机, A股,
        title: terms): the cache lookup of `folded` is inlined, a call per candidate costs more
        than the `in`.
        """
        if _by_positions(term):
            return self.positioned(docs, term.text)
        part = 1 if term.field == "title" else 0
        if term.kind == "latin":
            return DocArray.of({d for d in docs if find_spans(self.folded(d)[part], [term.needle])})
        needle, entries, hashes, folded = term.text, self._texts.entries, self.hash, self.folded
        found = []
        for d in docs:
            entry = entries.get(hashes[d])
            if needle in (entry[0] if entry is not None else folded(d))[part]:
                found.append(d)
        return DocArray.of(found)

    def candidates(self, term: Term) -> DocArray:
        """The documents the postings say may hold the term (all of them when nothing narrows);
        exactly those that hold it when `exact_by_postings(term)`: a run of three or more CJK
        characters is narrowed by its bigrams' documents, then decided by their positions."""
        if term.kind == "latin":
            return self.postings("latin", term.text)
        plan = plan_substring(term.text)
        if _by_positions(term, plan):
            # A run's documents are a posting list of their own, worked out from its bigrams' positions
            # (all of their documents' offsets decoded): kept with the decoded postings.
            found = self._runs.get(term.text)
            if found is None:
                docs = self._all_of(plan.grams)
                found = self.positioned(docs, term.text) if docs else DocArray()
                self._runs.put(term.text, found, found.array.nbytes + 100)
            return found
        return self._all_of(plan.grams, plan.words, narrow_all=True)

    def _all_of(self, grams: tuple[str, ...], words: tuple[str, ...] = (), narrow_all: bool = False) -> DocArray:
        """The documents holding every n-gram and every Latin word (the rarest intersected first);
        narrow_all: every live document when there is nothing to narrow with."""
        sets = []
        for field_name, tokens in (("ngrams", grams), ("latin", words)):
            for token in tokens:
                docs = self.postings(field_name, token)
                if not docs:
                    return DocArray()
                sets.append(docs)
        if not sets:
            # nothing to narrow with (punctuation, part of a word): check them all
            return DocArray.of(self.live) if narrow_all else DocArray()
        sets.sort(key=len)
        result = sets[0]
        for other in sets[1:]:
            result = result & other
            if not result:
                break
        return result

    @_reads_index("postings")
    def positioned(self, docs, text: str) -> DocArray:
        """The documents among `docs` holding `text`, a run of CJK characters, by positions alone.

        The run starts at offset p of a document's folded text when its bigram i is at p + i for
        every i; the bigrams at 0, 2, 4, ... and at the end cover every character, so those are
        enough. Per segment, only the documents among `docs` are kept from each bigram's
        decoded positions, as keys document << 32 | p (sorted), intersected rarest first.
        Decoded positions are not cached: the bigrams' document sets are (`postings`).
        """
        if not docs:
            return DocArray()
        wanted = as_array(docs)
        ends = [i for i in range(0, len(text) - 1, 2)]
        if ends[-1] != len(text) - 2:
            ends.append(len(text) - 2)
        found: list[np.ndarray] = []
        for base, segment in self.segments:
            low, high = np.searchsorted(wanted, (base, base + segment.doc_count))
            if low == high:
                continue
            local = wanted[low:high] - base
            slots = []
            for at in ends:
                slot = segment.slot(POSITIONAL_FIELD, text[at:at + 2])
                if slot is None:
                    break
                slots.append((segment.df_at(POSITIONAL_FIELD, slot), at, slot))
            else:
                keys = None
                for _, at, slot in sorted(slots):
                    ids, counts, offsets = segment.positions(slot)
                    kept = member(ids, local)
                    starts = offsets - at       # where the run starts if this bigram belongs to it
                    each = np.repeat(kept, counts) & (starts >= 0)
                    these = (np.repeat(ids, counts)[each] << 32) | starts[each]
                    keys = these if keys is None else intersect(keys, these)
                    if not keys.size:
                        break
                    local = distinct(keys >> 32)    # the next bigram: only the documents still in
                if keys is not None and keys.size:
                    found.append(distinct(keys >> 32) + base)
        return DocArray(np.concatenate(found) if found else np.zeros(0, dtype=np.int64))

    def match_alternative(self, terms: list[Term], within, exact: bool = True,
                          cache: dict | None = None) -> DocArray:
        """Documents holding every term (within `within`); exact=False: the postings' candidates only."""
        cache = {} if cache is None else cache
        for t in terms:
            if t not in cache:
                cache[t] = self.candidates(t)
        ordered = sorted(((cache[t], t) for t in terms), key=lambda pair: len(pair[0]))
        docs = DocArray.of(within) if within is not None else None
        for candidates, _ in ordered:
            docs = candidates if docs is None else docs & candidates
            if not docs:
                return DocArray()
        to_check = [t for _, t in ordered if not exact_by_postings(t)] if exact else []
        if to_check:
            for term in to_check:
                docs = self.holding(docs, term)
        return docs

    @_reads_index("columns")
    def files(self, docnum: int) -> dict:
        """{relative path: [size, mtime]} of every name a document's content has."""
        with self.lock:
            return self._files[docnum] or {}

    @_reads_index("stored fields")
    def stored(self, docnum: int) -> dict:
        """A document's stored fields, its text unpacked."""
        with self.lock:
            stored = dict(self.searcher.stored_fields(docnum))
        stored["text"] = stored_text(stored)
        return stored

    @_reads_index("stored fields")
    def markup(self, stored: dict) -> dict | None:
        """A Markdown report's stored HTML ({"body", "boilerplate", "note"}) from its stored fields;
        None for other kinds."""
        return stored_markup(stored)

    def doc_by_id(self, report_id: str) -> int | None:
        """The document of an id: its own, or (so that links last) the id any of its files' names gives,
        which was its id when that file was its primary one (before a copy under a smaller name came)."""
        for base, columns in self.column_segments:      # Whoosh indexes no field (indexer.schema)
            for local in columns.holding("id", [report_id]).tolist():
                if self.live_mask[base + local]:
                    return base + local
        by_name = self.memo.get("ids by file")
        if by_name is None:
            from indexer.indexing import report_id as id_of_path

            by_name = {id_of_path(path): d for d in self.live for path in self.files(d)}
            self.memo["ids by file"] = by_name
        return by_name.get(report_id)


def exact_by_postings(term: Term) -> bool:
    """True when postings alone decide the term (no need to read the text): a Latin word, one or
    two CJK characters, and a run of three or more CJK characters (by positions); not a title:
    term, nor one with Latin letters, digits or punctuation among CJK characters (5G手机, A股)."""
    if term.field:
        return False
    if term.kind == "latin":
        return True
    plan = plan_substring(term.text)
    return plan.exact and (MATCH_BY_POSITIONS or not plan.positional)


def _by_positions(term: Term, plan=None) -> bool:
    """Whether a term is decided by the bigrams' positions (see IndexView.positioned)."""
    if term.field or term.kind == "latin" or not MATCH_BY_POSITIONS:
        return False
    return (plan or plan_substring(term.text)).positional


