"""Sets of document numbers as sorted numpy arrays: what matching, ranking and facets pass around.

A Python set of ints costs about 60 bytes and a hash per member: at 1,000,000 documents a common
character's documents were a set of a million ints, built, intersected and iterated per search.
`DocArray` keeps the numbers as one ascending int64 array and does the set operations with
searchsorted (the smaller side looked up in the larger) or a mask, so their cost is numpy's per
member. It is a read-only `collections.abc.Set`: `&`, `|`, `-`, `in`, len(), iteration and ==
work as a frozenset's, also against plain sets (tests, callers that build a few documents by hand).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

import numpy as np

_EMPTY = np.zeros(0, dtype=np.int64)
_TABLE_COSTS = (5.0, 0.2, 4.0)     # ns: a level of binary search; filling a table, a number; an entry set or read
_MERGE_COST = 10.0                  # ns a value: merging two ascending runs by a stable sort


class DocArray(Set):
    """A read-only set of document numbers held as an ascending, duplicate-free int64 array."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray = _EMPTY):
        self.array = array      # ascending, unique, int64: the constructor trusts its caller

    @classmethod
    def of(cls, docs) -> "DocArray":
        """Any set of document numbers (a DocArray, a mask-backed set, a Python set) as a DocArray."""
        if isinstance(docs, DocArray):
            return docs
        return cls(as_array(docs))

    @classmethod
    def _from_iterable(cls, iterable: Iterable[int]) -> "DocArray":
        return cls(_sorted_unique(np.fromiter(iterable, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.array)

    def __iter__(self):
        return iter(self.array.tolist())

    def __contains__(self, docnum) -> bool:
        if not isinstance(docnum, (int, np.integer)) or not len(self.array):
            return False
        at = int(np.searchsorted(self.array, docnum))
        return at < len(self.array) and int(self.array[at]) == docnum

    def __bool__(self) -> bool:
        return len(self.array) > 0

    def __and__(self, other) -> "DocArray":
        if not isinstance(other, Iterable):
            return NotImplemented
        mask = getattr(other, "mask", None)
        if mask is not None:     # the live documents (indexer.view.LiveDocs): one gather
            return DocArray(self.array[mask[self.array]])
        return DocArray(intersect(self.array, as_array(other)))

    __rand__ = __and__

    def __or__(self, other) -> "DocArray":
        if not isinstance(other, Iterable):
            return NotImplemented
        other = as_array(other)
        if not len(other):
            return self
        if not len(self.array):
            return DocArray(other)
        return DocArray(np.union1d(self.array, other))

    __ror__ = __or__

    def __sub__(self, other) -> "DocArray":
        if not isinstance(other, Iterable):
            return NotImplemented
        other = as_array(other)
        if not len(other) or not len(self.array):
            return self
        return DocArray(self.array[~member(self.array, other)])

    def __rsub__(self, other) -> "DocArray":
        if not isinstance(other, Iterable):
            return NotImplemented
        return DocArray(as_array(other)) - self

    def __eq__(self, other) -> bool:
        if not isinstance(other, Set):
            return NotImplemented
        return len(self) == len(other) and bool(np.array_equal(self.array, as_array(other)))

    __hash__ = None     # mutable in principle (the array), like a set

    def __repr__(self) -> str:
        shown = self.array[:8].tolist()
        return f"DocArray({shown}{' ...' if len(self.array) > 8 else ''}, {len(self.array):,} documents)"


def as_array(docs) -> np.ndarray:
    """The ascending int64 array of a set of document numbers (a DocArray's own array, not a copy)."""
    if isinstance(docs, DocArray):
        return docs.array
    mask = getattr(docs, "mask", None)
    if mask is not None:
        return np.flatnonzero(mask).astype(np.int64, copy=False)
    if isinstance(docs, np.ndarray):
        return _sorted_unique(docs.astype(np.int64, copy=False))
    if not docs:
        return _EMPTY
    return _sorted_unique(np.fromiter(docs, dtype=np.int64, count=len(docs)))


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The members of two ascending unique arrays held by both: the smaller looked up in the larger
    (`member`), or, when both are large and their values sparse (a bigram's positions as
    document << 32 | offset), merged: a stable sort of the two runs one after the other is a merge,
    and a value of both stands twice in a row (43 -> 17 ms for two of 900,000)."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a):
        return a
    per_level, per_number, per_entry = _TABLE_COSTS
    searching = len(a) * len(b).bit_length() * per_level
    if (searching > (len(a) + len(b)) * _MERGE_COST
            and searching < int(max(a[-1], b[-1])) * per_number + (len(a) + len(b)) * per_entry):
        both = np.concatenate((a, b))
        both.sort(kind="stable")
        return both[1:][both[1:] == both[:-1]]
    return a[member(a, b)]


def member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """A boolean mask: which of `values` (non-negative) are in `sorted_set` (ascending, unique).

    Binary search of each value, or, when both sides are large and their numbers dense (two common
    words' documents), a bool table over 0..max: a binary search costs a few ns a level, filling
    a table a fraction of a ns a number and setting or reading an entry a few ns
    (`_TABLE_COSTS`, measured on this kind of machine).
    """
    if not sorted_set.size or not values.size:
        return np.zeros(values.shape, dtype=bool)
    top = int(sorted_set[-1])
    per_level, per_number, per_entry = _TABLE_COSTS
    if values.size * sorted_set.size.bit_length() * per_level > top * per_number + (values.size + sorted_set.size) * per_entry:
        table = np.zeros(top + 2, dtype=bool)
        table[sorted_set] = True
        return table[np.minimum(values, top + 1)]
    at = np.searchsorted(sorted_set, values)
    at[at == sorted_set.size] = 0
    return sorted_set[at] == values


def locate(values: np.ndarray, sorted_set: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `values` (non-negative) stands in `sorted_set` (ascending, unique), and which of
    them are in it at all: (indexes into sorted_set of the values held, a mask over `values`).
    A binary search per value, or a table of indexes over 0..max as `member` decides."""
    if not sorted_set.size or not values.size:
        return np.zeros(0, dtype=np.intp), np.zeros(values.shape, dtype=bool)
    top = int(sorted_set[-1])
    per_level, per_number, per_entry = _TABLE_COSTS
    if values.size * sorted_set.size.bit_length() * per_level > 4 * top * per_number + (values.size + sorted_set.size) * per_entry:
        table = np.full(top + 2, -1, dtype=np.intp)
        table[sorted_set] = np.arange(sorted_set.size)
        at = table[np.minimum(values, top + 1)]
        held = at >= 0
        return at[held], held
    at = np.searchsorted(sorted_set, values)
    held = at < sorted_set.size
    held[held] = sorted_set[at[held]] == values[held]
    return at[held], held


def distinct(ascending: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (np.unique hashes: several times slower here)."""
    if ascending.size < 2:
        return ascending
    keep = np.empty(ascending.size, dtype=bool)
    keep[0] = True
    np.not_equal(ascending[1:], ascending[:-1], out=keep[1:])
    return ascending if keep.all() else ascending[keep]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    return values if values.size < 2 else distinct(np.sort(values))
