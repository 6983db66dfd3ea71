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
to, each 8-byte aligned. Per field: the terms' UTF-8 bytes in sorted order, their lengths (u8, or
u16 when a term is longer) and where every TERM_GROUP-th term starts (`term_index`), then where each
term's entry starts in the data (u32, or u64 past 4 GB: an array's length tells which) and the data.

A term's entry: its document frequency (a LEB128 varint), the gaps between its documents less one
(the first document as it is), then for scored fields each frequency less one; for a bigram, each
document's occurrence count less one, then its offsets as gaps starting afresh at each document (the
first as it is). Each sequence is bit-packed in blocks (indexer.bitpack): nothing but the document
frequency says how long they are. A unigram's or a Latin word's entry ends after its documents (their
positions would not decide anything a bigram's do not); a bigram's positions follow its documents in
the same entry, so a query needing only its documents reads the bytes before them and decodes nothing
more. Decoding is numpy, or Python ints for a few values.

Before (MAGIC 4) each sequence was whole bytes (u8/u16/u32, zlib-compressed when that paid), the
positions a region of their own with an offset per term, the document frequencies a u32 array and
every term's start a u32: 16 bytes a term beside its UTF-8, where this dictionary takes 5.25 (a u8
length, a u32 offset, a quarter of a u32 group start) and the varint. At 20,000 synthetic documents
(609,000 n-gram terms) the postings went from 60.0 to 44.2 MB: n-gram dictionary 10.9 -> 6.8,
documents 14.3 -> 13.0, positions 21.9 -> 14.1, jieba words 10.9 -> 8.8 (bench/REPORT.md, "Index size").
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from array import array
from collections import Counter
from bisect import bisect_left
from itertools import accumulate, repeat
from operator import add
from pathlib import Path
from typing import Iterator

import numpy as np

from indexer import bitpack
from indexer.analysis import gram_key, gram_text
from indexer.durable import write_atomic

MAGIC = b"RAPOSTINGS\x005\n"       # 5: bit-packed entries; 4: u32 offsets; 3: bigram positions (an older file is rebuilt, never misread)
SET_FIELDS = ("ngrams", "latin")
SCORED_FIELDS = ("words", "title_words")
FIELDS = SET_FIELDS + SCORED_FIELDS
SUFFIX = ".post"
POSITIONAL_FIELD = "ngrams"     # its bigrams carry positions
TERM_GROUP = 16         # a term's bytes are found from its group's start and the lengths before it in the group
_CHUNK = 1 << 20        # entries numbered at a time when sorting by term (see _term_runs)


def postings_path(directory: str | Path, segment_id: str) -> Path:
    return Path(directory) / f"{segment_id}{SUFFIX}"


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
                    _, counts, offsets = postings.positions(slot)
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
        header: dict = {"docs": self.count, "terms": {}, "fields": {}, "lengths": {}, "positions_bytes": 0}
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
            # dictionary of every term in memory. A term's entry: its document count, the gaps
            # between its documents, a word's frequencies, a bigram's counts and offset gaps.
            terms: list[str] = []
            offsets = array("Q")
            data = bytearray()
            for term, docs, tfs, positions in (self._gram_postings() if name == POSITIONAL_FIELD
                                               else self._word_postings(name)):
                terms.append(term)
                offsets.append(len(data))
                data += _varint(len(docs))
                data += bitpack.pack(_doc_gaps(docs))
                if tfs is not None:
                    data += bitpack.pack(_less_one(tfs))
                if positions is not None:       # a bigram (a unigram has none)
                    before = len(data)
                    data += bitpack.pack(_less_one(positions[0])) + bitpack.pack(_offset_gaps(*positions))
                    header["positions_bytes"] += len(data) - before
            offsets.append(len(data))
            encoded = [term.encode("utf-8") for term in terms]
            lengths = [len(term) for term in encoded]
            starts = list(accumulate(lengths, initial=0))
            header["terms"][name] = len(terms)
            header["fields"][name] = {
                "terms": put(b"".join(encoded)),
                "term_lengths": put(array("B" if max(lengths, default=0) < 0x100 else "H", lengths).tobytes()),
                "term_index": put(_narrowed(array("Q", starts[:-1:TERM_GROUP] + [starts[-1]]))),
                "offsets": put(_narrowed(offsets)),
                "data": put(bytes(data)),
            }
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


def _varint(value: int) -> bytes:
    """LEB128: seven bits a byte, low first, the high bit set on every byte but the last."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data, at: int) -> tuple[int, int]:
    """The varint at `at` and where it ends (IndexError past the end of `data`)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise IndexError("a varint of more than 64 bits")


def _doc_gaps(ids: array):
    """The gaps between ascending document numbers less one (the first as it is: a gap from -1)."""
    if len(ids) <= bitpack.SMALL:
        return [b - a - 1 for a, b in zip((-1, *ids), ids)]
    numbers = np.frombuffer(ids, dtype=np.uint32).astype(np.int64)
    return np.diff(numbers, prepend=-1) - 1


def _less_one(values: array):
    """Counts of one or more, less one (what is packed: a frequency of 1 takes no bits)."""
    if len(values) <= bitpack.SMALL:
        return [value - 1 for value in values]
    return np.frombuffer(values, dtype=np.uint32) - 1


def _offset_gaps(counts: array, offsets: array):
    """A bigram's offsets as gaps that start afresh at each document (its first offset as it is)."""
    if len(offsets) <= bitpack.SMALL:
        gaps, at = [], 0
        for count in counts:
            previous = 0
            for offset in offsets[at:at + count]:
                gaps.append(offset - previous)
                previous = offset
            at += count
        return gaps
    values = np.frombuffer(offsets, dtype=np.uint32).astype(np.int64)
    gaps = values.copy()
    gaps[1:] -= values[:-1]
    per_document = np.frombuffer(counts, dtype=np.uint32).astype(np.int64)
    firsts = np.cumsum(per_document) - per_document
    gaps[firsts] = values[firsts]
    return gaps


def _extend(target: array, values: np.ndarray) -> None:
    """Append a numpy array of unsigned ints to an array("I") (copied once)."""
    target.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.uint32)).cast("B"))


def _uint_array(values: np.ndarray) -> array:
    """A numpy array of unsigned ints as array("I"): what the encoders take, sliced in C."""
    result = array("I")
    _extend(result, values)
    return result


def _narrowed(offsets: array) -> bytes:
    """Offsets into a region as u32 when the last fits, else u64: at 20,000 synthetic documents,
    609,000 ngrams terms in all, u64 offsets (two a bigram then) were 9.8 MB of the 65.8 MB of postings."""
    return (array("I", offsets) if offsets[-1] < 1 << 32 else offsets).tobytes()


def _code_of(info: dict, key: str, count: int, codes: str = "IQ") -> str:
    """The typecode among `codes` of the array `info[key]` of `count` entries (see _narrowed), from its length."""
    for code in codes:
        if info[key][1] == count * array(code).itemsize:
            return code
    raise ValueError(f"the {key} array's {info[key][1]} bytes are not {count} entries of {' or '.join(codes)}")


class SegmentPostings:
    """One segment's postings file, opened for reading.

    The term dictionary and the lengths are memory-mapped and read in place (terms by binary
    search, typed views over its arrays): opening costs nothing per term, and the pages are shared
    by every process that reads the same generation. A term's entry (its documents, frequencies and
    positions) is read with pread into bytes of its own: mapped, every page a search had touched
    stayed in the process's resident memory, 1.1 GB of the 1.7 GB of a searcher at 1,000,000
    documents after the scale bench's queries (page cache either way: the kernel keeps what fits).
    """

    def __init__(self, path: Path):
        self._file = open(path, "rb")
        self._fd = self._file.fileno()
        try:
            self._map = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
        except BaseException:
            self._file.close()
            raise
        data = self._map
        if data[:len(MAGIC)] != MAGIC:
            raise ValueError(f"{path.name} is not a postings file of this version")
        (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(data[start:start + head_len])
        base = start + head_len
        self.header, self.header_end = header, base     # where each blob is (tests damage one)
        self._view = memoryview(data)
        self.doc_count: int = header["docs"]
        self._fields: dict[str, tuple] = {}

        def typed(extent: list[int], code: str) -> memoryview:
            return self._view[base + extent[0]:base + extent[0] + extent[1]].cast(code)

        for name in FIELDS:
            info, count = header["fields"][name], header["terms"][name]
            self._fields[name] = (base + info["terms"][0],
                                  typed(info["term_index"], _code_of(info, "term_index", -(-count // TERM_GROUP) + 1)),
                                  typed(info["term_lengths"], _code_of(info, "term_lengths", count, "BH")),
                                  typed(info["offsets"], _code_of(info, "offsets", count + 1)),
                                  base + info["data"][0], count)
        # Views over the map, not copies: the searcher reads them into one array per generation.
        self.lengths: dict[str, memoryview] = {name: typed(header["lengths"][name], "I") for name in SCORED_FIELDS}
        self.total_length = {name: sum(values) for name, values in self.lengths.items()}

    def close(self) -> None:
        self._fields.clear()
        self.lengths = {}
        self._view.release()
        self._map.close()
        self._file.close()

    def slot(self, name: str, term: str) -> int | None:
        """The position of a term in the field's sorted terms, or None."""
        start, index, lengths, _, _, count = self._fields[name]
        key = term.encode("utf-8")
        data = self._map
        # The last group whose first term is not above the key, by binary search; then along it.
        lo, hi = 0, len(index) - 1
        while lo < hi:
            mid = (lo + hi) >> 1
            first = start + index[mid]
            if data[first:first + lengths[mid * TERM_GROUP]] <= key:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return None
        # The group's bytes in one piece: the key where it starts a term of its length.
        first = (lo - 1) * TERM_GROUP
        group = data[start + index[lo - 1]:start + index[lo]]
        sizes = lengths[first:min(first + TERM_GROUP, count)].tolist()
        starts = list(accumulate(sizes, initial=0))
        at = group.find(key)
        while at != -1:
            i = bisect_left(starts, at)
            if starts[i] == at and i < len(sizes) and sizes[i] == len(key):
                return first + i
            at = group.find(key, at + 1)
        return None

    def items(self, name: str) -> Iterator[tuple[str, int]]:
        """Every (term, slot) of a field, in order (for merges)."""
        start, _, lengths, _, _, count = self._fields[name]
        data = self._map
        at = start
        for slot in range(count):
            yield data[at:at + lengths[slot]].decode("utf-8"), slot
            at += lengths[slot]

    def df(self, name: str, term: str) -> int:
        slot = self.slot(name, term)
        return 0 if slot is None else self.df_at(name, slot)

    def df_at(self, name: str, slot: int) -> int:
        """The document frequency of the term at `slot` (no second search for it)."""
        _, _, _, offsets, start, _ = self._fields[name]
        return _read_varint(os.pread(self._fd, 10, start + offsets[slot]), 0)[0]

    def _entry(self, name: str, slot: int) -> tuple[bytes, int, int]:
        """The bytes of a term's entry, its document frequency and where its documents start."""
        _, _, _, offsets, start, _ = self._fields[name]
        length = offsets[slot + 1] - offsets[slot]
        if length < 0:
            raise IndexError(f"the postings of {name} slot {slot} end before they start")
        raw = os.pread(self._fd, length, start + offsets[slot])
        count, at = _read_varint(raw, 0)
        if not count:
            raise IndexError(f"the postings of {name} slot {slot} hold no documents")
        return raw, count, at

    def decode(self, name: str, slot: int, base: int = 0) -> tuple[list[int], list[int] | None]:
        """Document numbers (plus `base`) and, for scored fields, frequencies of one term."""
        raw, count, at = self._entry(name, slot)
        if count <= bitpack.SMALL:
            gaps, at = bitpack.unpack_list(raw, at, count)
            # The i-th document is the sum of the gaps up to it, plus i (each gap is less one), plus base.
            ids = list(map(add, accumulate(gaps), range(base, base + count)))
        else:
            gaps, at = bitpack.unpack(raw, at, count)
            ids = (np.cumsum(gaps + 1) + (base - 1)).tolist()
        tfs = None
        if name in SCORED_FIELDS:
            tfs, at = bitpack.unpack_list(raw, at, count)
            tfs = [tf + 1 for tf in tfs]
        # A damaged file decodes into documents that do not exist rather than fail: say so (IndexError).
        if ids[-1] - base >= self.doc_count or (at != len(raw) and name != POSITIONAL_FIELD):
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids, tfs

    def doc_array(self, name: str, slot: int) -> np.ndarray:
        """The document numbers of one term as a sorted int64 array (numpy: for positional matching)."""
        raw, count, at = self._entry(name, slot)
        return self._doc_array(name, slot, raw, count, at)[0]

    def _doc_array(self, name: str, slot: int, raw: bytes, count: int, at: int) -> tuple[np.ndarray, int]:
        if count <= bitpack.SMALL:      # summed as Python ints: one array made, not four numpy calls
            gaps, at = bitpack.unpack_list(raw, at, count)
            ids = np.array(list(map(add, accumulate(gaps), range(count))), dtype=np.int64)
        else:
            gaps, at = bitpack.unpack(raw, at, count)
            ids = np.cumsum(gaps + 1) - 1
        if ids[-1] >= self.doc_count:
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids, at

    def has_positions(self, slot: int) -> bool:
        """Whether an ngrams term carries positions (the bigrams do, the unigrams not)."""
        raw, count, at = self._entry(POSITIONAL_FIELD, slot)
        return bitpack.end_of(raw, at, count) < len(raw)

    def positions(self, slot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A bigram's documents, occurrences per document and offsets (document by document,
        ascending within each), as int64 arrays; empty for a term without positions."""
        raw, count, at = self._entry(POSITIONAL_FIELD, slot)
        ids, at = self._doc_array(POSITIONAL_FIELD, slot, raw, count, at)
        if at == len(raw):
            empty = np.zeros(0, dtype=np.int64)
            return ids[:0], empty, empty
        return (ids, *self._positions_at(slot, raw, at, count))

    def positions_extent(self, slot: int) -> tuple[int, int]:
        """Where in the file a bigram's positions start (after its documents) and their length (tests damage them)."""
        raw, count, at = self._entry(POSITIONAL_FIELD, slot)
        _, _, _, offsets, start, _ = self._fields[POSITIONAL_FIELD]
        at = bitpack.end_of(raw, at, count)
        return start + offsets[slot] + at, len(raw) - at

    def _positions_at(self, slot: int, raw: bytes, at: int, docs: int) -> tuple[np.ndarray, np.ndarray]:
        if docs <= bitpack.SMALL:
            more, at = bitpack.unpack_list(raw, at, docs)       # each count less one
            total = docs + sum(more)
        else:
            more, at = bitpack.unpack(raw, at, docs)
            total = docs + int(more.sum())
        gaps, at = bitpack.unpack(raw, at, total)
        # A damaged file decodes into offsets that do not belong to these documents: say so (IndexError).
        if at != len(raw):
            raise IndexError(f"the positions of slot {slot} do not decode to {total} offsets")
        if total == docs:       # once in each document (most bigrams): each gap is its offset
            return np.ones(docs, dtype=np.int64), gaps
        counts = np.asarray(more, dtype=np.int64) + 1
        running = np.cumsum(gaps)
        firsts = np.cumsum(counts) - counts
        # Gaps start afresh at each document: take away the running sum before its first offset.
        offsets = running - np.repeat(running[firsts] - gaps[firsts], counts)
        return counts, offsets

    def doc_array_of(self, name: str, term: str) -> np.ndarray | None:
        """The documents of a term as a sorted int64 array (numbers within the segment); None when absent."""
        slot = self.slot(name, term)
        if slot is None:
            return None
        raw, count, at = self._entry(name, slot)
        ids, at = self._doc_array(name, slot, raw, count, at)
        if name in SCORED_FIELDS:
            at = bitpack.end_of(raw, at, count)
        if at != len(raw) and name != POSITIONAL_FIELD:
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids

    def weight_arrays_of(self, name: str, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(documents within the segment, frequencies) of a scored field's term as int64 arrays; None when absent."""
        slot = self.slot(name, term)
        if slot is None:
            return None
        raw, count, at = self._entry(name, slot)
        ids, at = self._doc_array(name, slot, raw, count, at)
        tfs, at = bitpack.unpack(raw, at, count)
        if at != len(raw):
            raise IndexError(f"the postings of {name} slot {slot} do not decode to {count} documents")
        return ids, tfs + 1

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
                terms = header["terms"][name]
                _code_of(info, "offsets", terms + 1)        # u32 or u64, one per term and one more
                _code_of(info, "term_index", -(-terms // TERM_GROUP) + 1)
                _code_of(info, "term_lengths", terms, "BH")
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"{path.name} has damaged offsets ({exc})") from exc


def open_segment(directory: str | Path, segment_id: str) -> SegmentPostings:
    return SegmentPostings(postings_path(directory, segment_id))
