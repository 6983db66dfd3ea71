"""The Whoosh schema of the report index and its version."""

from __future__ import annotations

from whoosh import columns, fields

# Bump when fields or analysis change: an index of another version asks for `build`.
SCHEMA_VERSION = 4
TITLE_BOOST = 3.0


def build_schema() -> fields.Schema:
    """Fields: ids and files, metadata for filters and facets, text, and the analysed postings.

    Analysis happens in indexer.analysis; the postings fields receive space-separated
    tokens, so only Whoosh's own analyzers are pickled into the index.
    """
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        content_hash=fields.ID(stored=True, sortable=True),
        path=fields.ID(stored=True),        # primary file, relative to the archive root
        # {relpath: [size, mtime]}: the same content under every name; a column, so that a
        # sync reads the archive's state without unpickling every document's text.
        files=fields.COLUMN(columns.PickleColumn(columns.VarBytesColumn())),
        kind=fields.ID(stored=True),
        title=fields.STORED,
        date=fields.ID(stored=True, sortable=True),        # YYYY-MM-DD or ""
        broker=fields.ID(stored=True, sortable=True),
        industry=fields.ID(stored=True, sortable=True),
        rating=fields.ID(stored=True, sortable=True),
        # Milliseconds since the epoch: when the content entered the archive, when it was indexed.
        added_at=fields.NUMERIC(int, bits=64, stored=True, sortable=True),
        indexed_at=fields.NUMERIC(int, bits=64, stored=True),
        meta=fields.STORED,                 # analysts, rating_action, stock_codes, encoding, size, mtime
        text=fields.STORED,                 # cleaned display text: body, then boilerplate
        body_len=fields.STORED,
        title_words=fields.KEYWORD(scorable=True, field_boost=TITLE_BOOST),
        words=fields.KEYWORD(scorable=True),
        ngrams=fields.KEYWORD(scorable=False),
        latin=fields.KEYWORD(scorable=False),
    )
