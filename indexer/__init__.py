"""Report Archive's indexer core: reading, cleaning, indexing and searching reports (no Flask)."""
