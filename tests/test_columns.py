"""The column files (indexer.columns): what a segment's columns are written as, the reader gives back,
and a typed filter's value scan finds what a loop over the values finds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from indexer.columns import CODED, NO_DAY, SegmentColumns, verify, write
from indexer.normalize import fold

VALUES = st.sampled_from(["", "中信证券", "中信建投", "华泰证券", "ＡＢＣ证券", "abc 证券", "强烈推荐", "推荐", "𠮷野家"])
NEEDLES = st.sampled_from(["", "中信", "中信证券", "证券", "abc", "推荐", "强烈推荐", "券中", "野", "x"])


def columns_of(rows: list[dict], tmp_path) -> SegmentColumns:
    values = {name: [row.get(name, "") for row in rows] for name in ("date", "content_hash", "id", *CODED)}
    values["added_at"] = [row.get("added_at", 0) for row in rows]
    path = tmp_path / "segment.cols"
    path.unlink(missing_ok=True)
    write(path, values)
    return SegmentColumns(path)


ROW = st.fixed_dictionaries({
    "date": st.sampled_from(["", "2025-02-04", "2019-12-31"]),
    "content_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
    "id": st.sampled_from(["", "0123456789ab", "0123456789ac", "abc", "长的编号"]),
    "added_at": st.integers(0, 2**62),
    **{name: VALUES for name in CODED},
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=12), needle=NEEDLES, name=st.sampled_from(CODED))
def test_what_is_written_is_read_back_and_filters_find_what_a_scan_finds(tmp_path, rows, needle, name):
    columns = columns_of(rows, tmp_path)
    try:
        assert columns.doc_count == len(rows)
        for local, row in enumerate(rows):
            assert columns.day[local] == (int(row["date"].replace("-", "")) if row["date"] else NO_DAY)
            assert columns.added[local] == row["added_at"]
            assert columns.hash_at(local) == row["content_hash"]
            assert local in columns.holding("hash", [row["content_hash"]]).tolist()
            for column in CODED:
                assert columns.values(column)[columns.codes(column)[local]] == row[column]
        table = columns.values(name)
        for exact in (True, False):
            codes = set(columns.matching(name, needle, exact).tolist())
            assert codes == {code for code, value in enumerate(table)
                             if (fold(value) == needle if exact else needle in fold(value))}
    finally:
        columns.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=12),
       wanted=st.lists(st.sampled_from(["", "0123456789ab", "0123456789", "0123456789abc", "abc", "ab", "长的编号",
                                        "长的编号码", "x" * 70]), max_size=4))
def test_documents_are_found_by_id_and_hash_as_a_loop_finds_them(tmp_path, rows, wanted):
    """`holding` finds exactly the documents whose value is one of those wanted: not one that a wanted value
    starts with or that starts with it (the column is fixed-width), none for an empty value."""
    columns = columns_of(rows, tmp_path)
    try:
        assert columns.holding("id", wanted).tolist() == [d for d, row in enumerate(rows)
                                                          if row["id"] and row["id"] in wanted]
        hashes = [rows[0]["content_hash"], rows[-1]["content_hash"][:63], "f" * 64] + wanted
        assert columns.holding("hash", hashes).tolist() == [d for d, row in enumerate(rows)
                                                            if row["content_hash"] in hashes]
    finally:
        columns.close()


def test_a_cut_file_is_told_apart_from_a_whole_one(tmp_path):
    columns = columns_of([{"date": "2025-02-04", "broker": "中信证券", "content_hash": "ab" * 32}], tmp_path)
    columns.close()
    path = tmp_path / "segment.cols"
    verify(path)
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(ValueError, match="cut short"):
        verify(path)
    path.write_bytes(b"RAPOSTINGS" + path.read_bytes()[10:])
    with pytest.raises(ValueError, match="not a column file"):
        verify(path)
