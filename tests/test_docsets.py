"""indexer.docsets: document sets as sorted arrays behave as frozensets, on both lookup paths."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.docsets import DocArray, as_array, intersect, locate, member


def _sample(rng, universe: int, size: int) -> np.ndarray:
    return np.sort(rng.choice(universe, size, replace=False)).astype(np.int64)


# Sizes that take the binary search (few against many) and the table (many against many, dense).
CASES = [(1_000, 5, 700), (1_000, 600, 700), (200_000, 90_000, 120_000), (200_000, 3, 150_000),
         (200_000, 150_000, 2), (50, 0, 10), (50, 10, 0)]


@pytest.mark.parametrize("universe,left,right", CASES)
def test_set_operations_equal_pythons(universe, left, right):
    rng = np.random.default_rng(universe + left + right)
    a, b = _sample(rng, universe, left), _sample(rng, universe, right)
    sa, sb = set(a.tolist()), set(b.tolist())
    da, db = DocArray(a), DocArray(b)
    assert set(da & db) == sa & sb and set(da | db) == sa | sb and set(da - db) == sa - sb
    # Against plain sets, on either side (callers and tests build small ones by hand).
    assert set(sa & db) == sa & sb and set(sa | db) == sa | sb and set(sa - db) == sa - sb
    assert set(da - sb) == sa - sb
    assert (da & db) == (sa & sb) and len(da | db) == len(sa | sb)
    assert (member(a, b) == np.isin(a, b)).all()
    assert intersect(a, b).tolist() == sorted(sa & sb)
    at, held = locate(a, b)
    assert (held == np.isin(a, b)).all() and (b[at] == a[held]).all()


def test_results_stay_ascending_and_distinct():
    found = DocArray.of({5, 1, 3}) | DocArray.of([3, 9, 1])
    assert found.array.tolist() == [1, 3, 5, 9]
    assert list(found) == [1, 3, 5, 9] and 5 in found and 4 not in found and "5" not in found
    assert as_array(np.array([7, 2, 7, 2])).tolist() == [2, 7]
    assert not DocArray() and len(DocArray()) == 0 and DocArray() == set()


def test_augmented_union_from_an_empty_python_set():
    found = set()
    found |= DocArray.of([4, 2])
    assert isinstance(found, DocArray) and found.array.tolist() == [2, 4]


def test_decoded_cache_keeps_the_recently_used_within_its_bytes():
    from indexer.view import DecodedCache

    cache = DecodedCache(100)
    cache.put(("docs", "ngrams", "a"), "A", 40)
    cache.put(("docs", "ngrams", "b"), "B", 40)
    assert cache.get(("docs", "ngrams", "a")) == "A"          # a is now the most recently used
    cache.put(("docs", "ngrams", "c"), "C", 40)               # over 100: the least recently used (b) goes
    assert cache.get(("docs", "ngrams", "b")) is None
    assert cache.get(("docs", "ngrams", "a")) == "A" and cache.get(("docs", "ngrams", "c")) == "C"
    assert cache.size == 80
    cache.put(("docs", "ngrams", "huge"), "H", 101)           # larger than the whole cache: not kept
    assert cache.get(("docs", "ngrams", "huge")) is None and cache.size == 80
