"""The Whoosh schema of the report index and its version."""

from __future__ import annotations

import json

from whoosh import columns, fields

# Bump when fields or analysis change: an index of another version asks for `build`.
SCHEMA_VERSION = 14     # 14: no field indexed by Whoosh (ids and hashes in the column files); 13: postings bit-packed
TITLE_BOOST = 3.0


def build_schema() -> fields.Schema:
    """Fields: ids and files, metadata for filters and facets, and the text.

    The postings of matching and ranking live beside each segment (indexer.postings):
    Whoosh keeps the documents, their columns, deletions and segments.
    """
    return fields.Schema(
        # Columns too: a sync keeps each content's id and hash without unpickling its document, and
        # the column files (indexer.columns) find a report by either (see _unindexed).
        id=_unindexed(fields.ID(stored=True, sortable=True)),
        content_hash=_unindexed(fields.ID(sortable=True)),
        path=fields.STORED,                 # primary file, relative to the archive root
        # {relpath: [size, mtime]}: the same content under every name; a column, so that a
        # sync reads the archive's state without unpickling every document's text.
        files=fields.COLUMN(columns.PickleColumn(columns.VarBytesColumn())),
        kind=fields.STORED,
        title=fields.STORED,
        date=_unindexed(fields.ID(stored=True, sortable=True)),        # YYYY-MM-DD or ""
        broker=_unindexed(fields.ID(stored=True, sortable=True)),
        industry=_unindexed(fields.ID(stored=True, sortable=True)),
        rating=_unindexed(fields.ID(stored=True, sortable=True)),
        # Columns for the typed filters analyst: and code: ("任浪 / 赵旭杨", "300750.SZ / NVDA.US").
        analysts=_unindexed(fields.ID(sortable=True)),
        codes=_unindexed(fields.ID(sortable=True)),
        # Milliseconds since the epoch: when the content entered the archive, when it was indexed.
        added_at=_unindexed(fields.NUMERIC(int, bits=64, stored=True, sortable=True)),
        indexed_at=fields.STORED,
        meta=fields.STORED,                 # analysts, rating_action, stock_codes, encoding, size, mtime
        text=fields.STORED,                 # cleaned display text (see pack_text)
        body_len=fields.STORED,             # the text's body comes first, then boilerplate
        markup=fields.STORED,               # a Markdown report's rendered HTML (see pack_markup), or None
    )


def _unindexed(field: fields.FieldType) -> fields.FieldType:
    """`field` stored and kept as a column as Whoosh would, but with no terms in its term table.

    Nothing searches Whoosh's terms: matching and ranking read indexer.postings, filters, facets and
    sorting the column files (indexer.columns), and so do the two look-ups that used its terms, a
    sync's deletions by content hash (indexer.store.ReportWriter.delete_contents) and a report by its
    id (indexer.view.IndexView.doc_by_id). At 100,000 synthetic documents those terms and their
    postings were 38.2 MB of the 508.9 MB index, 0.22x the text (bench/REPORT.md, "Index size at
    100,000 documents"): a term table entry and a posting for every document's unique id and hash.
    """
    field.indexed = False       # Whoosh's writer indexes a field only when it says so (and pickles this)
    return field


# Text and markup are stored as str, not compressed by us: Whoosh's stored-fields column already
# zlib-compresses each document's pickle (level 3), and it pickles bytes with protocol 2, which
# spells a byte over 0x7F in two (a zlib stream 1.5 times its length, half of it won back by the
# second compression). As str, a document is compressed once, its rendered HTML and its text in
# the same stream (Whoosh pickles the fields by name: markup, ..., text), so the runs of text they
# share cost a back-reference each (within zlib's 32 KB window: a longer report gains less). 20,000 synthetic
# documents: the stored-fields column 65.2 -> 35.8 MB (bench/REPORT.md, "Index size"), a document's
# stored fields read in 20 instead of 37 us.


def pack_text(text: str) -> str:
    """The stored form of a document's text (Whoosh's column compresses it: see above)."""
    return text


def pack_markup(body: str, boilerplate: str, note: str) -> str:
    """The stored form of a Markdown report's HTML (rendered once, at index time; stored after the
    text, whose runs it repeats: see above)."""
    return json.dumps({"body": body, "boilerplate": boilerplate, "note": note}, ensure_ascii=False)


def stored_markup(stored: dict) -> dict | None:
    """{"body", "boilerplate", "note"} of a Markdown report's stored HTML; None for other kinds."""
    packed = stored.get("markup")
    return json.loads(packed) if packed else None


def stored_text(stored: dict) -> str:
    """The text of a document's stored fields."""
    return stored["text"]
