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
from collections import Counter, defaultdict
from itertools import accumulate, chain
from operator import sub
from pathlib import Path
from typing import Iterator

import numpy as np

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


def postings_path(directory: str | Path, segment_id: str) -> Path:
    return Path(directory) / f"{segment_id}{SUFFIX}"


def _typecode(largest: int) -> int:
    return 0 if largest < 0x100 else 1 if largest < 0x10000 else 2


def _uints() -> array:
    return array("I")


class PostingsBuilder:
    """Collects the postings of one segment in document order, then writes its file."""

    def __init__(self) -> None:
        self.count = 0
        # Typed arrays, not lists of int objects: a merge holds every posting of the segments it
        # merges, and millions of short-lived ints left the watcher's heap in pieces (its RSS grew
        # with each merge while its live objects did not).
        self._ids: dict[str, defaultdict[str, array]] = {name: defaultdict(_uints) for name in FIELDS}
        self._tfs: dict[str, defaultdict[str, array]] = {name: defaultdict(_uints) for name in SCORED_FIELDS}
        self.lengths: dict[str, array] = {name: array("I") for name in SCORED_FIELDS}
        # Per bigram, aligned with its documents: occurrences per document, then every offset.
        self._counts: defaultdict[str, array] = defaultdict(_uints)
        self._positions: defaultdict[str, array] = defaultdict(_uints)

    def add(self, analysis: dict) -> int:
        """Add the next document: {field: tokens} as indexer.indexing.analyse returns (and
        "positions": {bigram: its offsets}, every bigram of which is among the ngrams)."""
        docnum = self.count
        for name in SET_FIELDS:
            table = self._ids[name]
            for token in analysis[name]:
                table[token].append(docnum)
        counts, positions = self._counts, self._positions
        # A bigram's counts must line up with its documents (every bigram has its offsets): `write` checks.
        for gram, offsets in analysis["positions"].items():
            counts[gram].append(len(offsets))
            positions[gram].extend(offsets)
        for name in SCORED_FIELDS:
            tokens = analysis[name]
            self.lengths[name].append(len(tokens))
            table, tfs = self._ids[name], self._tfs[name]
            for token, tf in Counter(tokens).items():
                table[token].append(docnum)
                tfs[token].append(tf)
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
            table = self._ids[name]
            tfs_table = self._tfs.get(name)
            for term, slot in postings.items(name):
                ids, tfs = postings.decode(name, slot)
                if every:
                    mapped = [base + d for d in ids]
                    kept_tfs = tfs
                else:
                    pairs = [(new_number[d], i) for i, d in enumerate(ids) if d in new_number]
                    if not pairs:
                        continue
                    mapped = [p[0] for p in pairs]
                    kept_tfs = [tfs[i] for _, i in pairs] if tfs is not None else None
                table[term].extend(mapped)
                if tfs_table is not None:
                    tfs_table[term].extend(kept_tfs)
                if name == POSITIONAL_FIELD and postings.has_positions(slot):
                    counts, offsets = postings.decode_positions(slot, len(ids))
                    if not every:
                        kept = alive[np.asarray(ids, dtype=np.int64)]
                        offsets = offsets[np.repeat(kept, counts)]
                        counts = counts[kept]
                    self._counts[term].frombytes(counts.astype(np.uint32).tobytes())
                    self._positions[term].frombytes(offsets.astype(np.uint32).tobytes())
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
            table = self._ids[name]
            tfs_table = self._tfs.get(name)
            # Sorted by their UTF-8 bytes (the order of their code points, which is Python's order
            # of strings): a reader finds a term by binary search in the file itself, with no
            # dictionary of every term in memory.
            terms = sorted(table)
            term_offsets = array("I", accumulate((len(term.encode("utf-8")) for term in terms), initial=0))
            dfs = array("I", (len(table[t]) for t in terms))
            offsets = array("Q")
            data = bytearray()
            for term in terms:
                offsets.append(len(data))
                data += _encode(table[term], tfs_table[term] if tfs_table is not None else None)
            offsets.append(len(data))
            header["fields"][name] = {
                "terms": put("".join(terms).encode("utf-8")),
                "term_offsets": put(term_offsets.tobytes()),
                "df": put(dfs.tobytes()),
                "offsets": put(_narrowed(offsets)),
                "data": put(bytes(data)),
            }
            if name == POSITIONAL_FIELD:
                pos_offsets = array("Q")
                pos_data = bytearray()
                counts, positions = self._counts, self._positions
                for term in terms:
                    pos_offsets.append(len(pos_data))
                    if term in counts:      # a bigram (a unigram has none: empty)
                        if len(counts[term]) != len(table[term]):
                            raise ValueError(f"the positions of {term!r} are not those of its {len(table[term])} documents")
                        pos_data += _encode_positions(counts[term], positions[term])
                    elif len(term) == 2:
                        raise ValueError(f"the bigram {term!r} has no positions")
                pos_offsets.append(len(pos_data))
                header["fields"][name]["pos_offsets"] = put(_narrowed(pos_offsets))
                header["fields"][name]["positions"] = put(bytes(pos_data))
        for name in SCORED_FIELDS:
            header["lengths"][name] = put(self.lengths[name].tobytes())
        head = json.dumps(header).encode("utf-8")
        write_atomic(path, [MAGIC, struct.pack("<I", len(head)), head, *blobs])
        return len(MAGIC) + 4 + len(head) + offset


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
