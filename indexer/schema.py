"""The Whoosh schema of the report index and its version."""

from __future__ import annotations

import json

from whoosh import columns, fields

# Bump when fields or analysis change: an index of another version asks for `build`.
SCHEMA_VERSION = 13     # 13: postings bit-packed (indexer.postings MAGIC 5); 12: text and markup stored as str
TITLE_BOOST = 3.0


def build_schema() -> fields.Schema:
    """Fields: ids and files, metadata for filters and facets, and the text.

    The postings of matching and ranking live beside each segment (indexer.postings):
    Whoosh keeps the documents, their columns, deletions and segments.
    """
    return fields.Schema(
        # A column too, so that a sync keeps each content's id without unpickling its document.
        id=fields.ID(stored=True, unique=True, sortable=True),
        content_hash=fields.ID(stored=True, sortable=True),
        path=fields.STORED,                 # primary file, relative to the archive root
        # {relpath: [size, mtime]}: the same content under every name; a column, so that a
        # sync reads the archive's state without unpickling every document's text.
        files=fields.COLUMN(columns.PickleColumn(columns.VarBytesColumn())),
        kind=fields.ID(stored=True),
        title=fields.STORED,
        date=fields.ID(stored=True, sortable=True),        # YYYY-MM-DD or ""
        broker=fields.ID(stored=True, sortable=True),
        industry=fields.ID(stored=True, sortable=True),
        rating=fields.ID(stored=True, sortable=True),
        # Columns for the typed filters analyst: and code: ("任浪 / 赵旭杨", "300750.SZ / NVDA.US").
        analysts=fields.ID(sortable=True),
        codes=fields.ID(sortable=True),
        # Milliseconds since the epoch: when the content entered the archive, when it was indexed.
        added_at=fields.NUMERIC(int, bits=64, stored=True, sortable=True),
        indexed_at=fields.NUMERIC(int, bits=64, stored=True),
        meta=fields.STORED,                 # analysts, rating_action, stock_codes, encoding, size, mtime
        text=fields.STORED,                 # cleaned display text (see pack_text)
        body_len=fields.STORED,             # the text's body comes first, then boilerplate
        markup=fields.STORED,               # a Markdown report's rendered HTML (see pack_markup), or None
    )


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
