"""The Whoosh schema of the report index and its version."""

from __future__ import annotations

import json
import zlib

from whoosh import columns, fields

# Bump when fields or analysis change: an index of another version asks for `build`.
SCHEMA_VERSION = 11     # 11: a column file per segment (indexer.columns), bigram positions (postings MAGIC 3)
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
        text=fields.STORED,                 # cleaned display text, zlib-compressed UTF-8 (see stored_text)
        body_len=fields.STORED,             # the text's body comes first, then boilerplate
        markup=fields.STORED,               # a Markdown report's rendered HTML (see pack_markup), or None
    )


def pack_text(text: str) -> bytes:
    """The stored form of a document's text (zlib: Chinese text takes about half the bytes)."""
    return zlib.compress(text.encode("utf-8"), 6)


def pack_markup(body: str, boilerplate: str, note: str) -> bytes:
    """The stored form of a Markdown report's HTML (rendered once, at index time)."""
    return zlib.compress(json.dumps({"body": body, "boilerplate": boilerplate, "note": note},
                                    ensure_ascii=False).encode("utf-8"), 6)


def stored_markup(stored: dict) -> dict | None:
    """{"body", "boilerplate", "note"} of a Markdown report's stored HTML; None for other kinds."""
    packed = stored.get("markup")
    return json.loads(zlib.decompress(packed).decode("utf-8")) if packed else None


def stored_text(stored: dict) -> str:
    """The text of a document's stored fields."""
    return zlib.decompress(stored["text"]).decode("utf-8")
