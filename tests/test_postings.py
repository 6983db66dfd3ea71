"""The postings codec (indexer.postings): what a segment's builder writes, its reader gives back."""

from __future__ import annotations

from itertools import accumulate

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from indexer.analysis import CjkGrams, gram_key
from indexer.postings import SCORED_FIELDS, SET_FIELDS, TERM_GROUP, PostingsBuilder, SegmentPostings, verify

TF_MAX = 0xFFFF         # frequencies around 16 bits (the format before bit-packing clamped them there)
EMPTY = {name: [] for name in SET_FIELDS + SCORED_FIELDS}
TERMS = st.sampled_from(["模型", "横空", "deepseek", "ai", "算力", "𠮷野家"])
NGRAMS = st.sampled_from(["模型", "横空", "算力", "模", "力"])          # the ngrams field holds CJK n-grams only
KEYS = st.one_of(st.tuples(st.just("ngrams"), NGRAMS), st.tuples(st.sampled_from(("latin",) + SCORED_FIELDS), TERMS))
GAP = st.one_of(st.integers(1, 255), st.integers(256, 1500))                 # gaps of 1 to 11 bits
TF = st.one_of(st.integers(1, 255), st.integers(256, TF_MAX), st.integers(TF_MAX + 1, TF_MAX + 3000))
POSTINGS = st.lists(st.tuples(GAP, TF), min_size=1, max_size=8)              # (gap to the previous, tf)
TABLE = st.dictionaries(KEYS, st.tuples(st.integers(-1, 3), POSTINGS), min_size=1, max_size=6)


def grams_of(ngrams: list[str]) -> CjkGrams:
    """A document's n-grams from their strings, each bigram at offset 0 (these documents are sets of
    terms, not texts; test_positions has texts)."""
    bigrams = [gram_key(gram) for gram in ngrams if len(gram) == 2]
    return CjkGrams(unigrams=np.array(sorted(gram_key(gram) for gram in ngrams if len(gram) == 1), dtype=np.uint32),
                    bigrams=np.array(bigrams, dtype=np.uint32), offsets=np.zeros(len(bigrams), dtype=np.uint32))


def build(table: dict, tmp_path) -> tuple[SegmentPostings, dict]:
    """Write a segment through PostingsBuilder.add, one document at a time, and open it.

    table: (field, term) -> (start, [(gap, tf), ...]), the term's documents being start + the running
    sum of the gaps; returns the reader and (field, term) -> {document: tf}, as the documents held them.
    """
    held: dict[tuple[str, str], dict[int, int]] = {}
    for key, (start, postings) in table.items():
        docs = (start + total for total in accumulate(gap for gap, _ in postings))
        held[key] = dict(zip(docs, (tf for _, tf in postings)))
    count = 1 + max(doc for tfs in held.values() for doc in tfs)
    documents: list[dict] = [EMPTY] * count
    for (name, term), tfs in held.items():
        for doc, tf in tfs.items():
            if documents[doc] is EMPTY:
                documents[doc] = {field: [] for field in EMPTY}
            documents[doc][name] += [term] * (tf if name in SCORED_FIELDS else 1)
    builder = PostingsBuilder()
    for analysis in documents:
        builder.add({**analysis, "grams": grams_of(analysis["ngrams"])})
    path = tmp_path / "segment.post"
    if path.exists():
        path.unlink()
    builder.write(path)
    return SegmentPostings(path), held


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=TABLE, base=st.sampled_from([0, 1, 70_000, 2**32]))
@example(table={("words", "模型"): (-1, [(1, TF_MAX + 1)] * 8 + [(300, 7)])}, base=0)     # 17-bit frequencies
@example(table={("ngrams", "横空"): (-1, [(1, 1)] * 8), ("latin", "ai"): (3, [(255, 1), (256, 1)])}, base=5)
def test_what_is_written_is_read_back(tmp_path, table, base):
    postings, held = build(table, tmp_path)
    try:
        for (name, term), tfs in held.items():
            ids = sorted(tfs)
            assert postings.df(name, term) == len(ids)
            assert postings.docs(name, term, base) == [doc + base for doc in ids]
            assert postings.doc_array_of(name, term).tolist() == ids        # the searcher's arrays
            if name in SCORED_FIELDS:
                assert postings.weights(name, term, base) == {doc + base: tf for doc, tf in tfs.items()}
                found, frequencies = postings.weight_arrays_of(name, term)
                assert found.tolist() == ids and frequencies.tolist() == [tfs[doc] for doc in ids]
        assert postings.doc_array_of("ngrams", "not a term") is None
        for name in SCORED_FIELDS:          # a document's length counts every word
            for doc in range(postings.doc_count):
                expected = sum(tfs.get(doc, 0) for (field, _), tfs in held.items() if field == name)
                assert postings.lengths[name][doc] == expected
        for name in SET_FIELDS + SCORED_FIELDS:
            assert [term for term, _ in postings.items(name)] == sorted(
                {term for field, term in held if field == name}, key=lambda term: term.encode())
    finally:
        postings.close()


def test_a_gap_of_more_than_16_bits_is_read_back(tmp_path):
    table = {("words", "模型"): (-1, [(1, 3), (70_000, TF_MAX + 9)]), ("ngrams", "横空"): (-1, [(65_536, 1)] * 2)}
    postings, held = build(table, tmp_path)
    try:
        assert postings.weights("words", "模型") == {0: 3, 70_000: TF_MAX + 9}
        assert postings.docs("ngrams", "横空") == [65_535, 131_071]          # gaps of 16 and 17 bits
    finally:
        postings.close()


# -- the dictionary: terms found by groups ---------------------------------------------------

@pytest.mark.parametrize("count", [1, TERM_GROUP - 1, TERM_GROUP, TERM_GROUP + 1, 3 * TERM_GROUP + 5])
def test_every_term_is_found_and_no_other(tmp_path, count):
    """Terms are found through their group's start (every TERM_GROUP-th term) and the lengths after it:
    each of them at its slot, a term between two of them or past either end not at all."""
    terms = sorted({f"t{i * 7:04d}" + "长" * (i % 3) for i in range(count)}, key=str.encode)
    postings, _ = build({("latin", term): (i, [(1, 1)]) for i, term in enumerate(terms)}, tmp_path)
    try:
        assert [term for term, _ in postings.items("latin")] == terms
        for slot, term in enumerate(terms):
            assert postings.slot("latin", term) == slot
            assert postings.df_at("latin", slot) == 1
            for missing in (term + "0", term[:-1], term + "\U0010ffff"):
                assert missing in terms or postings.slot("latin", missing) is None
        for missing in ("", "a", "t", "z", "\U0010ffff"):
            assert postings.slot("latin", missing) is None
        assert postings.slot("words", "t0000") is None          # another field, without terms
    finally:
        postings.close()


def test_a_term_longer_than_255_bytes(tmp_path):
    long = "长" * 100                                          # 300 bytes of UTF-8: u16 lengths
    postings, _ = build({("words", long): (0, [(1, 2)]), ("words", "a"): (3, [(1, 1)])}, tmp_path)
    try:
        assert postings.weights("words", long) == {1: 2} and postings.weights("words", "a") == {4: 1}
    finally:
        postings.close()


def _widened(path, fields) -> None:
    """Rewrite a postings file with the offsets arrays of `fields` as u64, as a file whose region
    passes 4 GB holds them (the header's extents moved to match)."""
    import json
    import struct
    from array import array

    from indexer.postings import MAGIC

    raw = path.read_bytes()
    (head_len,) = struct.unpack_from("<I", raw, len(MAGIC))
    header = json.loads(raw[len(MAGIC) + 4:len(MAGIC) + 4 + head_len])
    base = len(MAGIC) + 4 + head_len
    extents = [(info, key) for info in header["fields"].values() for key in info] + \
              [(header["lengths"], key) for key in header["lengths"]]
    blobs, offset = [], 0
    for info, key in sorted(extents, key=lambda e: e[0][e[1]][0]):
        start, length = info[key]
        blob = raw[base + start:base + start + length]
        if key in ("offsets", "term_index") and info in [header["fields"][f] for f in fields]:
            blob = array("Q", array("I", blob)).tobytes()
        info[key] = [offset, len(blob)]
        blobs.append(blob + bytes(-len(blob) % 8))
        offset += len(blobs[-1])
    head = json.dumps(header).encode("utf-8")
    path.write_bytes(MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs))


def test_offsets_are_u32_and_u64_ones_are_read_too(tmp_path):
    """Offsets into the data and the terms are written as u32 (a region under 4 GB); a file whose
    offsets are u64 (a region past 4 GB) is read the same; offsets of a third width are damage."""
    import json
    import struct

    from indexer.postings import MAGIC

    table = {("ngrams", "横空"): (-1, [(1, 1)] * 8), ("ngrams", "模型"): (3, [(255, 1), (256, 1)]),
             ("words", "算力"): (0, [(2, 3)] * 5), ("latin", "ai"): (1, [(1, 1)])}
    postings, held = build(table, tmp_path)
    expected = {key: postings.decode(key[0], postings.slot(*key)) for key in held}
    positions = postings.positions(postings.slot("ngrams", "横空"))
    for name, info in postings.header["fields"].items():
        terms = len(list(postings.items(name)))
        assert info["offsets"][1] == 4 * (terms + 1)
        assert info["term_index"][1] == 4 * (-(-terms // TERM_GROUP) + 1)
    postings.close()
    path = tmp_path / "segment.post"
    _widened(path, ["ngrams", "words"])
    widened = SegmentPostings(path)
    assert widened.header["fields"]["ngrams"]["offsets"][1] == 8 * 3
    assert {key: widened.decode(key[0], widened.slot(*key)) for key in held} == expected
    assert all((a == b).all() for a, b in zip(widened.positions(widened.slot("ngrams", "横空")), positions))
    widened.close()

    raw = path.read_bytes()
    (head_len,) = struct.unpack_from("<I", raw, len(MAGIC))
    header = json.loads(raw[len(MAGIC) + 4:len(MAGIC) + 4 + head_len])
    header["fields"]["words"]["offsets"][1] -= 4        # neither u32 nor u64 of its terms
    head = json.dumps(header).encode("utf-8")
    path.write_bytes(MAGIC + struct.pack("<I", len(head)) + head + raw[len(MAGIC) + 4 + head_len:])
    with pytest.raises(ValueError, match="offsets"):
        SegmentPostings(path)
    with pytest.raises(ValueError, match="offsets"):
        verify(path)
