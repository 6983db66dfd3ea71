"""The postings of a segment, kept in one compact file beside the Whoosh segment.

Whoosh stores every term of every field with a pickled block header and a term-table
entry: about 130 bytes per term, measured on xwlb_stories, where the CJK bigrams alone
are 290,000 terms per 10,000 documents. It also walks each posting through Python several
times while writing. So Whoosh keeps the documents (stored fields, columns, deletions,
segments and their atomic commit) and this module keeps what matching and ranking read:

- ngrams, latin: the documents holding each CJK character or bigram, each Latin word; a
  bigram also with where it occurs in each document (character offsets into the folded text
  that indexer.view checks), so that longer CJK terms are decided without reading texts;
- words, title_words: jieba words with their frequency per document, and each document's
  length in words (BM25F).

A segment's file is named after the segment (`reports_<id>.post`), so Whoosh's own
clean-up deletes it with its segment. It is written before the commit that makes the
segment visible, under a temporary name and renamed, so a reader never sees half of one.

Layout: MAGIC, a little-endian u32 header length, a JSON header, then the blobs it points
to, each 8-byte aligned. Per field: the terms' UTF-8 bytes in sorted order and where each
starts (u32), their document frequencies (u32), offsets into the data (u32, or u64 past 4 GB: the
extent's length tells which) and the data. A term's postings are the gaps between its document
numbers (u8/u16/u32, whichever is enough), then for scored fields the frequencies (u8/u16),
zlib-compressed when that pays. Decoding is array + itertools.accumulate, both in C.

The bigrams' positions are a region of their own in the ngrams field (`pos_offsets`, `positions`),
so that a query needing only a bigram's documents never reads or decodes them. Per bigram: each
document's occurrence count (u8/u16/u32), then its offsets as gaps starting afresh at each
document (u8/u16/u32), zlib-compressed when that pays; decoded with numpy. Unigrams and Latin
words stay document sets (their positions would not decide anything a bigram's do not).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from array import array
from collections import Counter
from itertools import accumulate, chain, repeat
from operator import sub
from pathlib import Path
from typing import Iterator

import numpy as np

from indexer.analysis import gram_key, gram_text
from indexer.durable import write_atomic

MAGIC = b"RAPOSTINGS\x004\n"       # 4: u32 offsets; 3: bigram positions (an older file is rebuilt, never misread)
SET_FIELDS = ("ngrams", "latin")
SCORED_FIELDS = ("words", "title_words")
FIELDS = SET_FIELDS + SCORED_FIELDS
SUFFIX = ".post"
_TYPECODES = "BHI"
_COMPRESS_OVER = 48     # bytes: smaller postings are stored as they are
POSITIONAL_FIELD = "ngrams"     # its bigrams carry positions
_DTYPES = (np.uint8, np.uint16, np.uint32)
_SMALL_POSITIONS = 24   # offsets of a bigram encoded without numpy (see _encode_few_positions)
_CHUNK = 1 << 20        # entries numbered at a time when sorting by term (see _term_runs)


def postings_path(directory: str | Path, segment_id: str) -> Path:
    return Path(directory) / f"{segment_id}{SUFFIX}"


def _typecode(largest: int) -> int:
    return 0 if largest < 0x100 else 1 if largest < 0x10000 else 2


class _TermNumbers(dict):
    """A field's terms numbered in the order they first come (looking up a new term numbers it)."""

    def __missing__(self, term: str) -> int:
        self[term] = number = len(self)
        return number


class PostingsBuilder:
    """Collects the postings of one segment in document order, then writes its file.

    What it collects are flat typed arrays with an entry per (term, document) pair of each field (and
    per offset of a bigram), appended as documents come; `write` sorts them by term once (numpy) and
    encodes each term's run. A term is a number there: a CJK n-gram its gram key (indexer.analysis),
    a Latin word or a word its number in the field's _TermNumbers. The builder before kept an array
    per term (a dictionary operation and an append per token and term): per synthetic report 1.28 CPU
    ms to add and 0.86 to write, against 0.22 and 0.68 (bench/build_bench.py's stages, 2,000
    reports); the file is byte for byte the same. Held memory is about the same; `write` sorts in
    numpy arrays of a few bytes per entry, freed as it goes.
    """

    def __init__(self) -> None:
        self.count = 0
        # Typed arrays, not lists of int objects: a merge holds every posting of the segments it
        # merges, and millions of short-lived ints left the watcher's heap in pieces (its RSS grew
        # with each merge while its live objects did not).
        self._numbers: dict[str, _TermNumbers] = {name: _TermNumbers() for name in FIELDS if name != POSITIONAL_FIELD}
        # Per field, (term, document) pairs; the ngrams field's are its unigrams' (its bigrams' are
        # those of their offsets, below).
        self._pair_terms: dict[str, array] = {name: array("I") for name in FIELDS}
        self._pair_docs: dict[str, array] = {name: array("I") for name in FIELDS}
        self._tfs: dict[str, array] = {name: array("I") for name in SCORED_FIELDS}
        self.lengths: dict[str, array] = {name: array("I") for name in SCORED_FIELDS}
        # Every bigram offset: the bigram's key, the document, the offset.
        self._bigram_keys, self._bigram_docs, self._bigram_offsets = array("I"), array("I"), array("I")

    def add(self, analysis: dict) -> int:
        """Add the next document: {field: tokens} as indexer.indexing.analyse returns (the n-grams as
        "grams": indexer.analysis.CjkGrams)."""
        docnum = self.count
        grams = analysis["grams"]
        _extend(self._pair_terms[POSITIONAL_FIELD], grams.unigrams)
        self._pair_docs[POSITIONAL_FIELD].extend(repeat(docnum, len(grams.unigrams)))
        _extend(self._bigram_keys, grams.bigrams)
        self._bigram_docs.extend(repeat(docnum, len(grams.bigrams)))
        _extend(self._bigram_offsets, grams.offsets)
        numbers = self._numbers["latin"]
        self._pair_terms["latin"].extend(map(numbers.__getitem__, analysis["latin"]))
        self._pair_docs["latin"].extend(repeat(docnum, len(analysis["latin"])))
        for name in SCORED_FIELDS:
            tokens = analysis[name]
            self.lengths[name].append(len(tokens))
            tfs = Counter(tokens)
            self._pair_terms[name].extend(map(self._numbers[name].__getitem__, tfs))
            self._pair_docs[name].extend(repeat(docnum, len(tfs)))
            self._tfs[name].extend(tfs.values())
        self.count += 1
        return docnum

    def add_segment(self, postings: "SegmentPostings", live: list[int]) -> None:
        """Append the live documents of another segment (a merge), in their order."""
        base = self.count
        new_number = {old: base + i for i, old in enumerate(live)}
        every = len(live) == postings.doc_count
        alive = np.zeros(postings.doc_count, dtype=bool)
        alive[np.asarray(live, dtype=np.int64)] = True
        for name in FIELDS:
            for term, slot in postings.items(name):
                ids, tfs = postings.decode(name, slot, base if every else 0)
                if every:
                    mapped, kept_tfs = ids, tfs
                else:
                    pairs = [(new_number[d], i) for i, d in enumerate(ids) if d in new_number]
                    if not pairs:
                        continue
                    mapped = [p[0] for p in pairs]
                    kept_tfs = [tfs[i] for _, i in pairs] if tfs is not None else None
                if name == POSITIONAL_FIELD and len(term) == 2:
                    if not postings.has_positions(slot):
                        raise ValueError(f"the bigram {term!r} has no positions")
                    counts, offsets = postings.decode_positions(slot, len(ids))
                    if not every:
                        kept = alive[np.asarray(ids, dtype=np.int64)]
                        offsets = offsets[np.repeat(kept, counts)]
                        counts = counts[kept]
                    self._bigram_keys.extend(repeat(gram_key(term), len(offsets)))
                    _extend(self._bigram_docs, np.repeat(np.asarray(mapped, dtype=np.uint32), counts))
                    _extend(self._bigram_offsets, offsets)
                    continue
                number = gram_key(term) if name == POSITIONAL_FIELD else self._numbers[name][term]
                self._pair_terms[name].extend(repeat(number, len(mapped)))
                self._pair_docs[name].extend(mapped)
                if kept_tfs is not None:
                    self._tfs[name].extend(kept_tfs)
        for name in SCORED_FIELDS:
            lengths = postings.lengths[name]
            self.lengths[name].extend(lengths[d] for d in live)
        self.count += len(live)

    def write(self, path: Path) -> int:
        """Write the file atomically (temporary name, fsync, rename); its size in bytes."""
        header: dict = {"docs": self.count, "fields": {}, "lengths": {}}
        blobs: list[bytes] = []
        offset = 0

        def put(blob: bytes) -> list[int]:
            nonlocal offset
            start = offset
            padding = -len(blob) % 8        # every blob starts 8-byte aligned: read as typed views
            blobs.append(blob + bytes(padding))
            offset += len(blob) + padding
            return [start, len(blob)]

        for name in FIELDS:
            # Sorted by their UTF-8 bytes (the order of their code points, which is Python's order
            # of strings): a reader finds a term by binary search in the file itself, with no
            # dictionary of every term in memory.
            terms: list[str] = []
            dfs = array("I")
            offsets, pos_offsets = array("Q"), array("Q")
            data, pos_data = bytearray(), bytearray()
            for term, docs, tfs, positions in (self._gram_postings() if name == POSITIONAL_FIELD
                                               else self._word_postings(name)):
                terms.append(term)
                dfs.append(len(docs))
                offsets.append(len(data))
                data += _encode(docs, tfs)
                pos_offsets.append(len(pos_data))
                if positions is not None:       # a bigram (a unigram has none: empty)
                    pos_data += _encode_positions(*positions)
            offsets.append(len(data))
            pos_offsets.append(len(pos_data))
            term_offsets = array("I", accumulate((len(term.encode("utf-8")) for term in terms), initial=0))
            header["fields"][name] = {
                "terms": put("".join(terms).encode("utf-8")),
                "term_offsets": put(term_offsets.tobytes()),
                "df": put(dfs.tobytes()),
                "offsets": put(_narrowed(offsets)),
                "data": put(bytes(data)),
            }
            if name == POSITIONAL_FIELD:
                header["fields"][name]["pos_offsets"] = put(_narrowed(pos_offsets))
                header["fields"][name]["positions"] = put(bytes(pos_data))
        for name in SCORED_FIELDS:
            header["lengths"][name] = put(self.lengths[name].tobytes())
        head = json.dumps(header).encode("utf-8")
        write_atomic(path, [MAGIC, struct.pack("<I", len(head)), head, *blobs])
        return len(MAGIC) + 4 + len(head) + offset

    def _word_postings(self, name: str) -> Iterator[tuple[str, array, array | None, None]]:
        """A field of words, term by term in order: (term, its documents, their frequencies or None, None)."""
        numbers = list(self._numbers[name])
        order = sorted(range(len(numbers)), key=numbers.__getitem__)
        rank = np.empty(len(numbers), dtype=np.uint32)
        rank[order] = np.arange(len(numbers), dtype=np.uint32)
        pairs, _, bounds = _term_runs(rank[np.frombuffer(self._pair_terms[name], dtype=np.uint32)])
        docs = _uint_array(np.frombuffer(self._pair_docs[name], dtype=np.uint32)[pairs])
        tfs = _uint_array(np.frombuffer(self._tfs[name], dtype=np.uint32)[pairs]) if name in SCORED_FIELDS else None
        del pairs, rank
        for number, start, end in zip(order, bounds, bounds[1:]):
            yield numbers[number], docs[start:end], tfs[start:end] if tfs is not None else None, None

    def _gram_postings(self) -> Iterator[tuple[str, array, None, tuple[array, array] | None]]:
        """The ngrams field, term by term in order: (n-gram, its documents, None, positions), the
        positions being what _encode_positions takes for a bigram (each document's count, the
        offsets), None for a unigram."""
        # Every bigram offset by bigram, then document, then offset (their order of arrival within
        # each bigram): a run per bigram, in it a run per document, whose length is the count.
        occurrences, keys, bounds = _term_runs(np.frombuffer(self._bigram_keys, dtype=np.uint32))
        bigram_keys = keys[bounds[:-1]]
        del keys
        docs = np.frombuffer(self._bigram_docs, dtype=np.uint32)[occurrences]
        offsets = _uint_array(np.frombuffer(self._bigram_offsets, dtype=np.uint32)[occurrences])
        del occurrences
        pair_start = np.ones(len(docs), dtype=bool)
        np.not_equal(docs[1:], docs[:-1], out=pair_start[1:])
        pair_start[bounds[:-1]] = True
        pair_starts = np.flatnonzero(pair_start)
        del pair_start
        pair_docs = _uint_array(docs[pair_starts])
        del docs
        counts = np.empty(len(pair_starts), dtype=np.uint32)
        np.subtract(pair_starts[1:], pair_starts[:-1], out=counts[:-1], casting="unsafe")
        counts[-1:] = len(offsets) - pair_starts[-1:]
        counts = _uint_array(counts)
        first_pairs = np.searchsorted(pair_starts, bounds).tolist()      # each bigram's first in `counts`
        del pair_starts
        # The unigrams' (unigram, document) pairs by unigram, each one's documents in their order of arrival.
        pairs, keys, unigram_bounds = _term_runs(np.frombuffer(self._pair_terms[POSITIONAL_FIELD], dtype=np.uint32))
        unigram_docs = _uint_array(np.frombuffer(self._pair_docs[POSITIONAL_FIELD], dtype=np.uint32)[pairs])
        unigram_keys = keys[unigram_bounds[:-1]]
        del pairs, keys
        # The unigrams and bigrams in the order of their keys: the n-grams' order (no key is both).
        unigrams = len(unigram_keys)
        keys = np.concatenate((unigram_keys, bigram_keys))
        order = np.argsort(keys).tolist()
        keys = keys.tolist()
        for i in order:
            if i < unigrams:
                start, end = unigram_bounds[i], unigram_bounds[i + 1]
                yield gram_text(keys[i]), unigram_docs[start:end], None, None
            else:
                bigram = i - unigrams
                start, end = first_pairs[bigram], first_pairs[bigram + 1]
                offsets_of = offsets[bounds[bigram]:bounds[bigram + 1]]
                yield gram_text(keys[i]), pair_docs[start:end], None, (counts[start:end], offsets_of)


def _term_runs(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Sort entries (fewer than 2**32) by their terms (uint32), keeping the order they came in
    within each term: the permutation that sorts them, the terms sorted, and where each term's run
    starts (and the end)."""
    # The term and the entry's index as one uint64 sort as (term, index): numpy sorts such distinct
    # values several times faster than it sorts the terms stably (argsort kind="stable").
    combined = terms.astype(np.uint64)
    combined <<= 32
    for start in range(0, len(terms), _CHUNK):      # in pieces: no second array of their size
        combined[start:start + _CHUNK] |= np.arange(start, min(start + _CHUNK, len(terms)), dtype=np.uint64)
    combined.sort()
    ordered = np.empty(len(terms), dtype=np.uint32)
    np.right_shift(combined, 32, out=ordered, casting="unsafe")
    combined &= 0xFFFFFFFF
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return combined.view(np.int64), ordered, [0, *starts.tolist(), len(terms)] if len(terms) else [0]


def _extend(target: array, values: np.ndarray) -> None:
    """Append a numpy array of unsigned ints to an array("I") (copied once)."""
    target.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.uint32)).cast("B"))


def _uint_array(values: np.ndarray) -> array:
    """A numpy array of unsigned ints as array("I"): what the encoders take, sliced in C."""
    result = array("I")
    _extend(result, values)
    return result


def _narrowed(offsets: array) -> bytes:
    """Offsets into a region as u32 when the last fits, else u64. A bigram has two (its documents',
    its positions'): at 20,000 synthetic documents, 609,000 ngrams terms in all, u64 offsets were
    9.8 MB of the 65.8 MB of postings."""
    return (array("I", offsets) if offsets[-1] < 1 << 32 else offsets).tobytes()


def _offsets_code(extent: list[int], count: int) -> str:
    """The typecode of an offsets array of count + 1 entries (see _narrowed), from its length."""
    for code in "IQ":
        if extent[1] == (count + 1) * array(code).itemsize:
            return code
    raise ValueError(f"an offsets array of {extent[1]} bytes does not hold {count + 1} offsets")


def _encode(ids: list[int], tfs: list[int] | None) -> bytes:
    gaps = array("I", map(sub, ids, chain((0,), ids)))
    id_code = _typecode(max(gaps))
    body = array(_TYPECODES[id_code], gaps).tobytes() if id_code != 2 else gaps.tobytes()
    tf_code = 0
    if tfs is not None:
        tf_code = min(_typecode(max(tfs)), 1)
        body += array(_TYPECODES[tf_code], (min(t, 0xFFFF) for t in tfs)).tobytes()
    return _flagged(id_code | (tf_code << 2), body)


def _flagged(flags: int, body: bytes) -> bytes:
    """A posting's bytes: its flags (widths), then its body, zlib-compressed (flag 0x10) when that pays."""
    if len(body) > _COMPRESS_OVER:
        packed = zlib.compress(body, 6)
        if len(packed) < len(body):
            return bytes([flags | 0x10]) + packed
    return bytes([flags]) + body


def _encode_positions(counts: array, positions: array) -> bytes:
    """A bigram's positions: the counts per document, then the offsets as gaps that start afresh
    at each document (its first offset as it is), each in the smallest width that holds it."""
    if len(positions) <= _SMALL_POSITIONS:
        return _encode_few_positions(counts, positions)
    return _encode_many_positions(counts, positions)


def _encode_many_positions(counts: array, positions: array) -> bytes:
    """_encode_positions with numpy."""
    count_arr = np.frombuffer(counts, dtype=np.uint32)
    offsets = np.frombuffer(positions, dtype=np.uint32)
    gaps = offsets.copy()
    gaps[1:] -= offsets[:-1]
    firsts = np.cumsum(count_arr) - count_arr
    gaps[firsts] = offsets[firsts]
    count_code = _typecode(int(count_arr.max()))
    gap_code = _typecode(int(gaps.max()))
    body = count_arr.astype(_DTYPES[count_code]).tobytes() + gaps.astype(_DTYPES[gap_code]).tobytes()
    return _flagged(count_code | (gap_code << 2), body)


def _encode_few_positions(counts: array, positions: array) -> bytes:
    """_encode_positions in plain Python: for a few offsets numpy's call overhead is most of the cost."""
    gaps = []
    at = 0
    for count in counts:
        previous = 0
        for offset in positions[at:at + count]:
            gaps.append(offset - previous)
            previous = offset
        at += count
    count_code, gap_code = _typecode(max(counts)), _typecode(max(gaps))
    body = array(_TYPECODES[count_code], counts).tobytes() + array(_TYPECODES[gap_code], gaps).tobytes()
    return _flagged(count_code | (gap_code << 2), body)


class SegmentPostings:
    """One segment's postings file, opened for reading.

    The file is memory-mapped and read in place (terms by binary search, typed views over
    its arrays): opening costs nothing per term, and the pages are shared by every process
    that reads the same generation.
    """

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        data = self._map
        if data[:len(MAGIC)] != MAGIC:
            raise ValueError(f"{path.name} is not a postings file of this version")
        (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(data[start:start + head_len])
        base = start + head_len
        self.header, self.header_end = header, base     # where each blob is (tests damage one)
        self._base = base
        self._view = memoryview(data)
        self.doc_count: int = header["docs"]
        self._fields: dict[str, tuple] = {}

        def typed(extent: list[int], code: str) -> memoryview:
            return self._view[base + extent[0]:base + extent[0] + extent[1]].cast(code)

        for name in FIELDS:
            info = header["fields"][name]
            df = typed(info["df"], "I")
            self._fields[name] = (base + info["terms"][0], typed(info["term_offsets"], "I"), df,
                                  typed(info["offsets"], _offsets_code(info["offsets"], len(df))),
                                  base + info["data"][0], len(df))
        info = header["fields"][POSITIONAL_FIELD]
        terms = self._fields[POSITIONAL_FIELD][5]
        self._pos_offsets = typed(info["pos_offsets"], _offsets_code(info["pos_offsets"], terms))
        self._pos_start = base + info["positions"][0]
        # Views over the map, not copies: the searcher reads them into one array per generation.
        self.lengths: dict[str, memoryview] = {name: typed(header["lengths"][name], "I") for name in SCORED_FIELDS}
        self.total_length = {name: sum(values) for name, values in self.lengths.items()}

    def close(self) -> None:
        self._fields.clear()
        self.lengths = {}
        self._pos_offsets = None
        self._view.release()
        self._map.close()

    def slot(self, name: str, term: str) -> int | None:
        """The position of a term in the field's sorted terms, or None."""
        start, term_offsets, _, _, _, count = self._fields[name]
        key = term.encode("utf-8")
        data = self._map
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) >> 1
            if data[start + term_offsets[mid]:start + term_offsets[mid + 1]] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < count and data[start + term_offsets[lo]:start + term_offsets[lo + 1]] == key:
            return lo
        return None

    def items(self, name: str) -> Iterator[tuple[str, int]]:
        """Every (term, slot) of a field, in order (for merges)."""
        start, term_offsets, _, _, _, count = self._fields[name]
        data = self._map
        for slot in range(count):
            yield data[start + term_offsets[slot]:start + term_offsets[slot + 1]].decode("utf-8"), slot

    def df(self, name: str, term: str) -> int:
        slot = self.slot(name, term)
        return 0 if slot is None else self.df_at(name, slot)

    def df_at(self, name: str, slot: int) -> int:
        """The document frequency of the term at `slot` (no second search for it)."""
        return self._fields[name][2][slot]

    def decode(self, name: str, slot: int, base: int = 0) -> tuple[list[int], list[int] | None]:
        """Document numbers (plus `base`) and, for scored fields, frequencies of one term."""
        _, _, dfs, offsets, start, _ = self._fields[name]
        raw = self._map[start + offsets[slot]:start + offsets[slot + 1]]
        flags, body = raw[0], raw[1:]
        if flags & 0x10:
            body = zlib.decompress(body)
        count = dfs[slot]
        id_code, tf_code = _TYPECODES[flags & 3], _TYPECODES[(flags >> 2) & 3]
        id_size = array(id_code).itemsize
        gaps = array(id_code, body[:count * id_size])
        if base:
            gaps = array("Q", gaps)
            gaps[0] += base
        ids = list(accumulate(gaps))
        tfs = array(tf_code, body[count * id_size:]).tolist() if name in SCORED_FIELDS else None
        # A damaged file decodes into documents that do not exist rather than fail: say so (IndexError).
        if len(ids) != count or (ids and ids[-1] - base >= self.doc_count) or (tfs is not None and len(tfs) != count):
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids, tfs

    def doc_array(self, name: str, slot: int) -> np.ndarray:
        """The document numbers of one term as a sorted int64 array (numpy: for positional matching)."""
        _, _, dfs, offsets, start, _ = self._fields[name]
        raw = self._map[start + offsets[slot]:start + offsets[slot + 1]]
        flags, body = raw[0], raw[1:]
        if flags & 0x10:
            body = zlib.decompress(body)
        count, dtype = dfs[slot], _DTYPES[flags & 3]
        if len(body) < count * np.dtype(dtype).itemsize:
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        ids = np.cumsum(np.frombuffer(body, dtype=dtype, count=count), dtype=np.int64)
        if ids.size and ids[-1] >= self.doc_count:
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids

    def has_positions(self, slot: int) -> bool:
        """Whether an ngrams term carries positions (the bigrams do, the unigrams not)."""
        return self._pos_offsets[slot + 1] > self._pos_offsets[slot]

    def positions(self, slot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A bigram's documents, occurrences per document and offsets (document by document,
        ascending within each), as int64 arrays; empty for a term without positions."""
        ids = self.doc_array(POSITIONAL_FIELD, slot)
        if not self.has_positions(slot):
            empty = np.zeros(0, dtype=np.int64)
            return ids[:0], empty, empty
        return (ids, *self.decode_positions(slot, ids.size))

    def decode_positions(self, slot: int, docs: int) -> tuple[np.ndarray, np.ndarray]:
        """The occurrence counts and offsets of a bigram that has positions, held by `docs` documents."""
        start, end = self._pos_offsets[slot], self._pos_offsets[slot + 1]
        raw = self._map[self._pos_start + start:self._pos_start + end]
        flags, body = raw[0], raw[1:]
        if flags & 0x10:
            body = zlib.decompress(body)
        count_type, gap_type = np.dtype(_DTYPES[flags & 3]), np.dtype(_DTYPES[(flags >> 2) & 3])
        counts_end = docs * count_type.itemsize
        if len(body) < counts_end:
            raise IndexError(f"the positions of slot {slot} do not decode to {docs} documents")
        counts = np.frombuffer(body, dtype=count_type, count=docs).astype(np.int64)
        total = int(counts.sum())
        # A damaged file decodes into offsets that do not belong to these documents: say so (IndexError).
        if len(body) != counts_end + total * gap_type.itemsize or (docs and counts.min() < 1):
            raise IndexError(f"the positions of slot {slot} do not decode to {total} offsets")
        gaps = np.frombuffer(body, dtype=gap_type, count=total, offset=counts_end).astype(np.int64)
        running = np.cumsum(gaps)
        firsts = np.cumsum(counts) - counts
        # Gaps start afresh at each document: take away the running sum before its first offset.
        offsets = running - np.repeat(running[firsts] - gaps[firsts], counts)
        return counts, offsets

    def docs(self, name: str, term: str, base: int = 0) -> list[int]:
        slot = self.slot(name, term)
        return [] if slot is None else self.decode(name, slot, base)[0]

    def weights(self, name: str, term: str, base: int = 0) -> dict[int, int]:
        slot = self.slot(name, term)
        if slot is None:
            return {}
        ids, tfs = self.decode(name, slot, base)
        return dict(zip(ids, tfs))


def verify(path: Path) -> None:
    """Raise ValueError unless `path` is a whole postings file (header and every extent)."""
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path.name} is not a postings file of this version")
        size = os.fstat(fh.fileno()).st_size
        try:
            (head_len,) = struct.unpack("<I", fh.read(4))
            header = json.loads(fh.read(head_len))
            extents = [e for info in header["fields"].values() for e in info.values()] + list(header["lengths"].values())
        except (struct.error, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path.name} has a damaged header") from exc
        end = len(MAGIC) + 4 + head_len + max((start + length for start, length in extents), default=0)
        if end > size:
            raise ValueError(f"{path.name} is cut short ({size} of {end} bytes)")
        try:
            for name, info in header["fields"].items():
                terms = info["df"][1] // 4
                for key in ("offsets", "pos_offsets") if name == POSITIONAL_FIELD else ("offsets",):
                    _offsets_code(info[key], terms)     # u32 or u64, one per term and one more
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"{path.name} has damaged offsets ({exc})") from exc


def open_segment(directory: str | Path, segment_id: str) -> SegmentPostings:
    return SegmentPostings(postings_path(directory, segment_id))
