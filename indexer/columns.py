"""Per-segment column files: dates, times added, content hashes, ids and facet values as arrays every process maps.

A segment's columns never change once it is committed (deletions live in the table of contents), so
they are written once, beside the segment (`reports_<segment>.cols`, checksummed with it), and read
in place: numpy views over a memory map, whose pages every searcher process of the machine shares.
Before this file the searcher held them as Python lists of str and int per process (8 columns, about
1 KB per document at 100,000 documents: bench/REPORT.md, "Searcher memory").

The string columns (broker, industry, rating, analysts, codes) are int32 codes into the segment's
table of distinct values; the table is stored twice, as written (what facets show) and folded (what
filters compare), each one blob of values joined by NUL with their offsets: a typed filter
(`broker:中信`, a value holding the text) is one scan of the folded blob, not a loop over documents.

The content hashes and report ids are fixed-width byte strings (`hash`, `id`): Whoosh indexes no
field (indexer.schema), so a sync finds the documents of a content and the document view a report
by a scan of these (`holding`: one value in 0.04 ms per 20,000 documents, a thousand in 12 ms).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path

import numpy as np

from indexer.durable import write_atomic
from indexer.normalize import fold

MAGIC = b"RACOLUMNS\x002\n"       # 2: report ids (an older file is rebuilt, never misread)
SUFFIX = ".cols"
CODED = ("broker", "industry", "rating", "analysts", "codes")
NO_DAY = -1         # the day of a report without a date: sorts after every dated one (newest first)
_SEPARATOR = b"\x00"


def columns_path(directory: str | Path, segment_id: str) -> Path:
    return Path(directory) / f"{segment_id}{SUFFIX}"


def day_number(date: str | None) -> int:
    """20250204 for "2025-02-04", NO_DAY for no date."""
    return int(date.replace("-", "")) if date else NO_DAY


def write(path: Path, values: dict[str, list]) -> int:
    """Write a segment's column file atomically from {column: a value per document} (every column of
    COLUMNS in indexer.view, deleted documents included); its size in bytes."""
    count = len(values["date"])
    header: dict = {"docs": count, "arrays": {}, "tables": {}}
    blobs: list[bytes] = []
    offset = 0

    def put(array: np.ndarray) -> list:
        nonlocal offset
        blob = array.tobytes()
        padding = -len(blob) % 8        # every array starts 8-byte aligned: read as a typed view
        blobs.append(blob + bytes(padding))
        start, offset = offset, offset + len(blob) + padding
        return [start, len(blob), array.dtype.str]

    header["arrays"]["day"] = put(np.array([day_number(d) for d in values["date"]], dtype="<i4"))
    header["arrays"]["added"] = put(np.array([a if a is not None else 0 for a in values["added_at"]], dtype="<i8"))
    header["arrays"]["hash"] = put(_byte_strings(values["content_hash"]))
    header["arrays"]["id"] = put(_byte_strings(values["id"]))
    for name in CODED:
        column = [v or "" for v in values[name]]
        table = sorted(set(column))
        code_of = {value: code for code, value in enumerate(table)}
        header["arrays"][name] = put(np.array([code_of[v] for v in column], dtype="<i4"))
        tables = {}
        for form, strings in (("values", table), ("folded", [fold(v) for v in table])):
            encoded = [s.encode("utf-8") for s in strings]
            starts = np.cumsum([0] + [len(e) + 1 for e in encoded], dtype="<u8")
            tables[form] = put(np.frombuffer(_SEPARATOR.join(encoded) + _SEPARATOR, dtype="u1"))
            tables[form + "_starts"] = put(starts)
        header["tables"][name] = tables
    head = json.dumps(header).encode("utf-8")
    write_atomic(path, [MAGIC, struct.pack("<I", len(head)), head, bytes(-(len(MAGIC) + 4 + len(head)) % 8), *blobs])
    return os.path.getsize(path)


def _byte_strings(values: list) -> np.ndarray:
    """str (or bytes, as Whoosh's columns give them) values as one fixed-width array of UTF-8 bytes."""
    encoded = [v.encode("utf-8") if isinstance(v, str) else (v or b"") for v in values]
    return np.array(encoded, dtype=f"S{max(map(len, encoded), default=1) or 1}")


def _read_header(fh) -> tuple[dict, int]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise ValueError(f"{Path(fh.name).name} is not a column file of this version")
    (head_len,) = struct.unpack("<I", fh.read(4))
    header = json.loads(fh.read(head_len))
    start = len(MAGIC) + 4 + head_len
    return header, start + (-start % 8)


def _extents(header: dict) -> list[list]:
    return list(header["arrays"].values()) + [e for t in header["tables"].values() for e in t.values()]


class SegmentColumns:
    """One segment's column file, memory-mapped: `day`, `added`, `hash` and each CODED column's codes
    as numpy views (local document numbers), the value tables decoded only when asked for."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            header, base = _read_header(fh)
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.doc_count: int = header["docs"]
        self._base = base
        self._header = header
        # np.frombuffer over the map: no copy, the pages are the page cache's, shared by every process.
        self.arrays: dict[str, np.ndarray] = {
            name: np.frombuffer(self._map, dtype=np.dtype(dtype), count=length // np.dtype(dtype).itemsize,
                                offset=base + start)
            for name, (start, length, dtype) in header["arrays"].items()}
        for name, array in self.arrays.items():
            if len(array) != self.doc_count:
                raise ValueError(f"{path.name}: column {name} holds {len(array)} of {self.doc_count} documents")
        self.day, self.added, self.hash = self.arrays["day"], self.arrays["added"], self.arrays["hash"]
        self.hash_width = self.hash.dtype.itemsize
        self.hash_start = base + header["arrays"]["hash"][0]
        self._values: dict[str, list[str]] = {}
        self._matches: dict[tuple[str, str, bool], np.ndarray] = {}

    def codes(self, name: str) -> np.ndarray:
        """The int32 code of each document's value of a CODED column."""
        return self.arrays[name]

    def _blob(self, name: str, form: str) -> tuple[bytes, np.ndarray]:
        tables = self._header["tables"][name]
        start, length, _ = tables[form]
        s_start, s_length, s_dtype = tables[form + "_starts"]
        starts = np.frombuffer(self._map, dtype=np.dtype(s_dtype), count=s_length // 8, offset=self._base + s_start)
        return self._map[self._base + start:self._base + start + length], starts

    def values(self, name: str) -> list[str]:
        """The distinct values of a CODED column as written, by code (small for facets: kept)."""
        found = self._values.get(name)
        if found is None:
            blob, _ = self._blob(name, "values")
            found = blob[:-1].decode("utf-8").split("\x00") if blob else []
            self._values[name] = found
        return found

    def matching(self, name: str, folded: str, exact: bool) -> np.ndarray:
        """The codes whose folded value is `folded` (exact) or holds it (remembered: the table never changes)."""
        key = (name, folded, exact)
        found = self._matches.get(key)
        if found is not None:
            return found
        blob, starts = self._blob(name, "folded")
        needle = folded.encode("utf-8")
        if _SEPARATOR in needle:
            codes = []                          # no value holds one (and it would join two)
        elif not needle and not exact:
            codes = range(len(starts) - 1)      # every value holds "" (as `"" in value` did)
        elif exact:
            codes, at = [], 0
            padded, target = _SEPARATOR + blob, _SEPARATOR + needle + _SEPARATOR     # a whole value
            while (at := padded.find(target, at)) != -1:
                codes.append(int(np.searchsorted(starts, at, side="right")) - 1)
                at += 1
        else:
            codes, at = [], 0
            while (at := blob.find(needle, at)) != -1:
                code = int(np.searchsorted(starts, at, side="right")) - 1
                if at + len(needle) < starts[code + 1]:      # within one value, not across a separator
                    codes.append(code)
                    at = int(starts[code + 1])              # on to the next value
                else:
                    at += 1
        found = np.array(codes, dtype=np.int32)
        if len(self._matches) < 4096:    # typed filter values a process has seen: a few bytes each
            self._matches[key] = found
        return found

    def holding(self, name: str, values: list[str]) -> np.ndarray:
        """The local numbers of the documents (deleted ones too) whose `hash` or `id` is one of `values`."""
        column = self.arrays[name]
        keys = [key for key in (v.encode("utf-8", "surrogatepass") for v in values)
                if 0 < len(key) <= column.dtype.itemsize]
        if not keys:        # a longer key would be cut to the width and match what it starts with
            return np.zeros(0, dtype=np.int64)
        if len(keys) == 1:
            return np.flatnonzero(column == keys[0])
        return np.flatnonzero(np.isin(column, np.array(keys, dtype=column.dtype)))

    def hash_at(self, local: int) -> str:
        """The content hash of a document (a str, the text cache's key)."""
        at = self.hash_start + local * self.hash_width
        return self._map[at:at + self.hash_width].rstrip(b"\x00").decode("ascii")

    def close(self) -> None:
        self.arrays.clear()
        self.day = self.added = self.hash = None
        try:
            self._map.close()
        except BufferError:     # a view of it is still held (a search still running): the GC closes it
            pass


def verify(path: Path) -> None:
    """Raise ValueError unless `path` is a whole column file (header and every extent)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            header, base = _read_header(fh)
            end = base + max((start + length for start, length, _ in _extents(header)), default=0)
        except (struct.error, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path.name} has a damaged header ({exc})") from exc
        if end > size:
            raise ValueError(f"{path.name} is cut short ({size} of {end} bytes)")


def open_segment(directory: str | Path, segment_id: str) -> SegmentColumns:
    return SegmentColumns(columns_path(directory, segment_id))
