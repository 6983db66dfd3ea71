"""The stored form of a report (indexer.schema): its text and rendered HTML, compressed once, together."""

from __future__ import annotations

import os
import random
import zlib

from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile

from indexer.indexing import Indexer
from indexer.schema import stored_markup, stored_text
from indexer.store import INDEX_NAME, IndexStore


def stored_column_entries(live) -> list[tuple[dict, int]]:
    """Every document's stored fields and the bytes its entry takes in Whoosh's stored-fields column
    (read through Whoosh's column reader: what the searcher decompresses for one document)."""
    from whoosh.columns import VarBytesColumn
    from whoosh.codec.whoosh3 import STORED_COLUMN

    entries = []
    index = FileStorage(str(live), supports_mmap=False).open_index(INDEX_NAME)
    with index.reader() as reader:
        for leaf, _ in reader.leaf_readers():
            column = leaf._perdoc._cached_reader("_stored", STORED_COLUMN)._child    # the compressed bytes
            for docnum in range(leaf.doc_count_all()):
                entries.append((leaf.stored_fields(docnum), len(VarBytesColumn.Reader.__getitem__(column, docnum))))
    index.close()
    return entries


def test_text_and_html_are_stored_as_text_and_compressed_once_together(sample_index):
    """A report's text and HTML are str in its stored fields; a Markdown report's entry in Whoosh's
    column is smaller than the two compressed apart (the HTML repeats the text's runs)."""
    entries = stored_column_entries(IndexStore(sample_index).live_build())
    assert len(entries) == 5
    with_markup = 0
    for stored, size in entries:
        text = stored_text(stored)
        assert isinstance(stored["text"], str) and text.strip()
        markup = stored_markup(stored)
        if markup is None:
            continue
        with_markup += 1
        assert isinstance(stored["markup"], str) and set(markup) == {"body", "boilerplate", "note"}
        apart = len(zlib.compress(text.encode("utf-8"), 6)) + len(zlib.compress(stored["markup"].encode("utf-8"), 6))
        assert size < apart, (stored["path"], size, apart)
    assert with_markup >= 1


def stored_column_range(segment) -> tuple[int, int]:
    """Where a segment file's stored-fields column lies in it (start, length)."""
    storage = CompoundStorage(StructFile(open(segment, "rb")), use_mmap=False)
    try:
        name = next(n for n in storage.list() if n.endswith("._stored.col"))
        return storage.range(name)
    finally:
        storage.close()


def test_a_damaged_stored_column_is_a_503_not_a_wrong_text(sample_index):
    """Noise in the stored-fields column that the checksums have not caught yet (size and mtime kept)
    fails the document's page with the index_damaged envelope; a build makes it whole again."""
    from server import create_app

    client = create_app(sample_index).test_client()
    hit = client.get("/api/search", query_string={"q": "DeepSeek"}).json["hits"][0]
    expected = client.get(f"/api/documents/{hit['id']}").json["text"]
    for segment in IndexStore(sample_index).live_build().glob("*.seg"):
        start, length = stored_column_range(segment)
        stat, data = segment.stat(), bytearray(segment.read_bytes())
        # The column's entries come first, its offsets table after: damage the entries.
        data[start:start + length // 2] = random.Random(3).randbytes(length // 2)
        segment.write_bytes(bytes(data))
        os.utime(segment, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    answer = client.get(f"/api/documents/{hit['id']}")
    assert answer.status_code == 503 and answer.json["code"] == "index_damaged", answer.json
    assert Indexer(sample_index).build().documents == 5
    assert client.get(f"/api/documents/{hit['id']}").json["text"] == expected
