"""Messages as data: a code and its parameters, worded in English here and by each surface in its language."""

from __future__ import annotations

from dataclasses import dataclass, field

# The English wording of every code (the API's `error` and note `text`, the CLI, the logs).
# The pages word the same codes in Chinese (server/messages.py); a test keeps the two tables equal.
ENGLISH = {
    # How a query was understood (notes; the search still runs).
    "unmatched_quote": "an unmatched quote was ignored",
    "or_at_start": "OR at the start was ignored",
    "or_at_end": "OR at the end was ignored",
    "not_at_end": "NOT at the end was ignored",
    "empty_phrase": "an empty phrase was ignored",
    "unsearchable": "{value!r} has no searchable characters and was ignored",
    "filter_without_value": "{prefix}: without a value was ignored",
    "negated_filter": "-{prefix}: is not supported; the filter was ignored",
    "lowercase_operator": "'{word}' was read as the operator {operator}; search \"{word}\" in quotes for the word",
    "unknown_field": "{prefix}: is not a field; searched for {prefix}:{value} as text (fields: {fields})",
    # Request parameters the caller can fix (400).
    "empty_query": "the query is empty: type a word, a \"phrase\" or choose a filter",
    "query_too_long": "the query is {length} characters long; at most {limit} are allowed",
    "too_many_terms": "the query has {count} words and phrases; at most {limit} are allowed",
    "not_a_whole_number": "{name} must be a whole number, got {value!r}",
    "out_of_range": "{name} must be between {low} and {high}, got {value}",
    "not_a_date": "{name} must be a date like 2025-02-04, got {value!r}",
    "not_an_instant": "{name} must be an ISO date or time like 2025-02-04T09:30:00, got {value!r}",
    "bad_sort": "sort must be one of {allowed}, got {value!r}",
    "dates_reversed": "from ({date_from}) is after to ({date_to})",
    "too_many_values": "{name} is given {count} times; at most {limit} values are allowed",
    "page_beyond_end": "page {page} is beyond the last page ({last}) of {total} results",
    "not_utf8": "the request is not valid UTF-8: %-encode the query string",
    # Documents, uploads and the server.
    "not_found": "not found",
    "no_such_report": "no report with id {id!r}",
    "original_missing": "the original file is no longer in the archive folder",
    "method_not_allowed": "this address does not support the {method} method",
    "upload_too_large": "the upload is larger than the limit of {limit_mb:g} MB",
    "form_too_large": "the form has more than {max_parts} parts or a text field over {max_text_kb} KB: "
                      "send the report alone in the field 'file'",
    "index_unavailable": "{reason}",
    "index_damaged": "the index file {file} is damaged ({detail}): searches stopped rather than answer wrongly; "
                     "run `python -m indexer build`",
    # Files the indexer could not read (failed receipts), and duplicates.
    "unsupported_type": "unsupported file type {suffix!r}",
    "empty_front_matter": "file is empty (only front matter)",
    "empty_whitespace": "file is empty (only whitespace)",
    "outside_archive": "path is outside the archive folder: {path}",
    "file_not_found": "file not found (deleted or moved?)",
    "cannot_access": "cannot access file: {error}",
    "symlink": "file is a symbolic link; links are not followed",
    "not_regular": "not a regular file",
    "cannot_open": "cannot open file: {error}",
    "file_too_large": "file is {size}, over the {limit} limit",
    "over_limit": "file is over the {limit} limit",
    "empty_file": "file is empty (0 bytes)",
    "binary_nul": "file looks binary (contains NUL bytes), not text",
    "undecodable": "cannot decode text: not UTF-8, UTF-16 or GB18030 (binary file?)",
    "undecodable_gb18030": "cannot decode text: not UTF-8, and as GB18030 it is not readable text (binary file?)",
    "binary_control": "file looks binary ({encoding} decodes to control characters), not text",
    "bom_mismatch": "cannot decode text as {encoding} despite its byte-order mark: {error}",
    "not_pdf": "not a PDF (no %PDF header)",
    "pdf_password": "PDF is encrypted with a password",
    "pdf_corrupt": "PDF is truncated or corrupt ({detail})",
    "pdf_budget": "PDF is too large to index ({detail})",
    "pdf_memory": "PDF needs more memory to read than allowed ({detail}); it stays unindexed until it changes",
    "pdf_timeout": "PDF took too long to read ({detail}); it stays unindexed until it changes",
    "pdf_recursion": "PDF is nested too deeply to read ({detail})",
    "pdf_error": "PDF could not be read ({detail})",
    "pdf_crashed": "PDF crashed the reader ({detail}); it stays unindexed until it changes",
    "pdf_no_text": "PDF has no text layer (scanned image?)",
    "pdf_unmapped": "PDF text layer is unreadable (fonts without a Unicode mapping)",
    "no_text_left": "no text left after cleaning (only markers, watermarks or whitespace)",
    "name_not_utf8": "the file name is not valid UTF-8: rename the file",
    "internal_read_error": "internal error while reading: {error}",
    "same_content_as": "same content as {path}",
    "internal_error": "internal error: the problem was logged on the server",
    # Requests gunicorn refuses before the app reads them (server/gunicorn_worker.py).
    "request_line_too_long": "the request line is longer than {limit} bytes: shorten the query",
    "headers_too_large": "the request's header fields are too many or too large",
    "bad_http": "the request is not valid HTTP: {reason}",
}


@dataclass(frozen=True)
class Message:
    """One message: a code from ENGLISH and the parameters its wordings use."""

    code: str
    params: dict = field(default_factory=dict)

    def text(self) -> str:
        """The English wording (the code itself for a code no table knows)."""
        return word(ENGLISH, self)

    def to_json(self) -> dict:
        return {"code": self.code, "params": self.params, "text": self.text()}


def word(table: dict[str, str], message: Message) -> str:
    """`message` worded by `table` (a surface's wording of the codes); never raises."""
    template = table.get(message.code)
    if template is None:
        return message.code
    try:
        return template.format(**message.params)
    except (KeyError, IndexError, ValueError):
        return template
